// Signing in to the web map with an access token, in a real browser
// (playwright-core driving Debian's chromium) against the real gridd serving
// the demo city with `--anonymous none`: without a token the page asks for
// one; a wrong token is refused; a community-scoped dispatcher token lets the
// map, its tiles and the live feed in and shows that community's incidents
// only; the planner tab stays closed to it; signing out asks again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
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

let server, base, browser, dir, store, admin, scoped, scope, otherGrids;
const inside = [], outside = [];  // incident ids in and out of the scoped community
const problems = [];

function startServer() {
  dir = mkdtempSync(path.join(tmpdir(), 'gridd-signin-'));
  store = testStore(dir);
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ['serve', '--store', store, '--listen', '127.0.0.1:0', '--demo', '--anonymous', 'none'],
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

/** `gridd token create ...`: the token is the last line. */
function createToken(...args) {
  const out = execFileSync(binary, ['token', 'create', '--store', store, ...args], { encoding: 'utf8' });
  return out.trim().split('\n').pop();
}

async function api(p, options = {}) {
  const r = await fetch(base + p, { ...options, headers: { ...(options.headers || {}), Authorization: `Bearer ${admin}` } });
  const body = await r.json();
  if (!r.ok) throw new Error(`${p}: ${r.status} ${JSON.stringify(body)}`);
  return body;
}

async function waitForToken(token) {
  for (let i = 0; i < 50; i += 1) {
    const r = await fetch(`${base}/whoami`, { headers: { Authorization: `Bearer ${token}` } });
    if (r.ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the server never accepted the new token');
}

function centre(geometry) {
  const ring = (geometry.type === 'MultiPolygon' ? geometry.coordinates[0] : geometry.coordinates)[0];
  const xs = ring.map((p) => p[0]), ys = ring.map((p) => p[1]);
  return [(Math.min(...xs) + Math.max(...xs)) / 2, (Math.min(...ys) + Math.max(...ys)) / 2];
}

/** Report an incident at a grid's centre; sorted by where the server routed it. */
async function reportAt(grid) {
  const [lon, lat] = centre(grid.geometry);
  const f = await api('/incidents', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ category: 'property_dispute', description: 'signin test', lon, lat, channel: 'hotline' }),
  });
  const chain = f.properties.assignment.chain.map((c) => c.id);
  (chain.includes(scope.id) ? inside : outside).push(f.id);
  return f;
}

before(async () => {
  const s = await startServer();
  server = s.child;
  base = s.url;
  // Until a token exists everything is open: pick a community, then lock the door.
  const communities = (await (await fetch(`${base}/grids?level=community&geometry=false&limit=5`)).json()).features;
  scope = { id: communities[0].id, code: communities[0].properties.code };
  admin = createToken('--role', 'admin', '--name', 'admin-1');
  scoped = createToken('--role', 'dispatcher', '--scope', scope.code, '--name', 'community-dispatcher');
  await waitForToken(scoped);
  const grids = (await api(`/grids?level=grid&geometry=true&limit=2000`)).features;
  const mine = grids.filter((g) => g.properties.parent === scope.code);
  const others = grids.filter((g) => g.properties.parent !== scope.code);
  otherGrids = others;
  assert.ok(mine.length > 0 && others.length > 0);
  for (const g of [mine[0], mine[mine.length - 1], others[0], others[others.length - 1]]) await reportAt(g);
  assert.ok(inside.length > 0 && outside.length > 0, `inside ${inside}, outside ${outside}`);
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

test('without a token the page asks for one, refuses a wrong one, and lets a scoped dispatcher in', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on('pageerror', (e) => problems.push(String(e)));
  const tileRequests = [];
  page.on('request', (r) => { if (r.url().includes('/tiles/')) tileRequests.push(r); });
  await page.goto(base + '/');
  await page.waitForSelector('#signin-dialog[open]', { timeout: 30000 });
  assert.match(await page.textContent('#signin-error'), /令牌|token/);

  await page.fill('#signin-token', 'gridd_not-a-token');
  await page.click('#signin-save');
  await page.waitForFunction(() => /无效|invalid/.test(document.getElementById('signin-error').textContent));
  assert.equal(await page.evaluate(() => localStorage.getItem('gridd.token')), null);

  await page.fill('#signin-token', scoped);
  await Promise.all([page.waitForNavigation(), page.click('#signin-save')]);
  await page.waitForFunction(() => window.gridd.ready === true, null, { timeout: 90000 });
  await page.waitForFunction(() => window.gridd.map.loaded() && window.gridd.map.areTilesLoaded(), null, { timeout: 60000 });
  assert.equal(await page.evaluate(() => document.getElementById('signin-dialog').open), false);
  assert.equal(await page.textContent('#signin'), 'community-dispatcher');
  // The planner edits grids: not for a dispatcher.
  assert.equal(await page.getAttribute('.views button[data-view=planner]', 'disabled'), '');
  // Every tile request carried the token (the server answers none without one).
  assert.ok(tileRequests.length > 0);
  for (const r of tileRequests) {
    assert.equal((await r.allHeaders()).authorization, `Bearer ${scoped}`, r.url());
    const res = await r.response();
    if (res) assert.equal(res.status(), 200, r.url());
  }

  // The dispatch view lists the community's open incidents only...
  await page.click('button[data-view=dispatch]');
  for (const id of inside) await page.waitForSelector(`#live li[data-id="${id}"]`, { timeout: 15000 });
  for (const id of outside) assert.equal(await page.$(`#live li[data-id="${id}"]`), null, `incident ${id} leaked`);
  // ...and the live feed (EventSource with ?access_token=) brings new ones of the community, not the others.
  await page.waitForFunction(() => document.getElementById('live-state').classList.contains('on'), null, { timeout: 15000 });
  const grids = (await api(`/grids?parent=${scope.code}&level=grid&geometry=true&limit=50`)).features;
  const before = inside.length, beforeOut = outside.length;
  await reportAt(otherGrids[1]);
  await reportAt(grids[0]);
  assert.equal(inside.length, before + 1);
  await page.waitForSelector(`#live li[data-id="${inside[inside.length - 1]}"]`, { timeout: 15000 });
  for (const id of outside.slice(beforeOut)) assert.equal(await page.$(`#live li[data-id="${id}"]`), null);
  await page.screenshot({ path: path.join(output, 'signin-scoped-dispatcher.png') });

  // Signing out forgets the token and asks again.
  await page.click('#signin');
  await page.waitForSelector('#signin-dialog[open]');
  assert.match(await page.textContent('#signin-who'), /community-dispatcher/);
  await Promise.all([page.waitForNavigation(), page.click('#signin-out')]);
  await page.waitForSelector('#signin-dialog[open]', { timeout: 30000 });
  assert.equal(await page.evaluate(() => localStorage.getItem('gridd.token')), null);
  assert.deepEqual(problems, []);
  await page.close();
});
