// gridd web map: map viewer and dispatcher console on MapLibre GL JS.
// Plain ES modules served by gridd; no bundler, no CDN.
import * as maplibregl from '/web/node_modules/maplibre-gl/dist/maplibre-gl.mjs';
import { t, language, setLanguage, applyStatic } from '/web/i18n.js';
import { renderDashboard } from '/web/dashboard.js';
import { showPlanner, plannerLanguageChanged, plannerState } from '/web/planner.js';

const COLOURS = { on_track: '#2e7d32', near_due: '#f9a825', due_today: '#ef6c00', overdue: '#c62828', none: '#607d8b' };
const COLOUR_ORDER = ['overdue', 'due_today', 'near_due', 'on_track', 'none'];
const KIND_COLOURS = {
  grid_station: '#1565c0', service_center: '#6a1b9a', mediation_room: '#00838f',
  opinion_point: '#ad1457', volunteer_station: '#2e7d32', veterans_station: '#5d4037',
};
// One character on a coloured disc per station kind, drawn at start (no sprite file needed).
const KIND_GLYPHS = {
  grid_station: '网', service_center: '服', mediation_room: '调', opinion_point: '民', volunteer_station: '志', veterans_station: '军',
};
const LEVELS = ['district', 'street', 'community', 'grid', 'micro_grid'];
const LEVEL_MINZOOM = { district: 0, street: 9, community: 12, grid: 13, micro_grid: 15 };
const LEVEL_LINE = {
  district: ['#37474f', 3], street: ['#5c4d7d', 2], community: ['#7b8794', 1.2], grid: ['#9aa5b1', .8], micro_grid: ['#b0b8c1', .6],
};
const STATUSES = ['reported', 'registered', 'dispatched', 'accepted', 'resolved', 'verified', 'closed', 'rejected',
  'returned', 'escalated', 'reopened'];

const state = {
  map: null, categories: [], located: null, incident: null, live: new Map(), tileVersion: 0,
  refreshTimer: null, filtersActive: false, vectorUrl: null,
};
window.gridd = state;  // for the browser tests and the curious

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

// Access token: kept in this browser (localStorage), sent as a bearer token
// with every API and tile request, and as ?access_token= to the live feed
// (EventSource cannot send headers).
const auth = { token: localStorage.getItem('gridd.token') || '', who: null };
function authHeaders(headers = {}) {
  return auth.token ? { ...headers, Authorization: `Bearer ${auth.token}` } : headers;
}

async function api(path, options = {}) {
  const r = await fetch(path, { ...options, headers: authHeaders(options.headers) });
  if (r.status === 401) openSignin(t(auth.token ? 'signin.bad' : 'signin.required'));
  const type = r.headers.get('content-type') || '';
  const body = type.includes('json') ? await r.json() : await r.text();
  if (!r.ok) {
    const message = (body && body.message) || r.statusText;
    throw Object.assign(new Error(message), { body, status: r.status });
  }
  return body;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function toast(text) {
  const box = document.getElementById('toast');
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 4000);
}

function metres(m) { return m >= 1000 ? `${(m / 1000).toFixed(2)} km` : `${Math.round(m)} m`; }
function when(iso) { return iso ? new Date(iso).toLocaleString(language() === 'en' ? 'en-GB' : 'zh-CN', { hour12: false }) : '—'; }
function categoryName(code) {
  const c = state.categories.find((x) => x.code === code);
  return c ? (language() === 'en' ? c.name_en : c.name) : code;
}
function dot(colour) { return el('span', { class: 'dot', style: `background:${COLOURS[colour] || '#999'}` }); }

function beep() {
  try {
    const ctx = new AudioContext();
    const o = ctx.createOscillator();
    o.frequency.value = 880;
    o.connect(ctx.destination);
    o.start();
    o.stop(ctx.currentTime + 0.15);
  } catch { /* no audio: the toast is enough */ }
}

// ---------------------------------------------------------------------------
// Map
// ---------------------------------------------------------------------------

function colourExpression() {
  return ['match', ['get', 'colour'], ...Object.entries(COLOURS).flat(), '#607d8b'];
}

