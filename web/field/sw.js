// The grid worker app's service worker: the app shell (pages, scripts,
// styles, icons, MapLibre and exifr) comes from the network when it answers
// and from the cache when it does not, so the app opens without a network.
// API answers are never served stale, except the worker's last task list,
// which is answered offline marked by the header X-Gridd-Offline (the time
// it was fetched).
const SHELL = 'gridd-field-shell-v1';
const API = 'gridd-field-api';
const FILES = [
  '/field/', '/field/app.js', '/field/common.js', '/field/outbox.js', '/field/strings.js', '/field/field.css',
  '/field/manifest.webmanifest', '/field/icon.svg', '/field/icon-192.png', '/field/icon-512.png',
  '/web/node_modules/maplibre-gl/dist/maplibre-gl.mjs', '/web/node_modules/maplibre-gl/dist/maplibre-gl-worker.mjs',
  '/web/node_modules/maplibre-gl/dist/maplibre-gl.css', '/web/node_modules/exifr/dist/lite.esm.mjs',
];
const SHELL_PATHS = new Set(FILES);
const NETWORK_WAIT_MS = 4000;

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(SHELL).then((c) => c.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('gridd-field-shell') && name !== SHELL) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

/** The network within a few seconds, else null. */
async function network(request) {
  const timeout = new Promise((resolve) => { setTimeout(() => resolve(null), NETWORK_WAIT_MS); });
  const fetched = fetch(request).catch(() => null);
  return Promise.race([fetched, timeout]);
}

async function shell(request, key) {
  const cache = await caches.open(SHELL);
  const res = await network(request);
  if (res && res.ok) {
    cache.put(key, res.clone());
    return res;
  }
  const kept = await cache.match(key, { ignoreSearch: true });
  return kept || res || Response.error();
}

async function tasks(request) {
  const cache = await caches.open(API);
  const key = new URL(request.url).pathname + new URL(request.url).search;
  try {
    const res = await fetch(request);
    if (res.ok) {
      const copy = res.clone();
      const body = await copy.blob();
      const headers = new Headers(copy.headers);
      headers.set('X-Gridd-Fetched', new Date().toISOString());
      await cache.put(key, new Response(body, { status: 200, headers }));
    }
    return res;
  } catch (err) {
    const kept = await cache.match(key);
    if (!kept) throw err;
    const headers = new Headers(kept.headers);
    headers.set('X-Gridd-Offline', kept.headers.get('X-Gridd-Fetched') || '');
    return new Response(await kept.blob(), { status: 200, headers });
  }
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === 'navigate' && (url.pathname === '/field' || url.pathname.startsWith('/field/'))) {
    event.respondWith(shell(request, '/field/'));
  } else if (SHELL_PATHS.has(url.pathname)) {
    event.respondWith(shell(request, url.pathname));
  } else if (url.pathname === '/incidents' && url.searchParams.get('assignee') === 'me') {
    event.respondWith(tasks(request));
  }
});
