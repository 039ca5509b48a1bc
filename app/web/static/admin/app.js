// The operator's dashboard: figures and daily charts for a range and store, CSV export,
// campaigns, card templates, stores with their services and resources, staff, and the
// notification log. Managers see what the API lets them see.
import { createApi, listOf } from '/static/common/api.js';
import { addMessages, errorText, langToggle, onLangChange, t } from '/static/common/i18n.js';
import { staffLoginView, staffSession } from '/static/common/login.js';
import {
  addDays, fmtDate, fmtDateTime, h, localDate, money, mount, parseYuan, toast, weekdayLabel,
} from '/static/common/ui.js';

addMessages({
  zh: {
    'a.title': '运营后台', 'a.login.title': '运营登录',
    'a.nav.overview': '概览', 'a.nav.campaigns': '营销活动', 'a.nav.templates': '会员卡', 'a.nav.stores': '门店与服务',
    'a.nav.staff': '员工', 'a.nav.notifications': '通知日志',
    'a.range.from': '开始日期', 'a.range.to': '结束日期', 'a.range.store': '门店', 'a.range.all': '全部门店',
    'a.range.apply': '查询', 'a.range.csv': '下载 CSV',
    'a.s.members': '会员总数', 'a.s.newMembers': '新会员', 'a.s.active': '活跃会员', 'a.s.cardsIssued': '新开卡',
    'a.s.cardsActive': '有效卡', 'a.s.vIssued': '发券', 'a.s.vRedeemed': '核销券', 'a.s.rate': '核销率',
    'a.s.redemptions': '核销次数', 'a.s.value': '核销金额', 'a.s.topups': '充值笔数', 'a.s.topupAmount': '充值金额',
    'a.s.bookings': '预约', 'a.s.completed': '完成', 'a.s.cancelled': '取消', 'a.s.noShow': '未到店',
    'a.m.new_members': '每日新会员', 'a.m.redemptions': '每日核销次数', 'a.m.redemption_value': '每日核销金额',
    'a.m.bookings': '每日预约', 'a.m.top_ups': '每日充值',
    'a.f.name': '名称', 'a.f.kind': '类型', 'a.f.value': '面额（元）', 'a.f.percent': '折扣（%）', 'a.f.maxDiscount': '最多减（元）',
    'a.f.item': '礼品/服务名称', 'a.f.minSpend': '最低消费（元）', 'a.f.total': '总量', 'a.f.perMember': '每人限领',
    'a.f.from': '开始', 'a.f.until': '结束', 'a.f.create': '创建', 'a.f.created': '已创建',
    'a.f.validity': '有效天数（空=长期）', 'a.f.visits': '次数（次卡）', 'a.f.ppy': '每元积分', 'a.f.tiers': '等级（每行：名称:积分:折扣%）',
    'a.f.claimable': '会员可自助领取', 'a.f.address': '地址', 'a.f.timezone': '时区', 'a.f.open': '营业开始', 'a.f.close': '营业结束',
    'a.f.duration': '时长（分钟）', 'a.f.price': '价格（元）', 'a.f.buffer': '间隔（分钟）', 'a.f.capacity': '容量',
    'a.f.services': '可做的服务', 'a.f.username': '用户名', 'a.f.password': '密码（至少 10 位）', 'a.f.role': '角色', 'a.f.stores': '门店',
    'a.c.issued': '已发/总量', 'a.c.valid': '有效期', 'a.c.pause': '暂停', 'a.c.resume': '恢复', 'a.c.new': '新建活动',
    'a.t.new': '新建会员卡模板', 'a.st.new': '新建门店', 'a.st.services': '服务', 'a.st.resources': '资源（技师/桌/房间）',
    'a.st.newService': '新增服务', 'a.st.newResource': '新增资源', 'a.staff.new': '新增员工',
    'a.n.status': '状态', 'a.n.event': '事件', 'a.n.member': '会员', 'a.n.attempts': '尝试', 'a.n.error': '错误', 'a.n.created': '创建', 'a.n.sent': '发送',
    'a.any': '全部', 'a.role.operator': '运营', 'a.role.manager': '店长', 'a.role.clerk': '店员',
    'a.daily': '每天', 'a.res.staff': '技师', 'a.res.table': '桌', 'a.res.room': '房间', 'a.csvReady': 'CSV 已下载',
  },
  en: {
    'a.title': 'Dashboard', 'a.login.title': 'Operator login',
    'a.nav.overview': 'Overview', 'a.nav.campaigns': 'Campaigns', 'a.nav.templates': 'Card templates', 'a.nav.stores': 'Stores & services',
    'a.nav.staff': 'Staff', 'a.nav.notifications': 'Notifications',
    'a.range.from': 'From', 'a.range.to': 'To', 'a.range.store': 'Store', 'a.range.all': 'All stores',
    'a.range.apply': 'Show', 'a.range.csv': 'Download CSV',
    'a.s.members': 'Members', 'a.s.newMembers': 'New members', 'a.s.active': 'Active members', 'a.s.cardsIssued': 'Cards issued',
    'a.s.cardsActive': 'Active cards', 'a.s.vIssued': 'Vouchers issued', 'a.s.vRedeemed': 'Vouchers redeemed', 'a.s.rate': 'Redemption rate',
    'a.s.redemptions': 'Redemptions', 'a.s.value': 'Redeemed value', 'a.s.topups': 'Top-ups', 'a.s.topupAmount': 'Topped up',
    'a.s.bookings': 'Bookings', 'a.s.completed': 'completed', 'a.s.cancelled': 'cancelled', 'a.s.noShow': 'no-show',
    'a.m.new_members': 'New members per day', 'a.m.redemptions': 'Redemptions per day', 'a.m.redemption_value': 'Redeemed value per day',
    'a.m.bookings': 'Bookings per day', 'a.m.top_ups': 'Top-ups per day',
    'a.f.name': 'Name', 'a.f.kind': 'Kind', 'a.f.value': 'Value (yuan)', 'a.f.percent': 'Percent off', 'a.f.maxDiscount': 'Max discount (yuan)',
    'a.f.item': 'Gift / service', 'a.f.minSpend': 'Min spend (yuan)', 'a.f.total': 'Quantity', 'a.f.perMember': 'Per member',
    'a.f.from': 'From', 'a.f.until': 'Until', 'a.f.create': 'Create', 'a.f.created': 'Created',
    'a.f.validity': 'Valid days (blank: no expiry)', 'a.f.visits': 'Visits (visits card)', 'a.f.ppy': 'Points per yuan', 'a.f.tiers': 'Tiers (a line each: name:points:discount%)',
    'a.f.claimable': 'Members may claim it', 'a.f.address': 'Address', 'a.f.timezone': 'Time zone', 'a.f.open': 'Opens', 'a.f.close': 'Closes',
    'a.f.duration': 'Minutes', 'a.f.price': 'Price (yuan)', 'a.f.buffer': 'Buffer (minutes)', 'a.f.capacity': 'Capacity',
    'a.f.services': 'Services it serves', 'a.f.username': 'Username', 'a.f.password': 'Password (10+ characters)', 'a.f.role': 'Role', 'a.f.stores': 'Stores',
    'a.c.issued': 'Issued / total', 'a.c.valid': 'Valid', 'a.c.pause': 'Pause', 'a.c.resume': 'Resume', 'a.c.new': 'New campaign',
    'a.t.new': 'New card template', 'a.st.new': 'New store', 'a.st.services': 'Services', 'a.st.resources': 'Resources (stylists, tables, rooms)',
    'a.st.newService': 'Add a service', 'a.st.newResource': 'Add a resource', 'a.staff.new': 'Add staff',
    'a.n.status': 'Status', 'a.n.event': 'Event', 'a.n.member': 'Member', 'a.n.attempts': 'Attempts', 'a.n.error': 'Error', 'a.n.created': 'Created', 'a.n.sent': 'Sent',
    'a.any': 'Any', 'a.role.operator': 'Operator', 'a.role.manager': 'Manager', 'a.role.clerk': 'Clerk',
    'a.daily': 'Daily', 'a.res.staff': 'Stylist', 'a.res.table': 'Table', 'a.res.room': 'Room', 'a.csvReady': 'CSV downloaded',
  },
});

