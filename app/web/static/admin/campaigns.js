// Campaigns: the chain's voucher campaigns with their terms, usage rules and status; per
// campaign its results (#campaigns/<id>: issued, redeemed, rate, discount given, bills with
// the voucher); pause/resume; and the create form with store limits and usage rules (days of
// the week, hours of the day), whose errors name the field and the rule.
// export async function campaignsView(el, ctx)
import { listOf } from '/static/common/api.js';
import { addMessages, errorText, t } from '/static/common/i18n.js';
import { clauseSep, minSpendText, rulesText, valueText, weekdayName } from '/static/common/terms.js';
import { addDays, fmtDate, h, money, mount, toast } from '/static/common/ui.js';
import { issueForm } from './jobs.js';
import { checkGroup, field, num, submitter, table, yuan } from './kit.js';

addMessages({
  zh: {
    'a.c.terms': '内容', 'a.c.rules': '使用规则', 'a.c.results': '效果', 'a.c.showResults': '查看效果',
    'a.c.resultsOf': '活动效果：{name}', 'a.c.close': '关闭',
    'a.c.r.issued': '已发放', 'a.c.r.redeemed': '已核销', 'a.c.r.rate': '核销率', 'a.c.r.discount': '优惠金额',
    'a.c.r.bills': '用券订单金额', 'a.c.r.revoked': '已作废', 'a.c.r.expired': '已过期',
    'a.c.r.note': '核销率 = 已核销 ÷ 已发放；优惠金额与订单金额不含已撤销的核销。',
    'a.c.stores': '可用门店（都不选 = 全部门店）', 'a.c.weekdays': '可用星期（都不选 = 每天）',
    'a.c.timeFrom': '每天开始时间', 'a.c.timeUntil': '每天结束时间',
    'a.c.timeNote': '时间按核销门店的当地时间；结束时间当刻起不可用；结束时间填 00:00 表示用到当天午夜。',
    'a.c.untilAfterFrom': '须晚于开始时间（不支持跨夜）', 'a.c.bothTimes': '开始和结束时间须同时填写',
    'a.c.untilAfterStart': '须不早于开始日期', 'a.c.kindNeeds': '{kind}须填写此项',
    'a.c.paused': '已暂停', 'a.c.resumed': '已恢复',
    'a.c.operatorsOnly': '活动效果仅运营人员可见',
    'a.c.giftable': '会员可以把券转赠给朋友', 'a.c.giftableNote': '转赠后原来的券码作废，朋友收到新的券码。',
    'a.c.toSegment': '发给人群', 'a.c.toSegmentOf': '发给人群：{name}',
  },
  en: {
    'a.c.terms': 'Terms', 'a.c.rules': 'Usage rules', 'a.c.results': 'Results', 'a.c.showResults': 'Results',
    'a.c.resultsOf': 'Results: {name}', 'a.c.close': 'Close',
    'a.c.r.issued': 'Issued', 'a.c.r.redeemed': 'Redeemed', 'a.c.r.rate': 'Redemption rate', 'a.c.r.discount': 'Discount given',
    'a.c.r.bills': 'Bills with the voucher', 'a.c.r.revoked': 'Revoked', 'a.c.r.expired': 'Expired',
    'a.c.r.note': 'Rate = redeemed ÷ issued; discount and bills leave out reversed redemptions.',
    'a.c.stores': 'Stores (none ticked = every store)', 'a.c.weekdays': 'Days of the week (none ticked = every day)',
    'a.c.timeFrom': 'Usable from (daily)', 'a.c.timeUntil': 'Usable until (daily)',
    'a.c.timeNote': 'Hours are the redeeming store\'s local time; "until" is exclusive; an "until" of 00:00 means up to midnight.',
    'a.c.untilAfterFrom': 'must be later than the start time (no overnight windows)', 'a.c.bothTimes': 'give both times or neither',
    'a.c.untilAfterStart': 'must not be before the start date', 'a.c.kindNeeds': 'required for a {kind}',
    'a.c.paused': 'Paused', 'a.c.resumed': 'Resumed',
    'a.c.operatorsOnly': 'Results are for operators',
    'a.c.giftable': 'Members may gift the voucher to a friend', 'a.c.giftableNote': 'A gifted voucher gets a new code; the old code stops working.',
    'a.c.toSegment': 'Issue to a segment', 'a.c.toSegmentOf': 'Issue to a segment: {name}',
  },
});

