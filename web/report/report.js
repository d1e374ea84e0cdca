// The resident's page, opened from a QR code at a grid or station:
// /report/?grid=CODE or ?station=CODE is a one-screen form without sign-in;
// /report/status/CODE shows the progress of a report by its tracking code
// and, once it is resolved, asks how satisfied the resident is (回访).
import {
  makeI18n, el, formatTime, errorOf, categoryPicker, smallMap, photoList, extension, pointInside, prepareMapWorker,
} from '/field/common.js';
import { newKey } from '/field/outbox.js';

const strings = {
  zh: {
    app: '问题上报', 'app.status': '办理进度', category: '问题类别', search: '搜索类别，如“路灯”、“噪音”', 'cat.choose': '请选择问题类别',
    description: '问题描述', 'description.ph': '请简要描述问题，如具体位置、持续多久', photos: '照片', 'photos.max': '（最多 3 张）',
    'photo.add': '拍照 / 选照片', 'photo.remove': '移除照片', position: '位置', 'pos.mine': '我的位置', 'pos.place': '网格位置',
    'pos.place.station': '站点位置', 'pos.tap': '在地图上点选问题位置', 'pos.gps': '您的位置（±{acc} 米）', 'pos.map': '地图上选定的位置',
    'pos.grid': '{name}的位置', 'pos.denied': '无法获取您的位置，请在地图上点选。', 'pos.locating': '正在定位…',
    'pos.in': '所属网格：{grid}', contact: '留下联系方式（可选）', name: '称呼', phone: '手机号',
    'contact.hint': '仅供工作人员回访联系，不会公开。', send: '提交', sending: '正在提交…',
    'need.category': '请选择问题类别。', 'need.description': '请描述一下问题。', 'need.position': '请确定问题位置：允许定位，或在地图上点选。',
    'place.grid': '您正在向 {name} 反映问题', 'place.station': '您正在通过 {name} 反映问题', 'place.unknown': '未找到编码 {code} 对应的网格或站点，仍可提交。',
    'err.rate': '提交太频繁了，请 {n} 秒后再试。', 'err.duplicate': '相同的问题刚刚已经提交过，无需重复提交。', 'err.duplicate.link': '查看进度（{code}）', 'meta.photos': '附照片 {n} 张',
    'err.closed': '此服务暂不接受匿名上报，请拨打热线反映。', 'err.offline': '网络不通，请检查网络后再试（内容已保留）。',
    'err.other': '提交失败：{msg}', 'done.title': '已收到您的反映', 'done.code': '查询码',
    'done.keep': '请记下查询码或收藏下面的链接，可随时查看办理进度。', 'done.track': '查看办理进度', 'done.again': '再反映一个问题',
    'done.photos': '已上传 {n} 张照片', 'done.photos.failed': '{n} 张照片未能上传', 'done.nocode': '编号 #{id}',
    progress: '办理进度', 'status.unknown': '未找到查询码 {code}，请核对。', 'status.failed': '查询失败：{msg}',
    'ev.report': '已受理', 'ev.register': '已登记', 'ev.dispatch': '已派遣', 'ev.accept': '处理中', 'ev.resolve': '已处置',
    'ev.verify': '已核查', 'ev.close': '已办结', 'ev.reject': '不予受理', 'ev.return': '退回重新派遣', 'ev.escalate': '已上报上级处理',
    'ev.send_back': '返工处理', 'ev.reopen': '重新办理', 'ev.follow_up': '已回访', 'ev.satisfaction': '已评价',
    'st.reported': '已受理', 'st.registered': '已登记', 'st.dispatched': '已派遣', 'st.accepted': '处理中', 'st.resolved': '已处置',
    'st.verified': '已核查', 'st.closed': '已办结', 'st.rejected': '不予受理', 'st.returned': '重新派遣中', 'st.escalated': '上级处理中',
    'st.reopened': '重新办理',
    'meta.grid': '网格：{grid}', 'meta.reported': '反映时间：{t}', 'meta.due': '承诺办结：{t}',
    'rate.title': '回访：您对办理结果满意吗？', 'rate.note': '意见（可选）', 'rate.send': '提交评价', 'rate.need': '请点选星级。',
    'rate.thanks': '感谢您的评价！', 'rate.yours': '您的评价：', 'rate.closed': '暂不能评价：{msg}',
    'star': '{n} 星', 'rate.1': '很不满意', 'rate.2': '不满意', 'rate.3': '一般', 'rate.4': '满意', 'rate.5': '很满意',
  },
  en: {
    app: 'Report a problem', 'app.status': 'Progress', category: 'Category', search: 'Search, e.g. "street light", "noise"', 'cat.choose': 'Choose a category',
    description: 'Description', 'description.ph': 'What is wrong, where exactly, since when', photos: 'Photos', 'photos.max': '(at most 3)',
    'photo.add': 'Take / pick photo', 'photo.remove': 'Remove photo', position: 'Position', 'pos.mine': 'My position', 'pos.place': 'The grid',
    'pos.place.station': 'The station', 'pos.tap': 'Tap the map where the problem is', 'pos.gps': 'Your position (±{acc} m)', 'pos.map': 'Chosen on the map',
    'pos.grid': 'Position of {name}', 'pos.denied': 'Your position is not available; tap the map.', 'pos.locating': 'Locating…',
    'pos.in': 'Grid: {grid}', contact: 'Leave your contact (optional)', name: 'Name', phone: 'Mobile phone',
    'contact.hint': 'Only for the staff to call you back; never published.', send: 'Send', sending: 'Sending…',
    'need.category': 'Please choose a category.', 'need.description': 'Please describe the problem.', 'need.position': 'Please give the position: allow location, or tap the map.',
    'place.grid': 'You are reporting to {name}', 'place.station': 'You are reporting through {name}', 'place.unknown': 'No grid or station has the code {code}; you may still report.',
    'err.rate': 'Too many reports; please try again in {n} seconds.', 'err.duplicate': 'The same report was sent a moment ago; no need to send it again.', 'err.duplicate.link': 'See its progress ({code})', 'meta.photos': '{n} photo(s) attached',
    'err.closed': 'This service does not take anonymous reports; please call the hotline.', 'err.offline': 'No network; please try again (your text is kept).',
    'err.other': 'Could not send: {msg}', 'done.title': 'Thank you, we received it', 'done.code': 'Tracking code',
    'done.keep': 'Note the code or bookmark the link below to follow the progress.', 'done.track': 'See the progress', 'done.again': 'Report another problem',
    'done.photos': '{n} photo(s) uploaded', 'done.photos.failed': '{n} photo(s) could not be uploaded', 'done.nocode': 'Number #{id}',
    progress: 'Progress', 'status.unknown': 'No report has the tracking code {code}; please check it.', 'status.failed': 'Could not load: {msg}',
    'ev.report': 'Received', 'ev.register': 'Registered', 'ev.dispatch': 'Dispatched', 'ev.accept': 'Being handled', 'ev.resolve': 'Resolved',
    'ev.verify': 'Verified', 'ev.close': 'Closed', 'ev.reject': 'Not accepted', 'ev.return': 'Returned for re-dispatch', 'ev.escalate': 'Escalated',
    'ev.send_back': 'Sent back for more work', 'ev.reopen': 'Reopened', 'ev.follow_up': 'Followed up', 'ev.satisfaction': 'Rated',
    'st.reported': 'Received', 'st.registered': 'Registered', 'st.dispatched': 'Dispatched', 'st.accepted': 'Being handled', 'st.resolved': 'Resolved',
    'st.verified': 'Verified', 'st.closed': 'Closed', 'st.rejected': 'Not accepted', 'st.returned': 'Being re-dispatched', 'st.escalated': 'Escalated',
    'st.reopened': 'Reopened',
    'meta.grid': 'Grid: {grid}', 'meta.reported': 'Reported: {t}', 'meta.due': 'Due: {t}',
    'rate.title': 'Follow-up: are you satisfied with the result?', 'rate.note': 'Comment (optional)', 'rate.send': 'Send rating', 'rate.need': 'Please choose the stars.',
    'rate.thanks': 'Thank you for your rating!', 'rate.yours': 'Your rating: ', 'rate.closed': 'Cannot rate now: {msg}',
    'star': '{n} stars', 'rate.1': 'very unsatisfied', 'rate.2': 'unsatisfied', 'rate.3': 'acceptable', 'rate.4': 'satisfied', 'rate.5': 'very satisfied',
  },
};

