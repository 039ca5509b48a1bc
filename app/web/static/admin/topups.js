// Online top-ups (WeChat Pay), the chain's side (operators only: the API refuses managers
// and clerks the list): what needs a person (GET /pay-anomalies: a payment of another
// amount, for an order never placed, a refund WeChat Pay could not pay out, a bill that
// differs...), the orders (GET /top-up-orders, filtered by status and card, 20 a page by
// cursor) and a refund of one
// (POST /top-up-orders/{id}/refund {amount_cents?, reason} -> 202): at most the order's paid
// money still unspent on the card; the bonus it brought goes back in proportion (the API's
// rule: the page only says it, and says a 409 refund_exceeds_unspent in words).
//   #topups                  the list
//   #topups/card/<card id>   the orders of one card (the members view links here)
// export async function topUpsView(el, ctx)
import { listOf } from '/static/common/api.js';
import { addMessages, errorText, t } from '/static/common/i18n.js';
import { fmtDateTime, h, money, mount, toast } from '/static/common/ui.js';
import { orderStatusClass, orderStatusText, refundStatusText, topUpOptionText } from '/static/common/terms.js';
import { clearFieldErrors, field, submitter, table, yuan } from './kit.js';

addMessages({
  zh: {
    'a.nav.topups': '线上充值',
    'a.to.intro': '会员在微信里给储值卡充值的订单。退款只退实充金额中尚未用掉的部分，赠送金额按比例收回。',
    'a.to.filter': '筛选', 'a.to.status': '状态', 'a.to.card': '卡 ID', 'a.to.cardHint': '只看这张卡的订单（留空 = 全部）',
    'a.to.show': '查询', 'a.to.list': '线上充值订单', 'a.to.placed': '下单时间', 'a.to.no': '商户订单号',
    'a.to.member': '会员 / 卡', 'a.to.amount': '实付', 'a.to.bonus': '赠送', 'a.to.refunded': '已退',
    'a.to.paidAt': '到账时间', 'a.to.wxno': '微信支付单号', 'a.to.refund': '退款', 'a.to.refundOf': '退款：{no}',
    'a.to.refundTitle': '退款：订单 {no}', 'a.to.refundAmount': '退款金额（元，留空 = 可退的全部）',
    'a.to.refundReason': '退款原因（会员可见）', 'a.to.refundSubmit': '申请退款', 'a.to.refundClose': '取消',
    'a.to.refundNote': '这笔充值实付 {amount}，已退 {refunded}。只能退卡上还没用掉的实充金额；赠送的 {bonus} 会按退款比例从卡上收回。',
    'a.to.refundAsked': '退款已提交，微信支付处理后到账', 'a.to.exceeds': '退款金额超过可退金额：这笔充值在卡上尚未用掉的实充金额不足。',
    'a.to.exceedsN': '退款金额超过可退金额：这笔充值现在最多可退 {n}。',
    'a.to.none': '没有符合条件的订单', 'a.to.prev': '上一页', 'a.to.next': '下一页', 'a.to.sandbox': '沙箱',
    'a.to.refundDone': '已退款 {amount}（收回赠送 {bonus}）', 'a.to.refundState': '退款已提交：{status}',
    'a.to.refunding': '退款中 {amount}', 'a.to.mismatch': '已关闭：实付金额与订单不符（未到账）', 'a.to.closedBecause': '已关闭：{why}',
    'a.an.title': '需要人工处理', 'a.an.intro': '微信支付的通知、查询或对账单与本系统不一致的款项。系统不会自动处理这些钱：请在微信支付商户平台核对后处理（如退款给付款人）。',
    'a.an.when': '时间', 'a.an.what': '情况', 'a.an.no': '商户订单号', 'a.an.amount': '金额', 'a.an.wxno': '微信支付单号',
    'a.an.none': '没有需要人工处理的款项', 'a.an.more': '更多',
    'a.an.kind.unknown_order': '收到本系统没有的订单的付款', 'a.an.kind.amount_mismatch': '实付金额与订单不符（未到账）',
    'a.an.kind.closed_order': '订单关闭后才收到付款', 'a.an.kind.merchant_mismatch': '付款的商户号或 AppID 与订单不符（未到账）',
    'a.an.kind.payer_mismatch': '付款人不是下单的会员', 'a.an.kind.unknown_refund': '收到本系统没有的退款',
    'a.an.kind.bill_unknown': '对账单上有、本系统没有', 'a.an.kind.bill_mismatch': '对账单与本系统记录不符',
    'a.an.kind.bill_missing': '本系统已记账、对账单上没有', 'a.an.kind.refund_abnormal': '退款异常（退款未能到达付款人，请在商户平台处理）',
    'a.an.kind.refund_after_revert': '退款已退回卡内后，微信支付又退款成功', 'a.an.kind.refunded_elsewhere': '已在本系统之外退款（未到账）',
    'a.an.kind.other': '其他情况（{kind}）',
    'a.to.memberLink': '会员与卡流水', 'a.to.thisCard': '只看此卡', 'a.to.ordersOf': '充值订单', 'a.to.reasonRule': '请写明原因',
  },
  en: {
    'a.nav.topups': 'Online top-ups',
    'a.to.intro': 'Members topping up stored-value cards in WeChat. A refund returns only paid money still unspent on the card; the bonus goes back in proportion.',
    'a.to.filter': 'Filter', 'a.to.status': 'Status', 'a.to.card': 'Card id', 'a.to.cardHint': 'Only this card\u2019s orders (blank: all)',
    'a.to.show': 'Show', 'a.to.list': 'Online top-up orders', 'a.to.placed': 'Placed', 'a.to.no': 'Order no.',
    'a.to.member': 'Member / card', 'a.to.amount': 'Paid', 'a.to.bonus': 'Bonus', 'a.to.refunded': 'Refunded',
    'a.to.paidAt': 'Credited', 'a.to.wxno': 'WeChat Pay no.', 'a.to.refund': 'Refund', 'a.to.refundOf': 'Refund {no}',
    'a.to.refundTitle': 'Refund: order {no}', 'a.to.refundAmount': 'Amount (yuan; blank: all that can be refunded)',
    'a.to.refundReason': 'Reason (the member sees it)', 'a.to.refundSubmit': 'Ask for the refund', 'a.to.refundClose': 'Cancel',
    'a.to.refundNote': 'This top-up paid {amount}; {refunded} refunded so far. Only paid money still unspent on the card can go back; the {bonus} bonus is taken back from the card in proportion.',
    'a.to.refundAsked': 'Refund asked: the money goes back once WeChat Pay has processed it', 'a.to.exceeds': 'More than can be refunded: not enough of this top-up\u2019s paid money is left unspent on the card.',
    'a.to.exceedsN': 'More than can be refunded: at most {n} of this top-up can go back now.',
    'a.to.none': 'No orders match', 'a.to.prev': 'Previous', 'a.to.next': 'Next', 'a.to.sandbox': 'sandbox',
    'a.to.refundDone': 'Refunded {amount} ({bonus} bonus taken back)', 'a.to.refundState': 'Refund asked: {status}',
    'a.to.refunding': '{amount} being refunded', 'a.to.mismatch': 'Closed: paid another amount than the order (not credited)', 'a.to.closedBecause': 'Closed: {why}',
    'a.an.title': 'Needs a person', 'a.an.intro': 'Money where WeChat Pay\u2019s notices, answers or bill and our records disagree. Nothing is done with it automatically: check it in the WeChat Pay merchant platform and settle it there (a refund to the payer, for one).',
    'a.an.when': 'When', 'a.an.what': 'What happened', 'a.an.no': 'Order no.', 'a.an.amount': 'Amount', 'a.an.wxno': 'WeChat Pay no.',
    'a.an.none': 'Nothing needs a person', 'a.an.more': 'More',
    'a.an.kind.unknown_order': 'Paid for an order we never placed', 'a.an.kind.amount_mismatch': 'Paid another amount than the order (not credited)',
    'a.an.kind.closed_order': 'Paid after the order was closed', 'a.an.kind.merchant_mismatch': 'Paid to another merchant account or app (not credited)',
    'a.an.kind.payer_mismatch': 'Paid by someone else than the member', 'a.an.kind.unknown_refund': 'A refund we never asked for',
    'a.an.kind.bill_unknown': 'On WeChat Pay\u2019s bill, unknown here', 'a.an.kind.bill_mismatch': 'The bill and our records differ',
    'a.an.kind.bill_missing': 'Recorded here, missing from the bill', 'a.an.kind.refund_abnormal': 'Refund abnormal: it did not reach the payer (settle it in the merchant platform)',
    'a.an.kind.refund_after_revert': 'Refund paid out after its money went back on the card', 'a.an.kind.refunded_elsewhere': 'Refunded outside this system (not credited)',
    'a.an.kind.other': 'Something else ({kind})',
    'a.to.memberLink': 'Member and card ledger', 'a.to.thisCard': 'this card only', 'a.to.ordersOf': 'Top-up orders', 'a.to.reasonRule': 'say why',
  },
});

