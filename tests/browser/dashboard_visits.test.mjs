// The desk dashboard counts door-to-door visits per worker and week: three
// workers' visits recorded through the API (last Wednesday noon China time,
// or now) appear in a table of the last 8 weeks whose cells are what
// GET /visits/weekly says, last week just before this week, this week
// highlighted, a worker with no visit this week marked; the table sorts by
// this week, the total or the name, fits 1024 px and follows the language.
// Visits are put at Wednesday noon of last week or now, so the test holds at
// any hour.
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

/** The Monday (YYYY-MM-DD, China time) of the week holding the instant `iso`. */
function mondayOfInstant(iso) {
  const local = new Date(Date.parse(iso) + 8 * 3600e3);
  const sinceMonday = (local.getUTCDay() + 6) % 7;
  return new Date(Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate() - sinceMonday)).toISOString().slice(0, 10);
}

/** What the panel shows: its heads and, per worker, the cells by week, in the order listed. */
function readTable(page) {
  return page.evaluate(() => {
    const heads = [...document.querySelectorAll('#visits-weekly thead th')].map((th) => th.querySelector('.label').textContent);
    const rows = [...document.querySelectorAll('#visits-weekly tbody tr')].map((tr) => ({
      worker: tr.dataset.worker,
      idle: tr.classList.contains('idle'),
      mark: tr.querySelector('.idle-mark') ? tr.querySelector('.idle-mark').textContent : null,
      cells: Object.fromEntries([...tr.querySelectorAll('td[data-week]')].map((td) => [td.dataset.week, Number(td.textContent)])),
      thisWeek: tr.querySelector('td.this-week').dataset.week,
      total: Number(tr.querySelector('td.total').textContent),
    }));
    const weekCols = [...document.querySelectorAll('#visits-weekly thead th[data-week]')].map((th) => th.dataset.week);
    return { heads, rows, weekCols, note: document.querySelector('#visits-weekly .visits-note').textContent };
  });
}

async function fitsAt1024(page) {
  const fits = await page.evaluate(() => {
    const box = document.getElementById('visits-weekly');
    return { scroll: box.scrollWidth, client: box.clientWidth, page: document.documentElement.scrollWidth };
  });
  assert.ok(fits.scroll <= fits.client, `the 8 weeks fit at 1024 px without scrolling: ${JSON.stringify(fits)}`);
  assert.ok(fits.page <= 1024, `no horizontal overflow at 1024 px: ${JSON.stringify(fits)}`);
}

