// The grid worker's phone app (/field/) in a real browser (playwright-core
// driving Debian's chromium, as a 390x844 touch phone in Chinese) against the
// real gridd with the demo city: the worker signs in with a worker token (a
// wrong one is refused), sees the incident routed to them in 我的任务,
// accepts it and resolves it with a photo; a new incident appears live with
// a badge; offline, a 随手拍 report and a visit, each with a photo, wait in the
// outbox (which survives a reload, the app shell coming from the service
// worker) and arrive exactly once when the network is back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startGridd, gridWithWorker, makeJpeg, launch, watch, noOverflow, shot, sleep, PHONE, TABLET,
} from './phone.mjs';

let server, browser, place, worker, photo;
const offlineNoise = { on: false };

before(async () => {
  server = await startGridd('field');
  place = await gridWithWorker(server);  // before the first token: everything is open
  server.admin = server.token('--role', 'admin', '--name', 'admin-1');
  worker = server.token('--role', 'worker', '--scope', place.code, '--name', place.worker.name, '--phone', place.worker.phone);
  await server.waitForToken(worker);
  photo = makeJpeg(server.dir, 'after.jpg');
  browser = await launch();
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.stop();
});

/** An incident in the worker's grid reported (and, when asked, dispatched) by the admin API. */
async function report(description, dispatch = true) {
  const f = await server.api('/incidents', { json: { category: 'exposed_garbage', description, lon: place.lon, lat: place.lat, channel: 'hotline' } });
  assert.equal(f.properties.assignment.assignee.name, place.worker.name);
  if (dispatch) {
    await server.api(`/incidents/${f.id}/transitions`, { json: { action: 'register' } });
    await server.api(`/incidents/${f.id}/transitions`, { json: { action: 'dispatch' } });
  }
  return f.id;
}

async function phone(options = PHONE, located = true) {
  const context = await browser.newContext(located ? { ...options, permissions: ['geolocation'],
    geolocation: { latitude: place.lat, longitude: place.lon, accuracy: 12 } } : options);
  const page = await context.newPage();
  const problems = watch(page, (text, url) => (/status of 401/.test(text) && url.endsWith('/whoami'))
    || (offlineNoise.on && /ERR_INTERNET_DISCONNECTED|Failed to fetch|net::ERR/.test(text)));
  return { context, page, problems };
}

async function signIn(page, token) {
  await page.goto(`${server.base}/field/`);
  await page.waitForSelector('#signin-form', { state: 'visible' });
  await page.fill('#signin-token', token);
  await page.click('#signin-go');
}

