// The overview: figures and daily charts for a range and a store, and the CSV export.
// export async function overviewView(el, ctx)
import { listOf } from '/static/common/api.js';
import { errorText, t } from '/static/common/i18n.js';
import { addDays, h, localDate, money, mount, toast } from '/static/common/ui.js';
import { field, range } from './kit.js';

const METRICS = ['new_members', 'redemptions', 'redemption_value', 'bookings', 'top_ups'];

export async function overviewView(el, ctx) {
  const { api } = ctx;
  const all = await ctx.stores();
  const zone = all[0]?.timezone || 'Asia/Shanghai';
  range.to ||= localDate(new Date(), zone);
  range.from ||= addDays(range.to, -13);
  const [from] = field('from', t('a.range.from'), { type: 'date', value: range.from });
  const [to] = field('to', t('a.range.to'), { type: 'date', value: range.to });
  const [store] = field('store', t('a.range.store'), {
    options: [['', t('a.range.all')], ...all.map((s) => [s.id, s.name])], value: range.store,
  });
  const figures = h('div', { id: 'figures' }, h('p.muted', { text: t('app.loading') }));
  const charts = h('div.charts', { id: 'charts' });
  const load = async () => {
    Object.assign(range, { from: from.value, to: to.value, store: store.value });
    const q = { from: range.from, to: range.to, store_id: range.store };
    try {
      const [overview, ...series] = await Promise.all([
        api.get('/stats/overview', q),
        ...METRICS.map((metric) => api.get('/stats/timeseries', { ...q, metric })),
      ]);
      mount(figures, statTiles(overview));
      mount(charts, METRICS.map((metric, i) => h('div.panel', { 'data-metric': metric },
        h('h3', { text: t(`a.m.${metric}`) }),
        barChart(listOf(series[i], 'points'), metric === 'redemption_value' || metric === 'top_ups_amount'))));
    } catch (err) {
      mount(figures, h('p.error', { text: errorText(err) }));
    }
  };
  const csv = async () => {
    try {
      const response = await api.raw('/stats/export.csv', { from: from.value, to: to.value });
      const url = URL.createObjectURL(await response.blob());
      const a = h('a', { href: url, download: `o2o-${from.value}-${to.value}.csv` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      toast(t('a.csvReady'), 'ok');
    } catch (err) { toast(errorText(err), 'bad'); }
  };
  mount(el,
    h('form.panel', { onsubmit: (event) => { event.preventDefault(); load(); } },
      h('div.inline-fields', {},
        h('div.field', {}, h('label', { for: 'from', text: t('a.range.from') }), from),
        h('div.field', {}, h('label', { for: 'to', text: t('a.range.to') }), to),
        h('div.field', {}, h('label', { for: 'store', text: t('a.range.store') }), store)),
      h('div.row', {},
        h('button.btn', { type: 'submit', text: t('a.range.apply'), id: 'apply' }),
        h('button.btn.secondary', { type: 'button', text: t('a.range.csv'), id: 'csv', onclick: csv }))),
    figures, charts);
  await load();
}

function statTiles(o) {
  const tile = (key, label, value, sub) => h('div.stat', { 'data-stat': key },
    h('div.value', { text: value }), h('div.label', { text: label }), sub ? h('div.sub', { text: sub }) : null);
  const m = o.members || {}; const c = o.cards || {}; const v = o.vouchers || {};
  const r = o.redemptions || {}; const tu = o.top_ups || {}; const b = o.bookings || {};
  const rate = typeof v.redemption_rate === 'number' ? `${(v.redemption_rate * 100).toFixed(1)}%` : '—';
  return h('div.stats', {},
    tile('members_total', t('a.s.members'), m.total ?? '—'),
    tile('members_new', t('a.s.newMembers'), m.new ?? '—'),
    tile('members_active', t('a.s.active'), m.active ?? '—'),
    tile('cards_issued', t('a.s.cardsIssued'), c.issued ?? '—', `${t('a.s.cardsActive')} ${c.active ?? '—'}`),
    tile('vouchers', t('a.s.vRedeemed'), `${v.redeemed ?? '—'} / ${v.issued ?? '—'}`, `${t('a.s.rate')} ${rate}`),
    tile('redemptions_count', t('a.s.redemptions'), r.count ?? '—'),
    tile('redemptions_value', t('a.s.value'), money(r.value_cents)),
    tile('top_ups', t('a.s.topupAmount'), money(tu.amount_cents), `${t('a.s.topups')} ${tu.count ?? '—'}`),
    tile('bookings', t('a.s.bookings'), b.total ?? '—',
      `${t('a.s.completed')} ${b.completed ?? 0} · ${t('a.s.cancelled')} ${b.cancelled ?? 0} · ${t('a.s.noShow')} ${b.no_show ?? 0}`));
}

// A bar per day, drawn as SVG elements (no chart library, nothing but our own origin).
function barChart(points, isMoney) {
  const NS = 'http://www.w3.org/2000/svg';
  const el = (name, attrs, text) => {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const W = 360; const H = 150; const top = 14; const bottom = 18; const left = 2;
  const max = Math.max(1, ...points.map((p) => p.value));
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img' });
  svg.append(el('line', { x1: 0, y1: H - bottom, x2: W, y2: H - bottom, class: 'axis' }));
  const step = (W - left) / Math.max(1, points.length);
  const label = (value) => (isMoney ? money(value) : String(value));
  points.forEach((p, i) => {
    const height = ((H - top - bottom) * p.value) / max;
    const x = left + i * step + step * 0.15;
    const bar = el('rect', { x, y: H - bottom - height, width: step * 0.7, height, class: 'bar' });
    bar.append(el('title', {}, `${p.date}: ${label(p.value)}`));
    svg.append(bar);
    if (p.value > 0 && points.length <= 31) svg.append(el('text', { x: x + step * 0.35, y: H - bottom - height - 3, 'text-anchor': 'middle' }, isMoney ? Math.round(p.value / 100) : p.value));
    const every = Math.ceil(points.length / 7);
    const last = points.length - 1;
    if (i === last || points.length <= 7 || (i % every === 0 && last - i >= every)) {
      svg.append(el('text', { x: x + step * 0.35, y: H - 5, 'text-anchor': 'middle' }, p.date.slice(5)));
    }
  });
  return svg;
}

