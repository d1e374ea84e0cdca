// gridd for the grid worker (网格员): my tasks, 随手拍 reports and door-to-door
// visits on a phone, working offline through one outbox; an installable PWA
// scoped to /field/. Plain ES modules served by gridd, no bundler.
import {
  makeI18n, el, haversine, formatDistance, formatTime, COLOURS, errorOf, categoryPicker, smallMap,
  photoPosition, unlockAudio, beep, photoList as photoListOf, extension, prepareMapWorker,
} from '/field/common.js';
import { createOutbox, newKey } from '/field/outbox.js';
import { strings } from '/field/strings.js';

const i18n = makeI18n(strings);
const t = i18n.t;
const $ = (id) => document.getElementById(id);

const TOKEN_KEY = 'gridd.field.token';
const WHO_KEY = 'gridd.field.who';
const CACHE_KEY = 'gridd.field.cache';   // categories and tile sources, for a start without network
const WORKER_ACTIONS = ['accept', 'resolve', 'return'];
const VISIT_KINDS = ['household', 'building', 'shop', 'enterprise', 'site', 'public_place', 'elderly', 'other'];
const MAX_PHOTOS = 3;
const TASKS_URL = '/incidents?assignee=me&status=open&sort=urgency&limit=200';

const state = {
  token: localStorage.getItem(TOKEN_KEY) || '',
  who: JSON.parse(localStorage.getItem(WHO_KEY) || 'null'),
  tasks: [], known: null, unseen: 0, here: null, stale: null, pendingIds: new Set(),
  thumbs: new Map(), categories: null, tiles: null, feed: null, view: 'tasks',
  report: { photos: [], pos: null, source: null, map: null },
  visit: { pos: null, source: null, map: null, photos: [] },
  resolve: { photos: [], incident: null }, ready: false, lastFeedAt: 0, beeps: 0,
};
window.griddField = state;  // for the browser tests and the curious

function headers(extra = {}) { return state.token ? { ...extra, Authorization: `Bearer ${state.token}` } : extra; }

async function api(path, options = {}) {
  const r = await fetch(path, { ...options, headers: headers(options.headers) });
  const type = r.headers.get('content-type') || '';
  const body = type.includes('json') ? await r.json().catch(() => null) : await r.text();
  if (r.status === 401 && state.token) signedOut(t('signin.bad'));
  if (!r.ok) throw Object.assign(new Error(errorOf(body).message || r.statusText), { status: r.status, body });
  return { body, res: r };
}

let toastTimer = null;
function toast(text, ms = 3500) {
  const e = $('toast');
  e.textContent = text;
  e.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { e.hidden = true; }, ms);
}

function showError(id, text) { const e = $(id); e.textContent = text || ''; e.hidden = !text; }

function cache() { return JSON.parse(localStorage.getItem(CACHE_KEY) || '{}'); }
function keep(key, value) { const c = cache(); c[key] = value; localStorage.setItem(CACHE_KEY, JSON.stringify(c)); }

// ---------------------------------------------------------------------------
// Outbox: every write goes through it
// ---------------------------------------------------------------------------

const outbox = createOutbox({
  headers: () => headers(),
  owner: () => (state.who && state.who.name) || '',
  onChange: (n) => {
    const b = $('outbox');
    b.hidden = n === 0;
    b.textContent = t('outbox', { n });
    b.dataset.count = String(n);
    refreshPending();
  },
  onSent: (item, body) => {
    if (item.kind === 'report') showRouted(item.key, body);
    if (item.kind === 'visit') { toast(t('visit.saved')); loadVisits(); }
    // A visit's photo arrived: its count and thumbnail in 最近走访.
    if (item.kind === 'attachment' && item.path.startsWith('/visits/')) loadVisitsSoon();
    if (item.kind === 'transition') { toast(`${t('sent')}: ${item.label}`); }
    scheduleTasks();
  },
  onFailed: (item, error) => {
    const msg = error.code === 'other_worker' ? t('failed.other', { name: error.message }) : error.message || error.code;
    toast(t('failed.item', { label: item.label || item.kind, msg }), 6000);
    scheduleTasks();
  },
  onAuth: () => signedOut(t('signin.bad')),
});