const api = createApi('admin', { onUnauthorized: () => { api.setToken(''); render(); } });
const root = document.getElementById('app');
const session = staffSession(api, 'admin');
let storeCache = null;
async function stores(fresh = false) {
  if (!storeCache || fresh) storeCache = listOf(await api.get('/stores'));
  return storeCache;
}

const NAV = [['overview', 'a.nav.overview'], ['campaigns', 'a.nav.campaigns'], ['templates', 'a.nav.templates'],
  ['stores', 'a.nav.stores'], ['staff', 'a.nav.staff'], ['notifications', 'a.nav.notifications']];
const VIEWS = {
  overview: overviewView, campaigns: campaignsView, templates: templatesView, stores: storesView,
  staff: staffView, notifications: notificationsView,
};
const route = () => { const name = location.hash.replace(/^#/, ''); return VIEWS[name] ? name : 'overview'; };

function render() {
  if (!api.token || !session.staff) { staffLoginView(root, session, t('a.login.title'), render); return; }
  const name = route();
  const content = h('div', { id: 'view' }, h('p.muted', { text: t('app.loading') }));
  mount(root,
    h('header.topbar', {},
      h('span.title', { text: `${t('a.title')} · ${session.staff.name || session.staff.username || ''}` }),
      langToggle(),
      h('button', { type: 'button', text: t('app.logout'), onclick: logout })),
    h('main.page.wide', {},
      h('nav.nav', {}, NAV.map(([key, label]) => h('a', { href: `#${key}`, class: key === name ? 'on' : '', text: t(label), 'data-nav': key }))),
      content));
  VIEWS[name](content).catch((err) => mount(content, h('div.panel', {}, h('p.error', { text: errorText(err) }))));
}

function logout() {
  session.logout();
  render();
}

// Small form helpers: labelled inputs that read back as the API wants them.
function field(id, label, attrs = {}) {
  const { options, multiline, ...rest } = attrs;
  const input = options
    ? h('select', { id }, options.map(([value, text]) => h('option', { value, text, selected: value === attrs.value })))
    : h(multiline ? 'textarea' : 'input', { id, ...rest });
  return [input, h('div.field', {}, h('label', { for: id, text: label }), input)];
}
const num = (input) => (input.value.trim() === '' ? null : Number(input.value));
const yuan = (input) => parseYuan(input.value);
function clean(body) {
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== null && v !== undefined && v !== '' && !Number.isNaN(v)));
}
function submitter(build, post, done) {
  return async (event) => {
    event.preventDefault();
    const button = event.target.querySelector('[type=submit]');
    if (button) button.disabled = true;
    try {
      await post(clean(build()));
      toast(t('a.f.created'), 'ok');
      done();
    } catch (err) {
      toast(errorText(err), 'bad');
    } finally {
      if (button) button.disabled = false;
    }
  };
}
const table = (head, rows) => h('div.tablewrap', {}, h('table', {},
  h('thead', {}, h('tr', {}, head.map((x) => h('th', { text: x })))),
  h('tbody', {}, rows)));

