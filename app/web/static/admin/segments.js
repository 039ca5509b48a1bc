// The segment builder: every filter of the contract as a labelled control; as the operator
// edits, a debounced POST /segments/preview says how many members match and shows the first
// ones (only the newest answer is drawn: a slow earlier answer never overwrites a later
// one). Save it with a name; the saved segments list opens their members, exports them as
// CSV and issues a campaign to them (a background job whose progress is shown).
// export async function segmentsTab(el, ctx)
import { listOf } from '/static/common/api.js';
import { addMessages, errorText, fieldErrors, lang, locale, t } from '/static/common/i18n.js';
import { memberLabel } from '/static/common/terms.js';
import { fmtDate, h, money, mount, toast } from '/static/common/ui.js';
import { issueForm } from './jobs.js';
import {
  checkFields, checkGroup, clean, clearFieldErrors, field, num, serverFieldErrors, showFieldError, storeNames,
  submitter, table, yuan,
} from './kit.js';

addMessages({
  zh: {
    'a.sg.builder': '筛选会员', 'a.sg.visits': '到店与消费', 'a.sg.who': '会员属性',
    'a.sg.lastAfter': '最近到店：从（含）', 'a.sg.lastBefore': '最近到店：早于', 'a.sg.joinedAfter': '注册：从（含）', 'a.sg.joinedBefore': '注册：早于',
    'a.sg.window': '统计最近多少天（默认 90）', 'a.sg.visitsMin': '到店次数至少', 'a.sg.visitsMax': '到店次数至多',
    'a.sg.spendMin': '消费至少（元）', 'a.sg.spendMax': '消费至多（元）',
    'a.sg.tiers': '等级（都不选 = 不限）', 'a.sg.templates': '持有的会员卡（都不选 = 不限）', 'a.sg.stores': '去过的门店（都不选 = 不限）',
    'a.sg.birthday': '生日月份', 'a.sg.phone': '手机号', 'a.sg.hasPhone': '有手机号', 'a.sg.noPhone': '没有手机号',
    'a.sg.count': '符合条件的会员：{n} 位', 'a.sg.counting': '正在计算…', 'a.sg.first': '前 {n} 位', 'a.sg.none': '没有符合条件的会员',
    'a.sg.name': '人群名称', 'a.sg.save': '保存人群', 'a.sg.saved': '人群已保存', 'a.sg.reset': '清除条件',
    'a.sg.list': '已保存的人群', 'a.sg.filters': '条件', 'a.sg.created': '创建', 'a.sg.members': '会员', 'a.sg.csv': '导出 CSV',
    'a.sg.issue': '发券', 'a.sg.membersOf': '人群的会员：{name}', 'a.sg.issueTo': '给人群发券：{name}', 'a.sg.close': '关闭',
    'a.sg.all': '全部会员', 'a.sg.noSaved': '还没有保存的人群', 'a.sg.csvReady': 'CSV 已下载', 'a.sg.more': '下一页', 'a.sg.prev': '上一页',
    'a.sg.visitsIn': '最近 {d} 天', 'a.sg.f.lastAfter': '最近到店 ≥ {v}', 'a.sg.f.lastBefore': '最近到店 < {v}',
    'a.sg.f.joinedAfter': '注册 ≥ {v}', 'a.sg.f.joinedBefore': '注册 < {v}', 'a.sg.f.visits': '到店 {v} 次', 'a.sg.f.spend': '消费 {v}',
    'a.sg.f.tiers': '等级：{v}', 'a.sg.f.templates': '持卡：{v}', 'a.sg.f.stores': '去过：{v}', 'a.sg.f.birthday': '{v}生日',
    'a.sg.minMax': '至多须不小于至少', 'a.sg.visitsCol': '期间到店', 'a.sg.spendCol': '期间消费',
  },
  en: {
    'a.sg.builder': 'Find members', 'a.sg.visits': 'Visits and spend', 'a.sg.who': 'Who they are',
    'a.sg.lastAfter': 'Last visit on or after', 'a.sg.lastBefore': 'Last visit before', 'a.sg.joinedAfter': 'Joined on or after', 'a.sg.joinedBefore': 'Joined before',
    'a.sg.window': 'Counting the last N days (default 90)', 'a.sg.visitsMin': 'Visits at least', 'a.sg.visitsMax': 'Visits at most',
    'a.sg.spendMin': 'Spend at least (yuan)', 'a.sg.spendMax': 'Spend at most (yuan)',
    'a.sg.tiers': 'Tiers (none ticked: any)', 'a.sg.templates': 'Holds a card of (none ticked: any)', 'a.sg.stores': 'Visited stores (none ticked: any)',
    'a.sg.birthday': 'Birthday month', 'a.sg.phone': 'Phone', 'a.sg.hasPhone': 'Has a phone', 'a.sg.noPhone': 'No phone',
    'a.sg.count': 'Matching members: {n}', 'a.sg.counting': 'Counting…', 'a.sg.first': 'The first {n}', 'a.sg.none': 'No member matches',
    'a.sg.name': 'Segment name', 'a.sg.save': 'Save segment', 'a.sg.saved': 'Segment saved', 'a.sg.reset': 'Clear filters',
    'a.sg.list': 'Saved segments', 'a.sg.filters': 'Filters', 'a.sg.created': 'Created', 'a.sg.members': 'Members', 'a.sg.csv': 'Export CSV',
    'a.sg.issue': 'Issue a campaign', 'a.sg.membersOf': 'Members of {name}', 'a.sg.issueTo': 'Issue a campaign to {name}', 'a.sg.close': 'Close',
    'a.sg.all': 'All members', 'a.sg.noSaved': 'No saved segment yet', 'a.sg.csvReady': 'CSV downloaded', 'a.sg.more': 'Next', 'a.sg.prev': 'Previous',
    'a.sg.visitsIn': 'last {d} days', 'a.sg.f.lastAfter': 'last visit ≥ {v}', 'a.sg.f.lastBefore': 'last visit < {v}',
    'a.sg.f.joinedAfter': 'joined ≥ {v}', 'a.sg.f.joinedBefore': 'joined < {v}', 'a.sg.f.visits': '{v} visits', 'a.sg.f.spend': 'spent {v}',
    'a.sg.f.tiers': 'tier: {v}', 'a.sg.f.templates': 'holds: {v}', 'a.sg.f.stores': 'visited: {v}', 'a.sg.f.birthday': 'born in {v}',
    'a.sg.minMax': '"at most" must not be below "at least"', 'a.sg.visitsCol': 'Visits in window', 'a.sg.spendCol': 'Spend in window',
  },
});

