// gridd web map: the planner editor (规划). Draw, reshape, split, merge, snap and
// delete grids; the server's topology check runs as you edit and its defects
// are drawn on the map; a refused save shows the reason and offers a draft.
// Drawing and vertex editing: Terra Draw (ES modules from npm, served by gridd).
import { TerraDraw, TerraDrawPolygonMode, TerraDrawLineStringMode, TerraDrawSelectMode, ValidateNotSelfIntersecting } from 'terra-draw';
import { TerraDrawMapLibreGLAdapter } from 'terra-draw-maplibre-gl-adapter';
import { t, language } from '/web/i18n.js';

// The planner's own styles (panels that collapse, the split and merge previews).
if (!document.querySelector('link[href="/web/planner.css"]')) {
  document.head.append(Object.assign(document.createElement('link'), { rel: 'stylesheet', href: '/web/planner.css' }));
}

// The planner's own texts (the shared dictionary is in i18n.js).
const TEXTS = {
  zh: {
    'pl.tools.hide': '收起工具面板', 'pl.tools.show': '展开工具面板',
    'pl.side.hide': '收起工作量面板', 'pl.side.show': '展开工作量面板', 'pl.side.label': '工作量',
    'pl.split.households': '户数', 'pl.area': '面积', 'pl.split.by.area': '按面积分配原有 {n} 户（可修改，合计须为 {n}）。',
    'pl.split.by.unknown': '原网格户数未知；可为各部分填写户数（全部填写才保存）。',
    'pl.split.sum': '合计 {sum} / {n} 户', 'pl.split.sum.bad': '合计 {sum} 户，应为 {n} 户',
    'pl.merge.summary': '合并后的变化', 'pl.merge.kept.into': '保留 {name}（{code}）',
    'pl.merge.people': '人员：全部保留 {n} 人', 'pl.merge.people.added': '来自被合并网格', 'pl.merge.people.dup': '{n} 人在两个网格中重复，只保留一次',
    'pl.merge.households': '户数：{parts} = {sum} 户', 'pl.merge.households.none': '户数：均未知，合并后仍未知',
    'pl.merge.households.unknown': '户数未知：{names}（未计入合计）',
    'pl.merge.retired': '注销编码：{codes}', 'pl.households.unit': '户', 'pl.unknown': '未知',
  },
  en: {
    'pl.tools.hide': 'Hide the tool panel', 'pl.tools.show': 'Show the tool panel',
    'pl.side.hide': 'Hide the workload panel', 'pl.side.show': 'Show the workload panel', 'pl.side.label': 'Workload',
    'pl.split.households': 'Households', 'pl.area': 'Area', 'pl.split.by.area': 'The {n} households divided by area (editable; they must add up to {n}).',
    'pl.split.by.unknown': 'The grid has no household count; give one for every part to save them.',
    'pl.split.sum': 'Total {sum} / {n} households', 'pl.split.sum.bad': 'Total {sum} households, should be {n}',
    'pl.merge.summary': 'What the merge changes', 'pl.merge.kept.into': 'Kept: {name} ({code})',
    'pl.merge.people': 'People: all {n} kept', 'pl.merge.people.added': 'from the absorbed grid', 'pl.merge.people.dup': '{n} listed in both grids, kept once',
    'pl.merge.households': 'Households: {parts} = {sum}', 'pl.merge.households.none': 'Households: unknown in every grid, still unknown',
    'pl.merge.households.unknown': 'Households unknown: {names} (not in the sum)',
    'pl.merge.retired': 'Code retired: {codes}', 'pl.households.unit': 'households', 'pl.unknown': 'unknown',
  },
};
/** A planner text, with {name} placeholders filled in. */
function tp(key, values = {}) {
  const text = (TEXTS[language()] || TEXTS.zh)[key] || TEXTS.zh[key] || t(key);
  return text.replace(/\{(\w+)\}/g, (_, k) => (values[k] === undefined ? '' : String(values[k])));
}

const LEVELS = ['district', 'street', 'community', 'grid', 'micro_grid'];
const ROLES = ['grid_worker', 'grid_head', 'community_secretary', 'community_worker', 'street_head', 'volunteer', 'police'];
const DEFECT_COLOURS = {
  overlap: '#e53935', gap: '#fb8c00', outside_parent: '#8e24aa', invalid_geometry: '#b71c1c', sliver: '#f9a825',
  duplicate_code: '#455a64', malformed_code: '#455a64',
};
const PREVIEW_COLOURS = ['#1e88e5', '#43a047', '#fdd835', '#8e24aa', '#00acc1', '#f4511e'];
const TOOLS = ['select', 'draw', 'vertices', 'split', 'merge', 'snap', 'delete', 'history'];
// Toolbar icons (20×20, stroked in the button's colour).
const TOOL_ICONS = {
  select: '<path d="M5 2.5l10 7.2-4.3 1 2.6 5.3-2 1-2.6-5.3L5.6 14.9z"/>',
  draw: '<path d="M10 2.8l6.8 4.9-2.6 8.3H5.8L3.2 7.7z"/><circle cx="10" cy="2.8" r="1.4"/><circle cx="16.8" cy="7.7" r="1.4"/><circle cx="3.2" cy="7.7" r="1.4"/>',
  vertices: '<path d="M4 15L6 4l10 2-2 10z" stroke-dasharray="2 1.6"/><rect x="2.6" y="13.6" width="2.8" height="2.8"/><rect x="4.6" y="2.6" width="2.8" height="2.8"/><rect x="14.6" y="4.6" width="2.8" height="2.8"/><rect x="12.6" y="14.6" width="2.8" height="2.8"/>',
  split: '<path d="M3 4h14v12H3z"/><path d="M12.5 1.5l-5 17" stroke-dasharray="2.2 1.6"/>',
  merge: '<path d="M2.5 5h7v10h-7zM10.5 5h7v10h-7z"/><path d="M8 10h4M10.8 8.6L12.2 10l-1.4 1.4M9.2 8.6L7.8 10l1.4 1.4"/>',
  snap: '<path d="M5 3v7a5 5 0 0010 0V3h-3.2v7a1.8 1.8 0 01-3.6 0V3z"/><path d="M5 6h3.2M11.8 6H15"/>',
  delete: '<path d="M4 5.5h12M8 5.5V3.5h4v2M5.5 5.5l.8 11h7.4l.8-11M8.5 8.5v5.5M11.5 8.5v5.5"/>',
  history: '<path d="M3.5 10a6.5 6.5 0 101.9-4.6"/><path d="M3 2.8v3.4h3.4"/><path d="M10 6v4.2l2.8 1.8"/>',
};
function toolIcon(tool) {
  const span = document.createElement('span');
  span.className = 'icon';
  span.setAttribute('aria-hidden', 'true');
  span.innerHTML = `<svg viewBox="0 0 20 20" width="20" height="20" fill="none" stroke="currentColor" stroke-width="1.5" stroke-linejoin="round" stroke-linecap="round">${TOOL_ICONS[tool]}</svg>`;
  return span;
}
/** replaceChildren without the nulls of optional parts. */
function put(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== ''));
  return node;
}
const WORKLOAD_KEYS = ['open', 'overdue', 'overdue_share', 'received', 'households', 'per_1000_households'];
const SERVER_SORTS = new Set(['open', 'overdue', 'overdue_share', 'received', 'per_1000_households']);
const EMPTY = { type: 'FeatureCollection', features: [] };
const CHECK_DELAY_MS = 350;

const P = {
  ctx: null, map: null, draw: null, ready: false, active: false,
  tool: 'select',
  selected: null,         // the grid selected (a feature as the server gives it) and its chain
  chain: [],
  edit: null,             // {id: server id or null, drawId, original, geometry (when not in Terra Draw), chain}
  check: null,            // last live check: {defects, refused, error}
  refusal: null,          // {message, defects, retry}
  preview: null,          // {operation, result, commit()} for split/merge/snap/history
  mergeIds: [],
  workload: { root: null, level: null, sort: 'open', data: null, clientSort: null },
  checkTimer: null, checkSeq: 0, saving: false,
};

let el, api, toast;
const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------
// Geometry helpers
// ---------------------------------------------------------------------------

const round9 = (v) => Math.round(v * 1e9) / 1e9;
function roundRing(ring) {
  const out = ring.map(([x, y]) => [round9(x), round9(y)]);
  return out.filter((p, i) => i === 0 || p[0] !== out[i - 1][0] || p[1] !== out[i - 1][1]);
}

/** A polygon Terra Draw can edit: a Polygon, or a MultiPolygon of one part; null otherwise. */
function editablePolygon(geometry) {
  if (!geometry) return null;
  let rings = null;
  if (geometry.type === 'Polygon') rings = geometry.coordinates;
  else if (geometry.type === 'MultiPolygon' && geometry.coordinates.length === 1) rings = geometry.coordinates[0];
  if (!rings || rings.length !== 1) return null;  // holes are not edited by vertex
  return { type: 'Polygon', coordinates: [roundRing(rings[0])] };
}

function allPositions(geometry) {
  if (!geometry) return [];
  const c = geometry.coordinates;
  switch (geometry.type) {
    case 'Point': return [c];
    case 'LineString': case 'MultiPoint': return c;
    case 'Polygon': case 'MultiLineString': return c.flat();
    case 'MultiPolygon': return c.flat(2);
    default: return [];
  }
}

function boundsOf(...geometries) {
  const pts = geometries.flatMap(allPositions);
  if (!pts.length) return null;
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  return [[Math.min(...xs), Math.min(...ys)], [Math.max(...xs), Math.max(...ys)]];
}

