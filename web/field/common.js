// Pieces the two phone pages share (the grid worker's /field/ and the
// resident's /report/): language, DOM helper, distance, the category picker,
// the small map with a movable marker, and reading a photo's GPS position.
// Plain ES module, no bundler.
import * as maplibregl from '/web/node_modules/maplibre-gl/dist/maplibre-gl.mjs';

export { maplibregl };

// ---------------------------------------------------------------------------
// Language: Chinese by default, English switchable, remembered (the same key
// as the web map, so one choice holds for every page of the server).
// ---------------------------------------------------------------------------

export function makeI18n(dict) {
  let lang = localStorage.getItem('gridd.lang') === 'en' ? 'en' : 'zh';
  const listeners = [];
  const i18n = {
    t(key, vars) {
      let s = (dict[lang] && dict[lang][key]) || dict.zh[key] || key;
      if (vars) for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, v);
      return s;
    },
    get lang() { return lang; },
    set(next) {
      lang = next === 'en' ? 'en' : 'zh';
      localStorage.setItem('gridd.lang', lang);
      i18n.apply();
      for (const f of listeners) f(lang);
    },
    onChange(f) { listeners.push(f); },
    /** Translate every element marked data-i18n (text) or data-i18n-placeholder. */
    apply(root = document) {
      document.documentElement.lang = lang === 'en' ? 'en' : 'zh-CN';
      root.querySelectorAll('[data-i18n]').forEach((e) => { e.textContent = i18n.t(e.dataset.i18n); });
      root.querySelectorAll('[data-i18n-placeholder]').forEach((e) => { e.placeholder = i18n.t(e.dataset.i18nPlaceholder); });
      root.querySelectorAll('[data-i18n-label]').forEach((e) => { e.setAttribute('aria-label', i18n.t(e.dataset.i18nLabel)); });
    },
  };
  return i18n;
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
    else if (v === true) e.setAttribute(k, '');
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/** Great-circle distance in metres. */
export function haversine(lon1, lat1, lon2, lat2) {
  const r = 6371008.8, rad = Math.PI / 180;
  const dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
  const a = Math.sin(dlat / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(dlon / 2) ** 2;
  return 2 * r * Math.asin(Math.min(1, Math.sqrt(a)));
}

export function formatDistance(m, lang) {
  if (m < 1000) return `${Math.round(m)} ${lang === 'en' ? 'm' : '米'}`;
  return `${(m / 1000).toFixed(m < 10000 ? 1 : 0)} ${lang === 'en' ? 'km' : '公里'}`;
}

/** A time as the phone shows it, in its own zone: "12-08 14:30". */
export function formatTime(iso, lang) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(lang === 'en' ? 'en-GB' : 'zh-CN',
    { month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hour12: false });
}

export const COLOURS = { on_track: '#2e7d32', near_due: '#f9a825', due_today: '#ef6c00', overdue: '#c62828', none: '#607d8b' };

/** A read of the server's error body: {code, message} or {error: {code, message}}. */
export function errorOf(body) {
  if (!body || typeof body !== 'object') return { code: '', message: String(body || '') };
  const e = body.error && typeof body.error === 'object' ? body.error : body;
  return { code: e.code || '', message: e.message || '' };
}

/** A position inside a grid polygon for "the grid's own position": the centre of its box when inside, else a vertex average. */
export function pointInside(geometry) {
  if (!geometry) return null;
  if (geometry.type === 'Point') return geometry.coordinates;
  const polys = geometry.type === 'MultiPolygon' ? geometry.coordinates : [geometry.coordinates];
  const ring = polys[0][0];
  const xs = ring.map((p) => p[0]), ys = ring.map((p) => p[1]);
  const c = [(Math.min(...xs) + Math.max(...xs)) / 2, (Math.min(...ys) + Math.max(...ys)) / 2];
  const inside = (pt, r) => {
    let ok = false;
    for (let i = 0, j = r.length - 1; i < r.length; j = i++) {
      if ((r[i][1] > pt[1]) !== (r[j][1] > pt[1])
        && pt[0] < ((r[j][0] - r[i][0]) * (pt[1] - r[i][1])) / (r[j][1] - r[i][1]) + r[i][0]) ok = !ok;
    }
    return ok;
  };
  if (inside(c, ring)) return c;
  // Scan a few horizontal lines for a midpoint between two crossings.
  for (const f of [0.5, 0.4, 0.6, 0.3, 0.7]) {
    const y = Math.min(...ys) + (Math.max(...ys) - Math.min(...ys)) * f;
    const cuts = [];
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [x1, y1] = ring[j], [x2, y2] = ring[i];
      if ((y1 > y) !== (y2 > y)) cuts.push(x1 + ((y - y1) * (x2 - x1)) / (y2 - y1));
    }
    cuts.sort((a, b) => a - b);
    if (cuts.length >= 2) return [(cuts[0] + cuts[1]) / 2, y];
  }
  return [xs.reduce((a, b) => a + b, 0) / xs.length, ys.reduce((a, b) => a + b, 0) / ys.length];
}