async function refreshPending() {
  const items = await outbox.all();
  state.pendingIds = new Set(items.filter((i) => i.incidentId).map((i) => i.incidentId));
  document.querySelectorAll('.task').forEach((li) => {
    const pending = state.pendingIds.has(Number(li.dataset.id));
    li.querySelector('.pill.pending').hidden = !pending;
    li.querySelectorAll('.actions > button[data-action]').forEach((b) => { b.disabled = pending; });
  });
}

// ---------------------------------------------------------------------------
// Sign-in
// ---------------------------------------------------------------------------

function roleName(role) { return strings[i18n.lang][`role.${role}`] || role; }

async function signIn(token) {
  const r = await fetch('/whoami', { headers: { Authorization: `Bearer ${token}` } });
  if (r.status === 401) throw new Error(t('signin.bad'));
  if (!r.ok) throw new Error(t('error', { msg: r.statusText }));
  const who = await r.json();
  if (!who.authenticated) throw new Error(t('signin.bad'));
  if (who.role !== 'worker') throw new Error(t('signin.notworker', { role: roleName(who.role) }));
  return who;
}

function setupSignin() {
  $('signin-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const token = $('signin-token').value.trim();
    if (!token) return;
    showError('signin-error', '');
    $('signin-go').disabled = true;
    $('signin-go').textContent = t('signin.checking');
    try {
      const who = await signIn(token);
      state.token = token;
      state.who = who;
      localStorage.setItem(TOKEN_KEY, token);
      localStorage.setItem(WHO_KEY, JSON.stringify(who));
      $('signin-token').value = '';
      start();
    } catch (err) {
      showError('signin-error', err instanceof TypeError ? t('signin.offline') : err.message);
    } finally {
      $('signin-go').disabled = false;
      $('signin-go').textContent = t('signin.go');
    }
  });
  $('signout').addEventListener('click', async () => {
    const waiting = await outbox.count();
    if (waiting && !window.confirm(t('signout.drop', { n: waiting }))) return;
    await outbox.clear();
    localStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(WHO_KEY);
    if (window.caches) await caches.delete('gridd-field-api');  // the last task list was this worker's
    location.reload();
  });
}

function signedOut(message) {
  if (state.feed) { state.feed.close(); state.feed = null; }
  outbox.stop();
  state.token = '';
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(WHO_KEY);
  document.querySelectorAll('.view').forEach((v) => { v.hidden = true; });
  $('signin').hidden = false;
  $('tabs').hidden = true;
  $('me').hidden = true;
  document.body.classList.add('no-tabs');
  showError('signin-error', message || '');
}

// ---------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------

function showView(name) {
  state.view = name;
  document.querySelectorAll('.view[data-view]').forEach((v) => { v.hidden = v.dataset.view !== name; });
  document.querySelectorAll('#tabs button').forEach((b) => b.classList.toggle('active', b.dataset.tab === name));
  if (name === 'tasks') clearBadge();
  if (name === 'report') ensureReportMap();
  if (name === 'visits') { ensureVisitMap(); loadVisits(); }
  window.scrollTo(0, 0);
}

function setBadge(n) {
  state.unseen = n;
  const b = $('badge');
  b.hidden = n === 0;
  b.textContent = String(n);
  document.title = n ? `(${n}) ${t('app')}` : t('app');
  try {
    if (n && navigator.setAppBadge) navigator.setAppBadge(n).catch(() => {});
    else if (!n && navigator.clearAppBadge) navigator.clearAppBadge().catch(() => {});
  } catch { /* not an installed app */ }
}
function clearBadge() { if (state.unseen) setBadge(0); }

// ---------------------------------------------------------------------------
// Position
// ---------------------------------------------------------------------------

function watchPosition() {
  if (!navigator.geolocation) return;
  navigator.geolocation.watchPosition((p) => {
    const first = !state.here;
    state.here = { lon: p.coords.longitude, lat: p.coords.latitude, acc: p.coords.accuracy };
    updateDistances();
    if (first || state.report.source === 'gps' || !state.report.pos) usePosition('report', [state.here.lon, state.here.lat], 'gps');
    if (first || state.visit.source === 'gps' || !state.visit.pos) usePosition('visit', [state.here.lon, state.here.lat], 'gps');
  }, () => {
    if (!state.report.pos) $('r-pos').textContent = t('pos.denied');
    if (!state.visit.pos) $('v-pos').textContent = t('pos.denied');
  }, { enableHighAccuracy: true, maximumAge: 15000, timeout: 20000 });
}

