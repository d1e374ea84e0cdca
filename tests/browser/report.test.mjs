// The resident's page (/report/?grid=CODE, /report/status/CODE) in a real
// browser (playwright-core driving Debian's chromium, as a 390x844 touch
// phone in Chinese, geolocation granted inside the grid) against the real
// gridd with the demo city and access control on (`--anonymous report`):
// the resident reports with a photo and no sign-in, gets a tracking code,
// follows the progress, and once the case is closed rates it (回访); being
// rate limited or sending the same report twice is told kindly.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startGridd, gridWithWorker, makeJpeg, launch, watch, noOverflow, shot, PHONE, TABLET,
} from './phone.mjs';

let server, browser, place, photo;

before(async () => {
  server = await startGridd('report', ['--anonymous', 'report']);
  place = await gridWithWorker(server);
  server.admin = server.token('--role', 'admin', '--name', 'admin-1');  // access control is on from here
  await server.waitForToken(server.admin);
  photo = makeJpeg(server.dir, 'street.jpg', [60, 120, 200]);
  browser = await launch();
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.stop();
});

async function resident(options = PHONE) {
  const context = await browser.newContext({ ...options, permissions: ['geolocation'],
    geolocation: { latitude: place.lat, longitude: place.lon, accuracy: 20 } });
  const page = await context.newPage();
  // A refused report (429, 409) is an expected console line of the browser's; nothing else is.
  const problems = watch(page, (text, url) => /status of (409|429)/.test(text) && url.endsWith('/incidents'));
  return { context, page, problems };
}

async function fillForm(page, description) {
  await page.fill('#search', '垃圾');
  await page.selectOption('#category', 'exposed_garbage');
  await page.fill('#description', description);
}

test('a resident reports with a photo, follows the progress by the tracking code and rates the result', async () => {
  const { context, page, problems } = await resident();
  // Anonymous, with access control on: nothing personal is shown, reporting works.
  assert.equal((await fetch(`${server.base}/incidents`)).status === 401
    || (await fetch(`${server.base}/whoami`).then((r) => r.json())).access_control, true);

  await page.goto(`${server.base}/report/?grid=${place.code}`);
  await page.waitForFunction(() => window.griddReport && window.griddReport.ready);
  assert.match(await page.textContent('#place'), new RegExp(place.grid.properties.name));
  await page.waitForFunction(() => document.getElementById('pos').dataset.source === 'gps', null, { timeout: 15000 });
  await page.waitForFunction((name) => document.getElementById('pos-grid').textContent.includes(name), place.grid.properties.name);
  await fillForm(page, '小区南门路灯下堆放建筑垃圾，影响通行');
  await page.setInputFiles('#photo', photo);
  await page.waitForSelector('#photos .photo img');
  await page.click('details.who summary');
  await page.fill('#name', '张女士');
  await page.fill('#phone', '13900001234');
  await noOverflow(page, 390);
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot(page, 'report-form-390');
  await page.click('#send');
  await page.waitForSelector('#view-done:not([hidden])', { timeout: 15000 });
  const code = await page.getAttribute('#code', 'data-code');
  assert.match(code, /^[A-Z0-9]{6,16}$/);
  assert.match(await page.textContent('#photo-state'), /已上传 1 张照片/);
  await noOverflow(page, 390);
  await shot(page, 'report-done-390');

  // What the server holds: a QR-channel report in the grid, the reporter's contact, the photo.
  const reports = (await server.api('/incidents?channel=qr&limit=10')).features;
  assert.equal(reports.length, 1);
  const incident = reports[0];
  assert.equal(incident.properties.tracking_code, code);
  assert.equal(incident.properties.assignment.grid.code, place.code);
  assert.deepEqual(incident.properties.reporter, { name: '张女士', phone: '13900001234' });
  assert.equal((await server.api(`/incidents/${incident.id}/attachments`)).attachments.length, 1);

  // The progress page: received, nothing to rate yet.
  await page.click('#status-link');
  await page.waitForURL(`**/report/status/${code}`);
  await page.waitForSelector('#timeline li[data-action=report]');
  assert.equal(await page.textContent('#s-code'), code);
  assert.match(await page.textContent('#timeline li[data-action=report]'), /已受理/);
  assert.equal(await page.isVisible('#rate'), false);
  await noOverflow(page, 390);
  await shot(page, 'report-status-390');

  // The case goes round the loop; the page asks for the resident's satisfaction.
  for (const action of ['register', 'dispatch', 'accept', 'resolve', 'verify', 'close']) {
    await server.api(`/incidents/${incident.id}/transitions`, { json: { action, note: action === 'resolve' ? '已清运' : undefined } });
  }
  await page.reload();
  await page.waitForSelector('#rate:not([hidden])');
  assert.match(await page.textContent('#s-status'), /已办结/);
  for (const [action, label] of [['dispatch', '已派遣'], ['accept', '处理中'], ['close', '已办结']]) {
    assert.match(await page.textContent(`#timeline li[data-action=${action}]`), new RegExp(label));
  }
  await page.click('#stars button[data-stars="4"]');
  await page.fill('#rate-note', '处理及时，谢谢');
  await noOverflow(page, 390);
  await shot(page, 'report-rate-390');
  await page.click('#rate-send');
  await page.waitForSelector('#rated:not([hidden])');
  assert.equal(await page.isVisible('#rate'), false);
  assert.match(await page.textContent('#rated'), /★★★★☆/);
  assert.equal((await server.api(`/incidents/${incident.id}`)).properties.satisfaction, 4);
  const tracked = await (await fetch(`${server.base}/track/${code}`)).json();
  assert.equal(tracked.satisfaction, 4);
  assert.equal(tracked.can_rate, false);
  await shot(page, 'report-rated-390');

  // English on one tap.
  await page.click('#lang');
  assert.match(await page.textContent('#timeline li[data-action=close]'), /Closed/);
  await page.click('#lang');
  assert.deepEqual(problems, []);
  await context.close();
});

