// The overview: figures for a range and a store beside the previous period of equal length,
// daily charts, the stores side by side, top services, cohorts, and the CSV export (which
// honours the store filter).
// export async function overviewView(el, ctx)
//
// Repeat rate and no-show rate are read as the API serves them (GET /stats/overview):
// members.repeat_rate = active members with activity on two or more local days of the range
// / active members; bookings.no_show_rate = no-shows / (checked in + completed + no-shows).
import { listOf } from '/static/common/api.js';
import { addMessages, errorText, lang, locale, t } from '/static/common/i18n.js';
import { addDays, h, localDate, money, mount, toast } from '/static/common/ui.js';
import { clearFieldErrors, field, range, showFieldError, table } from './kit.js';

addMessages({
  zh: {
    'a.p.label': '时间范围', 'a.range.max': '最长 {n} 天', 'a.p.today': '今天', 'a.p.last7': '近 7 天', 'a.p.last30': '近 30 天',
    'a.p.thisMonth': '本月', 'a.p.lastMonth': '上月', 'a.p.custom': '自定义',
    'a.cmp.vs': '与上一周期（{from} 至 {to}）相比', 'a.cmp.same': '持平', 'a.cmp.prev': '上一周期 {value}',
    'a.cmp.pp': '{sign}{n} 个百分点',
    'a.s.repeatRate': '复购率', 'a.s.noShowRate': '爽约率', 'a.s.repeat': '复购会员 {n}',
    'a.s.noShowOf': '未到店 {n} / 到店结果 {m}',
    'a.def.repeat': '复购率：区间内有两天或以上消费或预约的会员占活跃会员的比例。',
    'a.def.noShow': '爽约率：未到店的预约占（已到店 + 已完成 + 未到店）预约的比例。',
    'a.def.active': '活跃会员：区间内有核销或预约的会员。',
    'a.unit.yuan': '元', 'a.unit.new_members': '人', 'a.unit.redemptions': '次', 'a.unit.bookings': '个', 'a.unit.top_ups': '笔',
    'a.m.new_members': '每日新会员（人）', 'a.m.redemptions': '每日核销次数（次）',
    'a.m.redemption_value': '每日核销金额（元）', 'a.m.bookings': '每日预约（个）', 'a.m.top_ups': '每日充值笔数（笔）', 'a.m.top_up_amount': '每日充值到卡金额（实付 + 赠送，元）',
    'a.chart.alt': '{title}，{from} 至 {to}：合计 {total}，最高 {max}（{maxDate}）。',
    'a.chart.altEmpty': '{title}，{from} 至 {to}：全部为 0。',
    'a.chart.axis': '日期',
    'a.cmpStores': '门店对比', 'a.topServices': '热门服务', 'a.cohorts': '会员留存（按加入月份）',
    'a.sc.store': '门店', 'a.sc.new': '新会员', 'a.sc.active': '活跃会员', 'a.sc.repeat': '复购率',
    'a.sc.redemptions': '核销次数', 'a.sc.value': '核销金额', 'a.sc.topups': '充值金额', 'a.sc.bookings': '预约',
    'a.sc.noShow': '爽约率',
    'a.sv.service': '服务', 'a.sv.store': '门店', 'a.sv.bookings': '预约', 'a.sv.completed': '完成',
    'a.sv.cancelled': '取消', 'a.sv.noShow': '未到店',
    'a.co.month': '加入月份', 'a.co.members': '人数', 'a.co.m0': '当月', 'a.co.mn': '第 {n} 月',
    'a.co.note': '每格：该月有核销或预约的会员占该批会员的比例。',
    'a.cmpStores.note': '所选时间范围内各门店的数据（不受门店筛选影响）。',
    'a.s.topupTotal': '充值到卡（实付 + 赠送）', 'a.s.topupParts': '其中实付 {paid}，赠送 {bonus}',
    'a.s.refunded': '退款 {paid}（收回赠送 {bonus}）', 'a.s.topupOnline': '线上充值不属于任何门店：只计入“全部门店”。',
    'a.li.title': '储值余额（预收负债）', 'a.li.date': '截至日期（当天营业结束）', 'a.li.show': '查看',
    'a.li.total': '卡内余额合计', 'a.li.paid': '实充部分', 'a.li.bonus': '赠送部分', 'a.li.cards': '有余额的卡',
    'a.li.note': '{date} 结束时会员卡上的钱：实充部分是会员付过的钱（可申请退款），赠送部分是承诺的服务。',
  },
  en: {
    'a.p.label': 'Period', 'a.range.max': '{n} days at most', 'a.p.today': 'Today', 'a.p.last7': 'Last 7 days', 'a.p.last30': 'Last 30 days',
    'a.p.thisMonth': 'This month', 'a.p.lastMonth': 'Last month', 'a.p.custom': 'Custom',
    'a.cmp.vs': 'Compared with the previous period ({from} to {to})', 'a.cmp.same': 'no change', 'a.cmp.prev': 'previous {value}',
    'a.cmp.pp': '{sign}{n} points',
    'a.s.repeatRate': 'Repeat rate', 'a.s.noShowRate': 'No-show rate', 'a.s.repeat': '{n} repeat members',
    'a.s.noShowOf': '{n} no-shows of {m} outcomes',
    'a.def.repeat': 'Repeat rate: members active on two or more days of the range, out of the active members.',
    'a.def.noShow': 'No-show rate: no-shows out of bookings that came due (checked in, completed or no-show).',
    'a.def.active': 'Active members: members with a redemption or a booking in the range.',
    'a.unit.yuan': 'yuan', 'a.unit.new_members': 'members', 'a.unit.redemptions': 'count', 'a.unit.bookings': 'count', 'a.unit.top_ups': 'count',
    'a.m.new_members': 'New members per day (members)', 'a.m.redemptions': 'Redemptions per day (count)',
    'a.m.redemption_value': 'Redeemed value per day (¥)', 'a.m.bookings': 'Bookings per day (count)', 'a.m.top_ups': 'Top-ups per day (count)', 'a.m.top_up_amount': 'Topped up per day, paid + bonus (¥)',
    'a.chart.alt': '{title}, {from} to {to}: total {total}, highest {max} on {maxDate}.',
    'a.chart.altEmpty': '{title}, {from} to {to}: zero every day.',
    'a.chart.axis': 'Date',
    'a.cmpStores': 'Stores side by side', 'a.topServices': 'Top services', 'a.cohorts': 'Retention by joining month',
    'a.sc.store': 'Store', 'a.sc.new': 'New members', 'a.sc.active': 'Active members', 'a.sc.repeat': 'Repeat rate',
    'a.sc.redemptions': 'Redemptions', 'a.sc.value': 'Redeemed value', 'a.sc.topups': 'Topped up', 'a.sc.bookings': 'Bookings',
    'a.sc.noShow': 'No-show rate',
    'a.sv.service': 'Service', 'a.sv.store': 'Store', 'a.sv.bookings': 'Bookings', 'a.sv.completed': 'Completed',
    'a.sv.cancelled': 'Cancelled', 'a.sv.noShow': 'No-show',
    'a.co.month': 'Joined', 'a.co.members': 'Members', 'a.co.m0': 'Month 0', 'a.co.mn': 'Month {n}',
    'a.co.note': 'Each cell: the share of the cohort with a redemption or booking in that month.',
    'a.cmpStores.note': 'Every store over the chosen range (the store filter does not apply).',
    'a.s.topupTotal': 'Topped up (paid + bonus)', 'a.s.topupParts': '{paid} paid + {bonus} bonus',
    'a.s.refunded': 'refunded {paid} (and {bonus} bonus)', 'a.s.topupOnline': 'Online top-ups belong to no store: they count under “All stores” only.',
    'a.li.title': 'Money on cards (prepaid liability)', 'a.li.date': 'As of (end of the day)', 'a.li.show': 'Show',
    'a.li.total': 'On cards in all', 'a.li.paid': 'Paid money', 'a.li.bonus': 'Bonus money', 'a.li.cards': 'Cards holding money',
    'a.li.note': 'Money on members\u2019 cards at the end of {date}: paid money is what members paid (refundable on request); bonus money is service promised.',
  },
});

