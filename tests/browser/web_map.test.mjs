// The web map in a real browser: playwright-core driving Debian's chromium
// (headless, software WebGL) against the real gridd serving the demo city.
// Screenshots of every view go to tests/browser/output/ (or $GRIDD_BROWSER_OUTPUT).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { testStore } from './store.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const binary = process.env.GRIDD_BINARY || path.join(here, '../../build/gridd');
const output = process.env.GRIDD_BROWSER_OUTPUT || path.join(here, 'output');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
mkdirSync(output, { recursive: true });

let server, base, browser, dir;
const problems = [];  // console errors and page errors of every page

function startServer() {
  dir = mkdtempSync(path.join(tmpdir(), 'gridd-browser-'));
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ['serve', '--store', testStore(dir), '--listen', '127.0.0.1:0', '--demo'],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    const timer = setTimeout(() => reject(new Error(`gridd did not start: ${text}`)), 120000);
    child.stdout.on('data', (chunk) => {
      text += chunk;
      const m = text.match(/listening on (http:\/\/[0-9.]+:\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1] });
      }
    });
    child.on('exit', (code) => reject(new Error(`gridd exited with ${code}: ${text}`)));
  });
}

async function api(p, options) {
  const r = await fetch(base + p, options);
  const body = await r.json();
  if (!r.ok) throw new Error(`${p}: ${r.status} ${JSON.stringify(body)}`);
  return body;
}

async function openPage(viewport = { width: 1280, height: 800 }) {
  const page = await browser.newPage({ viewport });
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  await page.goto(base + '/');
  await page.waitForFunction(() => window.gridd && window.gridd.ready, null, { timeout: 60000 });
  await idle(page);
  return page;
}

async function idle(page) {
  await page.waitForFunction(() => window.gridd.map.loaded() && window.gridd.map.areTilesLoaded(), null, { timeout: 60000 });
  await page.waitForTimeout(300);
}

/** Share of the map's pixels (from a real screenshot) that are not the empty background. */
async function paintedShare(page) {
  const png = await page.locator('#map').screenshot();
  return page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width;
    c.height = img.height;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const px = ctx.getImageData(0, 0, c.width, c.height).data;
    let painted = 0;
    for (let i = 0; i < px.length; i += 4) {
      const bg = Math.abs(px[i] - 0xee) < 4 && Math.abs(px[i + 1] - 0xf0) < 4 && Math.abs(px[i + 2] - 0xf3) < 4;
      if (!bg) painted += 1;
    }
    return painted / (c.width * c.height);
  }, png.toString('base64'));
}

async function clickLonLat(page, lon, lat) {
  const pt = await page.evaluate(([x, y]) => window.gridd.map.project([x, y]), [lon, lat]);
  const box = await page.locator('#map').boundingBox();
  await page.mouse.click(box.x + pt.x, box.y + pt.y);
}