test('the same report twice, and too many reports, are told kindly', async () => {
  const { context, page, problems } = await resident();
  await page.goto(`${server.base}/report/?grid=${place.code}`);
  await page.waitForFunction(() => window.griddReport && window.griddReport.ready);
  await page.waitForFunction(() => document.getElementById('pos').dataset.source === 'gps', null, { timeout: 15000 });
  await fillForm(page, '井盖缺失，夜间很危险');
  await page.click('#send');
  await page.waitForSelector('#view-done:not([hidden])', { timeout: 15000 });
  await page.click('#again');
  await page.waitForFunction(() => window.griddReport && window.griddReport.ready);
  await page.waitForFunction(() => document.getElementById('pos').dataset.source === 'gps', null, { timeout: 15000 });
  await fillForm(page, '井盖缺失，夜间很危险');
  await page.click('#send');
  await page.waitForSelector('#error:not([hidden])', { timeout: 15000 });
  assert.match(await page.textContent('#error'), /已经提交过/);
  // ...with the way to the earlier report.
  const earlier = await page.getAttribute('#error a.earlier', 'href');
  assert.match(earlier, /^\/report\/status\/[A-Z0-9]{10}$/);
  await shot(page, 'report-duplicate-390');

  // The server's answer to a burst of reports (429 with Retry-After), as the page shows it.
  await page.route('**/incidents', (route) => route.fulfill({ status: 429, headers: { 'Retry-After': '42', 'Content-Type': 'application/json' },
    body: JSON.stringify({ error: { code: 'rate_limited', message: 'too many reports' } }) }));
  await page.fill('#description', '另一处井盖缺失');
  await page.click('#send');
  await page.waitForFunction(() => /42 秒后再试/.test(document.getElementById('error').textContent));
  await noOverflow(page, 390);
  assert.deepEqual(problems, []);
  await context.close();
});

test('the resident pages fit a 1024 px tablet', async () => {
  const { context, page, problems } = await resident(TABLET);
  await page.goto(`${server.base}/report/?station=${encodeURIComponent((await server.api('/stations?limit=1')).features[0].properties.code)}`);
  await page.waitForFunction(() => window.griddReport && window.griddReport.ready);
  assert.match(await page.textContent('#place'), /通过/);
  await noOverflow(page, 1024);
  await shot(page, 'report-form-1024');
  const code = (await server.api('/incidents?channel=qr&limit=10')).features.map((f) => f.properties.tracking_code).find(Boolean);
  await page.goto(`${server.base}/report/status/${code}`);
  await page.waitForSelector('#timeline li');
  await noOverflow(page, 1024);
  await shot(page, 'report-status-1024');
  assert.deepEqual(problems, []);
  await context.close();
});