const STATUSES = ['pending', 'paid', 'partially_refunded', 'refunded', 'closed'];
const PAGE = 20;
const filter = { status: '', card: '', cursors: [null] };

// A kind of pay_anomaly in words; one this page does not know yet is said as it comes.
function anomalyText(kind) {
  const key = `a.an.kind.${kind}`;
  const text = t(key);
  return text === key ? t('a.an.kind.other', { kind: String(kind || '?') }) : text;
}

// An order's status in words: an order closed with an anomaly (WeChat Pay reported it paid
// with another amount, or refunded outside) is not "closed, not paid".
const statusOf = (o) => {
  if (o.anomaly === 'amount_mismatch') return t('a.to.mismatch');
  if (o.anomaly) return t('a.to.closedBecause', { why: anomalyText(o.anomaly) });
  return orderStatusText(o.status);
};

// "Needs a person": GET /pay-anomalies, newest first, 20 at a time (More: the next page).
function anomaliesPanel(api) {
  const box = h('section.panel', { id: 'pay-anomalies', 'aria-labelledby': 'an-h' },
    h('h2', { id: 'an-h', text: t('a.an.title') }), h('p.muted', { text: t('app.loading') }));
  const rows = [];
  let next = null;
  const row = (a) => h('tr', { 'data-anomaly': a.id, 'data-kind': a.kind },
    h('td', { text: fmtDateTime(a.created_at) }),
    h('th', { scope: 'row', 'data-field': 'kind', text: anomalyText(a.kind) }),
    h('td', {}, h('span.techdetail', { 'data-field': 'out_trade_no', text: a.out_trade_no || '—' }),
      a.transaction_id ? h('small.muted', { text: ` ${t('a.an.wxno')} ${a.transaction_id}` }) : null),
    h('td.num', { 'data-field': 'amount', text: typeof a.amount_cents === 'number' ? money(a.amount_cents) : '—' }));
  async function more(cursor) {
    let answer;
    try {
      answer = await api.get('/pay-anomalies', { limit: PAGE, cursor });
    } catch (err) {
      mount(box, h('h2', { id: 'an-h', text: t('a.an.title') }), h('p.error', { role: 'alert', text: errorText(err) }));
      return;
    }
    const list = listOf(answer, 'anomalies');
    rows.push(...list);
    next = answer && !Array.isArray(answer) ? answer.next_cursor : null;
    mount(box,
      h('h2', { id: 'an-h', text: t('a.an.title') }),
      h('p.muted', { text: t('a.an.intro') }),
      rows.length ? table([t('a.an.when'), t('a.an.what'), t('a.an.no'), { text: t('a.an.amount'), num: true }],
        rows.map(row), { caption: t('a.an.title') }) : h('p.muted', { 'data-empty': '', text: t('a.an.none') }),
      next ? h('button.btn.small.secondary', { type: 'button', id: 'an-more', text: t('a.an.more'), onclick: () => more(next) }) : null);
  }
  more(null);
  return box;
}