test('the worker signs in, accepts and resolves a task with a photo, and sees a new one arrive live', async () => {
  const first = await report('楼道口堆放垃圾，已三天无人清理');
  const { context, page, problems } = await phone();

  await page.goto(`${server.base}/field/`);
  await page.waitForSelector('#signin-form', { state: 'visible' });
  assert.equal(await page.textContent('h1'), '网格员');
  await noOverflow(page, 390);
  await shot(page, 'field-signin-390');
  // A wrong token is refused politely and not kept.
  await signIn(page, 'gridd_not-a-token');
  await page.waitForSelector('#signin-error:not([hidden])');
  assert.match(await page.textContent('#signin-error'), /令牌无效/);
  assert.equal(await page.evaluate(() => localStorage.getItem('gridd.field.token')), null);
  // An admin token is not a worker's.
  await page.fill('#signin-token', server.admin);
  await page.click('#signin-go');
  await page.waitForFunction(() => /网格员令牌/.test(document.getElementById('signin-error').textContent));

  await page.fill('#signin-token', worker);
  await page.click('#signin-go');
  const card = `.task[data-id="${first}"]`;
  await page.waitForSelector(card, { timeout: 15000 });
  assert.equal(await page.textContent('#me'), place.worker.name);
  assert.match(await page.textContent(`${card} .cat`), /暴露垃圾/);
  assert.match(await page.textContent(`${card} .desc`), /楼道口堆放垃圾/);
  assert.match(await page.textContent(`${card} .where`), new RegExp(place.grid.properties.name));
  assert.match(await page.textContent(`${card} .due`), /时限/);
  await page.waitForFunction((sel) => /距您 \d+ 米/.test(document.querySelector(sel).textContent), `${card} .dist`);
  // Navigate: the phone's map app and the web fallbacks.
  const links = await page.$$eval(`${card} .navlinks a`, (as) => as.map((a) => a.getAttribute('href')));
  assert.ok(links[0].startsWith(`geo:${place.lat},${place.lon}`), links[0]);
  assert.ok(links.some((h) => h.includes('uri.amap.com')) && links.some((h) => h.includes('api.map.baidu.com')));
  await page.waitForFunction(() => document.getElementById('live').classList.contains('on'), null, { timeout: 15000 });
  await noOverflow(page, 390);
  await shot(page, 'field-tasks-390');

  // Accept (one tap), then resolve with a note and an after-photo.
  await page.click(`${card} button[data-action=accept]`);
  await page.waitForSelector(`${card}[data-status=accepted] button[data-action=resolve]`, { timeout: 15000 });
  await page.click(`${card} button[data-action=resolve]`);
  await page.waitForSelector('#resolve-dialog[open]');
  await page.fill('#resolve-note', '已联系物业清运，现场已清理干净');
  await page.setInputFiles('#resolve-photo', photo);
  await page.waitForSelector('#resolve-photos .photo img');
  await noOverflow(page, 390);
  await shot(page, 'field-resolve-390');
  await page.click('#resolve-send');
  // Resolved, it waits for the dispatch centre's check: no more steps of the worker's.
  await page.waitForSelector(`${card}[data-status=resolved]`, { timeout: 15000 });
  assert.equal(await page.$(`${card} button[data-action]`), null);
  const resolved = await server.api(`/incidents/${first}`);
  assert.equal(resolved.properties.status, 'resolved');
  const history = (await server.api(`/incidents/${first}/history`)).events;
  const step = history.find((e) => e.action === 'resolve');
  assert.equal(step.actor, place.worker.name);
  assert.equal(step.note, '已联系物业清运，现场已清理干净');
  assert.equal(step.attachments.length, 1);
  const attachments = (await server.api(`/incidents/${first}/attachments`)).attachments;
  assert.equal(attachments.length, 1);
  assert.equal(attachments[0].media_type, 'image/jpeg');

  // A new incident routed to the worker shows up live, with the badge.
  const t0 = Date.now();
  const second = await report('小区东门共享单车乱停放，堵塞消防通道', false);
  await page.waitForSelector(`.task[data-id="${second}"]`, { timeout: 5000 });
  const seconds = (Date.now() - t0) / 1000;
  assert.ok(seconds < 2, `arrived after ${seconds} s`);  // about 0.1 s here
  assert.match(await page.title(), /^\(1\) 网格员/);
  assert.ok(await page.evaluate(() => window.griddField.beeps) >= 1, 'no beep');
  assert.equal(await page.textContent('#badge'), '1');
  await shot(page, 'field-new-task-390');
  await page.click('#tabs button[data-tab=tasks]');
  assert.equal(await page.title(), '网格员');

  // English on one tap, remembered.
  await page.click('#lang');
  assert.equal(await page.textContent('#tabs button[data-tab=tasks] span[data-i18n]'), 'My tasks');
  await page.reload();
  await page.waitForSelector(`.task[data-id="${second}"]`);
  assert.equal(await page.textContent('#tabs button[data-tab=tasks] span[data-i18n]'), 'My tasks');
  await shot(page, 'field-tasks-en-390');
  await page.click('#lang');
  assert.deepEqual(problems, []);
  await context.close();
});

test('offline, a report with its photo and a visit wait in the outbox, survive a reload, and arrive exactly once', async () => {
  const { context, page, problems } = await phone();
  await signIn(page, worker);
  await page.waitForSelector('#tasks .task', { timeout: 15000 });
  // The service worker has the app shell once it is active and controls the page.
  await page.evaluate(async () => { await navigator.serviceWorker.ready; });
  await page.waitForFunction(() => !!navigator.serviceWorker.controller, null, { timeout: 15000 });
  const before = (await server.api('/incidents?channel=grid_worker&limit=100')).features.length;
  assert.equal(before, 0);

  offlineNoise.on = true;
  await context.setOffline(true);
  await page.click('#tabs button[data-tab=report]');
  await page.waitForFunction(() => document.getElementById('r-pos').dataset.source === 'gps', null, { timeout: 15000 });
  await page.setInputFiles('#r-photo', photo);
  await page.fill('#r-search', '垃圾');
  await page.selectOption('#r-category', 'exposed_garbage');
  await page.fill('#r-note', '路边垃圾桶满溢');
  await noOverflow(page, 390);
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot(page, 'field-report-390');
  await page.click('#r-send');
  await page.waitForSelector('#r-result.queued:not([hidden])');
  await page.waitForFunction(() => document.getElementById('outbox').textContent === '待发送 2');

  await page.click('#tabs button[data-tab=visits]');
  await page.selectOption('#v-kind', 'household');
  await page.fill('#v-subject', '3号楼2单元501 王大爷');
  await page.fill('#v-note', '独居老人，身体尚好，暖气正常');
  await page.waitForFunction(() => document.getElementById('v-pos').dataset.source === 'gps');
  await page.setInputFiles('#v-photo', photo);  // the door, the notice handed over
  await noOverflow(page, 390);
  await shot(page, 'field-visits-390');
  await page.click('#v-send');
  await page.waitForFunction(() => document.getElementById('outbox').textContent === '待发送 4');

  // A reload without network: the shell comes from the service worker, the outbox from IndexedDB,
  // the last task list from the cache, marked as such.
  await page.reload();
  await page.waitForSelector('#tabs:not([hidden])', { timeout: 15000 });
  await page.waitForFunction(() => document.getElementById('outbox').textContent === '待发送 4');
  await page.waitForSelector('#tasks-stale:not([hidden])', { timeout: 15000 });
  assert.match(await page.textContent('#tasks-stale'), /离线/);
  await shot(page, 'field-offline-390');
  assert.equal((await server.api('/incidents?channel=grid_worker&limit=100')).features.length, 0);

  await context.setOffline(false);
  await page.waitForSelector('#outbox[hidden]', { state: 'attached', timeout: 30000 });
  offlineNoise.on = false;
  const mine = (await server.api('/incidents?channel=grid_worker&limit=100')).features;
  assert.equal(mine.length, 1);
  assert.equal(mine[0].properties.description, '路边垃圾桶满溢');
  assert.equal(mine[0].properties.assignment.grid.code, place.code);
  assert.equal((await server.api(`/incidents/${mine[0].id}/attachments`)).attachments.length, 1);
  const visits = (await server.api(`/visits?worker=${encodeURIComponent(place.worker.name)}`)).features;
  assert.equal(visits.length, 1);
  assert.equal(visits[0].properties.subject, '3号楼2单元501 王大爷');
  assert.equal(visits[0].properties.photos, 1, 'the photo of the visit arrived with it');
  assert.equal((await server.api(`/visits/${visits[0].id}`)).properties.attachments.length, 1);
  // Sending again (another flush, another reload) changes nothing.
  await page.reload();
  await page.waitForSelector('#tasks .task', { timeout: 15000 });
  await sleep(1000);
  assert.equal((await server.api('/incidents?channel=grid_worker&limit=100')).features.length, 1);
  assert.equal((await server.api(`/visits?worker=${encodeURIComponent(place.worker.name)}`)).features.length, 1);
  await page.click('#tabs button[data-tab=visits]');
  await page.waitForSelector('#visits .visit .photo-count');
  assert.match(await page.textContent('#visits .visit .photo-count'), /1 张照片/);
  assert.deepEqual(problems, []);
  await context.close();
});