function buildStyle(tiles) {
  const raster = tiles.sources.find((s) => s.kind === 'raster' && s.healthy && s.name === 'demo')
    || tiles.sources.find((s) => s.kind === 'raster' && s.healthy);
  const vector = tiles.sources.find((s) => s.name === 'gridd');
  state.vectorUrl = `${location.origin}/tiles/gridd/{z}/{x}/{y}.mvt`;
  const sources = {
    gridd: { type: 'vector', tiles: [state.vectorUrl], minzoom: 0, maxzoom: 16, bounds: vector.bounds, promoteId: 'id' },
    located: { type: 'geojson', data: { type: 'FeatureCollection', features: [] } },
    filtered: { type: 'geojson', data: { type: 'FeatureCollection', features: [] } },
  };
  const layers = [{ id: 'background', type: 'background', paint: { 'background-color': '#eef0f3' } }];
  if (raster) {
    sources.basemap = { type: 'raster', tiles: [`${location.origin}/tiles/${raster.name}/{z}/{x}/{y}.png`],
      tileSize: 256, bounds: raster.bounds, maxzoom: raster.maxzoom, attribution: raster.attribution || '' };
    layers.push({ id: 'basemap', type: 'raster', source: 'basemap', paint: { 'raster-opacity': 0.85 } });
  }
  // Choropleth of a per-grid statistic (feature state "value" in 0..1).
  layers.push({ id: 'choropleth', type: 'fill', source: 'gridd', 'source-layer': 'grids_grid',
    paint: {
      'fill-color': ['interpolate', ['linear'], ['coalesce', ['feature-state', 'value'], 0], 0, '#fff5eb', 0.5, '#fd8d3c', 1, '#a63603'],
      'fill-opacity': ['case', ['==', ['feature-state', 'value'], null], 0, 0.6],
    } });
  for (const level of LEVELS) {
    const [colour, width] = LEVEL_LINE[level];
    layers.push({ id: `grids-${level}`, type: 'line', source: 'gridd', 'source-layer': `grids_${level}`,
      minzoom: LEVEL_MINZOOM[level], paint: { 'line-color': colour, 'line-width': width } });
  }
  for (const level of LEVELS.slice(1)) {
    layers.push({ id: `highlight-fill-${level}`, type: 'fill', source: 'gridd', 'source-layer': `grids_${level}`,
      filter: ['in', ['get', 'id'], ['literal', []]], paint: { 'fill-color': '#1e88e5', 'fill-opacity': 0.12 } });
    layers.push({ id: `highlight-${level}`, type: 'line', source: 'gridd', 'source-layer': `grids_${level}`,
      filter: ['in', ['get', 'id'], ['literal', []]],
      paint: { 'line-color': level === 'grid' || level === 'micro_grid' ? '#d81b60' : '#1e88e5', 'line-width': 3 } });
  }
  const labelZoom = { street: [10, 13], community: [12.5, 15], grid: [14, 24], micro_grid: [15.5, 24] };
  for (const [level, [minzoom, maxzoom]] of Object.entries(labelZoom)) {
    layers.push({ id: `labels-${level}`, type: 'symbol', source: 'gridd', 'source-layer': 'grid_labels',
      minzoom, maxzoom, filter: ['==', ['get', 'level'], level],
      layout: { 'text-field': ['get', 'name'], 'text-size': level === 'street' ? 14 : 12, 'text-font': ['Noto Sans CJK SC Regular'],
        'text-max-width': 8 },
      paint: { 'text-color': '#263238', 'text-halo-color': '#ffffff', 'text-halo-width': 1.4 } });
  }
  layers.push({ id: 'stations', type: 'symbol', source: 'gridd', 'source-layer': 'stations', minzoom: 10,
    layout: { 'icon-image': ['concat', 'station-', ['get', 'kind']], 'icon-size': ['interpolate', ['linear'], ['zoom'], 10, 0.45, 16, 0.9],
      'icon-allow-overlap': true } });
  layers.push({ id: 'station-labels', type: 'symbol', source: 'gridd', 'source-layer': 'stations', minzoom: 14,
    layout: { 'text-field': ['get', 'name'], 'text-size': 11, 'text-offset': [0, 1.1], 'text-anchor': 'top', 'text-font': ['Noto Sans CJK SC Regular'] },
    paint: { 'text-color': '#37474f', 'text-halo-color': '#fff', 'text-halo-width': 1.2 } });
  layers.push({ id: 'incident-clusters', type: 'circle', source: 'gridd', 'source-layer': 'incidents',
    filter: ['==', ['get', 'cluster'], true],
    paint: { 'circle-radius': ['interpolate', ['linear'], ['get', 'count'], 1, 7, 10, 11, 100, 18, 1000, 26],
      'circle-color': colourExpression(), 'circle-opacity': 0.85, 'circle-stroke-color': '#fff', 'circle-stroke-width': 1.5 } });
  layers.push({ id: 'incident-cluster-counts', type: 'symbol', source: 'gridd', 'source-layer': 'incidents',
    filter: ['==', ['get', 'cluster'], true],
    layout: { 'text-field': ['to-string', ['get', 'count']], 'text-size': 11, 'text-font': ['Noto Sans CJK SC Regular'], 'text-allow-overlap': true },
    paint: { 'text-color': '#fff' } });
  layers.push({ id: 'incidents', type: 'circle', source: 'gridd', 'source-layer': 'incidents',
    filter: ['!=', ['get', 'cluster'], true],
    paint: { 'circle-radius': 6, 'circle-color': colourExpression(), 'circle-stroke-color': '#fff', 'circle-stroke-width': 1.5 } });
  layers.push({ id: 'incidents-filtered', type: 'circle', source: 'filtered',
    paint: { 'circle-radius': 6, 'circle-color': colourExpression(), 'circle-stroke-color': '#fff', 'circle-stroke-width': 1.5 } });
  layers.push({ id: 'located-lines', type: 'line', source: 'located', filter: ['==', ['geometry-type'], 'LineString'],
    paint: { 'line-color': '#1565c0', 'line-width': 1.5, 'line-dasharray': [2, 2] } });
  layers.push({ id: 'located-point', type: 'circle', source: 'located', filter: ['==', ['get', 'role'], 'point'],
    paint: { 'circle-radius': 7, 'circle-color': '#d81b60', 'circle-stroke-color': '#fff', 'circle-stroke-width': 2 } });
  layers.push({ id: 'located-stations', type: 'circle', source: 'located', filter: ['==', ['get', 'role'], 'station'],
    paint: { 'circle-radius': 8, 'circle-color': 'rgba(0,0,0,0)', 'circle-stroke-color': '#1565c0', 'circle-stroke-width': 2.5 } });
  return { style: { version: 8, sources, layers }, bounds: vector ? vector.bounds : null };
}