const i18n = makeI18n(strings);
const t = i18n.t;
const $ = (id) => document.getElementById(id);
const MAX_PHOTOS = 3;
// The steps a resident sees ahead, in order (the loop of 网格化管理).
const STEPS = ['report', 'dispatch', 'accept', 'resolve', 'close'];

const state = {
  place: null,  // {kind: 'grid'|'station', code, name, pos}
  pos: null, source: null, photos: [], map: null, tiles: null, key: null, ready: false,
  track: null, stars: 0, pollTimer: null,
};
window.griddReport = state;  // for the browser tests and the curious

function showError(id, text) { const e = $(id); e.textContent = text || ''; e.hidden = !text; }

async function getJson(path) {
  const r = await fetch(path, { headers: { Accept: 'application/json' } });
  const body = await r.json().catch(() => null);
  if (!r.ok) throw Object.assign(new Error(errorOf(body).message || r.statusText), { status: r.status, body });
  return body;
}

function show(view) {
  for (const v of ['form', 'done', 'status']) $(`view-${v}`).hidden = v !== view;
  const title = view === 'status' ? t('app.status') : t('app');
  $('title').textContent = title;
  document.title = title;
}

// ---------------------------------------------------------------------------
// The form
// ---------------------------------------------------------------------------

function setPosition(pos, source) {
  state.pos = pos;
  state.source = source;
  let label;
  if (source === 'gps') label = t('pos.gps', { acc: Math.round(state.acc || 0) });
  else if (source === 'place') label = t('pos.grid', { name: state.place.name });
  else label = t('pos.map');
  $('pos').textContent = `${label} · ${pos[1].toFixed(5)}, ${pos[0].toFixed(5)}`;
  $('pos').dataset.source = source;
  $('use-gps').classList.toggle('on', source === 'gps');
  $('use-place').classList.toggle('on', source === 'place');
  if (state.map && source !== 'map') state.map.show(pos);
  whichGrid(pos);
}