// The operator stops typing for this long before the count is asked for.
const DEBOUNCE_MS = 300;
// The builder's controls as the operator left them (id -> value, or checked for a box):
// kept while they open a segment, issue to it or visit another view.
const kept = new Map();
const MEMBERS_PAGE = 20;

const monthName = (m) => new Intl.DateTimeFormat(locale(), { month: 'long', timeZone: 'UTC' })
  .format(new Date(Date.UTC(2000, m - 1, 1)));

// "last visit < 2026-01-01 · 2–5 visits (last 90 days) · tier: Gold" (the saved list's column).
export function filtersText(f, { templates = [], stores = [] } = {}) {
  const parts = [];
  const range = (lo, hi, fmt = String) => {
    if (lo !== undefined && lo !== null && hi !== undefined && hi !== null) return `${fmt(lo)}–${fmt(hi)}`;
    return lo !== undefined && lo !== null ? `≥ ${fmt(lo)}` : `≤ ${fmt(hi)}`;
  };
  const has = (x) => x !== undefined && x !== null;
  if (f.last_visit_after) parts.push(t('a.sg.f.lastAfter', { v: f.last_visit_after }));
  if (f.last_visit_before) parts.push(t('a.sg.f.lastBefore', { v: f.last_visit_before }));
  if (f.joined_after) parts.push(t('a.sg.f.joinedAfter', { v: f.joined_after }));
  if (f.joined_before) parts.push(t('a.sg.f.joinedBefore', { v: f.joined_before }));
  const within = ` (${t('a.sg.visitsIn', { d: f.window_days || 90 })})`;
  if (has(f.visits_min) || has(f.visits_max)) parts.push(t('a.sg.f.visits', { v: range(f.visits_min, f.visits_max) }) + within);
  if (has(f.spend_min_cents) || has(f.spend_max_cents)) parts.push(t('a.sg.f.spend', { v: range(f.spend_min_cents, f.spend_max_cents, money) }) + within);
  if (f.tiers?.length) parts.push(t('a.sg.f.tiers', { v: f.tiers.join(', ') }));
  if (f.card_template_ids?.length) {
    parts.push(t('a.sg.f.templates', { v: f.card_template_ids.map((id) => templates.find((x) => x.id === id)?.name || id).join(', ') }));
  }
  if (f.store_ids?.length) parts.push(t('a.sg.f.stores', { v: storeNames(stores, f.store_ids) }));
  if (has(f.birthday_month)) parts.push(t('a.sg.f.birthday', { v: monthName(f.birthday_month) }));
  if (f.has_phone === true) parts.push(t('a.sg.hasPhone'));
  if (f.has_phone === false) parts.push(t('a.sg.noPhone'));
  return parts.length ? parts.join(lang() === 'zh' ? '；' : ' · ') : t('a.sg.all');
}