const METRICS = ['new_members', 'redemptions', 'redemption_value', 'bookings', 'top_ups', 'top_up_amount'];
const MONEY_METRICS = new Set(['redemption_value', 'top_up_amount']);
const PRESETS = ['today', 'last7', 'last30', 'thisMonth', 'lastMonth'];
const MAX_DAYS = 366; // the API's longest range

// The first and last local date of a preset, `today` being the chain's local date.
export function presetRange(preset, today) {
  const firstOfMonth = `${today.slice(0, 8)}01`;
  switch (preset) {
    case 'today': return [today, today];
    case 'last7': return [addDays(today, -6), today];
    case 'last30': return [addDays(today, -29), today];
    case 'thisMonth': return [firstOfMonth, today];
    case 'lastMonth': {
      const last = addDays(firstOfMonth, -1);
      return [`${last.slice(0, 8)}01`, last];
    }
    default: return null;
  }
}

// The period of equal length just before [from, to].
export function previousPeriod(from, to) {
  const days = Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86400000) + 1;
  return [addDays(from, -days), addDays(from, -1)];
}

const dayFmt = () => new Intl.DateTimeFormat(locale(), { month: 'numeric', day: 'numeric', timeZone: 'UTC' });
const dateFmt = () => new Intl.DateTimeFormat(locale(), { year: 'numeric', month: 'numeric', day: 'numeric', timeZone: 'UTC' });
const shortDay = (iso) => dayFmt().format(new Date(`${iso}T12:00:00Z`));
const longDay = (iso) => dateFmt().format(new Date(`${iso}T12:00:00Z`));
const pct = (rate) => (typeof rate === 'number' ? `${(rate * 100).toFixed(1)}%` : '—');
const count = (n) => (typeof n === 'number' ? new Intl.NumberFormat(locale()).format(n) : '—');