// ---------------------------------------------------------------------------
// Category picker: a search box over a grouped <select> (the phone's own
// picker is the easiest to use with a thumb; the search narrows it).
// ---------------------------------------------------------------------------

export function categoryPicker(searchInput, select, i18n) {
  let catalogue = { categories: [], groups: [] };
  const label = (c) => (i18n.lang === 'en' && c.name_en ? c.name_en : c.name);
  function render() {
    const q = searchInput.value.trim().toLowerCase();
    const keep = select.value;
    select.replaceChildren(el('option', { value: '' }, i18n.t('cat.choose')));
    let matches = 0, only = '';
    for (const g of catalogue.groups) {
      const items = catalogue.categories.filter((c) => c.group === g
        && (!q || c.name.toLowerCase().includes(q) || (c.name_en || '').toLowerCase().includes(q)
          || c.code.includes(q) || g.toLowerCase().includes(q)));
      if (!items.length) continue;
      const og = el('optgroup', { label: g });
      for (const c of items) og.append(el('option', { value: c.code }, label(c)));
      select.append(og);
      matches += items.length;
      only = items[0].code;
    }
    if ([...select.options].some((o) => o.value === keep)) select.value = keep;
    else if (matches === 1) select.value = only;
    select.dataset.matches = String(matches);
  }
  searchInput.addEventListener('input', render);
  i18n.onChange(render);
  return {
    set(cat) { catalogue = { categories: cat.categories || [], groups: cat.groups || [...new Set((cat.categories || []).map((c) => c.group))] }; render(); },
    get value() { return select.value; },
    reset() { searchInput.value = ''; select.value = ''; render(); },
    name(code) { const c = catalogue.categories.find((x) => x.code === code); return c ? label(c) : code; },
  };
}

// ---------------------------------------------------------------------------
// The small map: the server's basemap and grid lines, one marker that a tap
// moves and a finger drags.
// ---------------------------------------------------------------------------

// MapLibre draws in a web worker. Its script is fetched by the page (so the
// service worker can answer it offline) and handed over as a blob URL; call
// this before the first map.
let workerReady = null;
export function prepareMapWorker() {
  workerReady ||= (async () => {
    try {
      const r = await fetch('/web/node_modules/maplibre-gl/dist/maplibre-gl-worker.mjs');
      if (!r.ok) return;
      const blob = new Blob([await r.text()], { type: 'text/javascript' });
      maplibregl.setWorkerUrl(URL.createObjectURL(blob));
    } catch {
      // MapLibre finds its worker itself
    }
  })();
  return workerReady;
}

export function basemapStyle(tiles, tileFilter = (u) => u) {
  const sources = {};
  const layers = [{ id: 'background', type: 'background', paint: { 'background-color': '#eef0f3' } }];
  const list = (tiles && tiles.sources) || [];
  const raster = list.find((s) => s.kind === 'raster' && s.healthy && s.name === 'demo')
    || list.find((s) => s.kind === 'raster' && s.healthy);
  if (raster) {
    sources.basemap = { type: 'raster', tiles: [tileFilter(`${location.origin}/tiles/${raster.name}/{z}/{x}/{y}.png`)],
      tileSize: 256, bounds: raster.bounds, maxzoom: raster.maxzoom, attribution: raster.attribution || '' };
    layers.push({ id: 'basemap', type: 'raster', source: 'basemap', paint: { 'raster-opacity': 0.9 } });
  }
  const vector = list.find((s) => s.name === 'grids' || s.name === 'gridd');
  if (vector) {
    sources.grids = { type: 'vector', tiles: [`${location.origin}/tiles/${vector.name}/{z}/{x}/{y}.mvt`], minzoom: 0, maxzoom: 16, bounds: vector.bounds };
    layers.push({ id: 'grid-lines', type: 'line', source: 'grids', 'source-layer': 'grids_grid', minzoom: 12,
      paint: { 'line-color': '#5c6bc0', 'line-width': 1.2 } });
    layers.push({ id: 'community-lines', type: 'line', source: 'grids', 'source-layer': 'grids_community', minzoom: 10,
      paint: { 'line-color': '#37474f', 'line-width': 1.6 } });
    layers.push({ id: 'grid-labels', type: 'symbol', source: 'grids', 'source-layer': 'grid_labels', minzoom: 14,
      filter: ['==', ['get', 'level'], 'grid'],
      layout: { 'text-field': ['get', 'name'], 'text-size': 11, 'text-font': ['Noto Sans CJK SC Regular'], 'text-max-width': 7 },
      paint: { 'text-color': '#263238', 'text-halo-color': '#fff', 'text-halo-width': 1.3 } });
  }
  return { version: 8, sources, layers };
}

