// Photos on door-to-door visits (走访) in the grid worker's phone app
// (/field/, a 390x844 touch phone in Chinese, Debian's chromium driven by
// playwright-core) against the real gridd with the demo city: a visit saved
// online with one photo shows it in 最近走访 (count and thumbnail); the form
// takes at most 3 photos; a visit saved offline with two photos waits in the
// outbox (visit first, its photos after it) and arrives exactly once with
// both photos when the network is back. The server is asked with the admin
// token (GET /visits, GET /visits/{id}), never the page's own view.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGridd, gridWithWorker, makeJpeg, launch, watch, noOverflow, shot, PHONE } from './phone.mjs';

let server, browser, place, worker, photos;
const offlineNoise = { on: false };

before(async () => {
  server = await startGridd('field-visits');
  place = await gridWithWorker(server);  // before the first token: everything is open
  server.admin = server.token('--role', 'admin', '--name', 'admin-visits');
  worker = server.token('--role', 'worker', '--scope', place.code, '--name', place.worker.name, '--phone', place.worker.phone);
  await server.waitForToken(worker);
  photos = [
    makeJpeg(server.dir, 'door.jpg', [200, 80, 40]),
    makeJpeg(server.dir, 'notice.jpg', [40, 120, 200]),
    makeJpeg(server.dir, 'meter.jpg', [60, 160, 60]),
    makeJpeg(server.dir, 'stairs.jpg', [220, 200, 60]),
  ];
  browser = await launch();
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.stop();
});

const mineQuery = () => `/visits?worker=${encodeURIComponent(place.worker.name)}&limit=50`;

/** The admin's view of one visit, found by its subject. */
async function visitBySubject(subject) {
  const list = (await server.api(mineQuery())).features.filter((f) => f.properties.subject === subject);
  return { list, one: list.length === 1 ? await server.api(`/visits/${list[0].id}`) : null };
}

async function waitFor(what, check, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => { setTimeout(r, 200); });
  }
}