function inRing(pt, ring) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i], [xj, yj] = ring[j];
    if ((yi > pt[1]) !== (yj > pt[1]) && pt[0] < ((xj - xi) * (pt[1] - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** A point inside a polygon's outer ring (area centroid, else a vertex average, else a vertex). */
function interiorPoint(geometry) {
  const poly = geometry.type === 'MultiPolygon' ? geometry.coordinates[0] : geometry.coordinates;
  const ring = poly[0];
  let a = 0, cx = 0, cy = 0;
  for (let i = 0; i < ring.length - 1; i += 1) {
    const [x0, y0] = ring[i], [x1, y1] = ring[i + 1];
    const f = x0 * y1 - x1 * y0;
    a += f; cx += (x0 + x1) * f; cy += (y0 + y1) * f;
  }
  if (a !== 0) {
    const c = [cx / (3 * a), cy / (3 * a)];
    if (inRing(c, ring)) return c;
  }
  const n = ring.length - 1;
  const avg = [ring.slice(0, n).reduce((s, p) => s + p[0], 0) / n, ring.slice(0, n).reduce((s, p) => s + p[1], 0) / n];
  if (inRing(avg, ring)) return avg;
  // Midpoint of the first vertex and the opposite one, nudged inwards.
  const m = [(ring[0][0] + ring[Math.floor(n / 2)][0]) / 2, (ring[0][1] + ring[Math.floor(n / 2)][1]) / 2];
  return m;
}

function area(m2) {
  if (m2 === null || m2 === undefined) return '—';
  return m2 >= 1e5 ? `${(m2 / 1e6).toFixed(2)} km²` : `${Math.round(m2)} m²`;
}

// ---------------------------------------------------------------------------
// Map layers
// ---------------------------------------------------------------------------

function addLayers() {
  const map = P.map;
  for (const id of ['planner-coverage', 'planner-workload', 'planner-selected', 'planner-preview', 'planner-defects', 'planner-defect-points']) {
    map.addSource(id, { type: 'geojson', data: EMPTY });
  }
  // Workload of the compared grids: split candidates warm, merge candidates cool.
  map.addLayer({ id: 'planner-workload-fill', type: 'fill', source: 'planner-workload',
    paint: { 'fill-color': ['match', ['get', 'flag'], 'split', '#e53935', 'merge', '#1e88e5', '#90a4ae'],
      'fill-opacity': ['match', ['get', 'flag'], 'split', 0.28, 'merge', 0.22, 0.04] } });
  // Parts of the compared grids beyond walking distance of every grid station (optional overlay).
  map.addLayer({ id: 'planner-coverage-fill', type: 'fill', source: 'planner-coverage',
    paint: { 'fill-color': '#6d4c41', 'fill-opacity': 0.22 } });
  map.addLayer({ id: 'planner-coverage-line', type: 'line', source: 'planner-coverage',
    paint: { 'line-color': '#6d4c41', 'line-width': 1.2, 'line-dasharray': [1, 1.5] } });
  // The compared grids at full precision (also what drawing snaps to).
  map.addLayer({ id: 'planner-workload-line', type: 'line', source: 'planner-workload',
    paint: { 'line-color': '#37474f', 'line-width': 1.2, 'line-opacity': 0.8 } });
  map.addLayer({ id: 'planner-selected-fill', type: 'fill', source: 'planner-selected',
    paint: { 'fill-color': ['match', ['get', 'role'], 'merge', '#00897b', '#1e88e5'], 'fill-opacity': 0.12 } });
  map.addLayer({ id: 'planner-selected-line', type: 'line', source: 'planner-selected',
    paint: { 'line-color': ['match', ['get', 'role'], 'merge', '#00897b', '#1565c0'], 'line-width': 3 } });
  map.addLayer({ id: 'planner-preview-fill', type: 'fill', source: 'planner-preview',
    paint: { 'fill-color': ['to-color', ['get', 'colour']], 'fill-opacity': 0.35 } });
  map.addLayer({ id: 'planner-preview-line', type: 'line', source: 'planner-preview',
    paint: { 'line-color': '#0d47a1', 'line-width': 2.5, 'line-dasharray': [2, 1.5] } });
  map.addLayer({ id: 'planner-preview-labels', type: 'symbol', source: 'planner-preview',
    layout: { 'text-field': ['get', 'label'], 'text-size': 13, 'text-font': ['Noto Sans CJK SC Regular'], 'text-max-width': 10 },
    paint: { 'text-color': '#0d47a1', 'text-halo-color': '#fff', 'text-halo-width': 1.6 } });
  const colour = ['match', ['get', 'type'], ...Object.entries(DEFECT_COLOURS).flat(), '#e53935'];
  map.addLayer({ id: 'planner-defect-fill', type: 'fill', source: 'planner-defects',
    filter: ['in', ['geometry-type'], ['literal', ['Polygon', 'MultiPolygon']]],
    paint: { 'fill-color': colour, 'fill-opacity': 0.5 } });
  map.addLayer({ id: 'planner-defect-line', type: 'line', source: 'planner-defects',
    filter: ['in', ['geometry-type'], ['literal', ['Polygon', 'MultiPolygon', 'LineString', 'MultiLineString']]],
    paint: { 'line-color': colour, 'line-width': 2.5 } });
  map.addLayer({ id: 'planner-defect-points', type: 'circle', source: 'planner-defect-points',
    paint: { 'circle-radius': ['case', ['==', ['get', 'type'], 'invalid_geometry'], 9, 6], 'circle-color': '#fff',
      'circle-stroke-color': colour, 'circle-stroke-width': ['case', ['==', ['get', 'type'], 'invalid_geometry'], 4, 2.5] } });
}

function setData(source, data) {
  const s = P.map.getSource(source);
  if (s) s.setData(data || EMPTY);
}

function drawDefects(fc) {
  const features = (fc && fc.features) || [];
  setData('planner-defects', { type: 'FeatureCollection', features: features.filter((f) => f.geometry) });
  const points = features.filter((f) => Array.isArray(f.properties.location)).map((f) => ({
    type: 'Feature', properties: { type: f.properties.type }, geometry: { type: 'Point', coordinates: f.properties.location } }));
  setData('planner-defect-points', { type: 'FeatureCollection', features: points });
}

function drawSelected() {
  const features = [];
  if (P.selected && P.selected.geometry && !(P.edit && P.edit.drawId)) features.push({ ...P.selected, properties: { role: 'selected' } });
  if (P.tool === 'merge') {
    for (const f of P.mergeFeatures || []) features.push({ type: 'Feature', properties: { role: 'merge' }, geometry: f.geometry });
  }
  setData('planner-selected', { type: 'FeatureCollection', features });
}

function drawPreview(fc, labelOf = (f) => f.properties.name) {
  const features = ((fc && fc.features) || []).filter((f) => f.geometry).map((f, i) => ({
    type: 'Feature', geometry: f.geometry,
    properties: { colour: PREVIEW_COLOURS[i % PREVIEW_COLOURS.length], label: labelOf(f) || '' } }));
  setData('planner-preview', { type: 'FeatureCollection', features });
}

// ---------------------------------------------------------------------------
// Terra Draw
// ---------------------------------------------------------------------------

/** Snap a drawn vertex to a grid boundary shown on the map (within 10 px). */
function snapToBoundaries(event) {
  if (!$('pl-snapdraw') || !$('pl-snapdraw').checked) return undefined;
  const map = P.map;
  const r = 10;
  const layers = ['planner-workload-line', 'planner-selected-line', ...LEVELS.map((l) => `grids-${l}`)].filter((id) => map.getLayer(id));
  const hits = map.queryRenderedFeatures([[event.containerX - r, event.containerY - r], [event.containerX + r, event.containerY + r]], { layers });
  let best = null, bestD = r * r;
  const p = { x: event.containerX, y: event.containerY };
  const consider = (q, lngLat) => {
    const d = (q.x - p.x) ** 2 + (q.y - p.y) ** 2;
    if (d <= bestD) { bestD = d; best = lngLat; }
  };
  for (const h of hits) {
    const rings = h.geometry.type === 'Polygon' ? h.geometry.coordinates : h.geometry.type === 'MultiPolygon' ? h.geometry.coordinates.flat()
      : h.geometry.type === 'LineString' ? [h.geometry.coordinates] : h.geometry.type === 'MultiLineString' ? h.geometry.coordinates : [];
    for (const ring of rings) {
      for (let i = 0; i < ring.length; i += 1) {
        const a = map.project(ring[i]);
        consider(a, ring[i]);
        if (i + 1 < ring.length) {
          const b = map.project(ring[i + 1]);
          const dx = b.x - a.x, dy = b.y - a.y, len = dx * dx + dy * dy;
          if (len > 0) {
            const k = Math.max(0, Math.min(1, ((p.x - a.x) * dx + (p.y - a.y) * dy) / len));
            const q = { x: a.x + k * dx, y: a.y + k * dy };
            const ll = map.unproject([q.x, q.y]);
            consider({ x: q.x + 0.5, y: q.y + 0.5 }, [ll.lng, ll.lat]);  // vertices win ties
          }
        }
      }
    }
  }
  return best ? [round9(best[0]), round9(best[1])] : undefined;
}

function createDraw() {
  const adapter = new TerraDrawMapLibreGLAdapter({ map: P.map, coordinatePrecision: 9 });
  const polygonStyles = { fillColor: '#1e88e5', fillOpacity: 0.18, outlineColor: '#0d47a1', outlineWidth: 2.5,
    closingPointColor: '#ffffff', closingPointOutlineColor: '#0d47a1', closingPointWidth: 6, closingPointOutlineWidth: 2,
    snappingPointColor: '#ff6f00', snappingPointOutlineColor: '#ffffff', snappingPointWidth: 6, snappingPointOutlineWidth: 2 };
  const draw = new TerraDraw({
    adapter,
    modes: [
      new TerraDrawPolygonMode({ snapping: { toCustom: snapToBoundaries }, styles: polygonStyles,
        keyEvents: { cancel: 'Escape', finish: 'Enter' } }),
      new TerraDrawLineStringMode({ snapping: { toCustom: snapToBoundaries }, keyEvents: { cancel: 'Escape', finish: 'Enter' },
        styles: { lineStringColor: '#d81b60', lineStringWidth: 3, closingPointColor: '#ffffff', closingPointOutlineColor: '#d81b60',
          closingPointWidth: 6, closingPointOutlineWidth: 2 } }),
      new TerraDrawSelectMode({
        allowManualDeselection: false,
        keyEvents: { deselect: null, delete: 'Delete', rotate: null, scale: null },
        flags: {
          polygon: { feature: { draggable: false, coordinates: { midpoints: true, draggable: true, deletable: true,
            snappable: { toCustom: snapToBoundaries } } } },
          linestring: { feature: { draggable: false, coordinates: { midpoints: true, draggable: true, deletable: true } } },
        },
        styles: { selectedPolygonColor: '#1e88e5', selectedPolygonFillOpacity: 0.2, selectedPolygonOutlineColor: '#0d47a1',
          selectedPolygonOutlineWidth: 2.5, selectionPointColor: '#ffffff', selectionPointOutlineColor: '#0d47a1',
          selectionPointWidth: 5, selectionPointOutlineWidth: 2, midPointColor: '#90caf9', midPointOutlineColor: '#0d47a1',
          midPointWidth: 3.5, midPointOutlineWidth: 1,
          selectedLineStringColor: '#d81b60', selectedLineStringWidth: 3 },
      }),
    ],
  });
  draw.start();
  draw.setMode('static');
  // Defects above the shape being drawn, below its vertices.
  const before = ['td-linestring', 'td-point'].find((id) => P.map.getLayer(id));
  if (before) for (const id of ['planner-defect-fill', 'planner-defect-line']) P.map.moveLayer(id, before);
  draw.on('finish', (id, context) => onDrawFinish(id, context));
  draw.on('change', (ids, type) => {
    if (type === 'delete') return;
    if (P.edit && ids.includes(P.edit.drawId)) scheduleCheck();
  });
  return draw;
}

function drawnFeature(id) {
  try { return P.draw.getSnapshotFeature(id); } catch { return undefined; }
}

function clearDrawing() {
  if (!P.draw) return;
  P.draw.setMode('static');
  P.draw.clear();
}

// ---------------------------------------------------------------------------
// The panel
// ---------------------------------------------------------------------------

function buildPanel() {
  const section = $('planner-panel');
  const toolbar = el('div', { class: 'toolbar', role: 'toolbar', id: 'pl-tools', 'aria-label': t('pl.tools') },
    TOOLS.map((tool) => el('button', { type: 'button', class: 'tool', 'data-tool': tool, title: t(`pl.tool.${tool}.hint`),
      onclick: () => setTool(tool) }, toolIcon(tool), el('span', { 'data-i18n': `pl.tool.${tool}` }, t(`pl.tool.${tool}`)))));
  const find = el('form', { class: 'row', id: 'pl-find' },
    el('input', { id: 'pl-find-code', placeholder: t('pl.find.placeholder'), 'aria-label': t('pl.find.placeholder'), inputmode: 'numeric' }),
    el('button', { type: 'submit', class: 'secondary', 'data-i18n': 'pl.find' }, t('pl.find')));
  find.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const code = $('pl-find-code').value.trim();
    if (!code) return;
    try {
      const fc = await api(`/grids?code=${encodeURIComponent(code)}&geometry=false`);
      if (!fc.features.length) throw new Error(`${t('pl.notfound')}: ${code}`);
      await selectGrid(fc.features[0].id, { fit: true });
    } catch (e) { toast(e.message); }
  });
  const log = el('fieldset', { class: 'changelog' },
    el('legend', { 'data-i18n': 'pl.changelog' }, t('pl.changelog')),
    el('label', {}, el('span', { 'data-i18n': 'pl.editor' }, t('pl.editor')),
      el('input', { id: 'pl-editor', autocomplete: 'name', value: localStorage.getItem(EDITOR_KEY) || '' })),
    el('label', {}, el('span', { 'data-i18n': 'pl.reason' }, t('pl.reason')),
      el('input', { id: 'pl-reason', placeholder: t('pl.reason.placeholder'), value: localStorage.getItem(REASON_KEY) || '' })),
    el('label', { class: 'check' }, el('input', { type: 'checkbox', id: 'pl-snapdraw', checked: '' }),
      el('span', { 'data-i18n': 'pl.snapdraw' }, t('pl.snapdraw'))));
  section.replaceChildren(
    el('div', { class: 'pl-head' },
      el('h2', { 'data-i18n': 'view.planner' }, t('view.planner')),
      el('button', { type: 'button', class: 'pl-toggle', id: 'pl-tools-toggle', 'aria-controls': 'panel',
        onclick: () => setPanel('tools', document.body.classList.contains('pl-tools-collapsed'), { remember: true }) })),
    toolbar,
    el('p', { class: 'hint', id: 'pl-hint', 'aria-live': 'polite' }),
    find,
    el('div', { id: 'pl-refusal', class: 'refusal', role: 'alert', hidden: '' }),
    el('div', { id: 'pl-op' }),
    el('div', { id: 'pl-selection' }),
    el('form', { id: 'pl-form', class: 'card', hidden: '' }),
    log,
    el('h2', {}, el('span', { 'data-i18n': 'pl.defects' }, t('pl.defects')), ' ', el('span', { id: 'pl-defect-count', class: 'badge' }, '0')),
    el('div', { id: 'pl-check-state', class: 'hint' }),
    el('ul', { id: 'pl-defects', class: 'defects' }),
    el('div', { class: 'legend defect-legend' }, ['overlap', 'gap', 'outside_parent', 'invalid_geometry'].map((type) =>
      el('span', {}, el('span', { class: 'swatch', style: `background:${DEFECT_COLOURS[type]}` }), el('span', { 'data-i18n': `defect.${type}` }, t(`defect.${type}`))))));
  // Who edits and why stay filled in from one edit to the next, until changed.
  $('pl-editor').addEventListener('input', () => {
    localStorage.setItem(EDITOR_KEY, $('pl-editor').value.trim());
    $('pl-editor').classList.remove('invalid');
  });
  $('pl-reason').addEventListener('input', () => localStorage.setItem(REASON_KEY, $('pl-reason').value.trim()));

  const side = $('planner-side');
  const sort = el('select', { id: 'pl-sort', 'aria-label': t('pl.sort') },
    ['open', 'overdue_share', 'per_1000_households', 'overdue', 'received'].map((k) => el('option', { value: k }, t(`wl.${k}`))));
  sort.addEventListener('change', () => { P.workload.sort = sort.value; P.workload.clientSort = null; loadWorkload(); });
  side.replaceChildren(
    el('div', { class: 'side-head' },
      el('button', { type: 'button', class: 'pl-toggle', id: 'pl-side-toggle', 'aria-controls': 'planner-side',
        onclick: () => setPanel('side', document.body.classList.contains('pl-side-collapsed'), { remember: true }) }),
      el('h2', { 'data-i18n': 'pl.workload' }, t('pl.workload')),
      el('label', {}, el('span', { 'data-i18n': 'pl.sort' }, t('pl.sort')), sort)),
    el('div', { id: 'pl-workload-root', class: 'hint' }, t('pl.workload.empty')),
    el('div', { class: 'table-wrap' }, el('table', { id: 'pl-workload', class: 'workload' })),
    el('p', { id: 'pl-workload-rule', class: 'hint' }),
    el('label', { class: 'check' }, el('input', { type: 'checkbox', id: 'pl-coverage', onchange: () => loadCoverage() }),
      el('span', {}, t('pl.coverage'))),
    el('div', { id: 'pl-coverage-summary', class: 'hint' }));
  renderTools();
  setPanel('tools', panelOpen('tools'));
  setPanel('side', panelOpen('side'));
}

// ---------------------------------------------------------------------------
// Panels that collapse: the map keeps the width on a tablet
// ---------------------------------------------------------------------------

const EDITOR_KEY = 'gridd.editor';
const REASON_KEY = 'gridd.planner.reason';
const PANEL_KEYS = { tools: 'gridd.planner.tools', side: 'gridd.planner.side' };
const WIDE = 1280;  // narrower than this (tablets, phones), both panels start collapsed

/** Whether a panel is open: as the planner left it, else open on a wide screen only. */
function panelOpen(which) {
  const stored = localStorage.getItem(PANEL_KEYS[which]);
  if (stored === 'open' || stored === 'collapsed') return stored === 'open';
  return window.innerWidth >= WIDE;
}

/** Open or collapse a panel; `remember` keeps the choice for the next visit. */
function setPanel(which, open, { remember = false } = {}) {
  if (remember) localStorage.setItem(PANEL_KEYS[which], open ? 'open' : 'collapsed');
  document.body.classList.toggle(`pl-${which}-collapsed`, !open);
  const button = $(`pl-${which}-toggle`);
  if (button) {
    const label = tp(`pl.${which}.${open ? 'hide' : 'show'}`);
    button.setAttribute('aria-expanded', String(open));
    button.setAttribute('aria-label', label);
    button.title = label;
    const narrow = window.matchMedia('(max-width: 820px)').matches;
    // An arrow pointing where the panel goes (on a phone the panels stack: up and down).
    const arrows = which === 'tools' ? (narrow ? ['▾', '▴'] : ['«', '»']) : (narrow ? ['▾', '▴'] : ['»', '«']);
    button.replaceChildren(el('span', { 'aria-hidden': 'true' }, open ? arrows[0] : arrows[1]),
      ...(which === 'side' ? [el('span', { class: 'pl-toggle-label' }, tp('pl.side.label'))] : []));
  }
  if (P.map) P.map.resize();
}

/** Open the tool panel for a card that needs it (a preview, a form, a refusal), without remembering. */
function revealTools() {
  if (document.body.classList.contains('pl-tools-collapsed')) setPanel('tools', true);
}

function renderTools() {
  document.querySelectorAll('#pl-tools button').forEach((b) => {
    const tool = b.dataset.tool;
    b.classList.toggle('active', tool === P.tool);
    b.setAttribute('aria-pressed', String(tool === P.tool));
    const needsSelection = ['vertices', 'split', 'snap', 'delete', 'history'].includes(tool);
    b.disabled = (needsSelection && !P.selected && !(tool === 'vertices' && P.edit)) || P.saving;
  });
  $('pl-hint').textContent = t(`pl.tool.${P.tool}.hint`);
}

function setTool(tool) {
  if (P.saving) return;
  // A new tool (or the same one again) throws the operation's preview away; an unsaved drawing stays until cancelled.
  P.preview = null;
  drawPreview(null);
  $('pl-op').replaceChildren();
  if (P.draw) {
    const lines = P.draw.getSnapshot().filter((f) => f.properties.mode === 'linestring').map((f) => f.id);
    if (lines.length) P.draw.removeFeatures(lines);
  }
  if (P.tool === 'merge' && tool !== 'merge') { P.mergeIds = []; P.mergeFeatures = []; }
  if (!P.edit) { drawDefects(null); renderDefects(null); }
  P.tool = tool;
  if (tool === 'select' || tool === 'merge') {
    if (P.draw) P.draw.setMode(P.edit && P.edit.drawId ? 'select' : 'static');
    if (tool === 'merge') startMerge();
  } else if (tool === 'draw') {
    startDraw();
  } else if (tool === 'vertices') {
    startVertexEdit();
  } else if (tool === 'split') {
    P.draw.setMode('linestring');
    $('pl-op').replaceChildren(el('div', { class: 'card op', id: 'pl-split' }, el('h3', {}, t('pl.tool.split')),
      el('p', { class: 'hint' }, t('pl.split.draw'))));
  } else if (tool === 'snap') {
    showSnap();
  } else if (tool === 'delete') {
    showDelete();
  } else if (tool === 'history') {
    showHistory();
  }
  drawSelected();
  renderTools();
}

// ---------------------------------------------------------------------------
// Selection
// ---------------------------------------------------------------------------

async function selectAt(lngLat) {
  let r;
  try { r = await api(`/locate?lon=${lngLat.lng}&lat=${lngLat.lat}&k=0`); } catch (e) { toast(e.message); return; }
  if (!r.covered || !r.grids.length) { toast(t('pl.nogrid')); return; }
  if (P.tool === 'merge') {
    // Merge picks grids at the level of the first one picked (the selected grid's level by default).
    const level = (P.mergeLevel) || (P.selected ? P.selected.properties.level : null);
    const pick = (level && r.grids.find((g) => g.level === level)) || r.grids[r.grids.length - 1];
    toggleMerge(pick.id);
    return;
  }
  const owner = r.grids[r.grids.length - 1];
  await selectGrid(owner.id, { chain: r.grids });
}

async function selectGrid(id, { fit = false, chain = null } = {}) {
  if (P.edit && P.edit.dirty && !window.confirm(t('pl.discard'))) return;
  cancelEdit(true);
  let f;
  try { f = await api(`/grids/${id}`); } catch (e) { toast(e.message); return; }
  P.selected = f;
  if (chain) P.chain = chain;
  else {
    const at = interiorPoint(f.geometry);
    try { P.chain = (await api(`/locate?lon=${at[0]}&lat=${at[1]}&k=0`)).grids; } catch { P.chain = []; }
    const i = P.chain.findIndex((g) => g.id === f.id);
    P.chain = i >= 0 ? P.chain.slice(0, i + 1) : [...P.chain.filter((g) => LEVELS.indexOf(g.level) < LEVELS.indexOf(f.properties.level)), f.properties];
  }
  hideRefusal();
  P.ctx.highlight([]);
  drawSelected();
  renderSelection();
  fillForm(f.properties, { existing: true });
  if (fit) fitTo(f.geometry);
  if (P.tool === 'snap') showSnap();
  else if (P.tool === 'delete') showDelete();
  else if (P.tool === 'history') showHistory();
  else if (P.tool === 'vertices') startVertexEdit();
  else if (P.tool === 'split') setTool('split');
  renderTools();
  loadWorkload();
}

function fitTo(geometry) {
  const b = boundsOf(geometry);
  if (b) P.map.fitBounds(b, { padding: 60, maxZoom: 18, duration: 0 });
}

function renderSelection() {
  const box = $('pl-selection');
  if (!P.selected) { box.replaceChildren(); return; }
  const p = P.selected.properties;
  box.replaceChildren(el('div', { class: 'card', id: 'pl-selected', 'data-id': String(P.selected.id), 'data-code': p.code },
    el('ol', { class: 'crumbs', 'aria-label': t('pl.chain') }, P.chain.map((g) => el('li', {},
      g.id === P.selected.id ? el('strong', {}, g.name)
        : el('a', { href: '#', 'data-level': g.level, onclick: (ev) => { ev.preventDefault(); selectGrid(g.id, { fit: true }); } }, g.name)))),
    el('div', { class: 'hint' }, `${t(`level.${p.level}`)} · ${p.code} · ${area(p.area_m2)} · v${p.version}${p.children ? ` · ${p.children} ${t('pl.children')}` : ''}`)));
}

// ---------------------------------------------------------------------------
// Attribute form
// ---------------------------------------------------------------------------

function personRow(person = {}) {
  const role = el('select', { name: 'role', 'aria-label': t('pl.role') },
    ROLES.map((r) => el('option', { value: r }, t(`role.${r}`))));
  if (person.role && !ROLES.includes(person.role)) role.append(el('option', { value: person.role }, person.role));
  role.value = person.role || 'grid_worker';
  const row = el('div', { class: 'person' },
    el('input', { name: 'pname', placeholder: t('pl.person.name'), 'aria-label': t('pl.person.name'), value: person.name || '' }),
    role,
    el('input', { name: 'phone', placeholder: t('pl.person.phone'), 'aria-label': t('pl.person.phone'), inputmode: 'tel', value: person.phone || '' }),
    el('button', { type: 'button', class: 'secondary icon-only remove', title: t('pl.person.remove'), 'aria-label': t('pl.person.remove'),
      onclick: () => { row.remove(); formChanged(); } }, '×'));
  return row;
}

function fillForm(props, { existing }) {
  const form = $('pl-form');
  const level = el('select', { name: 'level', id: 'pl-level' }, LEVELS.map((l) => el('option', { value: l }, t(`level.${l}`))));
  level.value = props.level || 'grid';
  const people = el('div', { id: 'pl-people', class: 'people-rows' }, (props.people || []).map(personRow));
  const title = existing ? (P.edit ? t('pl.form.editing') : t('pl.form.attributes')) : t('pl.form.new');
  form.replaceChildren(
    el('h3', {}, title),
    el('div', { class: 'grid2' },
      el('label', {}, t('pl.code'), el('input', { name: 'code', id: 'pl-code', value: props.code || '', required: '', inputmode: 'numeric' })),
      el('label', {}, t('pl.name'), el('input', { name: 'name', id: 'pl-name', value: props.name || '', required: '' })),
      el('label', {}, t('pl.level'), level),
      el('label', {}, t('pl.parent'), el('input', { name: 'parent', id: 'pl-parent', value: props.parent || '', inputmode: 'numeric' })),
      el('label', {}, t('pl.households'), el('input', { name: 'households', id: 'pl-households', type: 'number', min: '0', step: '1',
        value: props.households === null || props.households === undefined ? '' : String(props.households) }))),
    el('div', { class: 'people-head' }, el('span', {}, t('people')),
      el('button', { type: 'button', class: 'secondary', id: 'pl-add-person', onclick: () => { people.append(personRow()); formChanged(); } }, `＋ ${t('pl.person.add')}`)),
    people,
    el('div', { class: 'actions' },
      el('button', { type: 'submit', id: 'pl-save' }, t('pl.save')),
      el('button', { type: 'button', class: 'secondary', id: 'pl-cancel', onclick: () => cancelEdit() }, t('pl.cancel'))));
  form.hidden = false;
  form.oninput = formChanged;
  form.onchange = formChanged;
  level.addEventListener('change', () => {
    // Suggest the parent one level up from the chain under the drawing.
    const chain = (P.edit && P.edit.chain) || [];
    const up = chain.filter((g) => LEVELS.indexOf(g.level) === LEVELS.indexOf(level.value) - 1)[0];
    if (up && !P.edit.id) $('pl-parent').value = up.code;
  });
  form.onsubmit = (ev) => { ev.preventDefault(); save(false); };
}

function formProperties() {
  const form = $('pl-form');
  const data = new FormData(form);
  const households = data.get('households');
  const people = [...form.querySelectorAll('.person')].map((row) => ({
    name: row.querySelector('[name=pname]').value.trim(), role: row.querySelector('[name=role]').value,
    phone: row.querySelector('[name=phone]').value.trim() || null,
  })).filter((p) => p.name);
  const props = {
    code: String(data.get('code') || '').trim(), name: String(data.get('name') || '').trim(), level: data.get('level'),
    parent: String(data.get('parent') || '').trim() || null,
    households: households === '' || households === null ? null : Number(households), people,
  };
  const base = P.edit ? P.edit.original : P.selected;
  if (base && base.properties && base.properties.attributes) props.attributes = base.properties.attributes;
  return props;
}

function formChanged() {
  // Changing the attributes of the selected grid is an edit too (checked and saved like a reshaped one).
  if (!P.edit && P.selected) {
    P.edit = { id: P.selected.id, drawId: null, original: P.selected, geometry: P.selected.geometry, chain: P.chain, dirty: true };
  }
  if (P.edit) P.edit.dirty = true;
  form_clearInvalid();
  if (P.edit || P.selected) scheduleCheck();
}

function form_clearInvalid() {
  document.querySelectorAll('#pl-form .invalid').forEach((e) => e.classList.remove('invalid'));
}

// ---------------------------------------------------------------------------
// Drawing and vertex editing
// ---------------------------------------------------------------------------

function startDraw() {
  if (P.edit && P.edit.dirty && !window.confirm(t('pl.discard'))) { P.tool = 'select'; return; }
  cancelEdit(true);
  P.draw.setMode('polygon');
  $('pl-op').replaceChildren(el('div', { class: 'card op' }, el('h3', {}, t('pl.tool.draw')), el('p', { class: 'hint' }, t('pl.draw.how'))));
}

async function onDrawFinish(id, context) {
  const f = drawnFeature(id);
  if (!f) return;
  if (context.action === 'draw' && f.geometry.type === 'Polygon' && P.tool === 'draw') {
    P.draw.setMode('static');
    // A new grid: suggest its parent and code from what lies under it.
    const at = interiorPoint(f.geometry);
    let chain = [];
    try { chain = (await api(`/locate?lon=${at[0]}&lat=${at[1]}&k=0`)).grids; } catch { /* no suggestion */ }
    // The parent: the selected grid when the drawing lies in it, else the finest grid under the drawing.
    const owner = chain.filter((g) => g.level !== 'micro_grid').pop();
    const sel = P.selected && P.selected.properties.level !== 'micro_grid' && chain.some((g) => g.id === P.selected.id) ? P.selected.properties : null;
    const parent = sel || owner;
    const level = parent ? LEVELS[Math.min(LEVELS.indexOf(parent.level) + 1, LEVELS.length - 1)] : 'grid';
    P.edit = { id: null, drawId: id, original: null, chain, dirty: true };
    P.selected = null;
    drawSelected();
    renderSelection();
    let code = '';
    if (parent) {
      try {
        const siblings = await api(`/grids?parent=${encodeURIComponent(parent.code)}&geometry=false&limit=1000`);
        const used = new Set(siblings.features.map((s) => s.properties.code));
        for (let n = 1; n < 1000; n += 1) {
          const c = parent.code + String(n).padStart(3, '0');
          if (!used.has(c)) { code = c; break; }
        }
      } catch { /* leave it to the planner */ }
    }
    fillForm({ level, parent: parent ? parent.code : '', code, name: '', people: [], households: null }, { existing: false });
    revealTools();  // the new grid's attributes are filled in the panel
    P.draw.setMode('select');
    P.draw.selectFeature(id);
    P.tool = 'vertices';
    renderTools();
    $('pl-op').replaceChildren();
    scheduleCheck(0);
    $('pl-code').focus();
  } else if (context.action === 'draw' && f.geometry.type === 'LineString' && P.tool === 'split') {
    await previewSplit(f.geometry);
  }
}

function startVertexEdit() {
  if (P.edit && P.edit.drawId && drawnFeature(P.edit.drawId)) {
    P.draw.setMode('select');
    P.draw.selectFeature(P.edit.drawId);
    return;
  }
  if (!P.selected) return;
  const keepForm = P.edit && !P.edit.drawId ? formProperties() : null;
  const polygon = editablePolygon(P.selected.geometry);
  if (!polygon) {
    toast(t('pl.vertices.multipart'));
    P.tool = 'select';
    return;
  }
  clearDrawing();
  const [validation] = P.draw.addFeatures([{ type: 'Feature', geometry: polygon, properties: { mode: 'polygon' } }]);
  if (!validation || !validation.valid) {
    toast(`${t('pl.vertices.cannot')}: ${validation ? validation.reason : ''}`);
    P.tool = 'select';
    return;
  }
  P.edit = { id: P.selected.id, drawId: validation.id, original: P.selected, chain: P.chain, dirty: Boolean(keepForm) };
  P.draw.setMode('select');
  P.draw.selectFeature(validation.id);
  fillForm(keepForm || P.selected.properties, { existing: true });
  drawSelected();
}

function cancelEdit(quiet = false) {
  clearTimeout(P.checkTimer);
  P.checkSeq += 1;
  const had = P.edit;
  P.edit = null;
  clearDrawing();
  P.preview = null;
  drawPreview(null);
  drawDefects(null);
  renderDefects(null);
  hideRefusal();
  $('pl-op').replaceChildren();
  if (!quiet) {
    if (P.tool !== 'select' && P.tool !== 'merge') P.tool = 'select';
    if (P.selected) fillForm(P.selected.properties, { existing: true });
    else $('pl-form').hidden = true;
    drawSelected();
    renderTools();
    if (had && had.dirty) toast(t('pl.cancelled'));
  }
}

/** The feature the form and the drawing describe (for the live check and for saving). */
function currentFeature() {
  let geometry = null;
  if (P.edit) {
    if (P.edit.geometry) geometry = P.edit.geometry;
    else {
      const f = drawnFeature(P.edit.drawId);
      geometry = f ? { type: 'Polygon', coordinates: f.geometry.coordinates } : null;
    }
  } else if (P.selected) {
    geometry = P.selected.geometry;
  }
  if (!geometry) return null;
  const feature = { type: 'Feature', properties: formProperties(), geometry };
  const id = P.edit ? P.edit.id : P.selected ? P.selected.id : null;
  if (id !== null && id !== undefined) feature.id = id;
  return feature;
}

// ---------------------------------------------------------------------------
// Live topology check
// ---------------------------------------------------------------------------

function scheduleCheck(delay = CHECK_DELAY_MS) {
  clearTimeout(P.checkTimer);
  P.checkTimer = setTimeout(runCheck, delay);
}

async function runCheck() {
  const feature = currentFeature();
  if (!feature || !P.edit) return;
  const seq = ++P.checkSeq;
  // Incomplete attributes must not hide the geometry's defects: check with stand-ins.
  const props = { ...feature.properties };
  if (!props.code) props.code = 'draft';
  if (!props.name) props.name = t('pl.unnamed');
  if (props.parent === null) delete props.parent;
  $('pl-check-state').textContent = t('pl.checking');
  // A shape that crosses itself is not even checked: the server's repair gives the reason and where.
  if (feature.geometry.type === 'Polygon' && !ValidateNotSelfIntersecting({ type: 'Feature', geometry: feature.geometry, properties: {} }).valid) {
    await showCheckError({ body: { code: 'invalid_geometry', message: t('defect.invalid_geometry') } }, feature.geometry);
    return;
  }
  let result;
  try {
    result = await api('/grids/check', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ ...feature, properties: props }) });
  } catch (e) {
    if (seq !== P.checkSeq) return;
    await showCheckError(e, feature.geometry);
    return;
  }
  if (seq !== P.checkSeq) return;
  P.check = { defects: result.defects, refused: result.refused };
  drawDefects(result.defects);
  renderDefects(result.defects, result.refused);
}

