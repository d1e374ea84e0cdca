// The dashboard: the numbers leaders compare grids by, as Chart.js charts
// (from npm, served by gridd). Each chart filters the map when clicked.
import { Chart, registerables } from '/web/node_modules/chart.js/dist/chart.js';
import { t, language } from '/web/i18n.js';

Chart.register(...registerables);
Chart.defaults.font.family = '"Noto Sans CJK SC", "Noto Sans SC", system-ui, sans-serif';
Chart.defaults.animation = false;

const charts = {};
window.griddCharts = charts;  // for the browser tests

function replace(id, config) {
  if (charts[id]) charts[id].destroy();
  charts[id] = new Chart(document.getElementById(id), config);
  return charts[id];
}

/**
 * Draw every chart. `ctx` gives the API, the colours and what a click does:
 * { api, colours, colourOrder, categoryName, onCategory(code), onColour(c), onDay(date), onGrid(id) }.
 */
export async function renderDashboard(ctx) {
  const [days, categories, communities] = await Promise.all([
    ctx.api('/incidents/stats?group=day'),
    ctx.api('/incidents/stats?group=category&status=open'),
    ctx.api('/incidents/stats?group=grid&level=community'),
  ]);
  const colourCounts = await Promise.all(ctx.colourOrder.map((c) =>
    ctx.api(`/incidents?status=open&colour=${c}&count=true&limit=1`).then((r) => r.numberMatched)));
  const totals = (await ctx.api('/incidents/stats?group=channel')).total;

  document.getElementById('totals').replaceChildren(...[
    ['total.received', totals.received], ['total.open', totals.open], ['total.overdue', totals.overdue],
    ['total.on_time_rate', totals.on_time_rate === null ? '—' : `${Math.round(totals.on_time_rate * 100)}%`],
  ].map(([k, v]) => {
    const d = document.createElement('div');
    d.innerHTML = `<b></b><span></span>`;
    d.querySelector('b').textContent = String(v);
    d.querySelector('span').textContent = t(k);
    return d;
  }));

  replace('chart-daily', {
    type: 'bar',
    data: { labels: days.rows.map((r) => r.key),
      datasets: [{ label: t('received'), data: days.rows.map((r) => r.received), backgroundColor: '#24507c' },
        { label: t('closed'), data: days.rows.map((r) => r.closed), backgroundColor: '#2e7d32' }] },
    options: { onClick: (_, els) => { if (els.length) ctx.onDay(days.rows[els[0].index].key); } },
  });
  replace('chart-colours', {
    type: 'doughnut',
    data: { labels: ctx.colourOrder.map((c) => t(`colour.${c}`)),
      datasets: [{ data: colourCounts, backgroundColor: ctx.colourOrder.map((c) => ctx.colours[c]) }] },
    options: { onClick: (_, els) => { if (els.length) ctx.onColour(ctx.colourOrder[els[0].index]); } },
  });
  const catRows = categories.rows.filter((r) => r.open > 0).sort((a, b) => b.open - a.open).slice(0, 15);
  replace('chart-categories', {
    type: 'bar',
    data: { labels: catRows.map((r) => ctx.categoryName(r.key)),
      datasets: [{ label: t('stat.open'), data: catRows.map((r) => r.open), backgroundColor: '#ef6c00' }] },
    options: { indexAxis: 'y', onClick: (_, els) => { if (els.length) ctx.onCategory(catRows[els[0].index].key); } },
  });
  const comRows = communities.rows.filter((r) => r.label && r.label.name).slice(0, 40);
  replace('chart-communities', {
    type: 'bar',
    data: { labels: comRows.map((r) => r.label.name),
      datasets: [
        { label: t('on_time_rate'), data: comRows.map((r) => r.on_time_rate), backgroundColor: '#2e7d32', yAxisID: 'rate' },
        { label: t('avg_satisfaction'), data: comRows.map((r) => r.avg_satisfaction), backgroundColor: '#f9a825', yAxisID: 'sat' }] },
    options: {
      scales: { rate: { position: 'left', min: 0, max: 1 }, sat: { position: 'right', min: 0, max: 5, grid: { drawOnChartArea: false } } },
      onClick: (_, els) => { if (els.length) ctx.onGrid(comRows[els[0].index].label.id); },
    },
  });
  const visits = await renderVisits(ctx);
  return { days: days.rows.length, categories: catRows.length, communities: comRows.length, colours: colourCounts, visits };
}

/** The Monday (YYYY-MM-DD, China time) of the week `weeksAgo` weeks before the current one. */
function mondayOf(weeksAgo) {
  const local = new Date(Date.now() + 8 * 3600e3);  // read with getUTC*: China time
  const sinceMonday = (local.getUTCDay() + 6) % 7;
  const monday = new Date(Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate() - sinceMonday - 7 * weeksAgo));
  return monday.toISOString().slice(0, 10);
}