const percent = (rate) => `${(Math.round((rate || 0) * 1000) / 10).toFixed(1)}%`;

export async function campaignsView(el, ctx) {
  const { api, session } = ctx;
  const [list, allStores] = await Promise.all([api.get('/campaigns').then((x) => listOf(x)), ctx.stores()]);
  const operator = session.staff.role === 'operator';
  const openId = operator ? ctx.params[0] : null;
  const found = openId ? list.find((c) => c.id === openId) : null;
  // #campaigns/<id>/segment: issue it to a saved segment; #campaigns/<id>: its results.
  const toSegment = found && ctx.params[1] === 'segment' ? found : null;
  const open = toSegment ? null : found;
  const toggle = (c) => async () => {
    const paused = c.status === 'paused';
    try {
      await api.post(`/campaigns/${c.id}/${paused ? 'resume' : 'pause'}`, {});
      toast(paused ? t('a.c.resumed') : t('a.c.paused'), 'ok');
      await ctx.rerender();
      document.querySelector(`tr[data-campaign='${c.id}'] button[data-toggle]`)?.focus();
    } catch (err) { toast(errorText(err), 'bad'); }
  };
  const resultsPanel = open ? h('section.panel', { id: 'campaign-results', 'data-campaign': open.id, 'aria-labelledby': 'results-title' },
    h('div.row.between', {},
      h('h2', { id: 'results-title', tabindex: '-1', text: t('a.c.resultsOf', { name: open.name }) }),
      h('a.btn.small.secondary', { href: '#campaigns', text: t('a.c.close') })),
    h('p.muted', { text: t('app.loading') })) : null;
  const segmentPanel = toSegment ? h('section.panel', { id: 'campaign-issue', 'data-campaign': toSegment.id, 'aria-labelledby': 'issue-title' },
    h('div.row.between', {},
      h('h2', { id: 'issue-title', tabindex: '-1', text: t('a.c.toSegmentOf', { name: toSegment.name }) }),
      h('a.btn.small.secondary', { href: '#campaigns', text: t('a.c.close') })),
    issueForm(ctx, {
      campaigns: list, campaignId: toSegment.id, idPrefix: 'ci',
      segments: await api.get('/segments').then((x) => listOf(x)).catch(() => []),
    })) : null;
  mount(el,
    resultsPanel, segmentPanel,
    h('div.panel', {}, table(
      [t('a.f.name'), t('a.f.kind'), t('a.c.terms'), t('a.c.rules'), { text: t('a.c.issued'), num: true }, t('a.c.valid'), t('a.n.status'), ''],
      list.map((c) => h('tr', { 'data-campaign': c.id, class: c.id === openId ? 'on' : null },
        h('th', { scope: 'row', text: c.name }), h('td', { text: t(`kind.${c.kind}`) }),
        h('td', { text: [valueText(c), minSpendText(c)].join(clauseSep()) }), h('td', { 'data-rules': '1', text: rulesText(c, allStores) }),
        h('td.num', { text: `${c.issued_count} / ${c.total_quantity}` }),
        h('td', { text: `${fmtDate(c.valid_from)} – ${fmtDate(c.valid_until)}` }),
        h('td', {}, h('span.pill', { class: c.status, text: t(`status.${c.status}`) })),
        h('td', {}, operator ? h('div.table-actions', {},
          h('a.btn.small.secondary', {
            href: `#campaigns/${c.id}`, text: t('a.c.showResults'), 'data-results': c.id,
            'aria-label': `${t('a.c.showResults')}: ${c.name}`,
          }),
          c.status === 'active' ? h('a.btn.small.secondary', {
            href: `#campaigns/${c.id}/segment`, text: t('a.c.toSegment'), 'data-to-segment': c.id,
            'aria-label': `${t('a.c.toSegment')}: ${c.name}`,
          }) : null,
          h('button.btn.small.secondary', {
            type: 'button', text: c.status === 'paused' ? t('a.c.resume') : t('a.c.pause'), onclick: toggle(c), 'data-toggle': '1',
            'aria-label': `${c.status === 'paused' ? t('a.c.resume') : t('a.c.pause')}: ${c.name}`,
          })) : null))),
    { caption: t('a.nav.campaigns') })),
    operator ? campaignForm(ctx, allStores, () => ctx.rerender()) : null);
  if (open) await showResults(resultsPanel, ctx, open);
  if (toSegment) segmentPanel.querySelector('h2').focus({ preventScroll: true });
  if (open) {
    // Opened from a campaign's Results link: the reader (and the keyboard) lands on it.
    resultsPanel.querySelector('h2').focus({ preventScroll: true });
    resultsPanel.scrollIntoView({ block: 'nearest' });
  }
}