let locateSeq = 0;
async function whichGrid(pos) {
  const seq = ++locateSeq;
  try {
    const r = await getJson(`/locate?lon=${pos[0]}&lat=${pos[1]}&k=0`);
    if (seq !== locateSeq) return;
    const g = r.owner || r.nearest_grid;
    const grid = g && (g.grid || g);
    $('pos-grid').textContent = grid && grid.name ? t('pos.in', { grid: grid.name }) : '';
  } catch {
    $('pos-grid').textContent = '';
  }
}

function locate() {
  if (!navigator.geolocation) { $('pos').textContent = t('pos.denied'); return; }
  $('pos').textContent = t('pos.locating');
  navigator.geolocation.getCurrentPosition((p) => {
    state.acc = p.coords.accuracy;
    setPosition([p.coords.longitude, p.coords.latitude], 'gps');
  }, () => {
    if (!state.pos) {
      if (state.place && state.place.pos) setPosition(state.place.pos, 'place');
      else $('pos').textContent = t('pos.denied');
    }
  }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 });
}

async function loadPlace(params) {
  const grid = params.get('grid'), station = params.get('station');
  const code = grid || station;
  if (!code) return;
  const kind = grid ? 'grid' : 'station';
  try {
    let place;
    try {
      // The place a QR code names: its name and a position inside it.
      const p = await getJson(`/report/place?${kind}=${encodeURIComponent(code)}`);
      place = { kind, code, name: p.name, pos: p.position };
    } catch (err) {
      if (err.status !== 404 && err.status !== 405 && err.status !== undefined) throw err;
      const fc = await getJson(grid ? `/grids?code=${encodeURIComponent(grid)}&geometry=true&limit=1`
        : `/stations?code=${encodeURIComponent(station)}&limit=1`);
      const f = fc.features && fc.features[0];
      if (!f) throw new Error('not found');
      place = { kind, code, name: f.properties.name, pos: pointInside(f.geometry) };
    }
    state.place = place;
    $('place').textContent = t(grid ? 'place.grid' : 'place.station', { name: place.name });
    $('use-place').hidden = !place.pos;
    $('use-place').textContent = t(grid ? 'pos.place' : 'pos.place.station');
  } catch {
    state.place = { kind, code, name: code, pos: null };
    $('place').textContent = t('place.unknown', { code });
  }
  $('place').hidden = false;
}