export async function segmentsTab(el, ctx) {
  const { api } = ctx;
  const [templates, stores, segments, campaigns] = await Promise.all([
    api.get('/card-templates').then((x) => listOf(x)).catch(() => []),
    ctx.stores(),
    api.get('/segments').then((x) => listOf(x)).catch(() => []),
    ctx.role === 'operator' ? api.get('/campaigns').then((x) => listOf(x)).catch(() => []) : [],
  ]);
  const [sub, id] = [ctx.params[0], ctx.params[1]];
  const chosen = id ? segments.find((s) => s.id === id) : null;
  const builder = builderForm(ctx, templates, stores);
  const words = { templates, stores };
  const panel = chosen && sub === 'issue' ? issuePanel(ctx, chosen, campaigns, segments)
    : chosen ? membersPanel(ctx, chosen) : null;
  mount(el, panel, builder.form, savedList(ctx, segments, words));
  await builder.ready;
  panel?.querySelector('h2')?.focus({ preventScroll: true });
}

function builderForm(ctx, templates, stores) {
  const { api } = ctx;
  const tiers = [...new Set(templates.flatMap((tp) => (tp.tiers || []).map((x) => x.name)))];
  const date = (id, label, apiName) => field(id, label, { type: 'date', api: apiName });
  const [lastAfter, lastAfterBox] = date('sg-last-after', t('a.sg.lastAfter'), 'last_visit_after');
  const [lastBefore, lastBeforeBox] = date('sg-last-before', t('a.sg.lastBefore'), 'last_visit_before');
  const [joinedAfter, joinedAfterBox] = date('sg-joined-after', t('a.sg.joinedAfter'), 'joined_after');
  const [joinedBefore, joinedBeforeBox] = date('sg-joined-before', t('a.sg.joinedBefore'), 'joined_before');
  const [windowDays, windowBox] = field('sg-window', t('a.sg.window'), { type: 'number', min: 1, max: 730, placeholder: '90', api: 'window_days' });
  const [visitsMin, visitsMinBox] = field('sg-visits-min', t('a.sg.visitsMin'), { type: 'number', min: 0, max: 100000, api: 'visits_min' });
  const [visitsMax, visitsMaxBox] = field('sg-visits-max', t('a.sg.visitsMax'), { type: 'number', min: 0, max: 100000, api: 'visits_max' });
  const [spendMin, spendMinBox] = field('sg-spend-min', t('a.sg.spendMin'), { money: true, api: 'spend_min_cents' });
  const [spendMax, spendMaxBox] = field('sg-spend-max', t('a.sg.spendMax'), { money: true, api: 'spend_max_cents' });
  const [tierIds, tiersSet] = checkGroup('sg-tiers', t('a.sg.tiers'), tiers.map((x) => [x, x]), { api: 'tiers' });
  const [templateIds, templatesSet] = checkGroup('sg-templates', t('a.sg.templates'), templates.map((x) => [x.id, x.name]), { api: 'card_template_ids' });
  const [storeIds, storesSet] = checkGroup('sg-stores', t('a.sg.stores'), stores.map((x) => [x.id, x.name]), { api: 'store_ids' });
  const [birthday, birthdayBox] = field('sg-birthday', t('a.sg.birthday'), {
    options: [['', t('a.any')], ...Array.from({ length: 12 }, (_, i) => [String(i + 1), monthName(i + 1)])], api: 'birthday_month',
  });
  const [phone, phoneBox] = field('sg-phone', t('a.sg.phone'), {
    options: [['', t('a.any')], ['yes', t('a.sg.hasPhone')], ['no', t('a.sg.noPhone')]], api: 'has_phone',
  });
  const [name, nameBox] = field('sg-name', t('a.sg.name'), { required: true, maxlength: 120, api: 'name' });

  const filters = () => {
    const list = (values) => (values.length ? values : null);
    return clean({
      last_visit_after: lastAfter.value, last_visit_before: lastBefore.value,
      joined_after: joinedAfter.value, joined_before: joinedBefore.value,
      window_days: num(windowDays), visits_min: num(visitsMin), visits_max: num(visitsMax),
      spend_min_cents: yuan(spendMin), spend_max_cents: yuan(spendMax),
      tiers: list(tierIds()), card_template_ids: list(templateIds()), store_ids: list(storeIds()),
      birthday_month: birthday.value ? Number(birthday.value) : null,
      has_phone: phone.value ? phone.value === 'yes' : null,
    });
  };
  const minMax = () => {
    const wrong = [];
    const lo = num(visitsMin); const hi = num(visitsMax);
    if (lo !== null && hi !== null && hi < lo) wrong.push([visitsMax, t('a.sg.minMax')]);
    const slo = yuan(spendMin); const shi = yuan(spendMax);
    if (Number.isInteger(slo) && Number.isInteger(shi) && shi < slo) wrong.push([spendMax, t('a.sg.minMax')]);
    return wrong;
  };

  const count = h('p.count', { id: 'sg-count', role: 'status', 'aria-live': 'polite', 'aria-atomic': 'true' }, t('a.sg.counting'));
  const firstOnes = h('div', { id: 'sg-preview' });
  const filterBox = h('div', { id: 'sg-filters' },
    h('fieldset.group', {}, h('legend', { text: t('a.sg.visits') }),
      h('div.inline-fields', {}, lastAfterBox, lastBeforeBox, windowBox, visitsMinBox, visitsMaxBox, spendMinBox, spendMaxBox),
      storesSet),
    h('fieldset.group', {}, h('legend', { text: t('a.sg.who') }),
      h('div.inline-fields', {}, joinedAfterBox, joinedBeforeBox, birthdayBox, phoneBox),
      tiers.length ? tiersSet : null, templatesSet));

  // Each edit asks again after a pause; only the newest question's answer is drawn.
  let asked = 0; let timer = null;
  let ready = null; let settle = () => {};
  const preview = async () => {
    const mine = ++asked;
    clearFieldErrors(filterBox);
    const wrong = [...checkFields(filterBox), ...minMax()];
    if (wrong.length) {
      for (const [input, rule] of wrong) showFieldError(input, rule);
      count.dataset.state = 'invalid';
      settle();
      return;
    }
    count.dataset.state = 'counting';
    count.textContent = t('a.sg.counting');
    try {
      const res = await api.post('/segments/preview', { filters: filters() });
      if (mine !== asked) return;
      count.dataset.count = String(res.count);
      count.dataset.state = 'done';
      count.textContent = t('a.sg.count', { n: res.count });
      const members = listOf(res.members, 'members');
      mount(firstOnes, members.length
        ? [h('h3', { text: t('a.sg.first', { n: members.length }) }), membersTable(members, t('a.sg.first', { n: members.length }))]
        : h('p.muted', { text: t('a.sg.none') }));
    } catch (err) {
      if (mine !== asked) return;
      count.dataset.state = 'error';
      const marked = err.code === 'validation_error' ? serverFieldErrors(filterBox, unnest(err)) : [];
      for (const [input, rule] of marked) showFieldError(input, rule);
      count.textContent = errorText(err);
    }
    settle();
  };
  const soon = () => {
    clearTimeout(timer);
    count.dataset.state = 'waiting';
    ready = new Promise((resolve) => { settle = resolve; });
    timer = setTimeout(preview, DEBOUNCE_MS);
  };
  const controls = () => filterBox.querySelectorAll('input, select');
  for (const input of controls()) {
    if (!kept.has(input.id)) continue;
    if (input.type === 'checkbox') input.checked = kept.get(input.id); else input.value = kept.get(input.id);
  }
  const keep = () => {
    for (const input of controls()) kept.set(input.id, input.type === 'checkbox' ? input.checked : input.value);
  };
  filterBox.addEventListener('input', () => { keep(); soon(); });
  filterBox.addEventListener('change', () => { keep(); soon(); });

  const reset = () => {
    for (const input of filterBox.querySelectorAll('input, select')) {
      if (input.type === 'checkbox') input.checked = false; else input.value = '';
    }
    kept.clear();
    soon();
  };
  const form = h('form.panel', {
    id: 'segment-form', novalidate: true, 'aria-labelledby': 'sg-title',
    onsubmit: submitter(() => ({ name: name.value.trim(), filters: filters() }), (body) => api.post('/segments', body),
      () => ctx.rerender(), { ok: t('a.sg.saved'), check: minMax }),
  },
  h('h2', { id: 'sg-title', text: t('a.sg.builder') }),
  filterBox,
  h('div.preview', {}, count, firstOnes),
  h('div.row.save', {}, h('div.grow', {}, nameBox),
    h('button.btn', { type: 'submit', text: t('a.sg.save') }),
    h('button.btn.secondary', { type: 'button', text: t('a.sg.reset'), onclick: reset })));
  ready = new Promise((resolve) => { settle = resolve; });
  preview();
  return { form, get ready() { return ready; } };
}

