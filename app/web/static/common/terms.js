// A voucher's or a campaign's terms in words (zh and en), for every page: what it gives,
// the minimum spend, the days (0 = Monday) and hours, the stores, until when; whether it is
// usable now in a store's zone; who a member is (the name, else the phone's tail); and a
// card's figures.
// `terms` is the API's shape (a voucher's `terms`, or a campaign, which carries the same
// fields at the top level). `stores` is a list of {id, name} or a map id -> {name}.
// The pages lay these out their own way (rows, lines, a table cell); the words are here.
import { addMessages, lang, t } from './i18n.js';
import { fmtDate, fmtDateTime, money } from './ui.js';

addMessages({
  zh: {
    'terms.off': '立减 {v}', 'terms.zhe': '{z} 折', 'terms.cap': '最多减 {v}',
    'terms.gift': '赠送 {item}', 'terms.service': '免费 {item}',
    'terms.minSpend': '满 {v} 可用', 'terms.noMin': '无门槛',
    'terms.everyDay': '每天', 'terms.dayRange': '{from}至{to}', 'terms.allDay': '全天',
    'terms.allStores': '全部门店', 'terms.someStores': '指定门店', 'terms.otherStores': '另 {n} 家门店', 'terms.onlyAt': '仅限：{names}',
    'terms.onlyDays': '仅限 {days}', 'terms.hoursLocal': '{from}–{until}（门店时间）',
    'terms.until': '有效期至 {d}',
    'terms.notNow': '现在不能使用：{rule}', 'terms.notYet': '还没到可用日期（{d} 起）',
    'terms.over': '已过有效期（{d}）', 'terms.notHere': '这张券不能在本店使用',
    'terms.day.0': '周一', 'terms.day.1': '周二', 'terms.day.2': '周三', 'terms.day.3': '周四',
    'terms.day.4': '周五', 'terms.day.5': '周六', 'terms.day.6': '周日',
    'member.tail': '尾号 {tail}', 'member.nameless': '未留名',
    'card.balance': '余额', 'card.visits': '剩余次数', 'card.points': '积分', 'card.tier': '等级',
    'card.tierDiscount': '{tier}（优惠 {n}%）',
  },
  en: {
    'terms.off': '{v} off', 'terms.pct': '{p}% off', 'terms.cap': 'up to {v}',
    'terms.gift': 'Gift: {item}', 'terms.service': 'Free: {item}',
    'terms.minSpend': 'Bill of {v} or more', 'terms.noMin': 'No minimum spend',
    'terms.everyDay': 'Every day', 'terms.dayRange': '{from}–{to}', 'terms.allDay': 'All day',
    'terms.allStores': 'Every store', 'terms.someStores': 'Selected stores', 'terms.otherStores': '{n} other store(s)', 'terms.onlyAt': 'Only at {names}',
    'terms.onlyDays': 'Only {days}', 'terms.hoursLocal': '{from}–{until} (store time)',
    'terms.until': 'Valid until {d}',
    'terms.notNow': 'Not usable now: {rule}', 'terms.notYet': 'Not valid yet (from {d})',
    'terms.over': 'Expired ({d})', 'terms.notHere': 'This voucher is not valid at this store',
    'terms.day.0': 'Mon', 'terms.day.1': 'Tue', 'terms.day.2': 'Wed', 'terms.day.3': 'Thu',
    'terms.day.4': 'Fri', 'terms.day.5': 'Sat', 'terms.day.6': 'Sun',
    'member.tail': 'phone …{tail}', 'member.nameless': 'no name',
    'card.balance': 'Balance', 'card.visits': 'Visits left', 'card.points': 'Points', 'card.tier': 'Tier',
    'card.tierDiscount': '{tier} ({n}% off)',
  },
});

const has = (value) => value !== null && value !== undefined;

// The separator of a list ("、" / ", ") and of a sentence's clauses ("；" / "; ").
export const listSep = () => (lang() === 'zh' ? '、' : ', ');
export const clauseSep = () => (lang() === 'zh' ? '；' : '; ');

// A weekday's short name, 0 = Monday (the API's numbering).
export const weekdayName = (day) => t(`terms.day.${day}`);

// "周一至周五" / "Mon–Fri" for a run of three or more, else a list; "每天" for none or all.
export function daysText(weekdays) {
  const days = [...new Set(weekdays || [])].sort((a, b) => a - b);
  if (!days.length || days.length === 7) return t('terms.everyDay');
  const run = days.every((d, i) => i === 0 || d === days[i - 1] + 1);
  if (run && days.length > 2) return t('terms.dayRange', { from: weekdayName(days[0]), to: weekdayName(days.at(-1)) });
  return days.map(weekdayName).join(listSep());
}