/**
 * A small map in `container` with a draggable marker.
 * @param {object} o  {tiles, headers(): object, onMove([lon, lat])}
 */
export function smallMap(container, o) {
  const map = new maplibregl.Map({
    container, style: basemapStyle(o.tiles), center: o.center || [116.587, 35.415], zoom: o.zoom || 12,
    attributionControl: false, dragRotate: false, pitchWithRotate: false, touchPitch: false,
    localIdeographFontFamily: "'Noto Sans CJK SC', 'Noto Sans SC', 'PingFang SC', sans-serif",
    transformRequest: (url) => {
      const h = o.headers ? o.headers() : {};
      return new URL(url, location.href).origin === location.origin && Object.keys(h).length ? { url, headers: h } : { url };
    },
  });
  map.touchZoomRotate.disableRotation();
  map.on('error', () => {});  // a tile that fails offline is no error of the page
  let marker = null;
  const place = (lngLat, notify = true) => {
    if (!marker) {
      marker = new maplibregl.Marker({ draggable: true, color: '#d81b60' }).setLngLat(lngLat).addTo(map);
      marker.on('dragend', () => { const p = marker.getLngLat(); o.onMove && o.onMove([p.lng, p.lat], 'map'); });
    } else {
      marker.setLngLat(lngLat);
    }
    if (notify && o.onMove) o.onMove([lngLat[0], lngLat[1]], 'map');
  };
  map.on('click', (e) => place([e.lngLat.lng, e.lngLat.lat]));
  return {
    map,
    /** Put the marker at a position from elsewhere (GPS, photo, grid) and look at it. */
    show(pos, zoom = 14) {
      place(pos, false);
      map.jumpTo({ center: pos, zoom: Math.max(map.getZoom(), zoom) });
    },
    resize() { map.resize(); },
  };
}

/**
 * Photos picked one by one (a phone's camera gives one at a time), shown as
 * thumbnails with a remove button, at most `max`; `list` is the array kept.
 */
export function photoList(container, input, list, o) {
  const render = () => {
    container.querySelectorAll('.photo').forEach((p) => p.remove());
    const add = container.querySelector('.photo-add');
    list.forEach((file, k) => {
      const url = URL.createObjectURL(file);
      container.insertBefore(el('div', { class: 'photo' }, el('img', { src: url, alt: file.name || '' }),
        el('button', { type: 'button', 'aria-label': o.i18n.t('photo.remove'), onclick: () => { list.splice(k, 1); render(); } }, '✕')), add);
    });
    add.hidden = list.length >= o.max;
  };
  input.addEventListener('change', () => {
    for (const file of input.files) {
      if (list.length >= o.max) { if (o.onFull) o.onFull(); break; }
      list.push(file);
      if (o.onAdd) o.onAdd(file);
    }
    input.value = '';
    render();
  });
  return render;
}

/** A file name extension for a photo's upload. */
export function extension(file) {
  const m = /\.(jpe?g|png|webp|gif)$/i.exec(file.name || '');
  return m ? m[0].toLowerCase() : ({ 'image/png': '.png', 'image/webp': '.webp', 'image/gif': '.gif' }[file.type] || '.jpg');
}

/** The GPS position written into a JPEG (EXIF), or null. exifr is loaded on demand. */
export async function photoPosition(file) {
  try {
    const exifr = await import('/web/node_modules/exifr/dist/lite.esm.mjs');
    const gps = await (exifr.gps || exifr.default.gps)(file);
    if (gps && Number.isFinite(gps.longitude) && Number.isFinite(gps.latitude)) return [gps.longitude, gps.latitude];
  } catch {
    // not a JPEG with EXIF, or offline before exifr was cached
  }
  return null;
}

/** A short sound (no audio file): a two-tone beep on WebAudio, once the user has touched the page. */
let audio = null;
export function unlockAudio() {
  const make = () => {
    try {
      if (!audio) audio = new (window.AudioContext || window.webkitAudioContext)();
      if (audio.state === 'suspended') audio.resume();
    } catch { /* no audio */ }
  };
  window.addEventListener('pointerdown', make, { once: false, passive: true });
  window.addEventListener('keydown', make, { once: false });
}
export function beep() {
  if (!audio || audio.state !== 'running') return false;
  const now = audio.currentTime;
  for (const [i, f] of [[0, 880], [1, 1320]]) {
    const osc = audio.createOscillator(), gain = audio.createGain();
    osc.frequency.value = f;
    gain.gain.setValueAtTime(0.0001, now + i * 0.15);
    gain.gain.exponentialRampToValueAtTime(0.25, now + i * 0.15 + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.15 + 0.13);
    osc.connect(gain).connect(audio.destination);
    osc.start(now + i * 0.15);
    osc.stop(now + i * 0.15 + 0.14);
  }
  return true;
}
