// What the phone pages' browser tests share: a real gridd with the demo city
// on 127.0.0.1 (pages from this checkout's web/), tokens, the admin API, a
// point inside a grid, a small JPEG, and a phone-sized browser context that
// collects console errors.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { testStore } from './store.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const binary = process.env.GRIDD_BINARY || path.join(here, '../../build/gridd');
export const output = process.env.GRIDD_BROWSER_OUTPUT || path.join(here, 'output');
export const webRoot = path.join(here, '../../web');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
mkdirSync(output, { recursive: true });

export const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: 'zh-CN' };
export const TABLET = { viewport: { width: 1024, height: 768 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true, locale: 'zh-CN' };

export const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

/** gridd serve on 127.0.0.1:0 with the demo city; stopped by stop(). */
export async function startGridd(name, extra = []) {
  const dir = mkdtempSync(path.join(tmpdir(), `gridd-${name}-`));
  const store = testStore(dir);
  const child = spawn(binary, ['serve', '--store', store, '--listen', '127.0.0.1:0', '--demo', '--web', webRoot, ...extra],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const base = await new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`gridd did not start: ${text}`)), 120000);
    child.stdout.on('data', (chunk) => {
      text += chunk;
      const m = text.match(/listening on (http:\/\/[0-9.]+:\d+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`gridd exited with ${code}: ${text}`)); });
  });
  const server = {
    base, store, dir, child, admin: null,
    /** `gridd token create ...`: the token is the last line. */
    token(...args) {
      const out = execFileSync(binary, ['token', 'create', '--store', store, ...args], { encoding: 'utf8' });
      return out.trim().split('\n').pop();
    },
    async waitForToken(token) {
      for (let i = 0; i < 60; i += 1) {
        const r = await fetch(`${base}/whoami`, { headers: { Authorization: `Bearer ${token}` } });
        if (r.ok) return;
        await sleep(100);
      }
      throw new Error('the server never accepted the new token');
    },
    /** The admin API (JSON in, JSON out); throws on an error status. */
    async api(p, options = {}) {
      const headers = { ...(options.headers || {}) };
      if (server.admin) headers.Authorization = `Bearer ${server.admin}`;
      if (options.json !== undefined) headers['Content-Type'] = 'application/json';
      const r = await fetch(base + p, { method: options.method || (options.json !== undefined ? 'POST' : 'GET'), headers,
        body: options.json !== undefined ? JSON.stringify(options.json) : options.body });
      const body = await r.json().catch(() => null);
      if (!r.ok) throw new Error(`${p}: ${r.status} ${JSON.stringify(body)}`);
      return body;
    },
    stop() {
      child.removeAllListeners('exit');
      try { process.kill(child.pid, 'SIGTERM'); } catch { /* gone */ }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/** A point inside the grid (checked with /locate), and the grid's worker. */
export async function gridWithWorker(server) {
  const grids = (await server.api('/grids?level=grid&geometry=true&limit=2000')).features;
  for (const g of grids) {
    const worker = (g.properties.people || []).find((p) => p.role === 'grid_worker' && p.name);
    if (!worker) continue;
    const ring = (g.geometry.type === 'MultiPolygon' ? g.geometry.coordinates[0] : g.geometry.coordinates)[0];
    const xs = ring.map((p) => p[0]), ys = ring.map((p) => p[1]);
    const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    for (const [fx, fy] of [[0.5, 0.5], [0.4, 0.5], [0.6, 0.5], [0.5, 0.4], [0.5, 0.6], [0.35, 0.35], [0.65, 0.65]]) {
      const lon = x0 + (x1 - x0) * fx, lat = y0 + (y1 - y0) * fy;
      const l = await server.api(`/locate?lon=${lon}&lat=${lat}&k=0`);
      if (l.covered && l.owner && l.owner.code === g.properties.code) {
        return { grid: g, code: g.properties.code, id: g.id, worker, lon, lat };
      }
    }
  }
  throw new Error('no grid with a worker and a point inside it');
}

/** Degrees as EXIF writes them: "(d) (m) (s)". */
function dms(x) {
  const d = Math.floor(x), m = Math.floor((x - d) * 60), s = ((x - d) * 60 - m) * 60;
  return `(${d}) (${m}) (${s.toFixed(4)})`;
}

/** A small JPEG made by GDAL (a coloured 64x48 image), with the EXIF GPS position of `gps` ({lon, lat}) if given. */
export function makeJpeg(dir, name = 'photo.jpg', colour = [200, 80, 40], gps = null) {
  const tif = path.join(dir, `${name}.tif`), jpg = path.join(dir, name);
  execFileSync('gdal_create', ['-q', '-of', 'GTiff', '-outsize', '64', '48', '-bands', '3', '-ot', 'Byte',
    ...colour.flatMap((c) => ['-burn', String(c)]), tif]);
  const exif = gps ? ['-co', 'WRITE_EXIF_METADATA=YES', '-mo', 'EXIF_GPSLatitudeRef=N', '-mo', `EXIF_GPSLatitude=${dms(gps.lat)}`,
    '-mo', 'EXIF_GPSLongitudeRef=E', '-mo', `EXIF_GPSLongitude=${dms(gps.lon)}`] : [];
  execFileSync('gdal_translate', ['-q', '-of', 'JPEG', ...exif, tif, jpg]);
  readFileSync(jpg);
  return jpg;
}

export async function launch() {
  return chromium.launch({
    executablePath: chromiumPath, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--enable-unsafe-swiftshader', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--autoplay-policy=no-user-gesture-required'],
  });
}

/**
 * A page that records console errors and uncaught exceptions; `allow(message, url)`
 * may excuse an expected one (a refused token, a request made while offline).
 */
export function watch(page, allow = () => false) {
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const url = (m.location() && m.location().url) || '';
    if (!allow(m.text(), url)) problems.push(`console: ${m.text()} (${url})`);
  });
  return problems;
}

export async function noOverflow(page, width) {
  const w = await page.evaluate(() => document.documentElement.scrollWidth);
  if (w > width) throw new Error(`horizontal overflow: scrollWidth ${w} > ${width} at ${page.url()}`);
}

export async function shot(page, name) {
  await page.screenshot({ path: path.join(output, `${name}.png`), fullPage: false });
}