function locateOnce(which) {
  if (!navigator.geolocation) return;
  navigator.geolocation.getCurrentPosition((p) => {
    state.here = { lon: p.coords.longitude, lat: p.coords.latitude, acc: p.coords.accuracy };
    usePosition(which, [state.here.lon, state.here.lat], 'gps');
  }, () => toast(t('pos.denied')), { enableHighAccuracy: true, timeout: 15000 });
}

function usePosition(which, pos, source) {
  const s = state[which];
  // A position the worker chose on the map is not overridden by the GPS moving.
  if (source === 'gps' && s.source && s.source !== 'gps') return;
  s.pos = pos;
  s.source = source;
  const label = which === 'report' ? $('r-pos') : $('v-pos');
  const acc = state.here && source === 'gps' ? Math.round(state.here.acc) : 0;
  label.textContent = `${t(`pos.${source}`, { acc })} · ${pos[1].toFixed(5)}, ${pos[0].toFixed(5)}`;
  label.dataset.source = source;
  if (s.map && source !== 'map') s.map.show(pos);
}

// ---------------------------------------------------------------------------
// My tasks
// ---------------------------------------------------------------------------

function navLinks(f) {
  const [lon, lat] = f.geometry.coordinates;
  const name = encodeURIComponent(f.properties.category_name || f.properties.category);
  return [
    ['nav.geo', `geo:${lat},${lon}?q=${lat},${lon}(${name})`],
    ['nav.amap', `https://uri.amap.com/marker?position=${lon},${lat}&name=${name}&coordinate=wgs84&callnative=1&src=gridd`],
    ['nav.baidu', `https://api.map.baidu.com/marker?location=${lat},${lon}&title=${name}&content=${name}&coord_type=wgs84&output=html&src=gridd`],
    ['nav.apple', `https://maps.apple.com/?ll=${lat},${lon}&q=${name}`],
  ];
}

/** The category's name in the page's language (the incident carries the Chinese one). */
function catName(p) {
  const c = i18n.lang === 'en' && state.categories && (state.categories.categories || []).find((x) => x.code === p.category);
  return (c && c.name_en) || p.category_name || p.category;
}

function taskCard(f, fresh) {
  const p = f.properties;
  const colour = p.colour || 'none';
  const grid = p.assignment && p.assignment.grid;
  const actions = (p.allowed_actions || []).filter((a) => WORKER_ACTIONS.includes(a));
  const li = el('li', { class: `task${fresh ? ' fresh' : ''}${actions.length ? '' : ' waiting'}`, dataset: { id: String(p.id), status: p.status }, style: `border-left-color:${COLOURS[colour]}` },
    el('h3', {}, el('span', { class: 'cat' }, catName(p)),
      el('span', { class: 'pill' }, t(`st.${p.status}`)),
      colour === 'none' ? null : el('span', { class: 'pill colour', style: `background:${COLOURS[colour]}` }, t(`colour.${colour}`)),
      el('span', { class: 'pill pending', hidden: !state.pendingIds.has(p.id) }, t('pending'))),
    el('p', { class: 'desc' }, p.description || ''),
    el('div', { class: 'meta' },
      el('span', { class: 'where' }, [p.address, grid && grid.name].filter(Boolean).join(' · ') || `#${p.id}`),
      el('span', { class: 'due' }, p.due_at ? t('due', { time: formatTime(p.due_at, i18n.lang) }) : t('due.none')),
      el('span', { class: 'dist' })),
    el('div', { class: 'thumbs' }));
  const bar = el('div', { class: 'actions' });
  const pending = state.pendingIds.has(p.id);
  if (actions.includes('accept')) bar.append(el('button', { type: 'button', class: 'go', dataset: { action: 'accept' }, disabled: pending, onclick: () => accept(f) }, t('action.accept')));
  if (actions.includes('resolve')) bar.append(el('button', { type: 'button', class: 'go', dataset: { action: 'resolve' }, disabled: pending, onclick: () => openResolve(f) }, t('action.resolve')));
  const nav = el('details', { class: 'nav' }, el('summary', {}, t('action.navigate')),
    el('div', { class: 'navlinks' }, navLinks(f).map(([k, href]) => el('a', { href, target: k === 'nav.geo' ? null : '_blank', rel: 'noopener' }, t(k)))));
  bar.append(nav);
  if (actions.includes('return')) bar.append(el('button', { type: 'button', class: 'warn', dataset: { action: 'return' }, disabled: pending, onclick: () => openReturn(f) }, t('action.return')));
  li.append(bar);
  return li;
}