before(async () => {
  const s = await startServer();
  server = s.child;
  base = s.url;
  browser = await chromium.launch({
    executablePath: chromiumPath, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--enable-unsafe-swiftshader', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.kill('SIGTERM');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the map viewer reaches idle with the basemap, grids and legend, and no console errors', async () => {
  const page = await openPage();
  await page.screenshot({ path: path.join(output, 'viewer.png') });
  const painted = await paintedShare(page);
  assert.ok(painted > 0.2, `the map looks blank: ${(painted * 100).toFixed(1)}% painted`);
  const layers = await page.evaluate(() => window.gridd.map.getStyle().layers.map((l) => l.id));
  for (const id of ['basemap', 'grids-street', 'grids-grid', 'stations', 'incidents', 'labels-community']) {
    assert.ok(layers.includes(id), `layer ${id} missing`);
  }
  // Grids really are drawn: the vector tiles' features are rendered.
  const rendered = await page.evaluate(() => window.gridd.map.queryRenderedFeatures({ layers: ['grids-street'] }).length);
  assert.ok(rendered > 0, 'no street polygons rendered');
  assert.match(await page.locator('#legend').innerText(), /超时/);
  assert.match(await page.locator('#status').innerText(), /1282/);
  await page.close();
  assert.deepEqual(problems, []);
});

test('clicking a known point shows the responsible worker and the nearest stations', async () => {
  const lon = 116.5871, lat = 35.4150;
  const want = await api(`/locate?lon=${lon}&lat=${lat}`);
  const worker = want.owner.people.find((p) => p.role === 'grid_worker');
  const page = await openPage();
  await page.evaluate(([x, y]) => window.gridd.map.jumpTo({ center: [x, y], zoom: 14 }), [lon, lat]);
  await idle(page);
  await clickLonLat(page, lon, lat);
  await page.waitForSelector('#locate-result');
  const text = await page.locator('#locate-result').innerText();
  assert.ok(text.includes(want.owner.name), `owner ${want.owner.name} not shown: ${text}`);
  assert.ok(text.includes(worker.name) && text.includes(worker.phone), `worker ${worker.name} not shown`);
  assert.ok(text.includes(want.stations[0].name), 'nearest station not listed');
  // The chain lights up on the map.
  const lit = await page.evaluate(() => window.gridd.map.queryRenderedFeatures({ layers: ['highlight-grid'] }).map((f) => f.properties.code));
  assert.ok(lit.includes(want.owner.code), `owner grid not highlighted: ${lit}`);
  await idle(page);
  await page.screenshot({ path: path.join(output, 'dispatch-located.png') });
  // Typed CGCS2000 coordinates (EPSG:4490) give the same grid.
  await page.click('#locate-result');  // stays; now replace it by a typed locate
  await page.evaluate(() => { document.getElementById('located').replaceChildren(); });
  await page.fill('#lx', String(lon));
  await page.fill('#ly', String(lat));
  await page.selectOption('#lcrs', 'EPSG:4490');
  await page.click('#locate-form button[type=submit]');
  await page.waitForFunction((name) => document.querySelector('#locate-result h3')?.textContent === name, want.owner.name);
  await page.close();
  assert.deepEqual(problems, []);
});

test('an incident reported in the UI appears in the live list and on the map, and moves through the loop', async () => {
  const lon = 116.5600, lat = 35.4000;
  const page = await openPage();
  await page.evaluate(([x, y]) => window.gridd.map.jumpTo({ center: [x, y], zoom: 15 }), [lon, lat]);
  await idle(page);
  await clickLonLat(page, lon, lat);
  await page.waitForSelector('#report-form');
  await page.selectOption('#report-form select[name=category]', 'blocked_fire_lane');
  await page.fill('#report-form textarea[name=description]', '消防通道被车辆堵塞');
  await page.click('#report-form button[type=submit]');
  await page.waitForSelector('#incident-card');
  const id = await page.locator('#incident-card').getAttribute('data-id');
  assert.ok(Number(id) > 0);
  // The live list got it through the event stream.
  await page.waitForSelector(`#live li[data-id="${id}"]`, { timeout: 15000 });
  // And the map draws it once the tiles refresh.
  await page.waitForFunction((want) => window.gridd.map.queryRenderedFeatures({ layers: ['incidents'] })
    .some((f) => String(f.properties.id) === want), id, { timeout: 15000 });
  await page.screenshot({ path: path.join(output, 'incident-reported.png') });
  // Register and dispatch from the same screen.
  await page.click('#incident-card button[data-action=register]');
  await page.click('form[data-form=register] button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#incident-status')?.textContent === '已登记');
  await page.click('#incident-card button[data-action=dispatch]');
  await page.click('form[data-form=dispatch] button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#incident-status')?.textContent === '已派遣');
  const stored = await api(`/incidents/${id}`);
  assert.equal(stored.properties.status, 'dispatched');
  // Green while the deadline is beyond today (China Standard Time), yellow
  // when it falls before today's end: which one depends on the hour the
  // test runs.
  const dayMs = 86400e3, cst = 8 * 3600e3;
  const todayEnds = (Math.floor((Date.now() + cst) / dayMs) + 1) * dayMs - cst;
  const due = Date.parse(stored.properties.due_at);
  assert.ok(Number.isFinite(due), `due_at ${stored.properties.due_at}`);
  assert.equal(stored.properties.colour, due < todayEnds ? 'due_today' : 'on_track');
  const history = await api(`/incidents/${id}/history`);
  assert.deepEqual(history.events.map((e) => e.action), ['report', 'register', 'dispatch']);
  await page.screenshot({ path: path.join(output, 'incident-dispatched.png') });
  await page.close();
  assert.deepEqual(problems, []);
});

test('an incident from elsewhere arrives in an open console without a reload', async () => {
  const page = await openPage();
  await page.click('button[data-view=dispatch]');
  const created = await api('/incidents', { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ category: 'lost_person', description: '老人走失', lon: 116.59, lat: 35.42, channel: 'hotline' }) });
  await page.waitForSelector(`#live li[data-id="${created.id}"]`, { timeout: 15000 });
  assert.match(await page.locator('#toast').innerText(), new RegExp(`#${created.id}`));
  await page.close();
  assert.deepEqual(problems, []);
});