test('visits per worker and week on the dashboard', async () => {
  const code = place.code;
  // 甲: two visits last week and one now; 乙: two now; 丁: one last week only (none this week).
  const names = { a: '走访员甲', b: '走访员乙', d: '走访员丁' };
  const a = server.token('--role', 'worker', '--scope', code, '--name', names.a, '--phone', '13900000101');
  const b = server.token('--role', 'worker', '--scope', code, '--name', names.b, '--phone', '13900000102');
  const d = server.token('--role', 'worker', '--scope', code, '--name', names.d, '--phone', '13900000104');
  await server.waitForToken(a);
  await server.waitForToken(b);
  await server.waitForToken(d);
  const visit = async (token, at, subject) => {
    const r = await fetch(`${server.base}/visits`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ lon: place.lon, lat: place.lat, kind: 'household', subject, ...(at ? { visited_at: at } : {}) }),
    });
    assert.equal(r.status, 201, await r.text());
  };
  const last = lastWednesdayNoon();
  const lastMonday = mondayOfInstant(last);
  await visit(a, last, '1-101');
  await visit(a, last, '1-102');
  await visit(a, null, '1-103');  // now
  await visit(b, null, '2-201');
  await visit(b, null, '2-202');
  await visit(d, last, '4-401');
  const weekly = (await server.api(`/visits/weekly?grid=${code}`)).weeks;
  const expected = {};
  for (const row of weekly) expected[`${row.worker.name}|${row.week}`] = row.visits;
  assert.equal(Object.values(expected).reduce((s, n) => s + n, 0), 6);
  assert.equal(expected[`${names.a}|${lastMonday}`], 2, `the API puts last Wednesday's visits in the week of ${lastMonday}: ${JSON.stringify(weekly)}`);

  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN' });
  await context.addInitScript((token) => { localStorage.setItem('gridd.token', token); }, server.admin);
  const page = await context.newPage();
  const problems = watch(page);
  await page.goto(`${server.base}/`);
  await page.click('button[data-view=dashboard]');
  await page.waitForSelector('#visits-weekly table', { timeout: 30000 });

  let table = await readTable(page);
  assert.equal(table.heads.length, 10, `worker, 8 weeks, total: ${table.heads}`);
  assert.equal(table.heads[8], '本周');
  assert.equal(table.weekCols.length, 8);
  assert.equal(table.weekCols[6], lastMonday, 'last week is the column just before this week');
  const byName = Object.fromEntries(table.rows.map((r) => [r.worker, r]));
  for (const name of Object.values(names)) {
    const row = byName[name];
    assert.ok(row, `${name} is listed: ${JSON.stringify(table.rows)}`);
    for (const [week, n] of Object.entries(row.cells)) {
      assert.equal(n, expected[`${name}|${week}`] || 0, `${name}, week of ${week}`);
    }
    assert.equal(row.idle, !expected[`${name}|${row.thisWeek}`], `${name} is marked idle exactly when this week has none`);
  }
  const thisWeek = table.weekCols[7];
  assert.deepEqual([byName[names.a].cells[lastMonday], byName[names.a].cells[thisWeek], byName[names.a].total], [2, 1, 3]);
  assert.deepEqual([byName[names.b].cells[lastMonday], byName[names.b].cells[thisWeek], byName[names.b].total], [0, 2, 2]);
  assert.deepEqual([byName[names.d].cells[lastMonday], byName[names.d].cells[thisWeek], byName[names.d].total], [1, 0, 1]);
  assert.equal(byName[names.d].idle, true, '丁 has no visit this week');
  assert.equal(byName[names.d].mark, '本周未走访');
  assert.equal(byName[names.a].idle, false);
  assert.equal(byName[names.b].idle, false);
  assert.match(table.note, /^本周有 1 名网格员尚无走访 · 点击/);

  // Order: busiest this week first; a click on 合计 sorts by the total, on 网格员 by name, on 本周 back.
  const order = (t) => t.rows.map((r) => r.worker).filter((w) => Object.values(names).includes(w));
  assert.deepEqual(order(table), [names.b, names.a, names.d]);
  assert.equal(await page.getAttribute('#visits-weekly th:has(button[data-sort=this])', 'aria-sort'), 'descending');
  await shot(page, 'dashboard-visits-top-1440');
  await page.locator('#visits-weekly').scrollIntoViewIfNeeded();
  await shot(page, 'dashboard-visits-1440');
  await page.click('#visits-weekly button[data-sort=total]');
  assert.deepEqual(order(await readTable(page)), [names.a, names.b, names.d]);
  assert.equal(await page.getAttribute('#visits-weekly th:has(button[data-sort=total])', 'aria-sort'), 'descending');
  await page.click('#visits-weekly button[data-sort=name]');
  const byCollation = await page.evaluate((ns) => [...ns].sort((x, y) => x.localeCompare(y, 'zh')), Object.values(names));
  assert.deepEqual(order(await readTable(page)), byCollation);
  await page.click('#visits-weekly button[data-sort=this]');
  assert.deepEqual(order(await readTable(page)), [names.b, names.a, names.d]);

  await page.setViewportSize({ width: 1024, height: 768 });
  await page.locator('#visits-weekly').scrollIntoViewIfNeeded();
  await fitsAt1024(page);
  await shot(page, 'dashboard-visits-1024');

  // English: the table is drawn again in the new language, with the same numbers.
  await page.click('#lang');
  await page.waitForFunction(() => document.querySelector('#visits-weekly th .label').textContent === 'Grid worker');
  table = await readTable(page);
  assert.equal(table.heads[8], 'This week');
  assert.equal(table.rows.find((r) => r.worker === names.d).mark, 'none this week');
  assert.equal(table.rows.find((r) => r.worker === names.a).total, 3);
  await fitsAt1024(page);
  await shot(page, 'dashboard-visits-en-1024');
  assert.deepEqual(problems, []);
  await context.close();
});