test('without a position from the phone, a photo\'s EXIF GPS places the report; the answer names the grid and the worker', async () => {
  const { context, page, problems } = await phone(PHONE, false);
  const tagged = makeJpeg(server.dir, 'gps.jpg', [90, 160, 90], { lon: place.lon, lat: place.lat });
  await signIn(page, worker);
  await page.waitForSelector('#tasks .task', { timeout: 15000 });
  await page.click('#tabs button[data-tab=report]');
  await page.waitForFunction(() => /无法定位/.test(document.getElementById('r-pos').textContent), null, { timeout: 15000 });
  await page.setInputFiles('#r-photo', tagged);
  await page.waitForFunction(() => document.getElementById('r-pos').dataset.source === 'exif', null, { timeout: 10000 });
  const [lon, lat] = await page.evaluate(() => window.griddField.report.pos);
  assert.ok(Math.abs(lon - place.lon) < 1e-5 && Math.abs(lat - place.lat) < 1e-5, `${lon}, ${lat}`);
  await page.selectOption('#r-category', 'parking_disorder');
  await page.fill('#r-note', '消防通道有车辆长期停放');
  await page.click('#r-send');
  await page.waitForSelector('#r-result[data-incident]', { timeout: 15000 });
  const text = await page.textContent('#r-result');
  assert.ok(text.includes(place.grid.properties.name) && text.includes(place.worker.name), text);
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot(page, 'field-report-routed-390');
  assert.deepEqual(problems, []);
  await context.close();
});

test('the pages fit a 1024 px tablet', async () => {
  const { context, page, problems } = await phone(TABLET);
  await signIn(page, worker);
  await page.waitForSelector('#tasks .task', { timeout: 15000 });
  await noOverflow(page, 1024);
  await shot(page, 'field-tasks-1024');
  await page.click('#tabs button[data-tab=report]');
  await page.waitForFunction(() => document.getElementById('r-pos').dataset.source === 'gps', null, { timeout: 15000 });
  await noOverflow(page, 1024);
  await shot(page, 'field-report-1024');
  await page.click('#tabs button[data-tab=visits]');
  await noOverflow(page, 1024);
  await shot(page, 'field-visits-1024');
  // Signing out forgets the token and the kept task list.
  await page.click('#me');
  await page.waitForSelector('#me-dialog[open]');
  assert.match(await page.textContent('#me-name'), new RegExp(place.worker.name));
  assert.match(await page.textContent('#me-scope'), new RegExp(place.code));
  await shot(page, 'field-me-1024');
  await Promise.all([page.waitForNavigation(), page.click('#signout')]);
  await page.waitForSelector('#signin-form', { state: 'visible' });
  assert.equal(await page.evaluate(() => localStorage.getItem('gridd.field.token')), null);
  assert.equal(await page.evaluate(async () => (await caches.keys()).includes('gridd-field-api')), false);
  assert.deepEqual(problems, []);
  await context.close();
});