// A 400 on {"filters": {...}} names "filters.visits_min": the input knows "visits_min".
function unnest(err) {
  const errors = fieldErrors(err).map((e) => ({ ...e, field: String(e.field || '').replace(/^\$\./, '').replace(/^filters\./, '') }));
  return { ...err, problem: { ...err.problem, errors } };
}

// Members as the segment endpoints give them: visits and spend are within the window.
function membersTable(members, caption) {
  return table([t('a.mb.name'), t('a.mb.phone'), t('a.mb.lastVisit'), { text: t('a.sg.visitsCol'), num: true }, { text: t('a.sg.spendCol'), num: true }, t('a.mb.joined')],
    members.map((m) => h('tr', { 'data-member': m.id },
      h('th', { scope: 'row' }, h('a', { href: `#members/${m.id}`, text: memberLabel(m) || '—' })),
      h('td', { text: m.phone || '—' }),
      h('td', { text: m.last_visit_at ? fmtDate(m.last_visit_at) : t('a.mb.never') }),
      h('td.num', { text: String(m.visits ?? '—') }),
      h('td.num', { text: money(m.spend_cents ?? null) }),
      h('td', { text: fmtDate(m.joined_at || m.created_at) }))),
    { caption });
}

function savedList(ctx, segments, words) {
  const csv = (s) => async () => {
    try {
      const response = await ctx.api.raw(`/segments/${s.id}/export.csv`);
      const url = URL.createObjectURL(await response.blob());
      const a = h('a', { href: url, download: `o2o-segment-${s.name.replace(/[^\w\u4e00-\u9fff-]+/g, '-')}.csv` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      toast(t('a.sg.csvReady'), 'ok');
    } catch (err) { toast(errorText(err), 'bad'); }
  };
  const operator = ctx.role === 'operator';
  return h('section.panel', { id: 'segments', 'aria-labelledby': 'sg-list-title' },
    h('h2', { id: 'sg-list-title', text: t('a.sg.list') }),
    segments.length ? table([t('a.f.name'), t('a.sg.filters'), t('a.sg.created'), ''],
      segments.map((s) => h('tr', { 'data-segment': s.id },
        h('th', { scope: 'row', text: s.name }),
        h('td', { text: filtersText(s.filters || {}, words) }),
        h('td', { text: fmtDate(s.created_at) }),
        h('td', {}, h('div.table-actions', {},
          h('a.btn.small.secondary', { href: `#marketing/segments/${s.id}`, text: t('a.sg.members'), 'aria-label': `${t('a.sg.members')}: ${s.name}`, 'data-members': s.id }),
          h('button.btn.small.secondary', { type: 'button', text: t('a.sg.csv'), 'aria-label': `${t('a.sg.csv')}: ${s.name}`, 'data-csv': s.id, onclick: csv(s) }),
          operator ? h('a.btn.small', { href: `#marketing/issue/${s.id}`, text: t('a.sg.issue'), 'aria-label': `${t('a.sg.issue')}: ${s.name}`, 'data-issue': s.id }) : null)))),
    { caption: t('a.sg.list') }) : h('p.muted', { text: t('a.sg.noSaved') }));
}

function closeLink() {
  return h('a.btn.small.secondary', { href: '#marketing/segments', text: t('a.sg.close') });
}

function issuePanel(ctx, segment, campaigns, segments) {
  return h('section.panel', { id: 'segment-issue', 'data-segment': segment.id, 'aria-labelledby': 'sg-issue-title' },
    h('div.row.between', {}, h('h2', { id: 'sg-issue-title', tabindex: '-1', text: t('a.sg.issueTo', { name: segment.name }) }), closeLink()),
    issueForm(ctx, { campaigns, segments, segmentId: segment.id, idPrefix: 'si' }));
}

function membersPanel(ctx, segment) {
  const box = h('div', { id: 'segment-members' }, h('p.muted', { text: t('app.loading') }));
  const count = h('p', { id: 'segment-count' });
  let offset = 0;
  const load = async () => {
    try {
      const res = await ctx.api.get(`/segments/${segment.id}/members`, { limit: MEMBERS_PAGE + 1, offset });
      const list = listOf(res, 'members');
      count.textContent = typeof res?.count === 'number' ? t('a.sg.count', { n: res.count }) : '';
      const more = list.length > MEMBERS_PAGE;
      const page = list.slice(0, MEMBERS_PAGE);
      const go = (delta) => () => { offset = Math.max(0, offset + delta * MEMBERS_PAGE); load(); };
      mount(box, page.length ? membersTable(page, t('a.sg.membersOf', { name: segment.name })) : h('p.muted', { text: t('a.sg.none') }),
        h('nav.row.pager', { 'aria-label': t('a.sg.membersOf', { name: segment.name }) },
          h('button.btn.small.secondary', { type: 'button', text: t('a.sg.prev'), disabled: offset === 0, onclick: go(-1) }),
          h('button.btn.small.secondary', { type: 'button', text: t('a.sg.more'), disabled: !more, onclick: go(1) })));
    } catch (err) {
      mount(box, h('p.error', { role: 'alert', text: errorText(err) }));
    }
  };
  load();
  return h('section.panel', { id: 'segment-view', 'data-segment': segment.id, 'aria-labelledby': 'sg-members-title' },
    h('div.row.between', {}, h('h2', { id: 'sg-members-title', tabindex: '-1', text: t('a.sg.membersOf', { name: segment.name }) }), closeLink()),
    count, box);
}