export async function overviewView(el, ctx) {
  const { api } = ctx;
  const all = await ctx.stores();
  const zone = all[0]?.timezone || 'Asia/Shanghai';
  const today = localDate(new Date(), zone);
  if (!range.from || !range.to) [range.from, range.to] = presetRange(range.preset || 'last7', today);
  if (range.store && !all.some((s) => s.id === range.store)) range.store = '';

  const [from, fromBox] = field('from', t('a.range.from'), { type: 'date', value: range.from, required: true });
  const [to, toBox] = field('to', t('a.range.to'), { type: 'date', value: range.to, required: true });
  const [store, storeBox] = field('store', t('a.range.store'), {
    options: [['', t('a.range.all')], ...all.map((s) => [s.id, s.name])], value: range.store,
  });
  const presetButtons = PRESETS.map((p) => h('button.btn.small.secondary.preset', {
    type: 'button', text: t(`a.p.${p}`), 'data-preset': p, 'aria-pressed': String(range.preset === p),
    onclick: () => {
      [from.value, to.value] = presetRange(p, today);
      range.preset = p;
      load();
    },
  }));
  const markPreset = () => presetButtons.forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.preset === range.preset)));
  const custom = () => { range.preset = 'custom'; markPreset(); };
  from.addEventListener('change', custom);
  to.addEventListener('change', custom);

  const compared = h('p.muted', { id: 'compared' });
  const figures = h('div', { id: 'figures', 'aria-live': 'polite' }, h('p.muted', { text: t('app.loading') }));
  const charts = h('div.charts', { id: 'charts' });
  const storesBox = h('section.panel', { id: 'store-compare', 'aria-labelledby': 'store-compare-h' });
  const servicesBox = h('section.panel', { id: 'top-services', 'aria-labelledby': 'top-services-h' });
  const cohortsBox = h('section.panel', { id: 'cohorts', 'aria-labelledby': 'cohorts-h' });
  // The liability is the chain's (operators; the API refuses managers).
  const liabilityBox = ctx.role === 'operator' ? liabilityPanel(api, today) : null;

  const load = async () => {
    markPreset();
    clearFieldErrors(form);
    if (!from.value) from.value = range.from;
    if (!to.value) to.value = range.to;
    if (from.value > to.value) [from.value, to.value] = [to.value, from.value];
    if (previousPeriod(from.value, to.value)[0] < addDays(from.value, -MAX_DAYS)) {
      showFieldError(to, t('a.range.max', { n: MAX_DAYS }));
      to.focus();
      return;
    }
    Object.assign(range, { from: from.value, to: to.value, store: store.value });
    const q = { from: range.from, to: range.to, store_id: range.store };
    const [prevFrom, prevTo] = previousPeriod(range.from, range.to);
    compared.textContent = t('a.cmp.vs', { from: longDay(prevFrom), to: longDay(prevTo) });
    try {
      const [overview, previous, ...series] = await Promise.all([
        api.get('/stats/overview', q),
        api.get('/stats/overview', { ...q, from: prevFrom, to: prevTo }),
        ...METRICS.map((metric) => api.get('/stats/timeseries', { ...q, metric })),
      ]);
      mount(figures, statTiles(overview, previous));
      mount(charts, METRICS.map((metric, i) => h('div.panel', { 'data-metric': metric },
        h('h3', { id: `chart-${metric}`, text: t(`a.m.${metric}`) }),
        barChart(listOf(series[i], 'points'), MONEY_METRICS.has(metric), t(`a.m.${metric}`), range, t(`a.unit.${metric}`)))));
    } catch (err) {
      mount(figures, h('p.error', { role: 'alert', text: errorText(err) }));
      mount(charts);
    }
    await Promise.all([
      storeComparison(api, storesBox, range),
      topServices(api, servicesBox, q, all),
      cohorts(api, cohortsBox, q),
    ]);
  };
  const csv = async () => {
    const q = { from: from.value, to: to.value, store_id: store.value };
    try {
      const response = await api.raw('/stats/export.csv', q);
      const url = URL.createObjectURL(await response.blob());
      const name = `o2o-stats-${q.from}-${q.to}${q.store_id ? `-${q.store_id}` : ''}.csv`;
      const a = h('a', { href: url, download: name });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      toast(t('a.csvReady'), 'ok');
    } catch (err) { toast(errorText(err), 'bad'); }
  };
  const form = h('form.panel', { novalidate: true, onsubmit: (event) => { event.preventDefault(); load(); } },
      h('div.presets.row', { role: 'group', 'aria-label': t('a.p.label') }, presetButtons),
      h('div.inline-fields', {}, fromBox, toBox, storeBox),
      h('div.row', {},
        h('button.btn', { type: 'submit', text: t('a.range.apply'), id: 'apply' }),
        h('button.btn.secondary', { type: 'button', text: t('a.range.csv'), id: 'csv', onclick: csv })));
  mount(el, form, compared, figures, liabilityBox, charts, storesBox, servicesBox, cohortsBox);
  await load();
}