// The daily hours of the terms as {from, until} ("HH:MM", until exclusive), or null. The API
// says them as `hours: {from, to}` (issue 20) and still as `time_from`/`time_until`.
export function hoursOf(terms) {
  const from = terms?.hours?.from ?? terms?.time_from;
  const until = terms?.hours?.to ?? terms?.time_until;
  return from && until ? { from, until } : null;
}

// "10:00–14:00", or "全天" / "All day" when the terms have no hours.
export function hoursText(terms) {
  const hours = hoursOf(terms);
  return hours ? `${hours.from}–${hours.until}` : t('terms.allDay');
}

const limitedDays = (terms) => Boolean(terms?.weekdays && terms.weekdays.length && terms.weekdays.length < 7);

// The days and hours rule on one line, only what limits ("仅限 周一至周五 · 10:00–14:00（门店时间）"),
// or '' when the voucher is usable at any time of any day.
export function ruleText(terms) {
  const parts = [];
  if (limitedDays(terms)) parts.push(t('terms.onlyDays', { days: daysText(terms.weekdays) }));
  const hours = hoursOf(terms);
  if (hours) parts.push(t('terms.hoursLocal', hours));
  return parts.join(' · ');
}

// "8 折" in Chinese for 20% off; "20% off" in English.
export function percentText(p) {
  if (lang() !== 'zh') return t('terms.pct', { p });
  const zhe = (100 - p) / 10;
  return t('terms.zhe', { z: Number.isInteger(zhe) ? zhe : zhe.toFixed(1) });
}

// What the voucher gives, one line: "¥20.00 off" / "8 折，最多减 ¥50.00" / "Free: Hair mask".
export function valueText(terms) {
  if (!terms) return '';
  const parts = [];
  if (terms.kind === 'cash' && terms.value_cents) parts.push(t('terms.off', { v: money(terms.value_cents) }));
  if (terms.kind === 'discount' && terms.percent_off) {
    parts.push(percentText(terms.percent_off));
    if (terms.max_discount_cents) parts.push(t('terms.cap', { v: money(terms.max_discount_cents) }));
  }
  if (terms.kind === 'gift' && terms.item_name) parts.push(t('terms.gift', { item: terms.item_name }));
  if (terms.kind === 'service' && terms.item_name) parts.push(t('terms.service', { item: terms.item_name }));
  return parts.join(lang() === 'zh' ? '，' : ', ');
}

// "满 ¥100.00 可用" / "Bill of ¥100.00 or more", or "无门槛" / "No minimum spend".
export function minSpendText(terms) {
  return terms?.min_spend_cents ? t('terms.minSpend', { v: money(terms.min_spend_cents) }) : t('terms.noMin');
}

function storeName(stores, id) {
  if (!stores) return null;
  if (Array.isArray(stores)) return stores.find((s) => s.id === id)?.name || null;
  return stores[id]?.name || null;
}

// The stores by name ("静安店、徐汇店"), "全部门店" / "Every store" when not limited,
// "指定门店" / "Selected stores" when limited to stores this page cannot name, and
// "… 1 other store(s)" for those of them it cannot name (a till knows only its own).
function namedStores(terms, stores) {
  const names = terms.store_ids.map((id) => storeName(stores, id)).filter(Boolean);
  if (!names.length) return null;
  const others = terms.store_ids.length - names.length;
  return [...names, others ? t('terms.otherStores', { n: others }) : null].filter(Boolean).join(listSep());
}

export function storesText(terms, stores) {
  if (!terms?.store_ids?.length) return t('terms.allStores');
  return namedStores(terms, stores) || t('terms.someStores');
}

// Where, as a rule: "仅限：静安店" / "Only at Jing'an", or "全部门店" / "Every store".
export function whereText(terms, stores) {
  if (!terms?.store_ids?.length) return t('terms.allStores');
  const names = namedStores(terms, stores);
  return names ? t('terms.onlyAt', { names }) : t('terms.someStores');
}

// The days, hours and stores in full on one line ("Mon–Fri; 10:00–14:00; Only at Jing'an").
export function rulesText(terms, stores) {
  return [daysText(terms?.weekdays), hoursText(terms), whereText(terms, stores)].join(clauseSep());
}

// "有效期至 2099/1/1 00:00" / "Valid until …" (a date and time in `timeZone`), or ''.
export function untilText(terms, timeZone) {
  return terms?.valid_until ? t('terms.until', { d: fmtDateTime(terms.valid_until, timeZone) }) : '';
}