test('filters narrow the incidents shown and English can be chosen', async () => {
  const page = await openPage();
  await page.evaluate(() => window.gridd.map.jumpTo({ center: [116.575, 35.41], zoom: 12 }));
  await idle(page);
  await page.selectOption('#f-category', 'lost_person');
  await page.waitForFunction(() => window.gridd.map.getSource('filtered')._data?.features?.length > 0 ||
    window.gridd.map.querySourceFeatures('filtered').length > 0, null, { timeout: 15000 });
  await idle(page);
  const cats = await page.evaluate(() => window.gridd.map.queryRenderedFeatures({ layers: ['incidents-filtered'] })
    .map((f) => f.properties.category));
  assert.ok(cats.length > 0, 'nothing shown for the filter');
  assert.ok(cats.every((c) => c === 'lost_person'), `other categories shown: ${cats}`);
  await page.screenshot({ path: path.join(output, 'viewer-filtered.png') });
  await page.click('#lang');
  assert.equal(await page.locator('button[data-view=viewer]').innerText(), 'Map');
  await page.click('#lang');
  assert.equal(await page.locator('button[data-view=viewer]').innerText(), '地图');
  await page.close();
  assert.deepEqual(problems, []);
});

test('the dashboard charts the numbers and a click on a chart filters the map', async () => {
  const items = [['parking_disorder', 116.58, 35.41], ['parking_disorder', 116.59, 35.40], ['heating_failure', 116.57, 35.42]]
    .map(([category, lon, lat]) => ({ category, lon, lat, channel: 'patrol' }));
  await api('/incidents', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ items }) });
  const page = await openPage();
  await page.click('button[data-view=dashboard]');
  await page.waitForFunction(() => window.gridd.dashboard, null, { timeout: 30000 });
  const summary = await page.evaluate(() => window.gridd.dashboard);
  assert.ok(summary.days >= 1, 'no day in the daily chart');
  assert.ok(summary.categories >= 1, 'no category in the category chart');
  const open = summary.colours.reduce((a, b) => a + b, 0);
  const stats = await api('/incidents/stats?group=channel');
  assert.equal(open, stats.total.open, 'the colour chart does not add up to the open incidents');
  assert.match(await page.locator('#totals').innerText(), /受理总数/);
  await page.screenshot({ path: path.join(output, 'dashboard.png') });
  // Click the first bar of the category chart: the map shows that category only.
  const target = await page.evaluate(() => {
    const chart = window.griddCharts['chart-categories'];
    const bar = chart.getDatasetMeta(0).data[0];
    const rect = chart.canvas.getBoundingClientRect();
    return { x: rect.left + (bar.x + bar.base) / 2, y: rect.top + bar.y, label: chart.data.labels[0] };
  });
  await page.mouse.click(target.x, target.y);
  await page.waitForFunction(() => !document.getElementById('map').hidden && document.getElementById('f-category').value !== '');
  const chosen = await page.locator('#f-category').inputValue();
  assert.ok(chosen.length > 0);
  await page.close();
  assert.deepEqual(problems, []);
});

test('on a tablet the panel sits under the map', async () => {
  const page = await openPage({ width: 800, height: 1100 });
  const map = await page.locator('#map').boundingBox();
  const panel = await page.locator('#panel').boundingBox();
  assert.ok(panel.y > map.y, 'the panel should be below the map');
  assert.ok(map.width >= 790);
  await page.screenshot({ path: path.join(output, 'tablet.png') });
  await page.close();
  assert.deepEqual(problems, []);
});