async function setupForm() {
  const params = new URLSearchParams(location.search);
  const picker = categoryPicker($('search'), $('category'), i18n);
  const renderPhotos = photoList($('photos'), $('photo'), state.photos, { i18n, max: MAX_PHOTOS });
  $('use-gps').addEventListener('click', locate);
  $('use-place').addEventListener('click', () => { if (state.place && state.place.pos) setPosition(state.place.pos, 'place'); });
  const [cats, tiles] = await Promise.all([getJson('/categories').catch(() => ({ categories: [], groups: [] })),
    getJson('/tiles').catch(() => null), loadPlace(params), prepareMapWorker()]);
  picker.set(cats);
  state.map = smallMap($('map'), { tiles, center: state.place && state.place.pos, zoom: state.place && state.place.pos ? 14 : 11,
    onMove: (pos) => setPosition(pos, 'map') });
  locate();

  $('form').addEventListener('input', () => { state.key = null; });  // a changed report is a new report
  $('form').addEventListener('submit', async (e) => {
    e.preventDefault();
    showError('error', '');
    const category = picker.value;
    const description = $('description').value.trim();
    if (!category) return showError('error', t('need.category'));
    if (!description) return showError('error', t('need.description'));
    if (!state.pos) return showError('error', t('need.position'));
    const body = { category, description, lon: Math.round(state.pos[0] * 1e7) / 1e7, lat: Math.round(state.pos[1] * 1e7) / 1e7, channel: 'qr' };
    const name = $('name').value.trim(), phone = $('phone').value.trim();
    if (name || phone) body.reporter = { name, phone };
    if (state.place) body.attributes = { qr: { [state.place.kind]: state.place.code } };
    // One key per report: sending it again after a lost answer does not report twice.
    state.key ||= newKey();
    const send = $('send');
    send.disabled = true;
    send.textContent = t('sending');
    try {
      const r = await fetch('/incidents', { method: 'POST', headers: { 'Content-Type': 'application/json', 'Idempotency-Key': state.key },
        body: JSON.stringify(body) });
      const answer = await r.json().catch(() => null);
      if (!r.ok) {
        const err = errorOf(answer);
        if (r.status === 429) showError('error', t('err.rate', { n: r.headers.get('Retry-After') || '60' }));
        else if (err.code === 'duplicate_report') duplicate(answer);
        else if (r.status === 401 || r.status === 403) showError('error', t('err.closed'));
        else showError('error', t('err.other', { msg: err.message || r.statusText }));
        if (r.status !== 409 || err.code !== 'idempotency_in_progress') state.key = null;
        return;
      }
      state.key = null;
      await done(answer);
      state.photos.length = 0;
      renderPhotos();
      picker.reset();
      $('description').value = '';
    } catch {
      showError('error', t('err.offline'));
    } finally {
      send.disabled = false;
      send.textContent = t('send');
    }
  });
}

