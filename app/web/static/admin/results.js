// Campaign results over a range of days (GET /stats/campaigns): issued, redeemed, rate,
// discount given, bills with the voucher, members back within 30 days; a chart of issued
// against redeemed per campaign (SVG drawn here: no chart library, nothing but our origin);
// the CSV (GET /stats/campaigns.csv); the same figures per automation and per issue job.
// export async function resultsTab(el, ctx); export function resultsTable(rows, kind)
import { listOf } from '/static/common/api.js';
import { addMessages, errorText, lang, t } from '/static/common/i18n.js';
import { addDays, h, localDate, money, mount, toast } from '/static/common/ui.js';
import { field, table } from './kit.js';

addMessages({
  zh: {
    'a.rs.campaign': '活动', 'a.rs.issued': '已发放', 'a.rs.redeemed': '已核销', 'a.rs.rate': '核销率', 'a.rs.discount': '优惠金额',
    'a.rs.bills': '用券订单金额', 'a.rs.returning': '30 天内回店会员', 'a.rs.show': '查询', 'a.rs.csv': '下载 CSV',
    'a.rs.campaigns': '各活动效果', 'a.rs.automations': '各自动营销效果', 'a.rs.jobs': '各发券任务效果', 'a.rs.none': '这段时间没有数据',
    'a.rs.chart': '各活动发放与核销', 'a.rs.chartAlt': '{from} 至 {to} 各活动发放与核销：{list}。', 'a.rs.chartItem': '{name} 发放 {issued}、核销 {redeemed}',
    'a.rs.note': '发放：这段时间内发出的券；核销：其中已核销的（不含撤销）；回店：核销后 30 天内再次到店的会员。',
    'a.rs.bad': '结束日期须不早于开始日期', 'a.rs.csvReady': 'CSV 已下载',
    'a.rs.dailyOf': '每日发放与核销：{name}', 'a.rs.dailyAlt': '{name}，{from} 至 {to} 每日发放与核销：共发放 {issued}，核销 {redeemed}。',
  },
  en: {
    'a.rs.campaign': 'Campaign', 'a.rs.issued': 'Issued', 'a.rs.redeemed': 'Redeemed', 'a.rs.rate': 'Rate', 'a.rs.discount': 'Discount given',
    'a.rs.bills': 'Bills with the voucher', 'a.rs.returning': 'Back within 30 days', 'a.rs.show': 'Show', 'a.rs.csv': 'Download CSV',
    'a.rs.campaigns': 'Per campaign', 'a.rs.automations': 'Per automation', 'a.rs.jobs': 'Per issue job', 'a.rs.none': 'Nothing in these days',
    'a.rs.chart': 'Issued and redeemed per campaign', 'a.rs.chartAlt': 'Issued and redeemed per campaign, {from} to {to}: {list}.', 'a.rs.chartItem': '{name} issued {issued}, redeemed {redeemed}',
    'a.rs.note': 'Issued: vouchers issued in these days; redeemed: those of them redeemed (reversals left out); back: members who visited again within 30 days of redeeming.',
    'a.rs.bad': 'must not be before the start', 'a.rs.csvReady': 'CSV downloaded',
    'a.rs.dailyOf': 'Day by day: {name}', 'a.rs.dailyAlt': '{name}, {from} to {to}, day by day: {issued} issued, {redeemed} redeemed in all.',
  },
});

const pct = (rate) => `${(Math.round((rate || 0) * 1000) / 10).toFixed(1)}%`;
// Kept while the operator moves between tabs.
const span = { from: null, to: null };

export function resultsTable(rows, kind) {
  return table([
    t('a.rs.campaign'), { text: t('a.rs.issued'), num: true }, { text: t('a.rs.redeemed'), num: true }, { text: t('a.rs.rate'), num: true },
    { text: t('a.rs.discount'), num: true }, { text: t('a.rs.bills'), num: true }, { text: t('a.rs.returning'), num: true },
  // A campaign's row names it; an automation's or a job's names its source (the voucher's).
  ], rows.map((r) => h('tr', kind === 'campaign' ? { 'data-campaign': r.campaign_id } : { 'data-source': r.source_id || '' },
    h('th', { scope: 'row', text: r.name }),
    h('td.num', { 'data-field': 'issued', text: String(r.issued ?? 0) }),
    h('td.num', { 'data-field': 'redeemed', text: String(r.redeemed ?? 0) }),
    h('td.num', { 'data-field': 'rate', text: pct(r.redemption_rate) }),
    h('td.num', { 'data-field': 'discount', text: money(r.discount_cents ?? 0) }),
    h('td.num', { 'data-field': 'bills', text: money(r.bill_cents ?? 0) }),
    h('td.num', { 'data-field': 'returning', text: String(r.returning_members_30d ?? 0) }))),
  { caption: t(`a.rs.${kind}s`) });
}

