// The desk dashboard counts door-to-door visits per worker and week: two
// workers' visits recorded through the API (one in last week only, one in
// both weeks) appear in a table of the last 8 weeks whose cells are what
// GET /visits/weekly says, this week last and highlighted, and a worker with
// no visit this week marked. The week a visit falls in is read from the API,
// never recomputed here, so the test holds at any hour.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGridd, gridWithWorker, launch, watch, shot } from './phone.mjs';

let server, browser, place;

before(async () => {
  server = await startGridd('dashboard-visits');
  server.admin = server.token('--role', 'admin', '--name', 'desk');
  await server.waitForToken(server.admin);
  place = await gridWithWorker(server);
  browser = await launch();
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.stop();
});

/** Wednesday 12:00 China time of last week, as an ISO instant (always in the past). */
function lastWednesdayNoon() {
  const local = new Date(Date.now() + 8 * 3600e3);
  const sinceMonday = (local.getUTCDay() + 6) % 7;
  const wednesday = Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate() - sinceMonday - 7 + 2, 12);
  return new Date(wednesday - 8 * 3600e3).toISOString();
}

test('visits per worker and week on the dashboard', async () => {
  const code = place.code;
  const a = server.token('--role', 'worker', '--scope', code, '--name', '走访员甲', '--phone', '13900000101');
  const b = server.token('--role', 'worker', '--scope', code, '--name', '走访员乙', '--phone', '13900000102');
  await server.waitForToken(a);
  await server.waitForToken(b);
  const visit = async (token, at, subject) => {
    const r = await fetch(`${server.base}/visits`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ lon: place.lon, lat: place.lat, kind: 'household', subject, ...(at ? { visited_at: at } : {}) }),
    });
    assert.equal(r.status, 201, await r.text());
  };
  const last = lastWednesdayNoon();
  await visit(a, last, '1-101');
  await visit(a, last, '1-102');
  await visit(a, null, '1-103');  // now
  await visit(b, last, '2-201');
  const weekly = (await server.api(`/visits/weekly?grid=${code}`)).weeks;
  const expected = {};
  for (const row of weekly) expected[`${row.worker.name}|${row.week}`] = row.visits;
  assert.equal(Object.values(expected).reduce((s, n) => s + n, 0), 4);

  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN' });
  await context.addInitScript((token) => { localStorage.setItem('gridd.token', token); }, server.admin);
  const page = await context.newPage();
  const problems = watch(page);
  await page.goto(`${server.base}/`);
  await page.click('button[data-view=dashboard]');
  await page.waitForSelector('#visits-weekly table', { timeout: 30000 });

  const table = await page.evaluate(() => {
    const heads = [...document.querySelectorAll('#visits-weekly thead th')].map((th) => th.textContent);
    const rows = [...document.querySelectorAll('#visits-weekly tbody tr')].map((tr) => ({
      worker: tr.dataset.worker,
      idle: tr.classList.contains('idle'),
      cells: Object.fromEntries([...tr.querySelectorAll('td[data-week]')].map((td) => [td.dataset.week, Number(td.textContent)])),
      thisWeek: tr.querySelector('td.this-week').dataset.week,
    }));
    return { heads, rows };
  });
  assert.equal(table.heads.length, 10, `worker, 8 weeks, total: ${table.heads}`);
  assert.equal(table.heads[8], '本周');
  const byName = Object.fromEntries(table.rows.map((r) => [r.worker, r]));
  for (const name of ['走访员甲', '走访员乙']) {
    const row = byName[name];
    assert.ok(row, `${name} is listed: ${JSON.stringify(table.rows)}`);
    for (const [week, n] of Object.entries(row.cells)) {
      assert.equal(n, expected[`${name}|${week}`] || 0, `${name}, week of ${week}`);
    }
    assert.equal(row.idle, !expected[`${name}|${row.thisWeek}`], `${name} is marked idle exactly when this week has none`);
  }
  const total = (name) => Object.values(byName[name].cells).reduce((s, n) => s + n, 0);
  assert.equal(total('走访员甲'), 3);
  assert.equal(total('走访员乙'), 1);
  assert.equal(byName['走访员乙'].idle, true, 'no visit this week');
  // Busiest this week first.
  assert.ok(table.rows.findIndex((r) => r.worker === '走访员甲') <= table.rows.findIndex((r) => r.worker === '走访员乙')
    || byName['走访员甲'].idle);
  await page.locator('#visits-weekly').scrollIntoViewIfNeeded();
  await shot(page, 'dashboard-visits-1440');
  await page.setViewportSize({ width: 1024, height: 768 });
  await page.locator('#visits-weekly').scrollIntoViewIfNeeded();
  await shot(page, 'dashboard-visits-1024');
  assert.deepEqual(problems, []);
  await context.close();
});