function updateDistances() {
  if (!state.here) return;
  for (const f of state.tasks) {
    const li = document.querySelector(`.task[data-id="${f.properties.id}"] .dist`);
    if (!li) continue;
    const [lon, lat] = f.geometry.coordinates;
    li.textContent = t('distance', { d: formatDistance(haversine(state.here.lon, state.here.lat, lon, lat), i18n.lang) });
  }
}

function renderTasks(fresh = new Set()) {
  const list = $('tasks');
  list.replaceChildren(...state.tasks.map((f) => taskCard(f, fresh.has(f.properties.id))));
  $('tasks-count').textContent = t('tasks.count', { n: state.tasks.length });
  $('tasks-note').textContent = state.tasks.length ? '' : t('tasks.empty');
  const stale = $('tasks-stale');
  stale.hidden = !state.stale;
  if (state.stale) stale.textContent = t('tasks.stale', { time: formatTime(state.stale, i18n.lang) });
  updateDistances();
  for (const f of state.tasks) loadThumbs(f.properties.id);
}

let tasksTimer = null, tasksRunning = null;
function scheduleTasks(ms = 150) { clearTimeout(tasksTimer); tasksTimer = setTimeout(loadTasks, ms); }

async function loadTasks() {
  if (tasksRunning) { scheduleTasks(300); return tasksRunning; }
  tasksRunning = (async () => {
    if (!state.tasks.length) $('tasks-note').textContent = t('tasks.loading');
    try {
      const { body, res } = await api(TASKS_URL);
      const offline = res.headers.get('X-Gridd-Offline');
      state.stale = offline || null;
      const list = body.features || [];
      const ids = new Set(list.map((f) => f.properties.id));
      const fresh = new Set();
      if (state.known && !offline) {
        for (const id of ids) if (!state.known.has(id)) fresh.add(id);
      }
      if (!offline) state.known = ids;
      state.tasks = list;
      await refreshPending();
      renderTasks(fresh);
      if (fresh.size) {
        if (beep()) state.beeps += 1;
        setBadge(state.unseen + fresh.size);
        toast(`${t('new.task')}: ${list.filter((f) => fresh.has(f.properties.id)).map((f) => f.properties.category_name).join('、')}`);
      }
    } catch (err) {
      if (!state.tasks.length) $('tasks-note').textContent = t('tasks.failed', { msg: err.message });
    }
  })().finally(() => { tasksRunning = null; });
  return tasksRunning;
}

async function loadThumbs(id) {
  const box = document.querySelector(`.task[data-id="${id}"] .thumbs`);
  if (!box) return;
  // Photos are added by steps: the incident's version tells when to look again.
  const f = state.tasks.find((x) => x.properties.id === id);
  const cacheKey = `${id}:${f ? f.properties.version : 0}`;
  let urls = state.thumbs.get(cacheKey);
  if (!urls) {
    try {
      const { body } = await api(`/incidents/${id}/attachments`);
      urls = [];
      for (const a of (body.attachments || []).slice(-4)) {
        const r = await fetch(a.url, { headers: headers() });
        if (r.ok) urls.push(URL.createObjectURL(await r.blob()));
      }
      state.thumbs.set(cacheKey, urls);
    } catch {
      return;  // offline: no thumbnails
    }
  }
  const now = document.querySelector(`.task[data-id="${id}"] .thumbs`);
  if (now) now.replaceChildren(...urls.map((u) => el('img', { src: u, alt: '', loading: 'lazy' })));
}