// Every term, one line each, only what says something: value, minimum spend, days and
// hours, stores, until when.
export function termsLines(terms, { stores = null, timeZone } = {}) {
  if (!terms) return [];
  return [
    valueText(terms), minSpendText(terms), ruleText(terms),
    terms.store_ids?.length ? whereText(terms, stores) : '', untilText(terms, timeZone),
  ].filter(Boolean);
}

// Every term in one sentence (a table cell): value; minimum spend; days; hours; stores; until (a date).
export function termsText(terms, stores) {
  if (!terms) return '—';
  return [valueText(terms), minSpendText(terms), rulesText(terms, stores),
    t('terms.until', { d: fmtDate(terms.valid_until) })].join(clauseSep());
}

// The weekday (0 = Monday) and "HH:MM" of an instant in a zone.
function localClock(instant, timeZone) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).formatToParts(instant);
  const get = (type) => parts.find((p) => p.type === type)?.value;
  const weekday = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].indexOf(get('weekday'));
  return { weekday, hhmm: `${get('hour')}:${get('minute')}` };
}

// Why the terms refuse a use at `instant` in the store's zone, in words; null when usable.
// The same rules the server applies (time_until exclusive).
export function notUsableReason(terms, { instant = new Date(), timeZone, storeId } = {}) {
  if (!terms) return null;
  if (terms.valid_from && instant < new Date(terms.valid_from)) return t('terms.notYet', { d: fmtDateTime(terms.valid_from, timeZone) });
  if (terms.valid_until && instant > new Date(terms.valid_until)) return t('terms.over', { d: fmtDateTime(terms.valid_until, timeZone) });
  if (storeId && terms.store_ids && !terms.store_ids.includes(storeId)) return t('terms.notHere');
  const { weekday, hhmm } = localClock(instant, timeZone);
  const dayOk = !terms.weekdays || terms.weekdays.includes(weekday);
  const hours = hoursOf(terms);
  const hourOk = !hours || (hhmm >= hours.from && hhmm < hours.until);
  if (!dayOk || !hourOk) return t('terms.notNow', { rule: ruleText(terms) });
  return null;
}

// The money a voucher takes off a bill (as the server reckons it), or null when unknown.
export function estimateDiscount(terms, bill) {
  if (!terms || !has(bill)) return null;
  if (terms.kind === 'cash' && has(terms.value_cents)) return Math.min(terms.value_cents, bill);
  if (terms.kind === 'discount' && has(terms.percent_off)) {
    const off = Math.floor((bill * terms.percent_off) / 100);
    return terms.max_discount_cents ? Math.min(off, terms.max_discount_cents) : off;
  }
  return null;
}

// Who a member is: the name, else the phone's last four digits ("尾号 7788" / "phone …7788").
// "未留名" / "no name" only when the API said the member has neither (not when it did not say).
export function memberLabel(m) {
  if (!m) return '';
  const name = m.name || m.member_name;
  const phone = m.phone || '';
  const tail = m.member_phone_tail || (phone ? phone.slice(-4) : '');
  if (name) return name;
  if (tail) return t('member.tail', { tail });
  const told = ['name', 'member_name', 'phone', 'member_phone_tail'].some((k) => k in m);
  return told && (m.member_id !== null || 'name' in m) ? t('member.nameless') : '';
}

// A card's figures, [key, label, value] (balance, visits left, points, tier): the balance
// of a stored-value card, the visits of a times card, points unless a times card has none.
export function cardFigures(card) {
  const out = [];
  if (card.kind === 'stored_value' || card.balance_cents) out.push(['balance', t('card.balance'), money(card.balance_cents)]);
  if (card.kind === 'times' || has(card.visits_left)) out.push(['visits', t('card.visits'), String(card.visits_left ?? 0)]);
  if (card.kind !== 'times' || card.points) out.push(['points', t('card.points'), String(card.points ?? 0)]);
  if (card.tier) {
    out.push(['tier', t('card.tier'), card.discount_percent
      ? t('card.tierDiscount', { tier: card.tier, n: card.discount_percent }) : card.tier]);
  }
  return out;
}

// --- online top-up (WeChat Pay): an option, the paid and bonus parts, an order's status ------