// --- overview ---------------------------------------------------------------------------

const range = { from: null, to: null, store: '' };
const METRICS = ['new_members', 'redemptions', 'redemption_value', 'bookings', 'top_ups'];

async function overviewView(el) {
  const all = await stores();
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

// --- campaigns --------------------------------------------------------------------------

async function campaignsView(el) {
  const list = listOf(await api.get('/campaigns'));
  const operator = session.staff.role === 'operator';
  const toggle = (c) => async () => {
    try {
      await api.post(`/campaigns/${c.id}/${c.status === 'paused' ? 'resume' : 'pause'}`, {});
      campaignsView(el);
    } catch (err) { toast(errorText(err), 'bad'); }
  };
  const terms = (c) => [c.value_cents ? money(c.value_cents) : null, c.percent_off ? `${c.percent_off}%` : null,
    c.max_discount_cents ? `≤${money(c.max_discount_cents)}` : null, c.item_name,
    c.min_spend_cents ? `≥${money(c.min_spend_cents)}` : null].filter(Boolean).join(' ');
  mount(el,
    h('div.panel', {}, table(
      [t('a.f.name'), t('a.f.kind'), '', t('a.c.issued'), t('a.c.valid'), t('a.n.status'), ''],
      list.map((c) => h('tr', { 'data-campaign': c.id },
        h('td', { text: c.name }), h('td', { text: t(`kind.${c.kind}`) }), h('td', { text: terms(c) }),
        h('td', { text: `${c.issued_count} / ${c.total_quantity}` }),
        h('td', { text: `${fmtDate(c.valid_from)} – ${fmtDate(c.valid_until)}` }),
        h('td', {}, h('span.pill', { class: c.status, text: t(`status.${c.status}`) })),
        h('td', {}, operator ? h('button.btn.small.secondary', {
          type: 'button', text: c.status === 'paused' ? t('a.c.resume') : t('a.c.pause'), onclick: toggle(c),
        }) : null))))),
    operator ? campaignForm(() => campaignsView(el)) : null);
}

function campaignForm(done) {
  const today = new Date().toISOString().slice(0, 10);
  const [name, nameBox] = field('c-name', t('a.f.name'), { required: true, maxlength: 120 });
  const [kind, kindBox] = field('c-kind', t('a.f.kind'), { options: ['cash', 'discount', 'gift', 'service'].map((k) => [k, t(`kind.${k}`)]) });
  const [value, valueBox] = field('c-value', t('a.f.value'), { inputmode: 'decimal' });
  const [percent, percentBox] = field('c-percent', t('a.f.percent'), { type: 'number', min: 1, max: 100 });
  const [cap, capBox] = field('c-cap', t('a.f.maxDiscount'), { inputmode: 'decimal' });
  const [item, itemBox] = field('c-item', t('a.f.item'));
  const [minSpend, minBox] = field('c-min', t('a.f.minSpend'), { inputmode: 'decimal' });
  const [total, totalBox] = field('c-total', t('a.f.total'), { type: 'number', min: 1, value: '100', required: true });
  const [limit, limitBox] = field('c-limit', t('a.f.perMember'), { type: 'number', min: 1, value: '1' });
  const [from, fromBox] = field('c-from', t('a.f.from'), { type: 'date', value: today, required: true });
  const [until, untilBox] = field('c-until', t('a.f.until'), { type: 'date', value: addDays(today, 30), required: true });
  return h('form.panel', {
    onsubmit: submitter(() => ({
      name: name.value.trim(), kind: kind.value, value_cents: yuan(value), percent_off: num(percent),
      max_discount_cents: yuan(cap), item_name: item.value.trim(), min_spend_cents: yuan(minSpend),
      total_quantity: num(total), per_member_limit: num(limit),
      valid_from: new Date(`${from.value}T00:00:00`).toISOString(),
      valid_until: new Date(`${until.value}T23:59:59`).toISOString(),
    }), (body) => api.post('/campaigns', body), done),
  },
  h('h2', { text: t('a.c.new') }),
  h('div.inline-fields', {}, nameBox, kindBox, valueBox, percentBox, capBox, itemBox, minBox, totalBox, limitBox, fromBox, untilBox),
  h('button.btn', { type: 'submit', text: t('a.f.create') }));
}

// --- card templates ---------------------------------------------------------------------

async function templatesView(el) {
  const list = listOf(await api.get('/card-templates'));
  const all = await stores();
  const storeNames = (ids) => (ids ? ids.map((id) => all.find((s) => s.id === id)?.name || id).join(', ') : t('a.range.all'));
  mount(el,
    h('div.panel', {}, table(
      [t('a.f.name'), t('a.f.kind'), t('a.f.validity'), t('a.f.visits'), t('a.f.ppy'), t('a.f.tiers'), t('a.f.stores')],
      list.map((tp) => h('tr', { 'data-template': tp.id },
        h('td', { text: tp.name }), h('td', { text: t(`kind.${tp.kind}`) }),
        h('td', { text: tp.validity_days ?? '—' }), h('td', { text: tp.initial_visits ?? '—' }),
        h('td', { text: tp.points_per_yuan }),
        h('td', { text: (tp.tiers || []).map((x) => `${x.name} ≥${x.min_points} −${x.discount_percent}%`).join('; ') }),
        h('td', { text: storeNames(tp.store_ids) }))))),
    session.staff.role === 'operator' ? templateForm(() => templatesView(el)) : null);
}

function templateForm(done) {
  const [name, nameBox] = field('t-name', t('a.f.name'), { required: true });
  const [kind, kindBox] = field('t-kind', t('a.f.kind'), { options: ['stored_value', 'times', 'membership'].map((k) => [k, t(`kind.${k}`)]) });
  const [validity, validityBox] = field('t-validity', t('a.f.validity'), { type: 'number', min: 1 });
  const [visits, visitsBox] = field('t-visits', t('a.f.visits'), { type: 'number', min: 1 });
  const [ppy, ppyBox] = field('t-ppy', t('a.f.ppy'), { type: 'number', min: 0, value: '1' });
  const [tiers, tiersBox] = field('t-tiers', t('a.f.tiers'), { multiline: true, rows: 3, placeholder: 'Silver:1000:5\nGold:5000:10' });
  const claimable = h('input', { type: 'checkbox', id: 't-claimable', checked: true });
  return h('form.panel', {
    onsubmit: submitter(() => ({
      name: name.value.trim(), kind: kind.value, validity_days: num(validity), initial_visits: num(visits),
      points_per_yuan: num(ppy) ?? 0, claimable: claimable.checked,
      tiers: tiers.value.split('\n').map((line) => line.trim()).filter(Boolean).map((line) => {
        const [tierName, points, discount] = line.split(':');
        return { name: tierName.trim(), min_points: Number(points) || 0, discount_percent: Number(discount) || 0 };
      }),
    }), (body) => api.post('/card-templates', body), done),
  },
  h('h2', { text: t('a.t.new') }),
  h('div.inline-fields', {}, nameBox, kindBox, validityBox, visitsBox, ppyBox), tiersBox,
  h('label.check', {}, claimable, t('a.f.claimable')),
  h('p', {}, h('button.btn', { type: 'submit', text: t('a.f.create') })));
}

// --- stores, services, resources --------------------------------------------------------

let openStore = null;
async function storesView(el) {
  const all = await stores(true);
  openStore ||= all[0]?.id;
  const current = all.find((s) => s.id === openStore);
  const detail = h('div');
  mount(el,
    h('div.panel', {}, table([t('a.f.name'), t('a.f.address'), t('a.f.timezone'), ''],
      all.map((s) => h('tr', { 'data-store': s.id, class: s.id === openStore ? 'on' : '' },
        h('td', {}, h('strong', { text: s.name })), h('td', { text: s.address }), h('td', { text: s.timezone }),
        h('td', {}, h('button.btn.small.secondary', {
          type: 'button', text: t('a.st.services'), onclick: () => { openStore = s.id; storesView(el); },
        })))))),
    detail,
    session.staff.role === 'operator' ? storeForm(() => storesView(el)) : null);
  if (current) await storeDetail(detail, current, () => storesView(el));
}

async function storeDetail(el, store, done) {
  const [services, resources] = await Promise.all([
    api.get(`/stores/${store.id}/services`).then((x) => listOf(x)),
    api.get(`/stores/${store.id}/resources`).then((x) => listOf(x)),
  ]);
  const serviceName = (id) => services.find((s) => s.id === id)?.name || id;
  const [sName, sNameBox] = field('s-name', t('a.f.name'), { required: true });
  const [sDur, sDurBox] = field('s-dur', t('a.f.duration'), { type: 'number', min: 5, value: '45' });
  const [sPrice, sPriceBox] = field('s-price', t('a.f.price'), { inputmode: 'decimal' });
  const [sBuf, sBufBox] = field('s-buf', t('a.f.buffer'), { type: 'number', min: 0, value: '0' });
  const [rName, rNameBox] = field('r-name', t('a.f.name'), { required: true });
  const [rKind, rKindBox] = field('r-kind', t('a.f.kind'), { options: ['staff', 'table', 'room'].map((k) => [k, t(`a.res.${k}`)]) });
  const [rCap, rCapBox] = field('r-cap', t('a.f.capacity'), { type: 'number', min: 1, value: '1' });
  const serviceChecks = services.map((s) => h('input', { type: 'checkbox', value: s.id, checked: true }));
  const manager = session.staff.role !== 'clerk';
  mount(el, h('div.panel', { 'data-store-detail': store.id },
    h('h2', { text: store.name }),
    h('p.muted', { text: hoursText(store.opening_hours || []) }),
    h('h3', { text: t('a.st.services') }),
    table([t('a.f.name'), t('a.f.duration'), t('a.f.price'), t('a.f.buffer')], services.map((s) => h('tr', {},
      h('td', { text: s.name }), h('td', { text: s.duration_minutes }), h('td', { text: money(s.price_cents) }), h('td', { text: s.buffer_minutes })))),
    manager ? h('form', {
      onsubmit: submitter(() => ({
        name: sName.value.trim(), duration_minutes: num(sDur), price_cents: yuan(sPrice) ?? 0, buffer_minutes: num(sBuf) ?? 0,
      }), (body) => api.post(`/stores/${store.id}/services`, body), done),
    }, h('h3', { text: t('a.st.newService') }), h('div.inline-fields', {}, sNameBox, sDurBox, sPriceBox, sBufBox),
    h('button.btn.small', { type: 'submit', text: t('a.f.create') })) : null,
    h('h3', { text: t('a.st.resources') }),
    table([t('a.f.name'), t('a.f.kind'), t('a.f.capacity'), t('a.f.services')], resources.map((r) => h('tr', {},
      h('td', { text: r.name }), h('td', { text: t(`a.res.${r.kind}`) }), h('td', { text: r.capacity }),
      h('td', { text: (r.service_ids || []).map(serviceName).join(', ') })))),
    manager ? h('form', {
      onsubmit: submitter(() => ({
        name: rName.value.trim(), kind: rKind.value, capacity: num(rCap) ?? 1,
        service_ids: serviceChecks.filter((c) => c.checked).map((c) => c.value),
      }), (body) => api.post(`/stores/${store.id}/resources`, body), done),
    }, h('h3', { text: t('a.st.newResource') }), h('div.inline-fields', {}, rNameBox, rKindBox, rCapBox),
    h('div.field', {}, h('label', { text: t('a.f.services') }),
      services.map((s, i) => h('label.check', {}, serviceChecks[i], s.name))),
    h('button.btn.small', { type: 'submit', text: t('a.f.create') })) : null));
}

// 0 = Monday, as in the API; 2024-01-01 was a Monday.
function hoursText(hours) {
  const same = hours.length === 7 && hours.every((x) => x.open === hours[0].open && x.close === hours[0].close);
  if (same) return `${t('a.daily')} ${hours[0].open}–${hours[0].close}`;
  return hours.map((x) => `${weekdayLabel(addDays('2024-01-01', x.weekday))} ${x.open}–${x.close}`).join(' · ');
}

function storeForm(done) {
  const [name, nameBox] = field('st-name', t('a.f.name'), { required: true });
  const [address, addressBox] = field('st-address', t('a.f.address'));
  const [zone, zoneBox] = field('st-tz', t('a.f.timezone'), { value: 'Asia/Shanghai' });
  const [open, openBox] = field('st-open', t('a.f.open'), { type: 'time', value: '10:00' });
  const [close, closeBox] = field('st-close', t('a.f.close'), { type: 'time', value: '21:00' });
  return h('form.panel', {
    onsubmit: submitter(() => ({
      name: name.value.trim(), address: address.value.trim(), timezone: zone.value.trim(),
      opening_hours: Array.from({ length: 7 }, (_, weekday) => ({ weekday, open: open.value, close: close.value })),
    }), (body) => api.post('/stores', body), done),
  },
  h('h2', { text: t('a.st.new') }),
  h('div.inline-fields', {}, nameBox, addressBox, zoneBox, openBox, closeBox),
  h('button.btn', { type: 'submit', text: t('a.f.create') }));
}

// --- staff ------------------------------------------------------------------------------

async function staffView(el) {
  const [list, all] = await Promise.all([api.get('/staff').then((x) => listOf(x)), stores()]);
  const names = (ids) => (ids || []).map((id) => all.find((s) => s.id === id)?.name || id).join(', ');
  const [username, userBox] = field('u-name', t('a.f.username'), { required: true, autocomplete: 'off' });
  const [password, passBox] = field('u-pass', t('a.f.password'), { type: 'password', minlength: 10, autocomplete: 'new-password' });
  const [role, roleBox] = field('u-role', t('a.f.role'), {
    options: (session.staff.role === 'operator' ? ['clerk', 'manager', 'operator'] : ['clerk']).map((r) => [r, t(`a.role.${r}`)]),
  });
  const checks = all.map((s) => h('input', { type: 'checkbox', value: s.id }));
  mount(el,
    h('div.panel', {}, table([t('a.f.username'), t('a.f.role'), t('a.f.stores'), t('a.n.status')],
      list.map((s) => h('tr', {},
        h('td', { text: `${s.username}${s.name ? ` (${s.name})` : ''}` }), h('td', { text: t(`a.role.${s.role}`) }),
        h('td', { text: s.role === 'operator' ? t('a.range.all') : names(s.store_ids) }),
        h('td', {}, h('span.pill', { class: s.active === false ? 'cancelled' : 'active', text: s.active === false ? '—' : t('status.active') })))))),
    h('form.panel', {
      onsubmit: submitter(() => ({
        username: username.value.trim(), password: password.value, role: role.value,
        store_ids: checks.filter((c) => c.checked).map((c) => c.value),
      }), (body) => api.post('/staff', body), () => staffView(el)),
    },
    h('h2', { text: t('a.staff.new') }),
    h('div.inline-fields', {}, userBox, passBox, roleBox),
    h('div.field', {}, h('label', { text: t('a.f.stores') }), all.map((s, i) => h('label.check', {}, checks[i], s.name))),
    h('button.btn', { type: 'submit', text: t('a.f.create') })));
}

// --- notification log -------------------------------------------------------------------

const EVENTS = ['card_issued', 'voucher_issued', 'booking_confirmed', 'booking_cancelled', 'booking_reminder', 'redeemed', 'balance_changed'];
const logFilter = { status: '', event: '' };
async function notificationsView(el) {
  const list = listOf(await api.get('/notifications', logFilter), 'notifications');
  const [status] = field('n-status', t('a.n.status'), {
    options: [['', t('a.any')], ...['pending', 'sent', 'failed', 'cancelled'].map((s) => [s, t(`status.${s}`)])], value: logFilter.status,
  });
  const [event] = field('n-event', t('a.n.event'), { options: [['', t('a.any')], ...EVENTS.map((e) => [e, e])], value: logFilter.event });
  const apply = () => { Object.assign(logFilter, { status: status.value, event: event.value }); notificationsView(el); };
  status.addEventListener('change', apply);
  event.addEventListener('change', apply);
  mount(el,
    h('div.panel.row', {}, h('div.grow', {}, h('label', { for: 'n-status', text: t('a.n.status') }), status),
      h('div.grow', {}, h('label', { for: 'n-event', text: t('a.n.event') }), event)),
    h('div.panel', {}, list.length ? table(
      [t('a.n.created'), t('a.n.event'), t('a.n.member'), t('a.n.status'), t('a.n.attempts'), t('a.n.sent'), t('a.n.error')],
      list.map((n) => h('tr', {},
        h('td', { text: fmtDateTime(n.created_at) }), h('td', { text: n.event }),
        h('td', { text: `…${String(n.member_id || '').slice(-8)}` }),
        h('td', {}, h('span.pill', { class: n.status, text: t(`status.${n.status}`) })),
        h('td', { text: n.attempts }), h('td', { text: n.sent_at ? fmtDateTime(n.sent_at) : '—' }),
        h('td', { text: n.last_error || '' }))))
      : h('p.muted', { text: t('app.none') })));
}

window.addEventListener('hashchange', render);
onLangChange(render);
render();