function accept(f) {
  const id = f.properties.id;
  outbox.add([{ kind: 'transition', incidentId: id, method: 'POST', path: `/incidents/${id}/transitions`,
    body: { action: 'accept' }, label: t('label.accept', { id }) }]);
  if (!navigator.onLine) toast(t('queued'));
}

// ---------------------------------------------------------------------------
// Photos (shared by the report and the resolve sheet)
// ---------------------------------------------------------------------------

function photoList(container, input, list, onAdd) {
  return photoListOf(container, input, list, { i18n, max: MAX_PHOTOS, onAdd, onFull: () => toast(t('photos.max', { n: MAX_PHOTOS })) });
}

function photoItems(files, pathOf, extra = {}) {
  return files.map((file, k) => ({
    kind: 'attachment', method: 'POST', body: file, contentType: file.type || 'image/jpeg',
    path: pathOf(`${Date.now()}-${k + 1}${extension(file)}`), label: `${t('label.photo')} ${k + 1}`, ...extra,
  }));
}

// ---------------------------------------------------------------------------
// Resolve and return
// ---------------------------------------------------------------------------

let renderResolvePhotos = null;
function openResolve(f) {
  state.resolve.photos.length = 0;
  state.resolve.incident = f;
  $('resolve-what').textContent = `#${f.properties.id} ${f.properties.category_name || ''} · ${f.properties.description || ''}`;
  $('resolve-note').value = '';
  showError('resolve-error', '');
  renderResolvePhotos();
  $('resolve-dialog').showModal();
}

function setupSheets() {
  renderResolvePhotos = photoList($('resolve-photos'), $('resolve-photo'), state.resolve.photos);
  $('resolve-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const note = $('resolve-note').value.trim();
    if (!note) { showError('resolve-error', t('resolve.need')); return; }
    const f = state.resolve.incident, id = f.properties.id;
    // Photos first, then the step naming them: all queued in one go, in order.
    const photos = photoItems(state.resolve.photos, (name) => `/incidents/${id}/attachments?filename=${encodeURIComponent(name)}`,
      { incidentId: id }).map((p) => ({ ...p, key: newKey() }));
    await outbox.add([...photos, { kind: 'transition', incidentId: id, method: 'POST', path: `/incidents/${id}/transitions`,
      body: { action: 'resolve', note }, attachRefs: photos.map((p) => p.key), label: t('label.resolve', { id }) }]);
    $('resolve-dialog').close();
    if (!navigator.onLine) toast(t('queued'));
  });
  $('return-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const reason = $('return-reason').value.trim();
    if (!reason) { showError('return-error', t('return.need')); return; }
    const id = Number($('return-dialog').dataset.id);
    outbox.add([{ kind: 'transition', incidentId: id, method: 'POST', path: `/incidents/${id}/transitions`,
      body: { action: 'return', reason }, label: t('label.return', { id }) }]);
    $('return-dialog').close();
    if (!navigator.onLine) toast(t('queued'));
  });
  document.querySelectorAll('dialog [data-close]').forEach((b) => b.addEventListener('click', () => b.closest('dialog').close()));
}

function openReturn(f) {
  $('return-dialog').dataset.id = String(f.properties.id);
  $('return-what').textContent = `#${f.properties.id} ${f.properties.category_name || ''} · ${f.properties.description || ''}`;
  $('return-reason').value = '';
  showError('return-error', '');
  $('return-dialog').showModal();
}

// ---------------------------------------------------------------------------
// 随手拍: report what I see
// ---------------------------------------------------------------------------

let picker = null;

function ensureReportMap() {
  if (state.report.map || !$('r-map').isConnected) return;
  state.report.map = smallMap($('r-map'), {
    tiles: state.tiles, headers: () => headers(), center: state.report.pos || undefined,
    onMove: (pos) => usePosition('report', pos, 'map'),
  });
  if (state.report.pos) state.report.map.show(state.report.pos);
}
function ensureVisitMap() {
  if (state.visit.map) return;
  state.visit.map = smallMap($('v-map'), {
    tiles: state.tiles, headers: () => headers(), center: state.visit.pos || undefined,
    onMove: (pos) => usePosition('visit', pos, 'map'),
  });
  if (state.visit.pos) state.visit.map.show(state.visit.pos);
}