/** The same report a moment ago: say so, and lead to the earlier one. */
function duplicate(answer) {
  let details = answer && (answer.details || (answer.error && answer.error.details));
  if (typeof details === 'string') { try { details = JSON.parse(details); } catch { details = null; } }
  const code = details && details.tracking_code;
  const box = $('error');
  box.replaceChildren(t('err.duplicate'));
  if (code) {
    box.append(' ', el('a', { href: `/report/status/${encodeURIComponent(code)}`, class: 'earlier' }, t('err.duplicate.link', { code })));
  }
  box.hidden = false;
}

async function done(feature) {
  const p = feature.properties || {};
  const code = p.tracking_code;
  let uploaded = 0, failed = 0;
  if (code) {
    for (const [k, file] of state.photos.entries()) {
      const name = `photo-${k + 1}${extension(file)}`;
      const key = newKey();
      let ok = false;
      for (let attempt = 0; attempt < 3 && !ok; attempt += 1) {
        try {
          const r = await fetch(`/track/${encodeURIComponent(code)}/attachments?filename=${encodeURIComponent(name)}`,
            { method: 'POST', headers: { 'Content-Type': file.type || 'image/jpeg', 'Idempotency-Key': key }, body: file });
          if (r.ok) ok = true;
          else if (r.status < 500 && r.status !== 409 && r.status !== 429) break;
          else await new Promise((res) => { setTimeout(res, 1000 * (attempt + 1)); });
        } catch {
          await new Promise((res) => { setTimeout(res, 1000 * (attempt + 1)); });
        }
      }
      if (ok) uploaded += 1; else failed += 1;
    }
  } else {
    failed = state.photos.length;
  }
  $('code').textContent = code || t('done.nocode', { id: p.id });
  $('code').dataset.code = code || '';
  $('photo-state').textContent = [uploaded ? t('done.photos', { n: uploaded }) : '', failed ? t('done.photos.failed', { n: failed }) : '']
    .filter(Boolean).join('，');
  const link = $('status-link');
  link.hidden = !code;
  if (code) link.href = `/report/status/${encodeURIComponent(code)}`;
  $('again').href = location.pathname + location.search;
  show('done');
  window.scrollTo(0, 0);
}

// ---------------------------------------------------------------------------
// Progress and satisfaction: /report/status/CODE
// ---------------------------------------------------------------------------

function renderTrack(tr) {
  state.track = tr;
  $('s-code').textContent = tr.code;
  $('s-title').textContent = [tr.category_name || tr.category, tr.group].filter(Boolean).join(' · ');
  const status = $('s-status');
  status.textContent = t(`st.${tr.status}`);
  status.dataset.status = tr.status;
  status.style.color = tr.status === 'closed' || tr.status === 'resolved' || tr.status === 'verified' ? 'var(--ok)'
    : tr.status === 'rejected' ? 'var(--danger)' : 'var(--accent)';
  $('s-meta').replaceChildren(...[
    tr.grid && tr.grid.name ? t('meta.grid', { grid: tr.grid.name }) : '',
    tr.reported_at ? t('meta.reported', { t: formatTime(tr.reported_at, i18n.lang) }) : '',
    tr.due_at && !tr.resolved_at ? t('meta.due', { t: formatTime(tr.due_at, i18n.lang) }) : '',
  ].filter(Boolean).map((s) => el('span', { class: 'metaline' }, s, el('br'))));
  const photos = Array.isArray(tr.photos) ? tr.photos.length : Number(tr.photos) || 0;
  $('s-photos').textContent = photos ? t('meta.photos', { n: photos }) : '';

  // What happened, then the steps still ahead (greyed).
  const events = (tr.events || []).filter((e) => e && e.action);
  const done = new Set(events.map((e) => e.action));
  const items = events.map((e, k) => el('li', { class: k === events.length - 1 ? 'now' : '', dataset: { action: e.action } },
    el('b', {}, t(`ev.${e.action}`) === `ev.${e.action}` ? e.action : t(`ev.${e.action}`)), el('time', { datetime: e.at }, formatTime(e.at, i18n.lang))));
  if (tr.status !== 'rejected' && tr.status !== 'closed') {
    const last = events.length ? STEPS.indexOf(events[events.length - 1].action) : -1;
    for (const step of STEPS.slice(Math.max(last + 1, 0))) {
      if (!done.has(step) || step === 'close') items.push(el('li', { class: 'todo' }, el('b', {}, t(`ev.${step}`))));
    }
  }
  $('timeline').replaceChildren(...items);

  $('rate').hidden = !tr.can_rate;
  const rated = $('rated');
  rated.hidden = !tr.satisfaction;
  if (tr.satisfaction) {
    rated.replaceChildren(el('p', { class: 'ok' }, t('rate.thanks')),
      el('p', {}, t('rate.yours'), el('span', { class: 'stars-text', 'aria-label': t('star', { n: tr.satisfaction }) },
        '★'.repeat(tr.satisfaction) + '☆'.repeat(5 - tr.satisfaction)), ` ${t(`rate.${tr.satisfaction}`)}`));
  }
}