test('a visit with a photo online, and one with two photos offline that arrives exactly once', async () => {
  const context = await browser.newContext({ ...PHONE, permissions: ['geolocation'],
    geolocation: { latitude: place.lat, longitude: place.lon, accuracy: 12 } });
  const page = await context.newPage();
  const problems = watch(page, (text) => offlineNoise.on && /ERR_INTERNET_DISCONNECTED|Failed to fetch|net::ERR/.test(text));
  await page.goto(`${server.base}/field/`);
  await page.waitForSelector('#signin-form', { state: 'visible' });
  await page.fill('#signin-token', worker);
  await page.click('#signin-go');
  await page.waitForSelector('#tabs:not([hidden])', { timeout: 15000 });
  await page.tap('#tabs button[data-tab=visits]');
  await page.waitForFunction(() => document.getElementById('v-pos').dataset.source === 'gps', null, { timeout: 15000 });

  // Online: one photo.
  await page.selectOption('#v-kind', 'household');
  await page.fill('#v-subject', '5号楼1单元302 李阿姨');
  await page.fill('#v-note', '反映楼道灯不亮，已拍照');
  await page.setInputFiles('#v-photo', photos[0]);
  await page.waitForFunction(() => document.querySelectorAll('#v-photos .photo img').length === 1);
  await noOverflow(page, 390);
  await page.locator('#v-photos').scrollIntoViewIfNeeded();
  await shot(page, 'field-visit-photo-390');
  await page.tap('#v-send');
  const online = await waitFor('the online visit and its photo', async () => {
    const { list, one } = await visitBySubject('5号楼1单元302 李阿姨');
    // Both views: the listing's count (asked first) and the visit's attachments.
    return one && list[0].properties.photos === 1 && one.properties.attachments.length === 1 ? { list, one } : null;
  });
  assert.equal(online.list[0].properties.photos, 1, 'GET /visits counts the photo');
  assert.equal(online.one.properties.attachments[0].media_type, 'image/jpeg');
  assert.deepEqual([online.one.properties.attachments[0].width, online.one.properties.attachments[0].height], [64, 48]);
  assert.equal(await page.locator('#v-photos .photo').count(), 0, 'the form is empty again');
  // 最近走访: the count and the thumbnail, fetched with the token.
  const row = page.locator(`#visits .visit[data-id="${online.one.id}"]`);
  await row.locator('.photo-count').waitFor({ timeout: 15000 });
  assert.equal((await row.locator('.photo-count').textContent()).trim(), '1 张照片');
  await page.waitForFunction((id) => {
    const imgs = [...document.querySelectorAll(`#visits .visit[data-id="${id}"] .thumbs img`)];
    return imgs.length === 1 && imgs.every((i) => i.complete && i.naturalWidth === 64);
  }, online.one.id, { timeout: 15000 });
  await row.scrollIntoViewIfNeeded();
  await noOverflow(page, 390);
  await shot(page, 'field-visit-recent-390');

  // At most 3 photos: the add button goes away at 3 and comes back when one is removed.
  await page.evaluate(() => window.scrollTo(0, 0));
  for (const p of photos.slice(0, 3)) await page.setInputFiles('#v-photo', p);
  await page.waitForFunction(() => document.querySelectorAll('#v-photos .photo').length === 3);
  assert.equal(await page.locator('#v-photos .photo-add').isHidden(), true, 'no 4th photo');
  await page.tap('#v-photos .photo:nth-of-type(3) button');
  await page.waitForFunction(() => document.querySelectorAll('#v-photos .photo').length === 2);
  assert.equal(await page.locator('#v-photos .photo-add').isVisible(), true);

  // Offline: the visit and its two photos wait in the outbox.
  offlineNoise.on = true;
  await context.setOffline(true);
  await page.waitForSelector('#live:not(.on)', { state: 'attached' });  // the dot says offline
  await page.fill('#v-subject', '7号楼底商 早餐店');
  await page.selectOption('#v-kind', 'shop');
  await page.fill('#v-note', '消防通道堆放杂物，已当面提醒');
  await page.tap('#v-send');
  await page.waitForFunction(() => document.getElementById('outbox').textContent === '待发送 3');
  await page.waitForSelector('#v-result.queued:not([hidden])');
  assert.equal(await page.locator('#v-photos .photo').count(), 0, 'the photos went to the outbox with the visit');
  await page.waitForFunction(() => window.scrollY === 0);  // the form scrolls up to its answer
  await page.waitForSelector('#toast', { state: 'hidden', timeout: 10000 });
  await noOverflow(page, 390);
  await shot(page, 'field-visit-offline-390');
  assert.equal((await visitBySubject('7号楼底商 早餐店')).list.length, 0, 'nothing arrived while offline');

  await context.setOffline(false);
  await page.waitForSelector('#outbox[hidden]', { state: 'attached', timeout: 30000 });
  await page.waitForSelector('#live.on', { state: 'attached', timeout: 15000 });  // live again
  offlineNoise.on = false;
  const late = await visitBySubject('7号楼底商 早餐店');
  assert.equal(late.list.length, 1, 'the offline visit arrived once');
  assert.equal(late.list[0].properties.kind, 'shop');
  assert.equal(late.list[0].properties.photos, 2);
  assert.equal(late.one.properties.attachments.length, 2, 'with both photos');
  assert.equal(late.one.properties.grid.code, place.code);
  const lateRow = page.locator(`#visits .visit[data-id="${late.one.id}"]`);
  await lateRow.locator('.photo-count').waitFor({ timeout: 15000 });
  assert.equal((await lateRow.locator('.photo-count').textContent()).trim(), '2 张照片');
  await page.waitForFunction((id) => document.querySelectorAll(`#visits .visit[data-id="${id}"] .thumbs img`).length === 2,
    late.one.id, { timeout: 15000 });

  // Sending again changes nothing: a reload finds an empty outbox, and the server still has 2 visits and 3 photos.
  await page.reload();
  await page.waitForSelector('#tabs:not([hidden])', { timeout: 15000 });
  await page.tap('#tabs button[data-tab=visits]');
  await page.waitForSelector(`#visits .visit[data-id="${late.one.id}"] .thumbs img`, { timeout: 15000 });
  assert.equal(await page.locator('#outbox').isHidden(), true);
  const all = (await server.api(mineQuery())).features;
  assert.equal(all.length, 2);
  assert.deepEqual(all.map((f) => f.properties.photos).sort(), [1, 2]);
  await page.locator(`#visits .visit[data-id="${late.one.id}"]`).scrollIntoViewIfNeeded();
  await noOverflow(page, 390);
  await shot(page, 'field-visit-arrived-390');
  assert.deepEqual(problems, []);
  await context.close();
});