async function showResults(panel, ctx, campaign) {
  const body = panel.querySelector('p.muted');
  try {
    const r = await ctx.api.get(`/campaigns/${campaign.id}/results`);
    const stat = (key, label, value) => h('div.stat', { 'data-result': key },
      h('div.value', { text: value }), h('div.label', { text: label }));
    body.replaceWith(
      h('div.stats', {},
        stat('issued', t('a.c.r.issued'), String(r.issued)),
        stat('redeemed', t('a.c.r.redeemed'), String(r.redeemed)),
        stat('redemption_rate', t('a.c.r.rate'), percent(r.redemption_rate)),
        stat('discount_cents', t('a.c.r.discount'), money(r.discount_cents)),
        stat('bill_cents', t('a.c.r.bills'), money(r.bill_cents)),
        stat('revoked', t('a.c.r.revoked'), String(r.revoked)),
        stat('expired', t('a.c.r.expired'), String(r.expired))),
      h('p.muted.definitions', { text: t('a.c.r.note') }));
  } catch (err) {
    body.replaceWith(h('p.error', { role: 'alert', text: errorText(err, { forbidden: t('a.c.operatorsOnly') }) }));
  }
}

function campaignForm(ctx, allStores, done) {
  const { api } = ctx;
  const today = new Date().toISOString().slice(0, 10);
  const kindName = () => t(`kind.${kind.value}`);
  const [name, nameBox] = field('c-name', t('a.f.name'), { required: true, maxlength: 120, api: 'name' });
  const [kind, kindBox] = field('c-kind', t('a.f.kind'), { options: ['cash', 'discount', 'gift', 'service'].map((k) => [k, t(`kind.${k}`)]), api: 'kind' });
  const [value, valueBox] = field('c-value', t('a.f.value'), { money: true, api: 'value_cents' });
  const [pct, percentBox] = field('c-percent', t('a.f.percent'), { type: 'number', min: 1, max: 100, api: 'percent_off' });
  const [cap, capBox] = field('c-cap', t('a.f.maxDiscount'), { money: true, api: 'max_discount_cents' });
  const [item, itemBox] = field('c-item', t('a.f.item'), { maxlength: 120, api: 'item_name' });
  const [minSpend, minBox] = field('c-min', t('a.f.minSpend'), { money: true, api: 'min_spend_cents' });
  const [total, totalBox] = field('c-total', t('a.f.total'), { type: 'number', min: 1, max: 10000000, value: '100', required: true, api: 'total_quantity' });
  const [limit, limitBox] = field('c-limit', t('a.f.perMember'), { type: 'number', min: 1, max: 1000, value: '1', api: 'per_member_limit' });
  const [from, fromBox] = field('c-from', t('a.f.from'), { type: 'date', value: today, required: true, api: 'valid_from' });
  const [until, untilBox] = field('c-until', t('a.f.until'), { type: 'date', value: addDays(today, 30), required: true, api: 'valid_until' });
  const [storeIds, storesSet] = checkGroup('c-stores', t('a.c.stores'), allStores.map((s) => [s.id, s.name]), { api: 'store_ids' });
  const [weekdays, daysSet] = checkGroup('c-days', t('a.c.weekdays'), [0, 1, 2, 3, 4, 5, 6].map((d) => [String(d), weekdayName(d)]), { api: 'weekdays' });
  const [timeFrom, timeFromBox] = field('c-time-from', t('a.c.timeFrom'), { type: 'time', api: 'hours', 'aria-describedby': 'c-time-note' });
  const [timeUntil, timeUntilBox] = field('c-time-until', t('a.c.timeUntil'), { type: 'time', 'aria-describedby': 'c-time-note' });
  const giftable = h('input', { type: 'checkbox', id: 'c-giftable', 'aria-describedby': 'c-giftable-note' });
  const check = () => {
    const wrong = [];
    const needs = { cash: value, discount: pct, gift: item, service: item }[kind.value];
    if (needs && !needs.value.trim()) wrong.push([needs, t('a.c.kindNeeds', { kind: kindName() })]);
    if (from.value && until.value && until.value < from.value) wrong.push([until, t('a.c.untilAfterStart')]);
    const a = timeFrom.value; const b = untilTime();
    if (Boolean(a) !== Boolean(b)) wrong.push([a ? timeUntil : timeFrom, t('a.c.bothTimes')]);
    else if (a && b && b <= a) wrong.push([timeUntil, t('a.c.untilAfterFrom')]);
    return wrong;
  };
  // A time input stops at 23:59: "until 00:00" is the end of the day, the API's "24:00".
  const untilTime = () => (timeUntil.value === '00:00' ? '24:00' : timeUntil.value);
  const build = () => {
    const days = weekdays().map(Number);
    const ids = storeIds();
    return {
      name: name.value.trim(), kind: kind.value,
      value_cents: kind.value === 'cash' ? yuan(value) : null,
      percent_off: kind.value === 'discount' ? num(pct) : null,
      max_discount_cents: kind.value === 'discount' ? yuan(cap) : null,
      item_name: kind.value === 'gift' || kind.value === 'service' ? item.value.trim() : null,
      min_spend_cents: yuan(minSpend), total_quantity: num(total), per_member_limit: num(limit),
      valid_from: new Date(`${from.value}T00:00:00`).toISOString(),
      valid_until: new Date(`${until.value}T23:59:59`).toISOString(),
      store_ids: ids.length ? ids : null,
      weekdays: days.length && days.length < 7 ? days : null,
      // The contract's spelling (issue 20); the server still reads time_from/time_until.
      hours: timeFrom.value && untilTime() ? { from: timeFrom.value, to: untilTime() } : null,
      giftable: giftable.checked,
    };
  };
  // Only the fields the chosen kind uses are shown.
  const showKind = () => {
    valueBox.hidden = kind.value !== 'cash';
    percentBox.hidden = kind.value !== 'discount';
    capBox.hidden = kind.value !== 'discount';
    itemBox.hidden = !['gift', 'service'].includes(kind.value);
    for (const [box, input] of [[valueBox, value], [percentBox, pct], [capBox, cap], [itemBox, item]]) input.disabled = box.hidden;
  };
  kind.addEventListener('change', showKind);
  showKind();
  return h('form.panel', {
    id: 'campaign-form', novalidate: true, 'aria-labelledby': 'campaign-form-title',
    onsubmit: submitter(build, (body) => api.post('/campaigns', body), done, { check }),
  },
  h('h2', { id: 'campaign-form-title', text: t('a.c.new') }),
  h('div.inline-fields', {}, nameBox, kindBox, valueBox, percentBox, capBox, itemBox, minBox, totalBox, limitBox, fromBox, untilBox),
  h('h3', { text: t('a.c.rules') }),
  storesSet, daysSet,
  h('div.inline-fields', {}, timeFromBox, timeUntilBox),
  h('p.muted', { id: 'c-time-note', text: t('a.c.timeNote') }),
  h('label.check', { for: 'c-giftable' }, giftable, t('a.c.giftable')),
  h('p.muted', { id: 'c-giftable-note', text: t('a.c.giftableNote') }),
  h('button.btn', { type: 'submit', text: t('a.f.create') }));
}