/**
 * Door-to-door visits per worker and week (GET /visits/weekly): a table of
 * the last 8 weeks, this week last and highlighted, busiest this week first
 * (a click on a column head sorts by it); a worker without a visit this week
 * is marked. The table is drawn again from the same answer when the language
 * changes or the sort does.
 */
const visitTable = { weeks: [], workers: [], sort: 'this' };

async function renderVisits(ctx) {
  const weeks = [7, 6, 5, 4, 3, 2, 1, 0].map(mondayOf);
  const answer = await ctx.api(`/visits/weekly?from=${weeks[0]}T00:00:00%2B08:00`);
  const byWorker = new Map();
  for (const row of answer.weeks) {
    const key = `${row.worker.name}\u0000${row.worker.phone || ''}`;
    if (!byWorker.has(key)) byWorker.set(key, { name: row.worker.name, phone: row.worker.phone || '', counts: {} });
    byWorker.get(key).counts[row.week] = row.visits;
  }
  const thisWeek = weeks[weeks.length - 1];
  for (const w of byWorker.values()) {
    w.total = weeks.reduce((s, week) => s + (w.counts[week] || 0), 0);
    w.now = w.counts[thisWeek] || 0;
  }
  visitTable.weeks = weeks;
  visitTable.workers = [...byWorker.values()];
  drawVisits();
  return { workers: visitTable.workers.length, thisWeek, idle: visitTable.workers.filter((w) => !w.now).length };
}

const byName = (a, b) => a.name.localeCompare(b.name, 'zh') || a.phone.localeCompare(b.phone);
const ORDERS = {
  this: (a, b) => b.now - a.now || b.total - a.total || byName(a, b),
  total: (a, b) => b.total - a.total || b.now - a.now || byName(a, b),
  name: byName,
};

function drawVisits() {
  const box = document.getElementById('visits-weekly');
  if (!box) return;
  const { weeks, workers } = visitTable;
  if (!workers.length) {
    const p = document.createElement('p');
    p.className = 'empty';
    p.textContent = t('visits.none');
    box.replaceChildren(p);
    return;
  }
  const thisWeek = weeks[weeks.length - 1];
  const table = document.createElement('table');
  const head = table.createTHead().insertRow();
  const th = (text, { cls, sort, week, sub } = {}) => {
    const c = document.createElement('th');
    c.scope = 'col';
    if (cls) c.className = cls;
    if (week) c.dataset.week = week;
    let target = c;
    if (sort) {
      target = document.createElement('button');
      target.type = 'button';
      target.dataset.sort = sort;
      target.title = t('visits.sort');
      target.addEventListener('click', () => { visitTable.sort = sort; drawVisits(); });
      c.setAttribute('aria-sort', visitTable.sort === sort ? (sort === 'name' ? 'ascending' : 'descending') : 'none');
      c.append(target);
    }
    const label = document.createElement('span');
    label.className = 'label';
    label.textContent = text;
    target.append(label);
    if (sub) { const s = document.createElement('small'); s.textContent = sub; target.append(s); }
    head.append(c);
  };
  th(t('visits.worker'), { sort: 'name' });
  for (const w of weeks) {
    if (w === thisWeek) th(t('visits.this_week'), { cls: 'this-week', sort: 'this', week: w, sub: w.slice(5) });
    else th(w.slice(5), { week: w });
  }
  th(t('visits.total'), { sort: 'total', cls: 'total' });
  const body = table.createTBody();
  for (const w of [...workers].sort(ORDERS[visitTable.sort] || ORDERS.this)) {
    const tr = body.insertRow();
    tr.dataset.worker = w.name;
    const name = tr.insertCell();
    name.textContent = w.name;
    if (w.phone) name.title = w.phone;
    if (!w.now) {
      tr.className = 'idle';
      const mark = document.createElement('span');
      mark.className = 'idle-mark';
      mark.textContent = t('visits.idle.short');
      mark.title = t('visits.idle');
      name.append(mark);
    }
    for (const week of weeks) {
      const td = tr.insertCell();
      const n = w.counts[week] || 0;
      td.textContent = String(n);
      td.dataset.week = week;
      if (!n) td.classList.add('zero');
      if (week === thisWeek) td.classList.add('this-week');
    }
    const total = tr.insertCell();
    total.className = 'total';
    total.textContent = String(w.total);
  }
  const idle = workers.filter((w) => !w.now).length;
  const note = document.createElement('p');
  note.className = 'visits-note';
  note.textContent = `${idle ? t('visits.idle.count').replace('{n}', String(idle)) : t('visits.all.active')} · ${t('visits.sort.hint')}`;
  box.replaceChildren(table, note);
}

document.addEventListener('gridd:language', drawVisits);

export function chartCount() { return Object.keys(charts).length; }
export { language };