function refreshVectorTiles() {
  // The server evicts changed tiles at once; ask again (ETags keep it cheap).
  if (state.refreshTimer) return;
  state.refreshTimer = setTimeout(() => {
    state.refreshTimer = null;
    state.tileVersion += 1;
    const source = state.map.getSource('gridd');
    if (source) source.setTiles([`${state.vectorUrl}?v=${state.tileVersion}`]);
  }, 800);
}

function highlight(ids) {
  // The district holds everything: outline the levels below it only.
  for (const level of LEVELS.slice(1)) {
    state.map.setFilter(`highlight-${level}`, ['in', ['get', 'id'], ['literal', ids]]);
    state.map.setFilter(`highlight-fill-${level}`, ['in', ['get', 'id'], ['literal', ids]]);
  }
}

// ---------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------

function showView(name) {
  state.view = name;
  document.querySelectorAll('.views button').forEach((b) => b.classList.toggle('active', b.dataset.view === name));
  document.querySelectorAll('#panel section').forEach((s) => s.classList.toggle('active', s.dataset.panel === name));
  const dashboard = name === 'dashboard';
  document.getElementById('dashboard').hidden = !dashboard;
  document.getElementById('map').hidden = dashboard;
  if (dashboard) {
    state.dashboard = null;
    renderDashboard(dashboardContext()).then((r) => { state.dashboard = r; }).catch((e) => toast(e.message));
  } else if (state.map) {
    state.map.resize();
  }
  if (state.map && (name === 'planner' || state.planner)) {
    state.planner = plannerState();
    showPlanner(name === 'planner', { map: state.map, api, el, toast, t, when, highlight, refreshVectorTiles })
      .catch((e) => { console.error(e); toast(e.message); });
  }
}

function dashboardContext() {
  return {
    api, colours: COLOURS, colourOrder: COLOUR_ORDER, categoryName,
    onCategory: (code) => { showView('viewer'); document.getElementById('f-category').value = code; applyFilters(); },
    onColour: (colour) => {
      showView('viewer');
      document.querySelectorAll('#f-colours input').forEach((i) => { i.checked = i.value === colour; });
      applyFilters();
    },
    onDay: (day) => {
      showView('viewer');
      document.getElementById('f-from').value = day;
      const next = new Date(`${day}T00:00:00Z`);
      next.setUTCDate(next.getUTCDate() + 1);
      document.getElementById('f-to').value = next.toISOString().slice(0, 10);
      applyFilters();
    },
    onGrid: async (id) => {
      showView('viewer');
      const g = await api(`/grids/${id}`);
      highlight([id]);
      const ring = g.geometry.coordinates.flat(2);
      const xs = ring.map((p) => p[0]), ys = ring.map((p) => p[1]);
      state.map.fitBounds([[Math.min(...xs), Math.min(...ys)], [Math.max(...xs), Math.max(...ys)]], { padding: 40 });
    },
  };
}

