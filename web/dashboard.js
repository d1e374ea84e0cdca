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
 * the last 8 weeks, this week last and highlighted, busiest this week first;
 * a worker without a visit this week is marked.
 */
async function renderVisits(ctx) {
  const box = document.getElementById('visits-weekly');
  const weeks = [7, 6, 5, 4, 3, 2, 1, 0].map(mondayOf);
  const answer = await ctx.api(`/visits/weekly?from=${weeks[0]}T00:00:00%2B08:00`);
  const byWorker = new Map();
  for (const row of answer.weeks) {
    const key = `${row.worker.name}\u0000${row.worker.phone || ''}`;
    if (!byWorker.has(key)) byWorker.set(key, { name: row.worker.name, counts: {} });
    byWorker.get(key).counts[row.week] = row.visits;
  }
  const thisWeek = weeks[weeks.length - 1];
  const workers = [...byWorker.values()].sort((a, b) =>
    (b.counts[thisWeek] || 0) - (a.counts[thisWeek] || 0) || a.name.localeCompare(b.name, 'zh'));
  if (!workers.length) {
    box.innerHTML = '<p class="empty"></p>';
    box.querySelector('p').textContent = t('visits.none');
    return { workers: 0 };
  }
  const table = document.createElement('table');
  const head = table.createTHead().insertRow();
  const th = (text, cls) => { const c = document.createElement('th'); c.textContent = text; if (cls) c.className = cls; head.append(c); };
  th(t('visits.worker'));
  for (const w of weeks) th(w === thisWeek ? t('visits.this_week') : w.slice(5), w === thisWeek ? 'this-week' : '');
  th(t('visits.total'));
  const body = table.createTBody();
  for (const w of workers) {
    const tr = body.insertRow();
    tr.dataset.worker = w.name;
    if (!w.counts[thisWeek]) { tr.className = 'idle'; tr.title = t('visits.idle'); }
    tr.insertCell().textContent = w.name;
    let total = 0;
    for (const week of weeks) {
      const n = w.counts[week] || 0;
      total += n;
      const td = tr.insertCell();
      td.textContent = String(n);
      td.dataset.week = week;
      if (week === thisWeek) td.className = 'this-week';
    }
    tr.insertCell().textContent = String(total);
  }
  box.replaceChildren(table);
  return { workers: workers.length, thisWeek };
}

export function chartCount() { return Object.keys(charts).length; }
export { language };
