// The planner editor (规划) in a real browser: playwright-core driving Debian's
// chromium (headless, software WebGL) against the real gridd serving the demo
// city. A micro-grid is drawn with the mouse, saved and located; an overlapping
// one is refused with the reason shown and the overlap drawn; the first one is
// split, its households divided in the preview and carried by the parts; two
// grids are merged with every person listed and kept; the workload table lists
// a community's grids; the editor and the reason stay filled in; on a 1024×768
// tablet the panels start collapsed and the map keeps the width; at 390 px
// nothing overflows.
// Screenshots (1440×900, 1024×768, 390×844) go to tests/browser/output/ (or $GRIDD_BROWSER_OUTPUT).
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

let server, base, browser, dir, page;
const problems = [];  // console errors and page errors
const refusals = [];  // the browser's own log line for each refused save (HTTP 409): expected, counted
const D = 0.0005;     // half the side of the drawn squares, in degrees (~45 m × 55 m)
let target;           // {grid (feature), community, lon, lat}

function startServer() {
  dir = mkdtempSync(path.join(tmpdir(), 'gridd-planner-'));
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

async function idle(p = page) {
  await p.waitForFunction(() => window.gridd.map.loaded() && window.gridd.map.areTilesLoaded(), null, { timeout: 60000 });
  await p.waitForTimeout(300);
}

/** Share of the map's pixels (from a real screenshot) that are not the empty background. */
async function paintedShare(p = page) {
  const png = await p.locator('#map').screenshot();
  return p.evaluate(async (b64) => {
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

async function screenPoint(lon, lat) {
  const pt = await page.evaluate(([x, y]) => window.gridd.map.project([x, y]), [lon, lat]);
  const box = await page.locator('#map').boundingBox();
  return { x: box.x + pt.x, y: box.y + pt.y };
}

async function clickLonLat(lon, lat) {
  const { x, y } = await screenPoint(lon, lat);
  await page.mouse.move(x, y, { steps: 3 });
  await page.mouse.click(x, y);
  await page.waitForTimeout(120);
}

/** Draw a closed polygon with the draw tool: one click per vertex, then a click on the first. */
async function drawPolygon(ring) {
  await page.click('#pl-tools button[data-tool=draw]');
  for (const [lon, lat] of ring) await clickLonLat(lon, lat);
  await clickLonLat(...ring[0]);
  await page.waitForSelector('#pl-form:not([hidden]) #pl-code');
}

function square(lon, lat, d = D) {
  return [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d]];
}

function centroid(geometry) {
  const ring = (geometry.type === 'MultiPolygon' ? geometry.coordinates[0] : geometry.coordinates)[0];
  let a = 0, cx = 0, cy = 0;
  for (let i = 0; i < ring.length - 1; i += 1) {
    const [x0, y0] = ring[i], [x1, y1] = ring[i + 1];
    const f = x0 * y1 - x1 * y0;
    a += f; cx += (x0 + x1) * f; cy += (y0 + y1) * f;
  }
  return [cx / (3 * a), cy / (3 * a)];
}

/** A grid of the demo city and a point well inside it (checked with /locate at the point and around it). */
async function findTarget() {
  const grids = await api('/grids?level=grid&geometry=true&limit=60');
  for (const g of grids.features) {
    const [lon, lat] = centroid(g.geometry);
    const probes = [[lon, lat], ...square(lon, lat, 3 * D)];
    const owners = await Promise.all(probes.map(([x, y]) => api(`/locate?lon=${x}&lat=${y}&k=0`)));
    if (owners.every((r) => r.covered && r.owner && r.owner.code === g.properties.code)) {
      const community = owners[0].grids.find((x) => x.level === 'community');
      return { grid: g, community, lon, lat };
    }
  }
  throw new Error('no grid with room for a micro-grid');
}

async function fillAttributes({ code, name, parent, worker }) {
  await page.fill('#pl-code', code);
  await page.fill('#pl-name', name);
  await page.selectOption('#pl-level', 'micro_grid');
  await page.fill('#pl-parent', parent);
  await page.fill('#pl-households', '120');
  if (worker) {
    await page.click('#pl-add-person');
    const row = page.locator('#pl-people .person').last();
    await row.locator('[name=pname]').fill(worker.name);
    await row.locator('[name=role]').selectOption('grid_worker');
    await row.locator('[name=phone]').fill(worker.phone);
  }
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
  target = await findTarget();
  page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (/status of 409/.test(m.text()) && /\/grids(\?|$)/.test(m.location().url || '')) refusals.push(m.location().url);
    else problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => { problems.push(`unexpected dialog: ${d.message()}`); d.dismiss(); });
  await page.goto(base + '/');
  await page.waitForFunction(() => window.gridd && window.gridd.ready, null, { timeout: 60000 });
  await idle();
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.kill('SIGTERM');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const worker = { name: '林晓燕', phone: '13905370001' };

test('a micro-grid drawn in the planner is saved and then located with its worker', async () => {
  const { grid, lon, lat } = target;
  const code = `${grid.properties.code}001`;
  await page.click('button[data-view=planner]');
  await page.waitForFunction(() => window.gridd.planner && window.gridd.planner.ready, null, { timeout: 30000 });
  assert.equal(await page.locator('button[data-view=planner]').innerText(), '规划');
  assert.ok(await page.locator('#planner-side').isVisible(), 'the workload table is not beside the map');
  await page.evaluate(([x, y]) => window.gridd.map.jumpTo({ center: [x, y], zoom: 17 }), [lon, lat]);
  await idle();
  await page.fill('#pl-editor', '规划科 王工');
  await page.fill('#pl-reason', '楼院微网格划分');

  await drawPolygon(square(lon, lat));
  // The form suggests the grid under the drawing as the parent.
  assert.equal(await page.locator('#pl-parent').inputValue(), grid.properties.code);
  assert.equal(await page.locator('#pl-level').inputValue(), 'micro_grid');
  await fillAttributes({ code, name: '测试楼院微网格', parent: grid.properties.code, worker });
  // The live check finds nothing wrong.
  await page.waitForSelector('#pl-check-state.ok', { timeout: 15000 });
  await page.click('#pl-save');
  await page.waitForSelector(`#pl-selected[data-code="${code}"]`, { timeout: 15000 });
  assert.ok(await page.locator('#pl-refusal').isHidden());
  // The form shows the saved grid with its worker.
  const people = await page.locator('#pl-people .person [name=pname]').evaluateAll((inputs) => inputs.map((i) => i.value));
  assert.ok(people.includes(worker.name), `worker not in the form: ${people}`);

  // The server locates the centre in the new micro-grid, with its worker.
  const located = await api(`/locate?lon=${lon}&lat=${lat}`);
  assert.equal(located.owner.code, code);
  assert.equal(located.owner.level, 'micro_grid');
  assert.ok(located.owner.people.some((p) => p.name === worker.name && p.phone === worker.phone));
  const history = await api(`/grids/${located.owner.id}/history`);
  assert.equal(history.features[0].properties.editor, '规划科 王工');
  assert.equal(history.features[0].properties.reason, '楼院微网格划分');

  // And so does the dispatcher console.
  await page.click('button[data-view=dispatch]');
  await idle();
  await clickLonLat(lon, lat);
  await page.waitForFunction((name) => document.querySelector('#locate-result h3')?.textContent === name, '测试楼院微网格');
  const text = await page.locator('#locate-result').innerText();
  assert.ok(text.includes(worker.name) && text.includes(worker.phone), `worker not shown: ${text}`);
  await page.click('button[data-view=planner]');
  await idle();
  assert.deepEqual(problems, []);
});

test('an overlapping grid is refused with the reason shown and the overlap drawn on the map', async () => {
  const { grid, lon, lat } = target;
  const code2 = `${grid.properties.code}002`;
  // A second square shifted east by half its width overlaps the first one.
  await drawPolygon(square(lon + D, lat));
  await fillAttributes({ code: code2, name: '重叠的微网格', parent: grid.properties.code, worker: { name: '赵磊', phone: '13905370002' } });
  // The live check shows the overlap before saving.
  await page.waitForSelector('#pl-defects li[data-type=overlap]', { timeout: 15000 });
  assert.match(await page.locator('#pl-check-state').innerText(), /拒绝/);
  await page.click('#pl-save');
  await page.waitForSelector('#pl-refusal:not([hidden])', { timeout: 15000 });
  const refusal = await page.locator('#pl-refusal').innerText();
  assert.match(refusal, /重叠|overlap/);
  assert.ok(refusal.includes(`${grid.properties.code}001`), `the refusal does not name the other grid: ${refusal}`);
  assert.ok(await page.locator('#pl-draft').isVisible(), 'no save-as-draft choice');
  assert.equal(refusals.length, 1, `one refused POST /grids expected: ${refusals}`);
  await page.evaluate(() => window.gridd.map.zoomTo(16.2, { duration: 0 }));
  await idle();
  const drawn = await page.evaluate(() => window.gridd.map.queryRenderedFeatures({ layers: ['planner-defect-fill'] })
    .map((f) => f.properties.type));
  assert.ok(drawn.includes('overlap'), `the overlap is not drawn: ${drawn}`);
  const painted = await paintedShare();
  assert.ok(painted > 0.2, `the map looks blank: ${(painted * 100).toFixed(1)}% painted`);
  await page.screenshot({ path: path.join(output, 'planner-overlap-refused.png') });
  // Nothing was written.
  assert.equal((await api(`/grids?code=${code2}&geometry=false`)).features.length, 0);
  await page.click('#pl-cancel');
  await page.waitForFunction(() => !window.gridd.planner.edit);
  await page.evaluate(([x, y]) => window.gridd.map.jumpTo({ center: [x, y], zoom: 17 }), [lon, lat]);
  await idle();
  assert.equal(await page.evaluate(() => window.gridd.map.querySourceFeatures('planner-defects').length), 0);
  assert.deepEqual(problems, []);
});

test('a micro-grid is split with a line: the preview divides the households, the parts carry them', async () => {
  const { grid, lon, lat } = target;
  const code = `${grid.properties.code}001`;
  await clickLonLat(lon - D / 2, lat);
  await page.waitForSelector(`#pl-selected[data-code="${code}"]`);
  await page.click('#pl-tools button[data-tool=split]');
  await clickLonLat(lon, lat - 2 * D);
  await clickLonLat(lon + D / 5, lat + 2 * D);
  await page.waitForTimeout(400);
  await clickLonLat(lon + D / 5, lat + 2 * D);  // a click on the last point ends the line
  await page.waitForSelector('#pl-split[data-state=preview]', { timeout: 15000 });
  assert.equal(await page.locator('#pl-split table.parts tbody tr').count(), 2);
  // The 120 households are divided by area, shown per part and editable; they add up to 120.
  const split = await page.evaluate(() => window.gridd.planner.preview.split);
  assert.equal(split.households, 120);
  assert.equal(split.households_by, 'area');
  const inputs = page.locator('#pl-split [name=part-households]');
  const shown = await inputs.evaluateAll((list) => list.map((i) => Number(i.value)));
  assert.deepEqual(shown, split.parts.map((p) => p.households));
  assert.equal(shown[0] + shown[1], 120);
  const totalArea = split.parts[0].area_m2 + split.parts[1].area_m2;
  split.parts.forEach((p, k) => assert.ok(Math.abs(shown[k] - (120 * p.area_m2) / totalArea) <= 1,
    `part ${k}: ${shown[k]} households for ${p.area_m2} of ${totalArea} m²`));
  assert.match(await page.locator('#pl-split-sum').innerText(), /120/);
  assert.match(await page.locator('#pl-split-households-note').innerText(), /按面积/);
  await idle();
  const preview = await page.evaluate(() => window.gridd.map.queryRenderedFeatures({ layers: ['planner-preview-fill'] }).length);
  assert.ok(preview > 0, 'the split preview is not drawn');
  const labels = await page.evaluate(() => window.gridd.map.queryRenderedFeatures({ layers: ['planner-preview-labels'] })
    .map((f) => f.properties.label));
  assert.ok(labels.some((l) => l.includes(`${shown[1]} 户`)), `the map labels do not show the households: ${labels}`);
  await page.screenshot({ path: path.join(output, 'planner-1440-split-preview.png') });
  // Before the commit nothing changed.
  assert.equal((await api(`/grids?parent=${grid.properties.code}&level=micro_grid&geometry=false`)).features.length, 1);
  // A division that does not add up is flagged and not sent.
  await inputs.nth(1).fill(String(shown[1] + 7));
  await page.waitForSelector('#pl-split-sum.bad');
  assert.match(await page.locator('#pl-split-sum').innerText(), /127/);
  await page.click('#pl-split-commit');
  await page.waitForTimeout(300);
  assert.equal(await page.locator('#pl-split').getAttribute('data-state'), 'preview');
  // The planner's own count: 5 households move to the new part.
  const wanted = [shown[0] - 5, shown[1] + 5];
  await inputs.nth(0).fill(String(wanted[0]));
  await inputs.nth(1).fill(String(wanted[1]));
  await page.waitForSelector('#pl-split-sum:not(.bad)');
  await page.locator('#pl-split tr[data-new=true] [name=part-name]').fill('测试楼院微网格东');
  await page.click('#pl-split-commit');
  await page.waitForSelector('#pl-split', { state: 'detached', timeout: 15000 });
  const parts = await api(`/grids?parent=${grid.properties.code}&level=micro_grid&geometry=false`);
  assert.equal(parts.features.length, 2);
  assert.ok(parts.features.some((f) => f.properties.name === '测试楼院微网格东'));
  const kept = parts.features.find((f) => f.properties.code === code);
  const added = parts.features.find((f) => f.properties.code !== code);
  assert.equal(kept.properties.households, wanted[0]);
  assert.equal(added.properties.households, wanted[1]);
  // The editor and the reason stayed filled in from the first edit, and were recorded again.
  assert.equal(await page.locator('#pl-editor').inputValue(), '规划科 王工');
  assert.equal(await page.locator('#pl-reason').inputValue(), '楼院微网格划分');
  const history = await api(`/grids/${kept.id}/history`);
  assert.equal(history.features.at(-1).properties.operation, 'split');
  assert.equal(history.features.at(-1).properties.reason, '楼院微网格划分');
  assert.equal(history.features.at(-1).properties.editor, '规划科 王工');
  // The vector tiles refresh: both micro-grids are drawn.
  await page.waitForFunction((codes) => {
    const drawn = window.gridd.map.queryRenderedFeatures({ layers: ['grids-micro_grid'] }).map((f) => f.properties.code);
    return codes.every((c) => drawn.includes(c));
  }, parts.features.map((f) => f.properties.code), { timeout: 15000 });
  await page.evaluate(() => window.gridd.map.zoomTo(16.2, { duration: 0 }));
  await idle();
  const painted = await paintedShare();
  assert.ok(painted > 0.2, `the map looks blank: ${(painted * 100).toFixed(1)}% painted`);
  await page.screenshot({ path: path.join(output, 'planner-after-split.png') });
  assert.deepEqual(problems, []);
});

test('two grids are merged: the preview lists every person and the households summed, and both are kept', async () => {
  // Two neighbouring grids of the target's community, both with people, that merge cleanly (the target
  // itself is partly divided into micro-grids: merged, the rest of it would be a gap the server refuses).
  const siblings = (await api(`/grids?parent=${target.grid.properties.parent}&level=grid&geometry=true&limit=100`))
    .features.filter((f) => f.id !== target.grid.id && f.properties.people.length);
  let grid = null, other = null;
  for (const a of siblings) {
    for (const b of siblings) {
      if (grid || a.id >= b.id) continue;
      const r = await fetch(`${base}/grids/merge`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ ids: [a.id, b.id], keep: a.id }) });
      if (r.ok && !(await r.json()).refused) { grid = a; other = b; }
    }
  }
  assert.ok(other, 'no two neighbours to merge');
  // A point that locates in the neighbour.
  let at = null;
  for (const p of [centroid(other.geometry), ...other.geometry.coordinates.flat(2).slice(0, 1)]) {
    const r = await api(`/locate?lon=${p[0]}&lat=${p[1]}&k=0`);
    if (r.grids.some((g) => g.id === other.id)) { at = p; break; }
  }
  assert.ok(at, 'no point inside the neighbour');
  const before = await api(`/grids/${grid.id}`);
  const key = (p) => `${p.name}|${p.phone || ''}|${p.role}`;
  const union = [...new Map([...before.properties.people, ...other.properties.people].map((p) => [key(p), p])).values()];
  const sum = (before.properties.households ?? 0) + (other.properties.households ?? 0);
  assert.ok(before.properties.households !== null && other.properties.households !== null, 'the demo grids have households');

  await page.fill('#pl-find-code', grid.properties.code);
  await page.click('#pl-find button[type=submit]');
  await page.waitForSelector(`#pl-selected[data-code="${grid.properties.code}"]`);
  await page.click('#pl-tools button[data-tool=merge]');
  await page.evaluate(([a, b]) => {
    const all = [...a.coordinates.flat(2), ...b.coordinates.flat(2)];
    const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
    window.gridd.map.fitBounds([[Math.min(...xs), Math.min(...ys)], [Math.max(...xs), Math.max(...ys)]], { padding: 40, duration: 0 });
  }, [before.geometry, other.geometry]);
  await idle();
  await clickLonLat(at[0], at[1]);
  await page.waitForFunction(() => document.querySelectorAll('#pl-merge-pick .chip').length === 2);
  await page.click('#pl-merge-preview');
  await page.waitForSelector('#pl-merge[data-state=preview] #pl-merge-people', { timeout: 15000 });
  // Every person of both grids is listed, the neighbour's marked as coming over.
  const listed = await page.locator('#pl-merge-people li').evaluateAll((li) => li.map((x) => ({ name: x.dataset.name, added: x.dataset.added === 'true' })));
  assert.deepEqual(listed.map((p) => p.name).sort(), union.map((p) => p.name).sort());
  const theirs = new Set(other.properties.people.map((p) => p.name));
  const ours = new Set(before.properties.people.map((p) => p.name));
  for (const p of listed) assert.equal(p.added, theirs.has(p.name) && !ours.has(p.name), `${p.name} marked wrong`);
  assert.match(await page.locator('#pl-merge-summary').innerText(), new RegExp(`全部保留 ${union.length} 人`));
  assert.equal(await page.locator('#pl-merge-households').getAttribute('data-sum'), String(sum));
  assert.match(await page.locator('#pl-merge-households').innerText(), new RegExp(`= ${sum} 户`));
  assert.match(await page.locator('#pl-merge-retired').innerText(), new RegExp(other.properties.code));
  await page.screenshot({ path: path.join(output, 'planner-1440-merge-preview.png') });

  await page.click('#pl-merge-commit');
  await page.waitForSelector('#pl-merge', { state: 'detached', timeout: 15000 });
  const merged = await api(`/grids/${grid.id}`);
  assert.deepEqual(merged.properties.people.map(key).sort(), union.map(key).sort());
  assert.equal(merged.properties.households, sum);
  assert.equal((await api(`/grids?code=${other.properties.code}&geometry=false`)).features.length, 0);
  await page.waitForSelector(`#pl-selected[data-code="${grid.properties.code}"]`);

  // Who edits and why are still there after a reload.
  await page.reload();
  await page.waitForFunction(() => window.gridd && window.gridd.ready, null, { timeout: 60000 });
  await page.click('button[data-view=planner]');
  await page.waitForFunction(() => window.gridd.planner && window.gridd.planner.ready, null, { timeout: 30000 });
  assert.equal(await page.locator('#pl-editor').inputValue(), '规划科 王工');
  assert.equal(await page.locator('#pl-reason').inputValue(), '楼院微网格划分');
  await page.fill('#pl-find-code', grid.properties.code);
  await page.click('#pl-find button[type=submit]');
  await page.waitForSelector(`#pl-selected[data-code="${grid.properties.code}"]`);
  await idle();
  assert.deepEqual(problems, []);
});