// ---------------------------------------------------------------------------
// Dispatcher console: locate, report, act
// ---------------------------------------------------------------------------

async function locate(x, y, crs = '') {
  const box = document.getElementById('located');
  box.replaceChildren(el('p', { class: 'hint' }, t('loading')));
  let r;
  try {
    r = await api(`/locate?x=${encodeURIComponent(x)}&y=${encodeURIComponent(y)}&k=3${crs ? `&crs=${encodeURIComponent(crs)}` : ''}`);
  } catch (e) {
    box.replaceChildren(el('p', { class: 'error' }, `${t('locate.failed')}: ${e.message}`));
    return;
  }
  state.located = r;
  showView('dispatch');
  const ids = r.grids.map((g) => g.id);
  if (r.owner && !ids.includes(r.owner.id)) ids.push(r.owner.id);
  highlight(ids);
  const features = [{ type: 'Feature', properties: { role: 'point' }, geometry: { type: 'Point', coordinates: [r.position.lon, r.position.lat] } }];
  for (const s of r.stations) {
    features.push({ type: 'Feature', properties: { role: 'station' }, geometry: { type: 'Point', coordinates: [s.lon, s.lat] } });
    features.push({ type: 'Feature', properties: { role: 'line' },
      geometry: { type: 'LineString', coordinates: [[r.position.lon, r.position.lat], [s.lon, s.lat]] } });
  }
  state.map.getSource('located').setData({ type: 'FeatureCollection', features });

  const owner = r.owner;
  const card = el('div', { class: 'card', id: 'locate-result' },
    el('h3', {}, owner ? `${owner.name}` : '—'),
    r.covered ? null : el('p', { class: 'flag' }, `${t('outside')} (${metres(owner ? owner.distance_m : 0)})`),
    el('ul', { class: 'chain' }, r.grids.map((g) => el('li', {}, el('span', { class: 'lvl' }, t(`level.${g.level}`)), `${g.name} `,
      el('span', { class: 'hint' }, g.code)))),
    el('h3', {}, t('people')),
    el('table', { class: 'people' }, (owner ? owner.people : []).map((p) => el('tr', { 'data-role': p.role },
      el('td', {}, p.name), el('td', { class: 'hint' }, p.role), el('td', {}, el('a', { href: `tel:${p.phone}` }, p.phone))))),
    el('h3', {}, t('stations')),
    el('table', { class: 'stations' }, r.stations.map((s) => el('tr', {},
      el('td', {}, el('span', { class: 'dot', style: `background:${KIND_COLOURS[s.kind] || '#455a64'}` }), s.name),
      el('td', { class: 'hint' }, t(`kind.${s.kind}`)), el('td', {}, metres(s.distance_m))))));
  box.replaceChildren(card, reportForm(r));
}