export async function topUpsView(el, ctx) {
  const { api } = ctx;
  if (ctx.params[0] === 'card' && ctx.params[1] && filter.card !== ctx.params[1]) {
    Object.assign(filter, { card: ctx.params[1], cursors: [null] });
  }
  const [status, statusBox] = field('to-status', t('a.to.status'), {
    options: [['', t('a.any')], ...STATUSES.map((s) => [s, orderStatusText(s)])], value: filter.status,
  });
  const [card, cardBox] = field('to-card', t('a.to.card'), { value: filter.card, autocomplete: 'off', 'aria-describedby': 'to-card-hint' });
  cardBox.append(h('p.muted', { id: 'to-card-hint', text: t('a.to.cardHint') }));
  const listBox = h('section.panel', { id: 'top-up-orders', 'aria-labelledby': 'to-list-h' }, h('p.muted', { text: t('app.loading') }));
  const refundBox = h('div', { id: 'refund-box' });
  const form = h('form.panel', {
    novalidate: true, 'aria-label': t('a.to.filter'),
    onsubmit: (event) => {
      event.preventDefault();
      Object.assign(filter, { status: status.value, card: card.value.trim(), cursors: [null] });
      load();
    },
  }, h('div.inline-fields', {}, statusBox, cardBox), h('button.btn', { type: 'submit', id: 'to-show', text: t('a.to.show') }));

  async function load(focusId) {
    const cursor = filter.cursors.at(-1);
    let answer;
    try {
      answer = await api.get('/top-up-orders', { status: filter.status, card_id: filter.card, limit: PAGE, cursor });
    } catch (err) {
      mount(listBox, h('h2', { id: 'to-list-h', text: t('a.to.list') }), h('p.error', { role: 'alert', text: errorText(err) }));
      return;
    }
    const list = listOf(answer, 'orders');
    const next = answer && !Array.isArray(answer) ? answer.next_cursor : null;
    const who = (o) => [o.member_name || (o.member_phone_tail ? t('member.tail', { tail: o.member_phone_tail }) : ''),
      o.template_name, o.card_number].filter(Boolean).join(' · ');
    const refundButton = (o) => (['paid', 'partially_refunded'].includes(o.status) ? h('button.btn.small.danger', {
      type: 'button', 'data-refund': o.id, text: t('a.to.refund'), 'aria-label': t('a.to.refundOf', { no: o.out_trade_no }),
      onclick: () => refundForm(o),
    }) : null);
    mount(listBox,
      h('h2', { id: 'to-list-h', text: t('a.to.list') }),
      list.length ? table([t('a.to.placed'), t('a.to.no'), t('a.to.member'), { text: t('a.to.amount'), num: true },
        { text: t('a.to.bonus'), num: true }, t('a.to.status'), { text: t('a.to.refunded'), num: true }, t('a.to.paidAt'), ''],
      list.map((o) => h('tr', { 'data-order': o.id, 'data-status': o.status },
        h('td', { text: fmtDateTime(o.created_at) }),
        h('th', { scope: 'row' }, h('span.techdetail', { text: o.out_trade_no || o.id }),
          o.sandbox ? h('small.muted', { text: ` (${t('a.to.sandbox')})` }) : null),
        h('td', {},
          o.member_id ? h('a', { href: `#members/${o.member_id}/ledger/${o.card_id}`, 'data-member-link': o.member_id, text: who(o) || t('a.to.memberLink') }) : (who(o) || '—'),
          ' ', h('a.muted', { href: `#topups/card/${o.card_id}`, 'data-card-filter': o.card_id, text: t('a.to.thisCard') })),
        h('td.num', { text: money(o.amount_cents) }),
        h('td.num', { text: money(o.bonus_cents || 0) }),
        h('td', {}, h('span.pill', {
          class: o.anomaly ? 'revoked' : orderStatusClass(o.status), 'data-status': o.status, 'data-anomaly': o.anomaly || null, text: statusOf(o),
        })),
        h('td.num', { 'data-field': 'refunded' },
          o.refunded_cents ? money(o.refunded_cents) : (o.refunding_cents ? '' : '—'),
          o.refunding_cents ? h('div.muted', { 'data-field': 'refunding', text: t('a.to.refunding', { amount: money(o.refunding_cents) }) }) : null),
        h('td', { text: o.paid_at ? fmtDateTime(o.paid_at) : '—' }),
        h('td', {}, refundButton(o)))),
      { caption: t('a.to.list') }) : h('p.muted', { text: t('a.to.none') }),
      filter.cursors.length > 1 || next ? h('div.row', {},
        h('button.btn.small.secondary', { type: 'button', id: 'to-prev', text: t('a.to.prev'), disabled: filter.cursors.length <= 1,
          onclick: () => { filter.cursors.pop(); load(); } }),
        h('button.btn.small.secondary', { type: 'button', id: 'to-next', text: t('a.to.next'), disabled: !next,
          onclick: () => { filter.cursors.push(next); load(); } })) : null);
    if (focusId) document.querySelector(`tr[data-order='${CSS.escape(focusId)}'] a, tr[data-order='${CSS.escape(focusId)}'] button`)?.focus();
  }

  // What the refund's answer says (202): done at once (sandbox), on its way, or a status
  // WeChat Pay put it in that this page may not know yet (said as it comes).
  const refundToast = (refund) => {
    if (refund?.status === 'success') {
      return [t('a.to.refundDone', { amount: money(refund.amount_cents ?? 0), bonus: money(refund.bonus_cents ?? 0) }), 'ok'];
    }
    if (!refund?.status || ['pending', 'processing'].includes(refund.status)) return [t('a.to.refundAsked'), 'ok'];
    return [t('a.to.refundState', { status: refundStatusText(refund.status) }), refund.status === 'failed' ? 'bad' : 'info'];
  };

  function refundForm(order) {
    const [amount, amountBox] = field('refund-amount', t('a.to.refundAmount'), { money: true, api: 'amount_cents' });
    const [reason, reasonBox] = field('refund-reason', t('a.to.refundReason'), {
      required: true, maxlength: 80, api: 'reason', 'data-rule': t('a.to.reasonRule'),
    });
    const problem = h('p.error', { id: 'refund-error', role: 'alert' });
    const close = () => { mount(refundBox); document.querySelector(`[data-refund='${CSS.escape(order.id)}']`)?.focus(); };
    const form = h('form.panel', {
      id: 'refund-form', novalidate: true, 'data-order': order.id, 'aria-labelledby': 'refund-h',
      onsubmit: submitter(() => ({ amount_cents: yuan(amount), reason: reason.value.trim() }),
        (body) => { problem.textContent = ''; return api.post(`/top-up-orders/${order.id}/refund`, body); },
        async (refund) => {
          mount(refundBox);
          const [text, kind] = refundToast(refund);
          await load(order.id);
          toast(text, kind);
        },
        {
          ok: t('a.to.refundAsked'),
          words: { refund_exceeds_unspent: t('a.to.exceeds') },
          failed: (err, text) => {
            if (err.code === 'refund_exceeds_unspent') {
              const n = err.problem?.refundable_cents;
              problem.textContent = typeof n === 'number' ? t('a.to.exceedsN', { n: money(n) }) : t('a.to.exceeds');
              toast(problem.textContent, 'bad');
              // The amount is what is wrong: marked, and described by the sentence above.
              amount.setAttribute('aria-invalid', 'true');
              amount.setAttribute('aria-describedby', 'refund-error');
              amount.focus();
            } else problem.textContent = text;
          },
        }),
    },
    h('h2', { id: 'refund-h', tabindex: '-1', text: t('a.to.refundTitle', { no: order.out_trade_no }) }),
    h('p', { text: topUpOptionText(order) }),
    h('p.muted', { text: t('a.to.refundNote', { amount: money(order.amount_cents), refunded: money(order.refunded_cents || 0), bonus: money(order.bonus_cents || 0) }) }),
    h('div.inline-fields', {}, amountBox, reasonBox), problem,
    h('div.row', {},
      h('button.btn.danger', { type: 'submit', id: 'refund-submit', text: t('a.to.refundSubmit') }),
      h('button.btn.secondary', { type: 'button', text: t('a.to.refundClose'), onclick: close })));
    mount(refundBox, form);
    clearFieldErrors(form);
    form.scrollIntoView({ block: 'nearest' });
    amount.focus();
  }

  mount(el, h('p.muted', { text: t('a.to.intro') }), anomaliesPanel(api), form, refundBox, listBox);
  await load();
}