test('the workload table lists the grids of the selected community and selects a grid on click', async () => {
  const { community } = target;
  await page.click('#pl-selected a[data-level=community]');
  await page.waitForSelector(`#pl-selected[data-code="${community.code}"]`);
  const want = await api(`/workload?root=${community.code}&level=grid`);
  await page.waitForFunction((n) => document.querySelectorAll('#pl-workload tbody tr').length === n, want.grids.length);
  const codes = await page.locator('#pl-workload tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.code));
  assert.deepEqual([...codes].sort(), want.grids.map((g) => g.code).sort());
  assert.match(await page.locator('#pl-workload-root').innerText(), new RegExp(community.name));
  // Sorting by households (in the browser).
  await page.click('#pl-workload th[data-key=households]');
  const households = await page.locator('#pl-workload tbody tr td:nth-child(6)').evaluateAll((tds) => tds.map((td) => Number(td.textContent)));
  assert.deepEqual(households, [...households].sort((a, b) => b - a));
  // Sorting by overdue share asks the server (its flags follow the key).
  await page.click('#pl-workload th[data-key=overdue_share]');
  await page.waitForFunction(() => document.querySelector('#pl-sort').value === 'overdue_share');
  // The station coverage overlay (optional) draws the parts beyond walking distance of every grid station.
  await page.check('#pl-coverage');
  await page.waitForFunction(() => /户/.test(document.getElementById('pl-coverage-summary').textContent));
  // A click on a row selects that grid.
  const row = page.locator('#pl-workload tbody tr').nth(1);
  const code = await row.getAttribute('data-code');
  await row.click();
  await page.waitForSelector(`#pl-selected[data-code="${code}"]`);
  await idle();
  await page.screenshot({ path: path.join(output, 'planner-workload.png') });
  // English too.
  await page.click('#lang');
  assert.equal(await page.locator('button[data-view=planner]').innerText(), 'Planner');
  assert.match(await page.locator('#pl-tools').innerText(), /Draw grid/);
  await page.click('#lang');
  assert.equal(await page.locator('button[data-view=planner]').innerText(), '规划');
  assert.deepEqual(problems, []);
});

/** A fresh page (its own storage) at a size, in the planner. */
async function plannerPage(width, height) {
  const p = await browser.newPage({ viewport: { width, height } });
  p.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  p.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  await p.goto(base + '/');
  await p.waitForFunction(() => window.gridd && window.gridd.ready, null, { timeout: 60000 });
  await p.click('button[data-view=planner]');
  await p.waitForFunction(() => window.gridd.planner && window.gridd.planner.ready, null, { timeout: 30000 });
  return p;
}

/** Elements wider than the window or sticking out of it (none expected). */
function overflow(p) {
  return p.evaluate(() => {
    const w = document.documentElement.clientWidth;
    const out = [];
    if (document.documentElement.scrollWidth > w) out.push(`page ${document.documentElement.scrollWidth} > ${w}`);
    for (const e of document.querySelectorAll('header.bar, header.bar *, #planner-panel .pl-head, #planner-panel .pl-head *, #pl-tools, #pl-tools *, #planner-side .side-head, #planner-side .side-head *')) {
      const r = e.getBoundingClientRect();
      if (r.width && (r.right > w + 0.5 || r.left < -0.5)) out.push(`${e.tagName.toLowerCase()}#${e.id}.${e.className}: ${Math.round(r.left)}..${Math.round(r.right)}`);
    }
    return out;
  });
}

test('at 1440×900 both panels stay open beside the map', async () => {
  const desk = await plannerPage(1440, 900);
  assert.equal(await desk.evaluate(() => document.body.classList.contains('pl-tools-collapsed')), false);
  assert.equal(await desk.evaluate(() => document.body.classList.contains('pl-side-collapsed')), false);
  assert.ok(await desk.locator('#pl-find-code').isVisible(), 'the tool panel is collapsed');
  assert.ok(await desk.locator('#pl-sort').isVisible(), 'the workload panel is collapsed');
  assert.ok((await desk.locator('#planner-side').boundingBox()).width > 300, 'the workload panel is narrow');
  assert.equal(await desk.locator('#pl-tools-toggle').getAttribute('aria-expanded'), 'true');
  await desk.fill('#pl-find-code', target.community.code);
  await desk.click('#pl-find button[type=submit]');
  await desk.waitForSelector('#pl-workload tbody tr');
  await idle(desk);
  const map = await desk.locator('#map').boundingBox();
  assert.ok(map.width >= 500, `map too small: ${JSON.stringify(map)}`);
  await desk.screenshot({ path: path.join(output, 'planner-1440.png') });
  await desk.close();
  assert.deepEqual(problems, []);
});

test('on a 1024×768 tablet the panels start collapsed, the map keeps the width, and the choice is remembered', async () => {
  const tablet = await plannerPage(1024, 768);
  assert.ok(await tablet.evaluate(() => document.body.classList.contains('pl-tools-collapsed')), 'the tool panel is open');
  assert.ok(await tablet.evaluate(() => document.body.classList.contains('pl-side-collapsed')), 'the workload panel is open');
  await tablet.evaluate(([x, y]) => window.gridd.map.jumpTo({ center: [x, y], zoom: 15 }), [target.lon, target.lat]);
  await idle(tablet);
  let map = await tablet.locator('#map').boundingBox();
  assert.ok(map.width >= 0.7 * 1024, `the map is ${map.width} px of 1024`);
  assert.ok(map.height > 600, `the map is ${map.height} px high`);
  // The tools stay at hand as a rail of icons, every one on screen.
  const tools = await tablet.locator('#pl-tools button').evaluateAll((bs) => bs.map((b) => b.getBoundingClientRect().toJSON()));
  assert.equal(tools.length, 8);
  for (const r of tools) assert.ok(r.width > 20 && r.height > 20 && r.bottom <= 768 && r.right <= 1024, `a tool off screen: ${JSON.stringify(r)}`);
  assert.deepEqual(await overflow(tablet), []);
  const painted = await paintedShare(tablet);
  assert.ok(painted > 0.2, `the map looks blank: ${(painted * 100).toFixed(1)}% painted`);
  await tablet.screenshot({ path: path.join(output, 'planner-1024-collapsed.png') });

  // Both panels opened by their toggles: the workload of a community, the map still between them.
  await tablet.click('#pl-side-toggle');
  await tablet.waitForFunction(() => !document.body.classList.contains('pl-side-collapsed'));
  await tablet.click('#pl-tools-toggle');
  await tablet.waitForFunction(() => !document.body.classList.contains('pl-tools-collapsed'));
  await tablet.fill('#pl-find-code', target.community.code);
  await tablet.click('#pl-find button[type=submit]');
  await tablet.waitForSelector('#pl-workload tbody tr');
  await idle(tablet);
  map = await tablet.locator('#map').boundingBox();
  assert.ok(map.width > 200, `the map is gone with both panels open: ${map.width}`);
  await tablet.screenshot({ path: path.join(output, 'planner-1024-open.png') });
  // Remembered: after a reload both stay open; collapsed again, they stay collapsed.
  await tablet.reload();
  await tablet.waitForFunction(() => window.gridd && window.gridd.ready, null, { timeout: 60000 });
  await tablet.click('button[data-view=planner]');
  await tablet.waitForFunction(() => window.gridd.planner && window.gridd.planner.ready, null, { timeout: 30000 });
  assert.equal(await tablet.evaluate(() => document.body.classList.contains('pl-tools-collapsed')), false);
  assert.equal(await tablet.evaluate(() => document.body.classList.contains('pl-side-collapsed')), false);
  await tablet.click('#pl-tools-toggle');
  await tablet.click('#pl-side-toggle');
  await tablet.reload();
  await tablet.waitForFunction(() => window.gridd && window.gridd.ready, null, { timeout: 60000 });
  await tablet.click('button[data-view=planner]');
  await tablet.waitForFunction(() => window.gridd.planner && window.gridd.planner.ready, null, { timeout: 30000 });
  assert.ok(await tablet.evaluate(() => document.body.classList.contains('pl-tools-collapsed')));
  assert.ok(await tablet.evaluate(() => document.body.classList.contains('pl-side-collapsed')));
  map = await tablet.locator('#map').boundingBox();
  assert.ok(map.width >= 0.7 * 1024, `the map is ${map.width} px of 1024`);
  // Other views keep their panel: the collapse is the planner's.
  await tablet.click('button[data-view=dispatch]');
  assert.ok(await tablet.locator('#locate-form').isVisible(), 'the dispatch panel is collapsed too');
  await tablet.close();
  assert.deepEqual(problems, []);
});

test('on a portrait tablet the planner keeps the map, the tools and the workload on screen', async () => {
  const tablet = await plannerPage(800, 1100);
  // Collapsed, the tools are one row of icons and the workload one bar; the map has the rest.
  let map = await tablet.locator('#map').boundingBox();
  assert.ok(map.width >= 790 && map.height > 800, `map too small: ${JSON.stringify(map)}`);
  const tools = await tablet.locator('#pl-tools').boundingBox();
  assert.ok(tools && tools.y > map.y && tools.y + tools.height <= 1100, 'the tools are off screen');
  assert.deepEqual(await overflow(tablet), []);
  // Opened, the workload table shows a community's grids.
  await tablet.click('#pl-tools-toggle');
  await tablet.click('#pl-side-toggle');
  await tablet.fill('#pl-find-code', target.community.code);
  await tablet.click('#pl-find button[type=submit]');
  await tablet.waitForSelector('#pl-workload tbody tr');
  await idle(tablet);
  map = await tablet.locator('#map').boundingBox();
  const side = await tablet.locator('#planner-side').boundingBox();
  assert.ok(map.width >= 790 && map.height > 300, `map too small: ${JSON.stringify(map)}`);
  assert.ok(side && side.height > 100, 'the workload table is hidden');
  const painted = await paintedShare(tablet);
  assert.ok(painted > 0.2, `the map looks blank: ${(painted * 100).toFixed(1)}% painted`);
  await tablet.screenshot({ path: path.join(output, 'planner-tablet.png') });
  await tablet.close();
  assert.deepEqual(problems, []);
});

test('on a 390 px phone the planner fits: no horizontal overflow, collapsed or open', async () => {
  const phone = await plannerPage(390, 844);
  await phone.evaluate(([x, y]) => window.gridd.map.jumpTo({ center: [x, y], zoom: 15 }), [target.lon, target.lat]);
  await idle(phone);
  assert.deepEqual(await overflow(phone), []);
  const map = await phone.locator('#map').boundingBox();
  assert.ok(map.height > 500, `the map is ${map.height} px high`);
  for (const b of await phone.locator('#pl-tools button').evaluateAll((bs) => bs.map((x) => x.getBoundingClientRect().toJSON()))) {
    assert.ok(b.right <= 390 && b.width >= 30 && b.bottom <= 844, `a tool does not fit: ${JSON.stringify(b)}`);
  }
  await phone.screenshot({ path: path.join(output, 'planner-390-collapsed.png') });
  await phone.click('#pl-tools-toggle');
  await phone.waitForFunction(() => !document.body.classList.contains('pl-tools-collapsed'));
  await phone.fill('#pl-find-code', target.grid.properties.code);
  await phone.click('#pl-find button[type=submit]');
  await phone.waitForSelector('#pl-selected');
  await idle(phone);
  assert.deepEqual(await overflow(phone), []);
  await phone.screenshot({ path: path.join(output, 'planner-390-open.png') });
  await phone.close();
  assert.deepEqual(problems, []);
});