/** A check the server rejected outright: an invalid shape gets its GEOS reason and location. */
async function showCheckError(e, geometry) {
  const body = e.body || {};
  let defects = { type: 'FeatureCollection', features: [] };
  if (body.code === 'invalid_geometry') {
    try {
      const mv = await api('/grids/make-valid', { method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ geometry }) });
      if (!mv.valid) {
        defects.features.push({ type: 'Feature', geometry: null,
          properties: { type: 'invalid_geometry', location: mv.location, message: body.message, reason: mv.reason, repair: mv } });
      }
    } catch { /* the message alone */ }
    if (!defects.features.length) defects.features.push({ type: 'Feature', geometry: null, properties: { type: 'invalid_geometry', message: body.message } });
  } else if (body.details && body.details.features) {
    defects = body.details;
  }
  P.check = { defects, refused: true, error: body };
  drawDefects(defects);
  renderDefects(defects, true, defects.features.length ? null : body);
}

function defectItem(f) {
  const p = f.properties;
  const li = el('li', { 'data-type': p.type, class: `defect ${p.type}` },
    el('span', { class: 'swatch', style: `background:${DEFECT_COLOURS[p.type] || '#e53935'}` }),
    el('div', {},
      el('strong', {}, t(`defect.${p.type}`)),
      p.area_m2 ? ` · ${area(p.area_m2)}` : '',
      p.codes && p.codes.length ? el('div', { class: 'hint' }, p.codes.filter((c) => c).join(' / ')) : null,
      el('div', { class: 'msg' }, p.reason ? `${t('pl.reason.geos')}: ${p.reason}` : p.message)));
  if (p.repair) {
    li.append(el('button', { type: 'button', class: 'secondary', onclick: (ev) => { ev.stopPropagation(); applyRepair(p.repair); } }, t('pl.repair')));
  }
  li.addEventListener('click', () => {
    const b = f.geometry ? boundsOf(f.geometry) : p.location ? [p.location, p.location] : null;
    if (b) P.map.fitBounds(b, { padding: 80, maxZoom: 18 });
  });
  return li;
}