function reportForm(r) {
  const select = el('select', { name: 'category', required: '' },
    state.categories.map((c) => el('option', { value: c.code }, `${c.group} · ${language() === 'en' ? c.name_en : c.name}`)));
  const form = el('form', { class: 'card', id: 'report-form' },
    el('h3', {}, t('new.incident')),
    el('label', {}, t('category'), select),
    el('label', {}, t('description'), el('textarea', { name: 'description', rows: '2' })),
    el('label', {}, t('reporter.phone'), el('input', { name: 'phone', inputmode: 'tel' })),
    el('button', { type: 'submit' }, t('submit')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    const body = { category: data.get('category'), description: data.get('description'), lon: r.position.lon,
      lat: r.position.lat, channel: 'hotline', reporter: { phone: data.get('phone') || null }, actor: 'web' };
    try {
      const f = await api('/incidents', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      toast(`${t('created')} #${f.id} → ${f.properties.assignment.grid ? f.properties.assignment.grid.name : ''}`);
      form.reset();
      openIncident(f.id);
    } catch (e) {
      toast(`${t('action.failed')}: ${e.message}`);
    }
  });
  return form;
}

async function openIncident(id) {
  showView('dispatch');
  const box = document.getElementById('incident');
  let f, history;
  try {
    [f, history] = await Promise.all([api(`/incidents/${id}`), api(`/incidents/${id}/history`)]);
  } catch (e) {
    box.replaceChildren(el('p', { class: 'error' }, e.message));
    return;
  }
  state.incident = f;
  const p = f.properties;
  const a = p.assignment;
  highlight(a.chain.map((c) => c.id));
  const actions = el('div', { class: 'actions' });
  const form = el('div');
  for (const action of p.allowed_actions) {
    actions.append(el('button', { class: 'secondary', 'data-action': action, onclick: () => actionForm(form, f, action) }, t(`action.${action}`)));
  }
  box.replaceChildren(el('div', { class: 'card', id: 'incident-card', 'data-id': String(p.id) },
    el('h3', {}, dot(p.colour), `#${p.id} ${categoryName(p.category)}`),
    el('div', {}, el('span', { class: 'badge', id: 'incident-status' }, t(`st.${p.status}`)), ' ', t(`colour.${p.colour}`)),
    p.description ? el('p', {}, p.description) : null,
    el('table', { class: 'people' },
      el('tr', {}, el('td', {}, t('grids')), el('td', {}, a.grid ? `${a.grid.name} (${a.grid.code})` : '—')),
      el('tr', {}, el('td', {}, t('assignee')), el('td', {}, a.assignee ? [a.assignee.name, ' ', el('a', { href: `tel:${a.assignee.phone}` }, a.assignee.phone || '')] : '—')),
      el('tr', {}, el('td', {}, t('due')), el('td', {}, when(p.due_at)))),
    a.covered ? null : el('p', { class: 'flag' }, t('outside')),
    actions, form,
    el('h3', {}, t('history')),
    el('ul', { class: 'history' }, history.events.map((e) => el('li', {},
      el('div', { class: 'when' }, when(e.at), e.actor ? ` · ${e.actor}` : ''),
      `${e.action === 'report' ? t('st.reported') : t(`action.${e.action}`)}${e.note ? `: ${e.note}` : ''}`)))));
  if (!state.map.getBounds().contains(f.geometry.coordinates)) state.map.easeTo({ center: f.geometry.coordinates, zoom: Math.max(state.map.getZoom(), 15) });
}

function actionForm(container, f, action) {
  const fields = [el('label', {}, t('note'), el('textarea', { name: 'note', rows: '2' }))];
  if (action === 'reject' || action === 'return') fields.push(el('label', {}, t('reason'), el('input', { name: 'reason', value: action === 'reject' ? 'duplicate' : 'wrong_grid' })));
  if (action === 'close' || action === 'follow_up') {
    fields.push(el('label', {}, t('satisfaction'), el('select', { name: 'satisfaction' }, [5, 4, 3, 2, 1].map((n) => el('option', { value: n }, '★'.repeat(n))))));
  }
  if (action === 'dispatch') fields.push(el('label', {}, t('grid.code'), el('input', { name: 'grid', placeholder: f.properties.assignment.grid ? f.properties.assignment.grid.code : '' })));
  const form = el('form', { class: 'card', 'data-form': action }, ...fields, el('button', { type: 'submit' }, t(`action.${action}`)));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    const body = { action, actor: 'web', note: data.get('note') || undefined, version: f.properties.version };
    if (data.get('reason')) body.reason = data.get('reason');
    if (data.get('satisfaction')) body.satisfaction = Number(data.get('satisfaction'));
    if (data.get('grid')) body.grid = data.get('grid');
    try {
      await api(`/incidents/${f.id}/transitions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      openIncident(f.id);
    } catch (e) {
      toast(`${t('action.failed')}: ${e.message}`);
    }
  });
  container.replaceChildren(form);
}

// ---------------------------------------------------------------------------
// Live list (Server-Sent Events)
// ---------------------------------------------------------------------------

function liveItem(f, fresh) {
  const p = f.properties;
  return el('li', { 'data-id': String(p.id), class: fresh ? 'fresh' : '', onclick: () => openIncident(p.id) },
    dot(p.colour), `#${p.id} ${categoryName(p.category)}`,
    el('div', { class: 'meta' }, `${t(`st.${p.status}`)} · ${p.assignment.grid ? p.assignment.grid.name : '—'} · ${when(p.updated_at)}`));
}

function renderLive() {
  const list = document.getElementById('live');
  const items = [...state.live.values()].sort((a, b) => {
    const ca = COLOUR_ORDER.indexOf(a.f.properties.colour), cb = COLOUR_ORDER.indexOf(b.f.properties.colour);
    return b.seen - a.seen || ca - cb;
  }).slice(0, 60);
  list.replaceChildren(...items.map((i) => liveItem(i.f, i.fresh)));
  items.forEach((i) => { i.fresh = false; });
}

async function startLive() {
  try {
    const open = await api('/incidents?status=open&sort=urgency&limit=40');
    open.features.forEach((f, i) => state.live.set(f.id, { f, seen: -i, fresh: false }));
    renderLive();
  } catch { /* the feed still works */ }
  const badge = document.getElementById('live-state');
  const source = new EventSource(auth.token ? `/incidents/feed?access_token=${encodeURIComponent(auth.token)}` : '/incidents/feed');
  source.onopen = () => { badge.textContent = t('connected'); badge.classList.add('on'); };
  source.onerror = () => { badge.textContent = t('disconnected'); badge.classList.remove('on'); };
  source.addEventListener('incident', (ev) => {
    const { event, incident } = JSON.parse(ev.data);
    state.live.set(incident.id, { f: incident, seen: event.id, fresh: true });
    renderLive();
    refreshVectorTiles();
    if (event.action === 'report') {
      toast(`${t('new.arrival')}: #${incident.id} ${categoryName(incident.properties.category)}`);
      beep();
    }
    if (state.incident && state.incident.id === incident.id) openIncident(incident.id);
  });
}

// ---------------------------------------------------------------------------
// Filters, choropleth, legend
// ---------------------------------------------------------------------------

async function applyFilters() {
  const category = document.getElementById('f-category').value;
  const status = document.getElementById('f-status').value;
  const colours = [...document.querySelectorAll('#f-colours input:checked')].map((i) => i.value);
  const from = document.getElementById('f-from').value, to = document.getElementById('f-to').value;
  const all = colours.length === COLOUR_ORDER.length;
  state.filtersActive = Boolean(category || status || from || to || !all);
  const vis = (id, on) => state.map.setLayoutProperty(id, 'visibility', on ? 'visible' : 'none');
  vis('incidents', !state.filtersActive);
  vis('incident-clusters', !state.filtersActive);
  vis('incident-cluster-counts', !state.filtersActive);
  if (!state.filtersActive) {
    state.map.getSource('filtered').setData({ type: 'FeatureCollection', features: [] });
    return;
  }
  // Filtered exactly by the server (colours at this instant, time range, status).
  const q = new URLSearchParams({ limit: '5000' });
  if (category) q.set('category', category);
  if (status) q.set('status', status);
  if (!all) q.set('colour', colours.join(',') || 'none');
  if (from) q.set('from', from);
  if (to) q.set('to', to);
  const b = state.map.getBounds();
  q.set('bbox', [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(6)).join(','));
  try {
    const fc = await api(`/incidents?${q}`);
    state.map.getSource('filtered').setData(fc);
  } catch (e) {
    toast(e.message);
  }
}

async function applyChoropleth() {
  const stat = document.getElementById('choropleth').value;
  state.map.removeFeatureState({ source: 'gridd', sourceLayer: 'grids_grid' });
  const legend = document.getElementById('legend-choropleth');
  if (legend) legend.remove();
  if (!stat) return;
  const stats = await api('/incidents/stats?group=grid&level=grid');
  const values = stats.rows.map((r) => r[stat]).filter((v) => typeof v === 'number');
  const max = Math.max(1e-9, ...values), min = Math.min(0, ...values);
  for (const r of stats.rows) {
    if (typeof r[stat] !== 'number' || !r.label || !r.label.id) continue;
    state.map.setFeatureState({ source: 'gridd', sourceLayer: 'grids_grid', id: r.label.id }, { value: (r[stat] - min) / (max - min) });
  }
  document.getElementById('legend').prepend(el('div', { id: 'legend-choropleth' }, t(`stat.${stat}`),
    el('div', { class: 'ramp', style: 'background:linear-gradient(90deg,#fff5eb,#fd8d3c,#a63603)' }),
    el('div', { class: 'hint' }, `${min} — ${stat === 'on_time_rate' ? max.toFixed(2) : max}`)));
}

function renderLegend() {
  const legend = document.getElementById('legend');
  legend.replaceChildren(
    el('div', {}, el('strong', {}, t('colour'))),
    ...COLOUR_ORDER.map((c) => el('div', {}, dot(c), t(`colour.${c}`))),
    el('div', {}, el('strong', {}, t('station.kind'))),
    ...Object.entries(KIND_COLOURS).map(([k, c]) => el('div', {}, el('span', { class: 'kind', style: `background:${c}` }, KIND_GLYPHS[k]), t(`kind.${k}`))),
    el('div', {}, el('strong', {}, t('grids'))),
    ...LEVELS.map((l) => el('div', {}, el('span', { style: `display:inline-block;width:1.2rem;border-top:${LEVEL_LINE[l][1] + 0.5}px solid ${LEVEL_LINE[l][0]};vertical-align:middle;margin-right:.3rem` }), t(`level.${l}`))));
}

function fillFilterControls() {
  const cat = document.getElementById('f-category');
  cat.replaceChildren(el('option', { value: '' }, t('all')),
    ...state.categories.map((c) => el('option', { value: c.code }, `${c.group} · ${language() === 'en' ? c.name_en : c.name}`)));
  const st = document.getElementById('f-status');
  st.replaceChildren(el('option', { value: '' }, t('all')), el('option', { value: 'open' }, t('stat.open')),
    ...STATUSES.map((s) => el('option', { value: s }, t(`st.${s}`))));
  const box = document.getElementById('f-colours');
  box.replaceChildren(el('legend', {}, t('colour')), ...COLOUR_ORDER.map((c) => el('label', {},
    el('input', { type: 'checkbox', value: c, checked: '' }), dot(c), t(`colour.${c}`))));
}

// ---------------------------------------------------------------------------
// Sign-in
// ---------------------------------------------------------------------------

function describeWho(who) {
  if (!who || !who.authenticated) return t('signin.anonymous');
  const scope = who.scope ? t('signin.scope').replace('{scope}', who.scope) : '';
  return t('signin.as').replace('{name}', who.name || '—').replace('{role}', t(`role.${who.role}`)).replace('{scope}', scope);
}

function renderIdentity() {
  const who = auth.who;
  const button = document.getElementById('signin');
  button.textContent = who && who.authenticated ? `${who.name || t(`role.${who.role}`)}` : t('signin');
  button.title = describeWho(who);
  // The planner edits grids: only for tokens that may (when tokens are in use).
  const planner = document.querySelector('.views button[data-view="planner"]');
  const mayEdit = !who || !who.access_control || who.permissions.includes('edit_grids');
  planner.disabled = !mayEdit;
  planner.title = mayEdit ? '' : t('signin.noedit');
}

function openSignin(message) {
  const dialog = document.getElementById('signin-dialog');
  document.getElementById('signin-who').textContent = describeWho(auth.who);
  const error = document.getElementById('signin-error');
  error.hidden = !message;
  error.textContent = message || '';
  document.getElementById('signin-out').hidden = !auth.token;
  if (!dialog.open) dialog.showModal();
}

function setupSignin() {
  const dialog = document.getElementById('signin-dialog');
  document.getElementById('signin').addEventListener('click', () => openSignin());
  document.getElementById('signin-cancel').addEventListener('click', () => dialog.close());
  document.getElementById('signin-out').addEventListener('click', () => {
    localStorage.removeItem('gridd.token');
    location.reload();
  });
  document.getElementById('signin-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const token = document.getElementById('signin-token').value.trim();
    const r = await fetch('/whoami', { headers: { Authorization: `Bearer ${token}` } });
    if (!r.ok) {
      openSignin(t('signin.bad'));
      return;
    }
    localStorage.setItem('gridd.token', token);
    location.reload();  // map, tiles and the feed start again with the token
  });
}

/** Who this browser is; waits for a token when the server lets no one in without. */
async function identify() {
  for (;;) {
    const r = await fetch('/whoami', { headers: authHeaders() });
    if (r.ok) {
      auth.who = await r.json();
      renderIdentity();
      return;
    }
    openSignin(t(auth.token ? 'signin.bad' : 'signin.required'));
    await new Promise((resolve) => document.getElementById('signin-dialog').addEventListener('close', resolve, { once: true }));
  }
}

// ---------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------

async function main() {
  setLanguage(language());
  document.getElementById('lang').textContent = language() === 'en' ? '中文' : 'EN';
  document.getElementById('lang').addEventListener('click', () => {
    setLanguage(language() === 'en' ? 'zh' : 'en');
    document.getElementById('lang').textContent = language() === 'en' ? '中文' : 'EN';
    fillFilterControls();
    renderLegend();
    renderLive();
    if (state.located) locate(state.located.position.lon, state.located.position.lat);
    if (state.incident) openIncident(state.incident.id);
    plannerLanguageChanged();
    renderIdentity();
  });
  document.querySelectorAll('.views button').forEach((b) => b.addEventListener('click', () => showView(b.dataset.view)));

  setupSignin();
  await identify();
  const [health, tiles, cats] = await Promise.all([api('/healthz'), api('/tiles'), api('/categories')]);
  state.categories = cats.categories;
  document.getElementById('status').textContent = `${health.grids} ${t('grids')} · ${health.stations} ${t('stations.count')}`;
  fillFilterControls();
  renderLegend();
  applyStatic();

  const { style, bounds } = buildStyle(tiles);
  const map = new maplibregl.Map({
    container: 'map', style, bounds: bounds || undefined, fitBoundsOptions: { padding: 20 },
    localIdeographFontFamily: "'Noto Sans CJK SC', 'Noto Sans SC', 'PingFang SC', 'Microsoft YaHei', sans-serif",
    attributionControl: { compact: true },
    // Tiles carry the token too (a scoped token sees its own incidents).
    transformRequest: (url) => (auth.token && new URL(url, location.href).origin === location.origin
      ? { url, headers: authHeaders() } : { url }),
  });
  state.map = map;
  map.setMissingStyleImageResolver((id) => {
    // Station icons: drawn once on a canvas (unknown kinds get a grey disc).
    if (!id.startsWith('station-') || map.hasImage(id)) return;
    const kind = id.slice(8);
    const size = 48;
    const c = document.createElement('canvas');
    c.width = c.height = size;
    const g = c.getContext('2d');
    g.fillStyle = '#fff';
    g.beginPath(); g.arc(size / 2, size / 2, size / 2 - 1, 0, Math.PI * 2); g.fill();
    g.fillStyle = KIND_COLOURS[kind] || '#455a64';
    g.beginPath(); g.arc(size / 2, size / 2, size / 2 - 4, 0, Math.PI * 2); g.fill();
    g.fillStyle = '#fff';
    g.font = `bold ${size * 0.5}px "Noto Sans CJK SC", sans-serif`;
    g.textAlign = 'center';
    g.textBaseline = 'middle';
    g.fillText(KIND_GLYPHS[kind] || '站', size / 2, size / 2 + 1);
    map.addImage(id, g.getImageData(0, 0, size, size), { pixelRatio: 2 });
  });
  map.addControl(new maplibregl.NavigationControl(), 'top-right');
  map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-right');
  map.on('click', (e) => {
    if (state.view === 'planner') return;  // the planner handles its own clicks
    const hits = map.queryRenderedFeatures(e.point, { layers: ['incidents', 'incidents-filtered', 'incident-clusters'] });
    const incident = hits.find((h) => h.layer.id !== 'incident-clusters');
    if (incident) return openIncident(incident.properties.id);
    const cluster = hits.find((h) => h.layer.id === 'incident-clusters');
    if (cluster) return map.easeTo({ center: e.lngLat, zoom: Math.min(map.getZoom() + 3, 16) });
    document.getElementById('lx').value = e.lngLat.lng.toFixed(6);
    document.getElementById('ly').value = e.lngLat.lat.toFixed(6);
    document.getElementById('lcrs').value = '';
    return locate(e.lngLat.lng, e.lngLat.lat);
  });
  for (const layer of ['incidents', 'incidents-filtered', 'incident-clusters']) {
    map.on('mouseenter', layer, () => { map.getCanvas().style.cursor = 'pointer'; });
    map.on('mouseleave', layer, () => { map.getCanvas().style.cursor = ''; });
  }
  map.on('moveend', () => { if (state.filtersActive) applyFilters(); });
  document.getElementById('locate-form').addEventListener('submit', (e) => {
    e.preventDefault();
    locate(document.getElementById('lx').value, document.getElementById('ly').value, document.getElementById('lcrs').value);
  });
  for (const id of ['f-category', 'f-status', 'f-from', 'f-to']) document.getElementById(id).addEventListener('change', applyFilters);
  document.getElementById('f-colours').addEventListener('change', applyFilters);
  document.getElementById('choropleth').addEventListener('change', () => applyChoropleth().catch((e) => toast(e.message)));
  await new Promise((resolve) => map.once('load', resolve));
  state.ready = true;
  startLive();
}

main().catch((e) => {
  console.error(e);
  document.getElementById('status').textContent = e.message;
});