// A figure beside the previous period's: "+3 (+12.5%)" with an arrow; rates in points.
function delta(now, before, kind) {
  if (typeof now !== 'number' || typeof before !== 'number') return null;
  const diff = now - before;
  let text;
  if (kind === 'rate') {
    const points = Math.round(diff * 1000) / 10;
    text = points === 0 ? t('a.cmp.same') : t('a.cmp.pp', { sign: points > 0 ? '+' : '−', n: Math.abs(points).toFixed(1) });
  } else if (diff === 0) {
    text = t('a.cmp.same');
  } else {
    const shown = kind === 'money' ? money(Math.abs(diff)) : count(Math.abs(diff));
    const share = before ? ` (${diff > 0 ? '+' : '−'}${Math.abs((diff / before) * 100).toFixed(1)}%)` : '';
    text = `${diff > 0 ? '+' : '−'}${shown}${share}`;
  }
  const arrow = diff > 0 ? '▲ ' : diff < 0 ? '▼ ' : '';
  const previousText = kind === 'rate' ? pct(before) : kind === 'money' ? money(before) : count(before);
  return h('div.delta', {
    class: diff > 0 ? 'up' : diff < 0 ? 'down' : 'same', 'data-delta': String(diff),
  }, h('span', { 'aria-hidden': 'true', text: arrow }), text,
  h('span.visually-hidden', { text: ` (${t('a.cmp.prev', { value: previousText })})` }));
}