function renderDefects(fc, refused = false, error = null) {
  const features = (fc && fc.features) || [];
  $('pl-defect-count').textContent = String(features.length);
  $('pl-defect-count').classList.toggle('bad', features.length > 0);
  const state = $('pl-check-state');
  if (!P.edit && !fc) state.textContent = '';
  else if (error) state.textContent = error.message;
  else state.textContent = features.length ? (refused ? t('pl.check.refused') : t('pl.check.warn')) : t('pl.check.ok');
  state.className = features.length || error ? (refused ? 'hint bad' : 'hint warn') : 'hint ok';
  $('pl-defects').replaceChildren(...features.map(defectItem));
}

function applyRepair(mv) {
  const polygon = editablePolygon(mv.geometry);
  if (polygon && P.edit && P.edit.drawId) {
    P.draw.updateFeatureGeometry(P.edit.drawId, polygon);
    toast(t('pl.repaired'));
  } else if (P.edit) {
    // Several parts: keep the repaired MultiPolygon (not editable by vertex) and show it.
    P.edit.geometry = mv.geometry;
    clearDrawing();
    drawPreview({ type: 'FeatureCollection', features: [{ type: 'Feature', geometry: mv.geometry, properties: { name: `${mv.parts} ${t('pl.parts')}` } }] });
    toast(`${t('pl.repaired')} (${mv.parts} ${t('pl.parts')})`);
  }
  scheduleCheck(0);
}