function setupReport() {
  picker = categoryPicker($('r-search'), $('r-category'), i18n);
  const render = photoList($('r-photos'), $('r-photo'), state.report.photos, async (file) => {
    // No position from the phone: the photo may know where it was taken.
    if (!state.report.pos || state.report.source === 'exif') {
      const pos = await photoPosition(file);
      if (pos) usePosition('report', pos, 'exif');
    }
  });
  $('r-locate').addEventListener('click', () => { state.report.source = null; locateOnce('report'); });
  $('report-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    showError('r-error', '');
    const category = picker.value;
    if (!category) { showError('r-error', t('report.need.category')); return; }
    if (!state.report.pos) { showError('r-error', t('report.need.position')); return; }
    const [lon, lat] = state.report.pos;
    const body = { category, description: $('r-note').value.trim(), lon: round(lon), lat: round(lat), channel: 'grid_worker' };
    const address = $('r-address').value.trim();
    if (address) body.address = address;
    // The photos go to the incident the report creates: its id is filled in when they are sent.
    const key = newKey();
    const items = [{ kind: 'report', key, method: 'POST', path: '/incidents', body, label: t('label.report', { cat: picker.name(category) }) },
      ...photoItems(state.report.photos, (name) => `/incidents/{incident}/attachments?filename=${encodeURIComponent(name)}`,
        { refs: { '{incident}': key } })];
    const result = $('r-result');
    result.hidden = false;
    result.className = 'result queued';
    result.dataset.key = key;
    result.textContent = t('report.queued');
    window.scrollTo({ top: 0, behavior: 'smooth' });
    await outbox.add(items);
    state.report.photos.length = 0;
    render();
    picker.reset();
    $('r-note').value = '';
    $('r-address').value = '';
  });
}

function round(x) { return Math.round(x * 1e7) / 1e7; }

function showRouted(key, feature) {
  const p = feature && feature.properties;
  if (!p) return;
  const result = $('r-result');
  if (result.dataset.key !== key) return;  // an older report, sent late: its answer is in the task list
  const a = p.assignment || {};
  const grid = a.grid ? `${a.grid.name}（${a.grid.code}）` : '—';
  const worker = a.assignee && a.assignee.name ? a.assignee.name : t('report.nobody');
  result.hidden = false;
  result.className = 'result';
  result.dataset.incident = String(p.id);
  result.textContent = `#${p.id} ${a.covered === false ? t('report.routed.flag', { grid }) : t('report.routed', { grid, worker })}`;
}

// ---------------------------------------------------------------------------
// 走访: door-to-door visits
// ---------------------------------------------------------------------------

function localNow() {
  const d = new Date();
  d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
  return d.toISOString().slice(0, 16);
}

function fillKinds() {
  const s = $('v-kind'), keepValue = s.value;
  s.replaceChildren(...VISIT_KINDS.map((k) => el('option', { value: k }, t(`kind.${k}`))));
  if (keepValue) s.value = keepValue;
}

function setupVisits() {
  fillKinds();
  i18n.onChange(fillKinds);
  $('v-time').value = localNow();
  $('v-locate').addEventListener('click', () => { state.visit.source = null; locateOnce('visit'); });
  const renderVisitPhotos = photoList($('v-photos'), $('v-photo'), state.visit.photos);
  $('visit-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    showError('v-error', '');
    if (!state.visit.pos) { showError('v-error', t('visit.need.position')); return; }
    const [lon, lat] = state.visit.pos;
    const when = $('v-time').value ? new Date($('v-time').value) : new Date();
    const subject = $('v-subject').value.trim();
    const body = { kind: $('v-kind').value, subject, note: $('v-note').value.trim(), lon: round(lon), lat: round(lat),
      visited_at: when.toISOString().replace(/\.\d{3}Z$/, 'Z') };
    // The photos go to the visit once it has its id (filled in when they are sent).
    const key = newKey();
    await outbox.add([{ kind: 'visit', key, method: 'POST', path: '/visits', body, label: t('label.visit', { subject: subject || t(`kind.${body.kind}`) }) },
      ...photoItems(state.visit.photos, (name) => `/visits/{visit}/attachments?filename=${encodeURIComponent(name)}`,
        { refs: { '{visit}': key } })]);
    state.visit.photos.length = 0;
    renderVisitPhotos();
    $('v-subject').value = '';
    $('v-note').value = '';
    $('v-time').value = localNow();
    const result = $('v-result');
    result.hidden = false;
    result.className = navigator.onLine ? 'result' : 'result queued';
    result.textContent = navigator.onLine ? t('visit.saved') : t('queued');
    window.scrollTo({ top: 0, behavior: 'smooth' });
  });
}