// Two bars a campaign (issued, redeemed), one row each, longest first; the SVG is one image
// whose name says every figure (role="img" + aria-label), and each bar has a <title>.
export function resultsChart(rows, from, to) {
  const NS = 'http://www.w3.org/2000/svg';
  const el = (name, attrs, text) => {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const shown = [...rows].sort((a, b) => (b.issued || 0) - (a.issued || 0)).slice(0, 12);
  const W = 360; const row = 26; const top = 22; const left = 110; const right = 34;
  const H = top + shown.length * row + 6;
  const max = Math.max(1, ...shown.map((r) => r.issued || 0), ...shown.map((r) => r.redeemed || 0));
  const width = (v) => ((W - left - right) * (v || 0)) / max;
  const sep = lang() === 'zh' ? '；' : '; ';
  const alt = t('a.rs.chartAlt', {
    from, to, list: shown.map((r) => t('a.rs.chartItem', { name: r.name, issued: r.issued || 0, redeemed: r.redeemed || 0 })).join(sep),
  });
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart results-chart', role: 'img', 'aria-label': alt, id: 'results-chart' });
  // legend
  svg.append(el('rect', { x: left, y: 4, width: 10, height: 10, class: 'bar issued' }));
  svg.append(el('text', { x: left + 14, y: 13 }, t('a.rs.issued')));
  svg.append(el('rect', { x: left + 90, y: 4, width: 10, height: 10, class: 'bar redeemed' }));
  svg.append(el('text', { x: left + 104, y: 13 }, t('a.rs.redeemed')));
  svg.append(el('line', { x1: left, y1: top - 2, x2: left, y2: H - 4, class: 'axis' }));
  shown.forEach((r, i) => {
    const y = top + i * row;
    const name = r.name.length > 16 ? `${r.name.slice(0, 15)}…` : r.name;
    svg.append(el('text', { x: left - 4, y: y + 14, 'text-anchor': 'end' }, name));
    for (const [key, dy] of [['issued', 2], ['redeemed', 12]]) {
      const bar = el('rect', { x: left, y: y + dy, width: width(r[key]), height: 9, class: `bar ${key}`, 'data-campaign': r.campaign_id, 'data-value': r[key] || 0 });
      bar.append(el('title', {}, `${r.name}: ${t(`a.rs.${key}`)} ${r[key] || 0}`));
      svg.append(bar);
      svg.append(el('text', { x: left + width(r[key]) + 3, y: y + dy + 8 }, String(r[key] || 0)));
    }
  });
  return svg;
}

// A campaign's days: a pair of columns a day (issued, redeemed), from
// GET /stats/campaigns/{id}/daily; one image named by its totals, a <title> on each column.
export function dailyChart(daily, name) {
  const NS = 'http://www.w3.org/2000/svg';
  const el = (tag, attrs, text) => {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const points = daily.points || [];
  const W = 360; const H = 150; const top = 20; const bottom = 16; const left = 26;
  const max = Math.max(1, ...points.map((p) => Math.max(p.issued, p.redeemed)));
  const sum = (key) => points.reduce((a, p) => a + (p[key] || 0), 0);
  const svg = el('svg', {
    viewBox: `0 0 ${W} ${H}`, class: 'chart results-chart', role: 'img', id: 'daily-chart',
    'aria-label': t('a.rs.dailyAlt', { name, from: daily.from, to: daily.to, issued: sum('issued'), redeemed: sum('redeemed') }),
  });
  svg.append(el('line', { x1: left, y1: H - bottom, x2: W, y2: H - bottom, class: 'axis' }));
  svg.append(el('text', { x: left - 4, y: top + 3, 'text-anchor': 'end' }, String(max)));
  svg.append(el('text', { x: left - 4, y: H - bottom + 3, 'text-anchor': 'end' }, '0'));
  const step = (W - left - 2) / Math.max(1, points.length);
  const y = (v) => ((H - top - bottom) * v) / max;
  points.forEach((p, i) => {
    for (const [key, dx] of [['issued', 0.1], ['redeemed', 0.5]]) {
      const bar = el('rect', { x: left + 1 + i * step + step * dx, y: H - bottom - y(p[key]), width: step * 0.38, height: y(p[key]), class: `bar ${key}`, 'data-date': p.date });
      bar.append(el('title', {}, `${p.date}: ${t(`a.rs.${key}`)} ${p[key]}`));
      svg.append(bar);
    }
  });
  const last = points.length - 1;
  for (const i of [...new Set([0, Math.floor(last / 2), last])].filter((x) => x >= 0)) {
    svg.append(el('text', { x: left + 1 + (i + 0.5) * step, y: H - 3, 'text-anchor': i === last && last > 0 ? 'end' : 'middle' }, points[i].date.slice(5)));
  }
  return svg;
}

export async function resultsTab(el, ctx) {
  const { api } = ctx;
  const today = localDate(new Date());
  span.to = span.to || today;
  span.from = span.from || addDays(today, -29);
  const [from, fromBox] = field('rs-from', t('a.range.from'), { type: 'date', value: span.from, required: true });
  const [to, toBox] = field('rs-to', t('a.range.to'), { type: 'date', value: span.to, required: true });
  const body = h('div', { id: 'results', 'aria-live': 'polite' }, h('p.muted', { text: t('app.loading') }));
  const q = () => ({ from: from.value, to: to.value });
  const load = async () => {
    if (!from.value || !to.value || to.value < from.value) { toast(`${t('a.range.to')}: ${t('a.rs.bad')}`, 'bad'); return; }
    Object.assign(span, q());
    mount(body, h('p.muted', { text: t('app.loading') }));
    try {
      const [campaigns, automations, jobs] = await Promise.all([
        api.get('/stats/campaigns', q()).then((x) => listOf(x)),
        api.get('/stats/automations', q()).then((x) => listOf(x)).catch(() => []),
        api.get('/stats/jobs', q()).then((x) => listOf(x)).catch(() => []),
      ]);
      const section = (kind, rows, extra) => h('section.panel', { id: `results-${kind}s`, 'aria-labelledby': `rs-${kind}-title` },
        h('h2', { id: `rs-${kind}-title`, text: t(`a.rs.${kind}s`) }),
        extra, rows.length ? resultsTable(rows, kind) : h('p.muted', { text: t('a.rs.none') }));
      const daily = h('div', { id: 'results-daily', 'aria-live': 'polite' });
      const campaignBox = section('campaign', campaigns, campaigns.length ? h('figure.results-figure', {},
        resultsChart(campaigns, span.from, span.to),
        h('figcaption.muted', { text: t('a.rs.chart') })) : null);
      // Each campaign's name opens its days below the table.
      for (const r of campaigns) {
        const th = campaignBox.querySelector(`tr[data-campaign='${r.campaign_id}'] th`);
        th?.replaceChildren(h('button.linklike', {
          type: 'button', text: r.name, 'data-daily': r.campaign_id, 'aria-controls': 'results-daily',
          'aria-label': t('a.rs.dailyOf', { name: r.name }), onclick: () => showDaily(api, daily, r, q()),
        }));
      }
      campaignBox.append(daily);
      mount(body,
        campaignBox,
        h('p.muted.definitions', { text: t('a.rs.note') }),
        automations.length ? section('automation', automations) : null,
        jobs.length ? section('job', jobs) : null);
    } catch (err) {
      mount(body, h('p.error', { role: 'alert', text: errorText(err) }));
    }
  };
  const csv = async () => {
    try {
      const response = await api.raw('/stats/campaigns.csv', q());
      const url = URL.createObjectURL(await response.blob());
      const a = h('a', { href: url, download: `o2o-campaigns-${from.value}-${to.value}.csv` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      toast(t('a.rs.csvReady'), 'ok');
    } catch (err) { toast(errorText(err), 'bad'); }
  };
  mount(el,
    h('form.panel', { id: 'results-range', novalidate: true, onsubmit: (event) => { event.preventDefault(); load(); } },
      h('div.inline-fields', {}, fromBox, toBox),
      h('div.row', {},
        h('button.btn', { type: 'submit', text: t('a.rs.show') }),
        h('button.btn.secondary', { type: 'button', id: 'results-csv', text: t('a.rs.csv'), onclick: csv }))),
    body);
  await load();
}

async function showDaily(api, box, campaign, q) {
  mount(box, h('p.muted', { text: t('app.loading') }));
  try {
    const daily = await api.get(`/stats/campaigns/${campaign.campaign_id}/daily`, q);
    mount(box, h('h3', { text: t('a.rs.dailyOf', { name: campaign.name }) }),
      h('figure.results-figure', { 'data-campaign': campaign.campaign_id }, dailyChart(daily, campaign.name)));
  } catch (err) {
    mount(box, h('p.error', { role: 'alert', text: errorText(err) }));
  }
}