// ---------------------------------------------------------------------------
// Saving and refusals
// ---------------------------------------------------------------------------

function changeLog(draft) {
  const editor = $('pl-editor').value.trim();
  const reason = $('pl-reason').value.trim();
  const q = new URLSearchParams({ editor, reason, draft: draft ? 'true' : 'false' });
  return { editor, reason, q };
}

function requireEditor() {
  const editor = $('pl-editor').value.trim();
  if (editor) return true;
  showRefusal({ message: t('pl.need.editor'), field: 'editor' });
  $('pl-editor').classList.add('invalid');
  $('pl-editor').focus();
  return false;
}

async function save(draft) {
  if (P.saving) return;
  const feature = currentFeature();
  if (!feature) { toast(t('pl.nothing')); return; }
  if (!requireEditor()) return;
  localStorage.setItem(EDITOR_KEY, $('pl-editor').value.trim());
  const { q } = changeLog(draft);
  const isNew = !feature.id && feature.id !== 0;
  P.saving = true;
  renderTools();
  $('pl-save').disabled = true;
  try {
    const saved = isNew
      ? await api(`/grids?${q}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(feature) })
      : await api(`/grids/${feature.id}?${q}`, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(feature) });
    const id = saved.id ?? (saved.features && saved.features[0] && saved.features[0].id);
    P.saving = false;
    saved_(draft ? t('pl.saved.draft') : t('pl.saved'));
    P.edit = null;
    clearDrawing();
    drawDefects(null);
    renderDefects(null);
    P.tool = 'select';
    if (id !== undefined) await selectGrid(id);
  } catch (e) {
    P.saving = false;
    refused(e, () => save(true));
  } finally {
    P.saving = false;
    if ($('pl-save')) $('pl-save').disabled = false;
    renderTools();
  }
}

function saved_(message) {
  toast(message);
  P.ctx.refreshVectorTiles();
  // The editor and the reason stay for the next edit (a series of edits usually shares them).
}

/** Show why the server refused a write; `retryAsDraft` saves anyway (409 topology defects only). */
function refused(e, retryAsDraft) {
  const body = e.body || { message: e.message };
  const defects = body.code === 'topology_defects' && body.details ? body.details : null;
  if (defects) {
    drawDefects(defects);
    renderDefects(defects, true);
  }
  if (body.field) {
    const name = body.field.split('/').pop();
    const input = document.querySelector(`#pl-form [name="${name === 'people' ? 'pname' : name}"]`);
    if (input) input.classList.add('invalid');
  }
  showRefusal({ message: body.message || e.message, code: body.code, field: body.field, defects, retry: defects ? retryAsDraft : null });
}

function showRefusal({ message, code, field, defects, retry }) {
  const box = $('pl-refusal');
  const types = defects ? [...new Set(defects.features.map((f) => f.properties.type))] : [];
  put(box,
    el('h3', {}, '⚠ ', code === 'topology_defects' ? t('pl.refused.topology') : t('pl.refused')),
    types.length ? el('p', { class: 'types' }, types.map((type) => el('span', { class: `tag ${type}` }, t(`defect.${type}`)))) : null,
    el('p', { class: 'message' }, message),
    field ? el('p', { class: 'hint' }, `${t('pl.field')}: ${field}`) : null,
    el('div', { class: 'actions' },
      retry ? el('button', { type: 'button', id: 'pl-draft', class: 'warn', onclick: () => { hideRefusal(); retry(); } }, t('pl.save.draft')) : null,
      el('button', { type: 'button', class: 'secondary', onclick: hideRefusal }, t('pl.keep.editing'))));
  box.hidden = false;
  revealTools();
  box.scrollIntoView({ block: 'nearest' });
}

function hideRefusal() {
  const box = $('pl-refusal');
  if (box) { box.hidden = true; box.replaceChildren(); }
}

// ---------------------------------------------------------------------------
// Operations with a preview: split, merge, snap, history; and delete
// ---------------------------------------------------------------------------

function opCard(id, title, ...children) {
  const card = el('div', { class: 'card op', id }, el('h3', {}, title), ...children);
  $('pl-op').replaceChildren(card);
  revealTools();
  return card;
}

function resultDefects(result) {
  const n = result.defects ? result.defects.features.length : 0;
  drawDefects(result.defects);
  renderDefects(result.defects, result.refused);
  return n ? el('p', { class: result.refused ? 'bad' : 'warn' }, `${n} ${t('pl.defects.count')}${result.refused ? ` · ${t('pl.check.refused')}` : ''}`)
    : el('p', { class: 'ok' }, t('pl.check.ok'));
}

async function post(path, body) {
  return api(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
}

/** Run an operation with commit=false, show it, and commit on confirmation. */
async function operation({ id, title, path, body, describe }) {
  let result;
  try { result = await post(path, { ...body, commit: false }); } catch (e) { refused(e, null); return; }
  P.preview = result;
  drawPreview(result.grids, (f) => f.properties.name);
  const extra = describe ? describe(result) : [];
  const confirm = el('button', { type: 'button', id: `${id}-commit` }, t('pl.commit'));
  const card = opCard(id, title, ...extra, resultDefects(result),
    el('div', { class: 'actions' }, confirm,
      el('button', { type: 'button', class: 'secondary', onclick: () => setTool('select') }, t('pl.cancel'))));
  card.dataset.state = 'preview';
  const commit = async (draft) => {
    if (card.beforeCommit && !card.beforeCommit()) return;
    if (!requireEditor()) return;
    const { editor, reason } = changeLog(draft);
    confirm.disabled = true;
    try {
      const done = await post(path, { ...body, ...(card.bodyExtra ? card.bodyExtra() : {}), commit: true, editor, reason, draft });
      saved_(draft ? t('pl.saved.draft') : t('pl.committed'));
      drawPreview(null);
      drawDefects(null);
      renderDefects(null);
      P.preview = null;
      card.dataset.state = 'committed';
      const keep = done.grids && done.grids.features.find((f) => f.id !== null && f.id !== undefined && !(done.deleted || []).includes(f.id));
      P.mergeIds = []; P.mergeFeatures = [];
      P.tool = 'select';
      $('pl-op').replaceChildren();
      if (keep) await selectGrid(keep.id);
      else { P.selected = null; renderSelection(); drawSelected(); renderTools(); loadWorkload(); }
      toast(`${t('pl.committed')}: ${(done.grids ? done.grids.features : []).map((f) => f.properties.code).join(', ')}`);
    } catch (e) {
      confirm.disabled = false;
      refused(e, () => commit(true));
    }
  };
  confirm.addEventListener('click', () => commit(false));
  return card;
}

/** The split's parts in order (the kept part first), each with its preview feature. */
function splitParts(result) {
  const parts = (result.split && result.split.parts) || [];
  const byCode = new Map(result.grids.features.map((f) => [f.properties.code, f]));
  return parts.map((p) => ({ ...p, feature: byCode.get(p.code) }));
}

/** The households column of a split preview: the division by area, editable, with its running total. */
function householdsEditor(result, parts) {
  const total = result.split ? result.split.households : null;
  const note = el('p', { class: 'hint', id: 'pl-split-households-note' },
    total === null ? tp('pl.split.by.unknown') : tp('pl.split.by.area', { n: total }));
  const sum = el('p', { class: 'pl-sum', id: 'pl-split-sum', 'aria-live': 'polite' });
  const inputs = parts.map((p, i) => el('input', { type: 'number', min: '0', step: '1', name: 'part-households', 'data-part': String(i),
    class: 'pl-households', 'aria-label': `${tp('pl.split.households')} · ${p.name}`,
    value: p.households === null || p.households === undefined ? '' : String(p.households) }));
  let edited = false;
  const values = () => inputs.map((i) => (i.value.trim() === '' ? null : Number(i.value)));
  const update = () => {
    const v = values();
    const known = v.filter((x) => x !== null && Number.isInteger(x) && x >= 0);
    const s = known.reduce((a, b) => a + b, 0);
    const ok = total === null ? (known.length === v.length || known.length === 0) : (known.length === v.length && s === total);
    sum.textContent = total === null ? (known.length ? `${s} ${tp('pl.households.unit')}` : '')
      : (ok ? tp('pl.split.sum', { sum: s, n: total }) : tp('pl.split.sum.bad', { sum: s, n: total }));
    sum.classList.toggle('bad', !ok);
    sum.dataset.ok = String(ok);
    inputs.forEach((i) => i.classList.toggle('invalid', !ok));
    // The map labels follow the division.
    drawPreview({ features: parts.map((p) => p.feature).filter(Boolean) }, (f) => {
      const k = parts.findIndex((p) => p.feature === f);
      return v[k] === null ? f.properties.name : `${f.properties.name}\n${v[k]} ${tp('pl.households.unit')}`;
    });
    return ok;
  };
  inputs.forEach((i) => i.addEventListener('input', () => { edited = true; update(); }));
  return {
    inputs, note, sum, update,
    /** The request's households: only when the planner changed the division (else the server divides by area). */
    body: () => {
      if (!edited) return {};
      const v = values();
      return v.every((x) => x !== null) ? { households: v } : {};
    },
    ok: () => update(),
  };
}

async function previewSplit(line) {
  if (!P.selected) return;
  const id = P.selected.id;
  let households = null;
  const card = await operation({
    id: 'pl-split', title: `${t('pl.tool.split')} · ${P.selected.properties.name}`, path: `/grids/${id}/split`, body: { line },
    describe: (result) => {
      const parts = splitParts(result);
      households = householdsEditor(result, parts);
      // One block per part: its code and name (editable for the new parts), then its households and area.
      return [el('p', { class: 'hint' }, t('pl.split.parts')),
        el('table', { class: 'parts pl-parts' },
          el('thead', {}, el('tr', {}, el('th', {}), el('th', {}, t('pl.code')), el('th', {}, t('pl.name')),
            el('th', {}, tp('pl.split.households')), el('th', {}, tp('pl.area')))),
          el('tbody', {}, parts.map((p, i) => el('tr', { 'data-new': p.kept ? 'false' : 'true', 'data-code': p.code },
            el('td', { class: 'sw' }, el('span', { class: 'swatch', style: `background:${PREVIEW_COLOURS[i % PREVIEW_COLOURS.length]}` })),
            p.kept
              ? [el('td', { class: 'code' }, p.code), el('td', { class: 'name' }, p.name, ' ', el('span', { class: 'tag' }, t('pl.kept')))]
              : [el('td', { class: 'code' }, el('input', { name: 'part-code', value: p.code, 'aria-label': t('pl.code') })),
                el('td', { class: 'name' }, el('input', { name: 'part-name', value: p.name, 'aria-label': t('pl.name') }))],
            el('td', { class: 'hh' }, el('span', { class: 'hint' }, tp('pl.split.households')), households.inputs[i]),
            el('td', { class: 'area hint' }, `${tp('pl.area')} ${area(p.area_m2)}`))))),
        households.note, households.sum];
    },
  });
  if (card) {
    households.update();
    card.bodyExtra = () => ({
      parts: [...card.querySelectorAll('tr[data-new=true]')].map((tr) => ({
        code: tr.querySelector('[name=part-code]').value.trim(), name: tr.querySelector('[name=part-name]').value.trim() })),
      ...households.body(),
    });
    card.beforeCommit = () => households.ok();
  }
  // The line stays visible under the preview until the operation ends.
  P.draw.setMode('static');
}

function startMerge() {
  P.mergeIds = P.selected ? [P.selected.id] : [];
  P.mergeFeatures = P.selected ? [P.selected] : [];
  P.mergeLevel = P.selected ? P.selected.properties.level : null;
  renderMerge();
}

async function toggleMerge(id) {
  const i = P.mergeIds.indexOf(id);
  if (i >= 0) { P.mergeIds.splice(i, 1); P.mergeFeatures.splice(i, 1); }
  else {
    try {
      const f = await api(`/grids/${id}`);
      if (!P.mergeLevel) P.mergeLevel = f.properties.level;
      P.mergeIds.push(id); P.mergeFeatures.push(f);
    } catch (e) { toast(e.message); return; }
  }
  drawSelected();
  renderMerge();
}

function renderMerge() {
  const keep = el('div', { class: 'chips' }, P.mergeFeatures.map((f, i) => el('label', { class: 'chip' },
    el('input', { type: 'radio', name: 'keep', value: String(f.id), ...(i === 0 ? { checked: '' } : {}) }),
    `${f.properties.name}`, el('button', { type: 'button', class: 'icon-only secondary', 'aria-label': t('pl.person.remove'),
      onclick: () => toggleMerge(f.id) }, '×'))));
  const previewBtn = el('button', { type: 'button', id: 'pl-merge-preview', ...(P.mergeIds.length < 2 ? { disabled: '' } : {}) }, t('pl.preview'));
  previewBtn.addEventListener('click', () => {
    const k = keep.querySelector('input[name=keep]:checked');
    const keepId = k ? Number(k.value) : P.mergeIds[0];
    operation({ id: 'pl-merge', title: t('pl.tool.merge'), path: '/grids/merge', body: { ids: [...P.mergeIds], keep: keepId },
      describe: (result) => mergeSummary(result) });
  });
  opCard('pl-merge-pick', t('pl.tool.merge'), el('p', { class: 'hint' }, t('pl.merge.pick')), keep, el('div', { class: 'actions' }, previewBtn));
}

/** What a merge changes: the grid kept, every person kept, the households summed, the codes retired. */
function mergeSummary(result) {
  const m = result.merge;
  const kept = result.grids.features[0];
  if (!m) return [el('p', { class: 'hint' }, `${t('pl.merge.into')} ${kept ? kept.properties.name : ''}`)];
  const added = new Set(m.people_added.map((p) => `${p.name}|${p.phone || ''}|${p.role}`));
  const roleName = (r) => (t(`role.${r}`) === `role.${r}` ? r : t(`role.${r}`));
  const grids = m.grids;
  const known = grids.filter((g) => g.households !== null);
  const households = m.households === null ? tp('pl.merge.households.none')
    : tp('pl.merge.households', { parts: known.map((g) => g.households).join(' + '), sum: m.households });
  const nameOf = (code) => (grids.find((g) => g.code === code) || { name: code }).name;
  const sep = language() === 'en' ? ', ' : '、';
  return [el('div', { class: 'pl-merge-summary', id: 'pl-merge-summary' },
    el('h4', {}, tp('pl.merge.summary')),
    el('p', { class: 'pl-kept' }, tp('pl.merge.kept.into', { name: kept.properties.name, code: kept.properties.code })),
    el('p', { class: 'pl-people-count' }, tp('pl.merge.people', { n: m.people.length })),
    el('ul', { class: 'pl-people', id: 'pl-merge-people' }, m.people.map((p) => {
      const isNew = added.has(`${p.name}|${p.phone || ''}|${p.role}`);
      return el('li', { 'data-name': p.name, ...(isNew ? { 'data-added': 'true' } : {}) },
        el('span', { class: 'who' }, p.name), el('span', { class: 'role' }, roleName(p.role)),
        p.phone ? el('span', { class: 'phone' }, p.phone) : null,
        isNew ? el('span', { class: 'tag merge' }, tp('pl.merge.people.added')) : null);
    })),
    m.people_duplicates ? el('p', { class: 'hint' }, tp('pl.merge.people.dup', { n: m.people_duplicates })) : null,
    el('p', { class: 'pl-households', id: 'pl-merge-households', 'data-sum': m.households === null ? '' : String(m.households) }, households),
    m.households_unknown.length && m.households !== null
      ? el('p', { class: 'warn', id: 'pl-merge-unknown' }, tp('pl.merge.households.unknown', { names: m.households_unknown.map(nameOf).join(sep) }))
      : null,
    el('p', { class: 'pl-retired', id: 'pl-merge-retired' },
      tp('pl.merge.retired', { codes: m.retired.map((c) => `${c} · ${nameOf(c)}`).join(sep) })))];
}

function showSnap() {
  if (!P.selected) return;
  const tol = el('input', { type: 'number', id: 'pl-snap-tol', min: '0.1', max: '100', step: '0.5', value: '5' });
  const to = el('select', { id: 'pl-snap-to' }, ['both', 'parent', 'neighbours'].map((v) => el('option', { value: v }, t(`pl.snap.${v}`))));
  const btn = el('button', { type: 'button', id: 'pl-snap-preview' }, t('pl.preview'));
  btn.addEventListener('click', () => operation({ id: 'pl-snap', title: `${t('pl.tool.snap')} · ${P.selected.properties.name}`,
    path: `/grids/${P.selected.id}/snap`, body: { tolerance_m: Number(tol.value), to: to.value } }));
  opCard('pl-snap-pick', `${t('pl.tool.snap')} · ${P.selected.properties.name}`,
    el('div', { class: 'grid2' }, el('label', {}, t('pl.snap.tolerance'), tol), el('label', {}, t('pl.snap.to'), to)),
    el('div', { class: 'actions' }, btn));
}

async function showDelete() {
  if (!P.selected) return;
  const f = P.selected;
  const card = opCard('pl-delete', `${t('pl.tool.delete')} · ${f.properties.name}`, el('p', { class: 'hint' }, t('pl.checking')));
  let result = null;
  try { result = await post('/grids/check', { deleted: [f.id] }); } catch (e) { card.append(el('p', { class: 'error' }, e.message)); }
  const go = el('button', { type: 'button', class: 'danger', id: 'pl-delete-confirm' }, t('pl.delete.confirm'));
  const doDelete = async (draft) => {
    if (!requireEditor()) return;
    const { q } = changeLog(draft);
    go.disabled = true;
    try {
      await api(`/grids/${f.id}?${q}`, { method: 'DELETE' });
      saved_(t('pl.deleted'));
      const parent = P.chain.length > 1 ? P.chain[P.chain.length - 2] : null;
      P.selected = null;
      P.tool = 'select';
      $('pl-op').replaceChildren();
      drawDefects(null); renderDefects(null);
      if (parent) await selectGrid(parent.id);
      else { renderSelection(); drawSelected(); $('pl-form').hidden = true; renderTools(); }
    } catch (e) {
      go.disabled = false;
      refused(e, () => doDelete(true));
    }
  };
  go.addEventListener('click', () => doDelete(false));
  put(card, el('h3', {}, `${t('pl.tool.delete')} · ${f.properties.name}`),
    f.properties.children ? el('p', { class: 'bad' }, t('pl.delete.children')) : null,
    result ? resultDefects(result) : null,
    el('div', { class: 'actions' }, go, el('button', { type: 'button', class: 'secondary', onclick: () => setTool('select') }, t('pl.cancel'))));
}

async function showHistory() {
  if (!P.selected) return;
  const f = P.selected;
  const card = opCard('pl-history', `${t('pl.tool.history')} · ${f.properties.name}`, el('p', { class: 'hint' }, t('loading')));
  let h;
  try { h = await api(`/grids/${f.id}/history?geometry=true`); } catch (e) { card.append(el('p', { class: 'error' }, e.message)); return; }
  const when = P.ctx.when;
  const list = el('ul', { class: 'history versions' }, [...h.features].reverse().map((v) => {
    const p = v.properties;
    const current = p.valid_to === null;
    return el('li', { 'data-version': String(p.version) },
      el('div', { class: 'when' }, `v${p.version} · ${when(p.valid_from)}${p.valid_to ? ` → ${when(p.valid_to)}` : ''}`),
      el('div', {}, el('strong', {}, t(`op.${p.operation}`) === `op.${p.operation}` ? p.operation : t(`op.${p.operation}`)),
        p.draft ? el('span', { class: 'badge draftb' }, t('pl.draft')) : null, current ? el('span', { class: 'badge on' }, t('pl.current')) : null,
        p.editor ? ` · ${p.editor}` : '', p.reason ? ` · ${p.reason}` : ''),
      el('div', { class: 'actions' },
        v.geometry ? el('button', { type: 'button', class: 'secondary', onclick: () => { drawPreview({ type: 'FeatureCollection', features: [v] }, () => `v${p.version}`); fitTo(v.geometry); } }, t('pl.show')) : null,
        current ? null : el('button', { type: 'button', class: 'secondary', onclick: () => restore(f.id, p.version) }, t('pl.restore'))));
  }));
  card.replaceChildren(el('h3', {}, `${t('pl.tool.history')} · ${f.properties.name}`), list);
}

async function restore(id, version) {
  if (!requireEditor()) return;
  const go = async (draft) => {
    const { editor, reason } = changeLog(draft);
    try {
      await post(`/grids/${id}/restore`, { version, editor, reason: reason || `restore v${version}`, draft });
      saved_(`${t('pl.restored')} v${version}`);
      drawPreview(null);
      await selectGrid(id);
      showHistory();
    } catch (e) { refused(e, () => go(true)); }
  };
  go(false);
}

// ---------------------------------------------------------------------------
// Workload table
// ---------------------------------------------------------------------------

function workloadScope() {
  if (!P.selected) return null;
  const p = P.selected.properties;
  // A divided grid compares its children; a leaf compares itself with its siblings.
  if (p.children > 0 && p.level !== 'micro_grid') return { root: p.code, level: LEVELS[LEVELS.indexOf(p.level) + 1], name: p.name };
  if (!p.parent) return { root: p.code, level: p.level, name: p.name };
  const parent = P.chain.find((g) => g.code === p.parent);
  return { root: p.parent, level: p.level, name: parent ? parent.name : p.parent };
}

async function loadWorkload() {
  const scope = workloadScope();
  if (!scope) return;
  const w = P.workload;
  w.root = scope.root; w.level = scope.level; w.name = scope.name;
  const seq = (w.seq = (w.seq || 0) + 1);
  let data, geo;
  try {
    [data, geo] = await Promise.all([
      api(`/workload?root=${encodeURIComponent(scope.root)}&level=${scope.level}&sort=${w.sort}`),
      api(`/grids?parent=${encodeURIComponent(scope.root)}&level=${scope.level}&geometry=true&limit=2000`),
    ]);
  } catch (e) {
    $('pl-workload-root').textContent = e.message;
    return;
  }
  if (seq !== w.seq) return;
  w.data = data;
  loadCoverage();
  const flags = new Map(data.grids.map((g) => [g.id, g.flag]));
  setData('planner-workload', { type: 'FeatureCollection', features: geo.features.filter((f) => f.geometry).map((f) => ({
    type: 'Feature', geometry: f.geometry, properties: { id: f.id, flag: flags.get(f.id) || 'none' } })) });
  renderWorkload();
}

/** The optional overlay: where the compared grids are beyond walking distance of every grid station. */
async function loadCoverage() {
  const box = $('pl-coverage');
  const w = P.workload;
  if (!box || !box.checked || !w.root) {
    setData('planner-coverage', EMPTY);
    if ($('pl-coverage-summary')) $('pl-coverage-summary').textContent = '';
    return;
  }
  try {
    const fc = await api(`/coverage?kind=grid_station&root=${encodeURIComponent(w.root)}&level=${w.level}&format=geojson`);
    setData('planner-coverage', fc);
    const s = fc.summary || {};
    $('pl-coverage-summary').textContent = t('pl.coverage.summary')
      .replace('{d}', String((fc.query && fc.query.distance_m) || 1200))
      .replace('{h}', String(Math.round(s.uncovered_households || 0)))
      .replace('{a}', area(s.uncovered_area_m2 || 0));
  } catch (e) {
    $('pl-coverage-summary').textContent = e.message;
  }
}

function fmt(key, v) {
  if (v === null || v === undefined) return '—';
  if (key === 'overdue_share') return `${Math.round(v * 100)}%`;
  if (key === 'per_1000_households') return v.toFixed(1);
  return String(v);
}

function renderWorkload() {
  const w = P.workload;
  const data = w.data;
  if (!data) return;
  const s = data.summary || {};
  put($('pl-workload-root'), el('strong', {}, w.name || data.root.name), ` · ${t(`level.${w.level}`)} · ${data.grids.length} `,
    t('pl.rows'), s.split_candidates ? el('span', { class: 'tag split' }, `${t('flag.split')} ${s.split_candidates}`) : null,
    s.merge_candidates ? el('span', { class: 'tag merge' }, `${t('flag.merge')} ${s.merge_candidates}`) : null);
  let rows = [...data.grids];
  if (w.clientSort) {
    const { key, dir } = w.clientSort;
    const val = (g) => (key === 'name' ? g.name : key === 'workers' ? g.workers.length : g[key]);
    rows.sort((a, b) => {
      const x = val(a), y = val(b);
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (typeof x === 'string' ? x.localeCompare(y, 'zh') : x - y) * dir;
    });
  }
  const head = (key, label) => {
    const active = w.clientSort ? w.clientSort.key === key : w.sort === key;
    const dir = w.clientSort && w.clientSort.key === key ? w.clientSort.dir : -1;
    return el('th', { 'data-key': key, title: t(`wl.${key}`), class: active ? 'sorted' : '', 'aria-sort': active ? (dir > 0 ? 'ascending' : 'descending') : 'none',
      onclick: () => {
        if (SERVER_SORTS.has(key) && !(w.clientSort === null && w.sort === key)) {
          w.sort = key; w.clientSort = null; $('pl-sort').value = key; loadWorkload();
        } else {
          w.clientSort = { key, dir: w.clientSort && w.clientSort.key === key ? -w.clientSort.dir : (key === 'name' ? 1 : -1) };
          renderWorkload();
        }
      } }, label, active ? (dir > 0 ? ' ▲' : ' ▼') : '');
  };
  const selectedId = P.selected ? P.selected.id : null;
  $('pl-workload').replaceChildren(
    el('thead', {}, el('tr', {}, head('name', t('pl.name')), ...WORKLOAD_KEYS.map((k) => head(k, t(`wl.${k}.short`))), head('workers', t('wl.workers')),
      el('th', {}, t('wl.flag')))),
    el('tbody', {}, rows.map((g) => el('tr', { 'data-id': String(g.id), 'data-code': g.code,
      class: [g.flag ? `flag-${g.flag}` : '', g.id === selectedId ? 'selected' : ''].join(' ').trim(),
      onclick: () => selectGrid(g.id, { fit: true }) },
    el('td', {}, g.name, el('div', { class: 'hint' }, g.code)),
    ...WORKLOAD_KEYS.map((k) => el('td', { class: 'num' }, fmt(k, g[k]))),
    el('td', {}, g.workers.map((x) => x.name).join('、') || el('span', { class: 'bad' }, t('wl.noworker'))),
    el('td', {}, g.flag ? el('span', { class: `tag ${g.flag}` }, t(`flag.${g.flag}`)) : '')))));
  $('pl-workload-rule').textContent = `${t('wl.rule')}: ${t('wl.rule.text').replace('{key}', t(`wl.${data.sort || w.sort}`))}`;
  $('pl-workload-rule').title = data.rule || '';
}

// ---------------------------------------------------------------------------
// Public: wiring from app.js
// ---------------------------------------------------------------------------

async function init(ctx) {
  P.ctx = ctx;
  P.map = ctx.map;
  ({ el, api, toast } = ctx);
  buildPanel();
  if (!P.map.isStyleLoaded()) await new Promise((resolve) => P.map.once('load', resolve));
  addLayers();
  P.draw = createDraw();
  P.map.on('click', (e) => {
    if (!P.active) return;
    if (P.tool === 'select' && !(P.edit && P.edit.drawId)) selectAt(e.lngLat);
    else if (P.tool === 'select') toast(t('pl.finish.first'));
    else if (P.tool === 'merge') selectAt(e.lngLat);
    else if (['snap', 'delete', 'history'].includes(P.tool)) selectAt(e.lngLat);
  });
  // Rotating a tablet moves the panels (side by side or stacked): their arrows follow.
  window.matchMedia('(max-width: 820px)').addEventListener('change', () => {
    for (const which of ['tools', 'side']) setPanel(which, !document.body.classList.contains(`pl-${which}-collapsed`));
  });
  document.addEventListener('keydown', (e) => {
    if (!P.active || e.key !== 'Escape') return;
    if (P.edit) cancelEdit(); else setTool('select');
  });
  P.ready = true;
}

/** Show or hide the planner (the first showing builds it). */
export async function showPlanner(active, ctx) {
  P.active = active;
  const side = $('planner-side');
  side.hidden = !active;
  document.body.classList.toggle('planner-on', active);
  if (active && !P.ctx) await init(ctx);
  if (!P.ready) return;
  // The planner's layers show in the planner only; the dispatcher's located point and highlight elsewhere only.
  const layers = P.map.getStyle().layers.map((l) => l.id);
  const visible = (id, on) => P.map.setLayoutProperty(id, 'visibility', on ? 'visible' : 'none');
  for (const id of layers.filter((l) => l.startsWith('planner-'))) visible(id, active);
  for (const id of layers.filter((l) => l.startsWith('located-') || l.startsWith('highlight-'))) visible(id, !active);
  if (!active) {
    P.draw.setMode('static');
  } else {
    if (P.edit && P.edit.drawId && drawnFeature(P.edit.drawId)) { P.draw.setMode('select'); P.draw.selectFeature(P.edit.drawId); }
    renderTools();
  }
  P.map.resize();
}

/** Rebuild the planner's texts after a language switch. */
export function plannerLanguageChanged() {
  if (!P.ready) return;
  const editor = $('pl-editor').value, reason = $('pl-reason').value;
  const form = P.edit || P.selected ? formProperties() : null;
  buildPanel();
  $('pl-editor').value = editor; $('pl-reason').value = reason;
  renderSelection();
  if (form) fillForm(form, { existing: Boolean(P.selected) });
  if (P.check) renderDefects(P.check.defects, P.check.refused);
  renderWorkload();
}

export function plannerState() { return P; }