let visitsTimer = null;
function loadVisitsSoon() {
  clearTimeout(visitsTimer);
  visitsTimer = setTimeout(loadVisits, 300);  // the photos of one visit come one after another
}

async function loadVisits() {
  try {
    const { body } = await api('/visits?worker=me&limit=20');
    const list = body.features || [];
    $('visits').replaceChildren(...(list.length ? list.map((v) => {
      const p = v.properties;
      return el('li', { class: 'visit', dataset: { id: String(p.id), photos: String(p.photos || 0) } },
        el('b', {}, t(`kind.${p.kind}`) === `kind.${p.kind}` ? p.kind : t(`kind.${p.kind}`)), p.subject || '',
        el('span', { class: 'muted' }, [formatTime(p.visited_at, i18n.lang), p.grid && p.grid.name].filter(Boolean).join(' · ')),
        p.note ? el('span', {}, p.note) : null,
        p.photos ? el('span', { class: 'muted photo-count' }, t('visit.photo.count', { n: p.photos })) : null,
        p.photos ? el('div', { class: 'thumbs' }) : null);
    }) : [el('li', { class: 'muted' }, t('visit.empty'))]));
    for (const v of list) if (v.properties.photos) visitThumbs(v.properties.id, v.properties.photos);
  } catch {
    // offline: the list stays as it was
  }
}

/** The photos of one visit as thumbnails (fetched with the token, kept per visit and photo count). */
async function visitThumbs(id, count) {
  const cacheKey = `visit:${id}:${count}`;
  let urls = state.thumbs.get(cacheKey);
  if (!urls) {
    try {
      const { body } = await api(`/visits/${id}`);
      urls = [];
      for (const a of ((body.properties && body.properties.attachments) || []).slice(0, MAX_PHOTOS)) {
        const r = await fetch(a.url, { headers: headers() });
        if (r.ok) urls.push(URL.createObjectURL(await r.blob()));
      }
      state.thumbs.set(cacheKey, urls);
    } catch {
      return;  // offline: the count says it
    }
  }
  const box = document.querySelector(`#visits .visit[data-id="${id}"] .thumbs`);
  if (box) box.replaceChildren(...urls.map((u) => el('img', { src: u, alt: t('visit.photo.alt'), loading: 'lazy' })));
}

// ---------------------------------------------------------------------------
// Live: new assignments within a second (Server-Sent Events)
// ---------------------------------------------------------------------------

function openFeed() {
  if (state.feed) state.feed.close();
  const feed = new EventSource(`/incidents/feed?access_token=${encodeURIComponent(state.token)}`);
  state.feed = feed;
  const live = $('live');
  feed.onopen = () => { live.classList.add('on'); live.setAttribute('aria-label', t('live.on')); scheduleTasks(0); };
  feed.onerror = () => { live.classList.remove('on'); live.setAttribute('aria-label', t('live.off')); };
  feed.addEventListener('incident', (e) => {
    state.lastFeedAt = Date.now();
    let data = null;
    try { data = JSON.parse(e.data); } catch { return; }
    const inc = data && data.incident;
    if (!inc) return;
    const mine = state.tasks.some((f) => f.properties.id === inc.id) || isMine(inc);
    if (mine) scheduleTasks(50);
  });
}

function isMine(inc) {
  const a = inc.properties && inc.properties.assignment && inc.properties.assignment.assignee;
  // The server matches the token's phone, else its name; the feed tells the name.
  return !!(a && state.who && a.name && a.name === state.who.name);
}