function renderStars() {
  $('stars').replaceChildren(...[1, 2, 3, 4, 5].map((n) => el('button', {
    type: 'button', role: 'radio', 'aria-checked': String(state.stars === n), 'aria-label': `${t('star', { n })} ${t(`rate.${n}`)}`,
    class: n <= state.stars ? 'on' : '', dataset: { stars: String(n) }, onclick: () => { state.stars = n; renderStars(); },
  }, '★')));
}

async function loadTrack(code) {
  try {
    renderTrack(await getJson(`/track/${encodeURIComponent(code)}`));
    showError('s-error', '');
  } catch (err) {
    showError('s-error', err.status === 404 ? t('status.unknown', { code }) : t('status.failed', { msg: err.message }));
  }
}

function setupStatus(code) {
  renderStars();
  $('rate-send').addEventListener('click', async () => {
    showError('rate-error', '');
    if (!state.stars) return showError('rate-error', t('rate.need'));
    const b = $('rate-send');
    b.disabled = true;
    try {
      const r = await fetch(`/track/${encodeURIComponent(code)}/satisfaction`, {
        method: 'POST', headers: { 'Content-Type': 'application/json', 'Idempotency-Key': newKey() },
        body: JSON.stringify({ satisfaction: state.stars, note: $('rate-note').value.trim() }) });
      const body = await r.json().catch(() => null);
      if (!r.ok) return showError('rate-error', t('rate.closed', { msg: errorOf(body).message || r.statusText }));
      renderTrack(body);
    } catch {
      showError('rate-error', t('err.offline'));
    } finally {
      b.disabled = false;
    }
  });
  loadTrack(code);
  // The page left open follows the case.
  state.pollTimer = setInterval(() => { if (document.visibilityState === 'visible' && !(state.track && state.track.satisfaction)) loadTrack(code); }, 15000);
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') loadTrack(code); });
}

// ---------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------

async function init() {
  i18n.apply();
  $('lang').textContent = i18n.lang === 'en' ? '中文' : 'EN';
  const m = /^\/report\/status\/([^/]+)\/?$/.exec(location.pathname);
  $('lang').addEventListener('click', () => {
    i18n.set(i18n.lang === 'en' ? 'zh' : 'en');
    $('lang').textContent = i18n.lang === 'en' ? '中文' : 'EN';
    show(m ? 'status' : ($('view-done').hidden ? 'form' : 'done'));
    if (m && state.track) { renderTrack(state.track); renderStars(); }
    if (state.pos) setPosition(state.pos, state.source);
  });
  if (m) {
    show('status');
    setupStatus(decodeURIComponent(m[1]).toUpperCase());
  } else {
    show('form');
    await setupForm();
  }
  state.ready = true;
}

init();