// What went onto cards by top-ups: the total (amount_cents = paid_cents + bonus_cents) in
// its two parts, the count, refunds; compared with the previous period's total.
function topUpTotal(tu) {
  if (!tu) return undefined;
  // The parts are the truth: their sum is the total (an older server answered the paid
  // money alone as amount_cents).
  return typeof tu.paid_cents === 'number' ? tu.paid_cents + (tu.bonus_cents ?? 0) : tu.amount_cents;
}
function topUpTile(tu, before) {
  const total = topUpTotal(tu);
  const paid = typeof tu.paid_cents === 'number' ? tu.paid_cents : tu.amount_cents;
  return h('div.stat', { 'data-stat': 'top_ups' },
    h('div.value', { text: money(total) }),
    h('div.label', { text: t('a.s.topupTotal') }),
    h('div.sub', { 'data-parts': '', text: t('a.s.topupParts', { paid: money(paid), bonus: money(tu.bonus_cents ?? 0) }) }),
    h('div.sub', {}, [`${t('a.s.topups')} ${count(tu.count)}`,
      tu.refunded_paid_cents ? t('a.s.refunded', { paid: money(tu.refunded_paid_cents), bonus: money(tu.refunded_bonus_cents ?? 0) }) : null]
      .filter(Boolean).join(' · ')),
    delta(total, topUpTotal(before), 'money'));
}

function statTiles(o, p) {
  const tile = (key, label, value, sub, change) => h('div.stat', { 'data-stat': key },
    h('div.value', { text: value }), h('div.label', { text: label }),
    sub ? h('div.sub', { text: sub }) : null, change);
  const get = (obj, a, b) => obj?.[a]?.[b];
  const both = (a, b, kind) => delta(get(o, a, b), get(p, a, b), kind);
  const m = o.members || {}; const c = o.cards || {}; const v = o.vouchers || {};
  const r = o.redemptions || {}; const tu = o.top_ups || {}; const b = o.bookings || {};
  const outcomes = (b.checked_in ?? 0) + (b.completed ?? 0) + (b.no_show ?? 0);
  return h('div', {},
    h('div.stats', {},
      tile('members_total', t('a.s.members'), count(m.total)),
      tile('members_new', t('a.s.newMembers'), count(m.new), null, both('members', 'new')),
      tile('members_active', t('a.s.active'), count(m.active), null, both('members', 'active')),
      tile('repeat_rate', t('a.s.repeatRate'), pct(m.repeat_rate), t('a.s.repeat', { n: m.repeat ?? 0 }), both('members', 'repeat_rate', 'rate')),
      tile('cards_issued', t('a.s.cardsIssued'), count(c.issued), `${t('a.s.cardsActive')} ${count(c.active)}`, both('cards', 'issued')),
      tile('vouchers', t('a.s.vRedeemed'), `${count(v.redeemed)} / ${count(v.issued)}`, `${t('a.s.rate')} ${pct(v.redemption_rate)}`,
        both('vouchers', 'redeemed')),
      tile('redemptions_count', t('a.s.redemptions'), String(r.count ?? '—'), null, both('redemptions', 'count')),
      tile('redemptions_value', t('a.s.value'), money(r.value_cents), null, both('redemptions', 'value_cents', 'money')),
      topUpTile(tu, p?.top_ups),
      tile('bookings', t('a.s.bookings'), count(b.total),
        `${t('a.s.completed')} ${b.completed ?? 0} · ${t('a.s.cancelled')} ${b.cancelled ?? 0} · ${t('a.s.noShow')} ${b.no_show ?? 0}`,
        both('bookings', 'total')),
      tile('no_show_rate', t('a.s.noShowRate'), pct(b.no_show_rate), t('a.s.noShowOf', { n: b.no_show ?? 0, m: outcomes }),
        both('bookings', 'no_show_rate', 'rate'))),
    h('p.muted.definitions', {}, t('a.def.active'), ' ', t('a.def.repeat'), ' ', t('a.def.noShow'), ' ', t('a.s.topupOnline')));
}