// ---------------------------------------------------------------------------
// Me: identity and the outbox
// ---------------------------------------------------------------------------

async function openMe() {
  $('me-name').textContent = `${state.who.name} · ${t('me.role')}`;
  $('me-scope').textContent = state.who.scope ? t('me.scope', { scope: state.who.scope }) : '';
  const items = await outbox.all();
  $('outbox-list').replaceChildren(...(items.length ? items.map((i) => el('li', {}, `${i.label || i.kind} · ${formatTime(i.created, i18n.lang)}`))
    : [el('li', { class: 'muted' }, t('outbox.empty'))]));
  $('outbox-send').hidden = !items.length;
  const failed = await outbox.failed();
  $('failed-head').hidden = !failed.length;
  $('failed-clear').hidden = !failed.length;
  $('failed-list').replaceChildren(...failed.map((f) => el('li', { class: 'error' }, `${f.label || ''}: ${f.message || f.code}`)));
  $('me-dialog').showModal();
}

// ---------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------

async function loadReference() {
  // Categories and tile sources; kept for a start without network.
  const c = cache();
  try {
    const [{ body: cats }, { body: tiles }] = await Promise.all([api('/categories'), api('/tiles')]);
    keep('categories', cats);
    keep('tiles', { sources: tiles.sources.map((s) => ({ name: s.name, kind: s.kind, healthy: s.healthy, bounds: s.bounds, maxzoom: s.maxzoom, attribution: s.attribution })) });
    state.categories = cats;
    state.tiles = cache().tiles;
  } catch {
    state.categories = c.categories || { categories: [], groups: [] };
    state.tiles = c.tiles || null;
  }
  picker.set(state.categories);
  await prepareMapWorker();
}

async function start() {
  $('signin').hidden = true;
  $('tabs').hidden = false;
  document.body.classList.remove('no-tabs');
  $('me').hidden = false;
  $('me').textContent = state.who.name;
  outbox.start();
  // Check the token once more when online (it may have been revoked); offline, trust what was kept.
  fetch('/whoami', { headers: headers() }).then(async (r) => {
    if (r.status === 401) signedOut(t('signin.bad'));
    else if (r.ok) { state.who = await r.json(); localStorage.setItem(WHO_KEY, JSON.stringify(state.who)); }
  }).catch(() => {});
  await loadReference();
  showView(state.view);
  watchPosition();
  await loadTasks();
  openFeed();
  state.ready = true;
}

function init() {
  i18n.apply();
  document.title = t('app');
  $('lang').textContent = i18n.lang === 'en' ? '中文' : 'EN';
  $('lang').addEventListener('click', () => {
    i18n.set(i18n.lang === 'en' ? 'zh' : 'en');
    $('lang').textContent = i18n.lang === 'en' ? '中文' : 'EN';
    setBadge(state.unseen);
    outbox.count().then((n) => { $('outbox').textContent = t('outbox', { n }); });
    if (state.tasks.length) renderTasks();
  });
  unlockAudio();
  setupSignin();
  setupSheets();
  setupReport();
  setupVisits();
  $('me').addEventListener('click', openMe);
  $('outbox').addEventListener('click', openMe);
  $('outbox-send').addEventListener('click', () => outbox.flush());
  $('failed-clear').addEventListener('click', async () => { await outbox.clearFailed(); $('me-dialog').close(); });
  $('tasks-refresh').addEventListener('click', () => loadTasks());
  $('tasks').addEventListener('pointerdown', clearBadge);
  document.querySelectorAll('#tabs button').forEach((b) => b.addEventListener('click', () => showView(b.dataset.tab)));
  // The live dot follows the network: an open feed may not notice at once that the phone went offline.
  window.addEventListener('online', () => { scheduleTasks(500); if (state.feed) openFeed(); });
  window.addEventListener('offline', () => {
    scheduleTasks(0);
    $('live').classList.remove('on');
    $('live').setAttribute('aria-label', t('live.off'));
  });
  if ('serviceWorker' in navigator) navigator.serviceWorker.register('/field/sw.js', { scope: '/field/' }).catch(() => {});
  if (state.token && state.who) start();
  else signedOut('');
}

init();