addMessages({
  zh: {
    'topup.option': '充 {amount} 送 {bonus}', 'topup.optionPlain': '充 {amount}', 'topup.gets': '到账 {total}',
    'topup.split': '其中实充 {paid}，赠送 {bonus}', 'topup.paid': '实充', 'topup.bonus': '赠送',
    'topup.policy.proportional': '按比例扣（实充与赠送按余额比例）', 'topup.policy.paid_first': '先扣实充，再扣赠送',
    'order.status.pending': '待支付', 'order.status.paid': '已到账', 'order.status.closed': '已关闭（未支付）',
    'order.status.refunded': '已退款', 'order.status.partially_refunded': '部分退款',
    'order.status.other': '处理中（{status}）', 'order.anomaly.amount_mismatch': '实付金额与订单不符，请联系商家',
    'order.anomaly.refunded_elsewhere': '已由微信支付退款，未充到卡上', 'order.anomaly.other': '已关闭，请联系商家',
    'refund.status.pending': '已提交', 'refund.status.processing': '微信支付处理中', 'refund.status.success': '已退款',
    'refund.status.failed': '未成功（已退回卡内）', 'refund.status.abnormal': '退款异常，待人工处理', 'refund.status.other': '状态：{status}',
  },
  en: {
    'topup.option': 'Pay {amount}, get {bonus} bonus', 'topup.optionPlain': 'Top up {amount}', 'topup.gets': '{total} on the card',
    'topup.split': 'of which {paid} paid, {bonus} bonus', 'topup.paid': 'Paid money', 'topup.bonus': 'Bonus',
    'topup.policy.proportional': 'Proportional (paid and bonus money in proportion)', 'topup.policy.paid_first': 'Paid money first, then bonus',
    'order.status.pending': 'Awaiting payment', 'order.status.paid': 'Paid', 'order.status.closed': 'Closed (not paid)',
    'order.status.refunded': 'Refunded', 'order.status.partially_refunded': 'Partly refunded',
    'order.status.other': 'Being handled ({status})', 'order.anomaly.amount_mismatch': 'Paid a different amount: ask the shop',
    'order.anomaly.refunded_elsewhere': 'Refunded by WeChat Pay: nothing on the card', 'order.anomaly.other': 'Closed: ask the shop',
    'refund.status.pending': 'Asked', 'refund.status.processing': 'WeChat Pay is processing it', 'refund.status.success': 'Refunded',
    'refund.status.failed': 'Did not go through (money back on the card)', 'refund.status.abnormal': 'Refund abnormal: needs a person', 'refund.status.other': 'Status: {status}',
  },
});

// "充 ¥500.00 送 ¥50.00" / "Pay ¥500.00, get ¥50.00 bonus" ("充 ¥100.00" without a bonus).
export function topUpOptionText(option) {
  const amount = money(option.amount_cents);
  return option.bonus_cents ? t('topup.option', { amount, bonus: money(option.bonus_cents) }) : t('topup.optionPlain', { amount });
}

// A stored-value card's balance in its two parts: "其中实充 ¥500.00，赠送 ¥50.00", or '' when
// the API does not say (an older server) or the card is not stored value.
export function balanceSplitText(card) {
  if (!card || card.kind !== 'stored_value' || !has(card.paid_balance_cents)) return '';
  return t('topup.split', { paid: money(card.paid_balance_cents), bonus: money(card.bonus_balance_cents ?? 0) });
}

// A status in the page's words; one the page does not know yet (a newer server) is said as
// it comes, inside a sentence that says it is a status, never as a bare message key.
function statusWords(prefix, status) {
  const key = `${prefix}.${status}`;
  const text = t(key);
  return text === key ? t(`${prefix}.other`, { status: String(status ?? '?') }) : text;
}

// An order's status in words, and the pill class that colours it (an unknown status: amber,
// something is still going on).
export const orderStatusText = (status) => statusWords('order.status', status);
// The same for an order as answered: one closed with an anomaly (WeChat Pay reported it paid
// with another amount, or refunded it outside; not credited) is not "closed, not paid".
export const orderStateText = (order) => (order?.anomaly
  ? statusWords('order.anomaly', order.anomaly) : orderStatusText(order?.status));
export const orderStatusClass = (status) => ({
  pending: 'pending', paid: 'active', closed: 'cancelled', refunded: 'revoked', partially_refunded: 'pending',
}[status] || 'pending');

// A refund's status (POST /top-up-orders/{id}/refund answers it): pending, processing,
// success, failed; abnormal (WeChat Pay could not pay it out: it stays open until a person
// handles it in the merchant platform); anything newer is said as it comes.
export const refundStatusText = (status) => statusWords('refund.status', status);
export const refundStatusClass = (status) => ({
  pending: 'pending', processing: 'pending', success: 'active', failed: 'cancelled', abnormal: 'revoked',
}[status] || 'pending');