// A bar per day, drawn as SVG elements (no chart library, nothing but our own origin). The
// y axis says its unit (¥ or a count) at its top, the x axis dates in the reader's locale;
// the SVG is one image whose name sums it up (role="img" + aria-label).
function barChart(points, isMoney, title, span, unit) {
  const NS = 'http://www.w3.org/2000/svg';
  const el = (name, attrs, text) => {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const W = 360; const H = 170; const top = 18; const bottom = 18; const left = 40;
  const values = points.map((p) => p.value);
  const max = Math.max(0, ...values);
  const total = values.reduce((a, x) => a + x, 0);
  const label = (value) => (isMoney ? money(value) : count(value));
  const axisLabel = (value) => (isMoney ? `¥${count(Math.round(value / 100))}` : count(value));
  const maxAt = points.find((p) => p.value === max);
  const alt = max > 0
    ? t('a.chart.alt', { title, from: longDay(span.from), to: longDay(span.to), total: label(total), max: label(max), maxDate: longDay(maxAt.date) })
    : t('a.chart.altEmpty', { title, from: longDay(span.from), to: longDay(span.to) });
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': alt });
  const scale = Math.max(1, max);
  const y = (value) => H - bottom - ((H - top - bottom) * value) / scale;
  // y axis: 0 and the top value, with the unit
  svg.append(el('line', { x1: left, y1: top, x2: left, y2: H - bottom, class: 'axis' }));
  svg.append(el('line', { x1: left, y1: H - bottom, x2: W, y2: H - bottom, class: 'axis' }));
  svg.append(el('text', { x: left - 4, y: H - bottom + 3, 'text-anchor': 'end' }, isMoney ? '¥0' : '0'));
  if (max > 0) {
    svg.append(el('line', { x1: left, y1: y(max), x2: W, y2: y(max), class: 'grid' }));
    svg.append(el('text', { x: left - 4, y: y(max) + 3, 'text-anchor': 'end' }, axisLabel(max)));
  }
  svg.append(el('text', { x: 2, y: 10, class: 'unit' }, isMoney ? `¥ (${t('a.unit.yuan')})` : unit));
  const step = (W - left - 4) / Math.max(1, points.length);
  const every = Math.ceil(points.length / 7);
  const last = points.length - 1;
  points.forEach((p, i) => {
    const height = H - bottom - y(p.value);
    const x = left + 2 + i * step + step * 0.15;
    const bar = el('rect', { x, y: H - bottom - height, width: step * 0.7, height, class: 'bar' });
    bar.append(el('title', {}, `${longDay(p.date)}: ${label(p.value)}`));
    svg.append(bar);
    if (i === last || points.length <= 7 || (i % every === 0 && last - i >= every)) {
      const end = i === last && points.length > 1;
      svg.append(el('text', { x: end ? W - 1 : x + step * 0.35, y: H - 5, 'text-anchor': end ? 'end' : 'middle' }, shortDay(p.date)));
    }
  });
  return svg;
}

async function storeComparison(api, box, span) {
  try {
    const data = await api.get('/stats/stores', { from: span.from, to: span.to });
    const list = listOf(data, 'stores');
    mount(box, h('h2', { id: 'store-compare-h', text: t('a.cmpStores') }), h('p.muted', { text: t('a.cmpStores.note') }),
      table([t('a.sc.store'), ...['a.sc.new', 'a.sc.active', 'a.sc.repeat', 'a.sc.redemptions', 'a.sc.value',
        'a.sc.topups', 'a.sc.bookings', 'a.sc.noShow'].map((k) => ({ text: t(k), num: true }))],
      list.map((s) => h('tr', { 'data-store-row': s.store_id, class: s.store_id === span.store ? 'on' : '' },
        h('th', { scope: 'row', text: s.name }), h('td.num', { text: count(s.members_new) }),
        h('td.num', { text: count(s.active_members) }), h('td.num', { text: pct(s.repeat_rate) }),
        h('td.num', { text: count(s.redemptions) }), h('td.num', { text: money(s.redemption_value_cents) }),
        h('td.num', { text: money(s.top_up_amount_cents) }), h('td.num', { text: count(s.bookings) }),
        h('td.num', { text: pct(s.no_show_rate) })))));
  } catch (err) {
    mount(box, h('h2', { id: 'store-compare-h', text: t('a.cmpStores') }), h('p.error', { role: 'alert', text: errorText(err) }));
  }
}

async function topServices(api, box, q, all) {
  const storeName = (id) => all.find((s) => s.id === id)?.name || '—';
  try {
    const list = listOf(await api.get('/stats/services', { ...q, limit: 10 }), 'services');
    mount(box, h('h2', { id: 'top-services-h', text: t('a.topServices') }),
      list.length ? table([t('a.sv.service'), t('a.sv.store'),
        ...['a.sv.bookings', 'a.sv.completed', 'a.sv.cancelled', 'a.sv.noShow'].map((k) => ({ text: t(k), num: true }))],
        list.map((s) => h('tr', { 'data-service': s.service_id },
          h('th', { scope: 'row', text: s.name }), h('td', { text: storeName(s.store_id) }),
          h('td.num', { text: count(s.bookings) }), h('td.num', { text: count(s.completed) }),
          h('td.num', { text: count(s.cancelled) }), h('td.num', { text: count(s.no_show) }))))
        : h('p.muted', { text: t('app.none') }));
  } catch (err) {
    mount(box, h('h2', { id: 'top-services-h', text: t('a.topServices') }), h('p.error', { role: 'alert', text: errorText(err) }));
  }
}

// Cohorts of the six months up to the range's end: who joined when, and the share of them
// active in each later month.
async function cohorts(api, box, q) {
  const toMonth = q.to.slice(0, 7);
  const d = new Date(`${toMonth}-15T12:00:00Z`);
  d.setUTCMonth(d.getUTCMonth() - 5);
  const fromMonth = d.toISOString().slice(0, 7);
  const monthFmt = new Intl.DateTimeFormat(locale(), { year: 'numeric', month: lang() === 'zh' ? 'numeric' : 'short', timeZone: 'UTC' });
  const monthName = (ym) => monthFmt.format(new Date(`${ym}-15T12:00:00Z`));
  try {
    const list = listOf(await api.get('/stats/cohorts', { from: fromMonth, to: toMonth, store_id: q.store_id }), 'cohorts');
    const width = Math.max(1, ...list.map((c) => (c.activity || []).length));
    const head = [t('a.co.month'), { text: t('a.co.members'), num: true },
      ...Array.from({ length: width }, (_, n) => ({ text: n === 0 ? t('a.co.m0') : t('a.co.mn', { n }), num: true }))];
    mount(box, h('h2', { id: 'cohorts-h', text: t('a.cohorts') }), h('p.muted', { text: t('a.co.note') }),
      list.length ? table(head, list.map((c) => h('tr', { 'data-cohort': c.month },
        h('th', { scope: 'row', text: monthName(c.month) }), h('td.num', { text: count(c.members) }),
        Array.from({ length: width }, (_, n) => {
          const cell = (c.activity || [])[n];
          if (!cell) return h('td.num', { text: '' });
          return h('td.num', { text: c.members ? pct(cell.rate) : '—', title: `${monthName(cell.month)}: ${count(cell.active)}` });
        }))))
        : h('p.muted', { text: t('app.none') }));
  } catch (err) {
    mount(box, h('h2', { id: 'cohorts-h', text: t('a.cohorts') }), h('p.error', { role: 'alert', text: errorText(err) }));
  }
}

// The prepaid liability: the money on cards at the end of a local date (GET /stats/liability),
// paid and bonus apart, with its own date (any day, not the range).
function liabilityPanel(api, today) {
  const [day, dayBox] = field('liability-date', t('a.li.date'), { type: 'date', value: today, max: today, required: true });
  const out = h('div', { id: 'liability-figures', 'aria-live': 'polite' }, h('p.muted', { text: t('app.loading') }));
  const load = async () => {
    clearFieldErrors(box);
    if (!day.value) { showFieldError(day); day.focus(); return; }
    try {
      const l = await api.get('/stats/liability', { date: day.value });
      const total = (l.paid_cents ?? 0) + (l.bonus_cents ?? 0);
      const tile = (key, label, value) => h('div.stat', { 'data-liability': key },
        h('div.value', { text: value }), h('div.label', { text: label }));
      mount(out,
        h('div.stats', {},
          tile('total', t('a.li.total'), money(total)),
          tile('paid', t('a.li.paid'), money(l.paid_cents)),
          tile('bonus', t('a.li.bonus'), money(l.bonus_cents)),
          tile('cards', t('a.li.cards'), count(l.cards))),
        h('p.muted', { text: t('a.li.note', { date: longDay(l.date || day.value) }) }));
    } catch (err) {
      mount(out, h('p.error', { role: 'alert', text: errorText(err) }));
    }
  };
  const box = h('section.panel', { id: 'liability', 'aria-labelledby': 'liability-h' },
    h('h2', { id: 'liability-h', text: t('a.li.title') }),
    h('form', { novalidate: true, 'aria-label': t('a.li.title'), onsubmit: (event) => { event.preventDefault(); load(); } },
      h('div.row', {}, dayBox, h('button.btn.secondary', { type: 'submit', id: 'liability-show', text: t('a.li.show') }))),
    out);
  load();
  return box;
}
