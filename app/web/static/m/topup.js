// Online top-up of a stored-value card (WeChat Pay), the member's side:
//   #topup/<card id>   the template's options ("充 ¥500 送 ¥50"); a tap places the order
//                      (POST /cards/{id}/top-up-orders, one Idempotency-Key per option
//                      chosen, so a double tap places one order), then the order page.
//   #order/<order id>  pays (inside WeChat: WeixinJSBridge getBrandWCPayRequest; in sandbox
//                      mode: a "Pay (sandbox)" button) and follows the order to the end:
//                      GET /top-up-orders/{id} with backoff, at once when the live stream
//                      says the card changed; paid -> the card's new balance, paid and bonus.
//   #orders            the member's top-up orders (GET /me/top-up-orders).
// The page holds no rule: which amounts, what bonus, whether it is paid are the API's.
import { listOf, newKey } from '/static/common/api.js';
import { addMessages, errorText, fieldErrors, t } from '/static/common/i18n.js';
import { fmtDateTime, h, money, mount, toast } from '/static/common/ui.js';
import { orderStateText, orderStatusClass, topUpOptionText } from '/static/common/terms.js';

addMessages({
  zh: {
    'm.topup.button': '充值', 'm.topup.title': '充值', 'm.topup.choose': '选择充值金额',
    'm.topup.none': '这张卡暂不支持线上充值', 'm.topup.placing': '正在下单…', 'm.topup.orders': '充值记录',
    'm.topup.current': '当前余额', 'm.topup.note': '通过微信支付付款，到账后可在各门店消费。赠送金额不能退款。',
    'm.order.title': '充值订单', 'm.order.amount': '支付金额', 'm.order.bonus': '赠送', 'm.order.total': '到账',
    'm.order.no': '订单号', 'm.order.created': '下单时间', 'm.order.paidAt': '到账时间', 'm.order.refunded': '已退款', 'm.order.refunding': '退款处理中',
    'm.order.payWechat': '微信支付', 'm.order.paySandbox': '模拟支付（沙箱）',
    'm.order.sandboxNote': '测试环境：不会真的扣款，点下面的按钮即视为支付成功。',
    'm.order.openInWechat': '请在微信中打开此页面完成支付。',
    'm.order.waiting': '等待支付结果…', 'm.order.confirming': '已支付，正在确认到账…',
    'm.order.cancelled': '你取消了支付。订单仍可在有效期内支付。', 'm.order.failed': '支付没有成功，请重试或换一种付款方式。',
    'm.order.paid': '充值成功，已到账', 'm.order.closed': '订单已关闭，没有扣款。',
    'm.order.refundedText': '这笔充值已退款 {amount}。', 'm.order.slow': '还没有收到支付结果。如果你已付款，稍后会自动到账。',
    'm.order.check': '再查一次', 'm.order.newBalance': '卡内余额', 'm.order.backToCard': '返回会员卡',
    'm.order.again': '继续充值', 'm.order.expires': '请在 {d} 前完成支付',
    'm.orders.title': '充值记录', 'm.orders.empty': '还没有充值记录', 'm.orders.open': '查看订单',
    'm.err.top_up.validation_error': '这个金额已不能充值，请从现在列出的金额中重选',
    'm.order.mismatch': '微信支付收到的金额与订单不符，这笔钱没有充到卡上。请联系门店，商家会核对后退款给你。',
    'm.order.refundedElsewhere': '这笔付款已由微信支付退回给你，没有充到卡上。', 'm.order.anomalyOther': '这笔订单已关闭，没有充到卡上。请联系门店。',
    'm.order.otherText': '这笔订单正在由商家核对，无需你再操作。有疑问请联系门店。',
  },
  en: {
    'm.topup.button': 'Top up', 'm.topup.title': 'Top up', 'm.topup.choose': 'Choose an amount',
    'm.topup.none': 'This card cannot be topped up online', 'm.topup.placing': 'Placing the order…', 'm.topup.orders': 'Top-up orders',
    'm.topup.current': 'Balance now', 'm.topup.note': 'Paid with WeChat Pay; usable at every store once credited. Bonus money is never refunded.',
    'm.order.title': 'Top-up order', 'm.order.amount': 'You pay', 'm.order.bonus': 'Bonus', 'm.order.total': 'On the card',
    'm.order.no': 'Order no.', 'm.order.created': 'Placed', 'm.order.paidAt': 'Credited', 'm.order.refunded': 'Refunded', 'm.order.refunding': 'Refund on its way',
    'm.order.payWechat': 'Pay with WeChat', 'm.order.paySandbox': 'Pay (sandbox)',
    'm.order.sandboxNote': 'Test mode: no money moves; the button below counts as a successful payment.',
    'm.order.openInWechat': 'Open this page in WeChat to pay.',
    'm.order.waiting': 'Waiting for the payment…', 'm.order.confirming': 'Paid: confirming with WeChat Pay…',
    'm.order.cancelled': 'You cancelled the payment. The order can still be paid until it expires.', 'm.order.failed': 'The payment did not go through: try again or use another way to pay.',
    'm.order.paid': 'Topped up: the money is on your card', 'm.order.closed': 'The order was closed: nothing was charged.',
    'm.order.refundedText': '{amount} of this top-up was refunded.', 'm.order.slow': 'No payment result yet. If you paid, it will be credited shortly.',
    'm.order.check': 'Check again', 'm.order.newBalance': 'Card balance', 'm.order.backToCard': 'Back to the card',
    'm.order.again': 'Top up again', 'm.order.expires': 'Pay before {d}',
    'm.orders.title': 'Top-up orders', 'm.orders.empty': 'No top-ups yet', 'm.orders.open': 'Open the order',
    'm.err.top_up.validation_error': 'This amount is no longer offered: choose again from the amounts shown now',
    'm.order.mismatch': 'WeChat Pay received another amount than the order\u2019s, so nothing was put on the card. Ask at a store: the shop checks it and refunds you.',
    'm.order.refundedElsewhere': 'WeChat Pay refunded this payment to you: nothing was put on the card.', 'm.order.anomalyOther': 'This order was closed without putting money on the card. Ask at a store.',
    'm.order.otherText': 'The shop is checking this order: there is nothing more for you to do. Ask at a store if in doubt.',
  },
});

// Every status but pending ends the page's following: paid, closed, refunded,
// partially_refunded, and any a newer server may add (said as it comes, with "Check again").
const settled = (status) => status !== 'pending';
const PAY_PARAMS = (id) => `o2o.m.pay.${id}`;
const AUTOPAY = (id) => `o2o.m.autopay.${id}`;

// The JSAPI bridge of WeChat's browser: there at once, or after WeixinJSBridgeReady; never
// outside WeChat (no wait then).
function weixinBridge(waitMs = 3000) {
  if (window.WeixinJSBridge) return Promise.resolve(window.WeixinJSBridge);
  if (!/MicroMessenger/i.test(navigator.userAgent)) return Promise.resolve(null);
  return new Promise((resolve) => {
    const done = () => resolve(window.WeixinJSBridge || null);
    document.addEventListener('WeixinJSBridgeReady', done, { once: true });
    setTimeout(done, waitMs);
  });
}

// getBrandWCPayRequest's answer: 'ok' | 'cancel' | 'fail'.
function payInWechat(bridge, params) {
  return new Promise((resolve) => {
    bridge.invoke('getBrandWCPayRequest', params, (res) => {
      const msg = String(res?.err_msg || res?.errMsg || '');
      resolve(msg.endsWith(':ok') ? 'ok' : msg.endsWith(':cancel') ? 'cancel' : 'fail');
    });
  });
}

function loadParams(orderId) {
  try { return JSON.parse(sessionStorage.getItem(PAY_PARAMS(orderId)) || 'null'); } catch { return null; }
}

// deps: { api, fail, later(fn, ms) (cleared when the view changes), onCard(fn) (the live
// stream's card events while the view is shown), cardName(card), words() (error words) }.
export function topUpViews({ api, fail, later, onCard, cardName, words }) {
  const figure = (key, label, value) => h('div.figure', {},
    h('div.value', { text: value, 'data-figure': key }), h('div.label', { text: label }));

  // Balance, paid part, bonus part (a panel's figures).
  function balanceFigures(card) {
    return h('div.figures', { id: 'balance-figures' },
      figure('balance', t('m.order.newBalance'), money(card.balance_cents)),
      figure('paid', t('topup.paid'), money(card.paid_balance_cents ?? card.balance_cents)),
      figure('bonus', t('topup.bonus'), money(card.bonus_balance_cents ?? 0)));
  }

  async function topUpView(el, cardId) {
    const card = await api.get(`/cards/${cardId}`);
    const template = card.template_id ? await api.get(`/card-templates/${card.template_id}`).catch(() => null) : null;
    const options = (template?.top_up_options || []).filter((o) => o.amount_cents > 0);
    const status = h('p', { id: 'topup-status', role: 'status', 'aria-live': 'polite' });
    // One key per option for as long as this view is shown: a second tap on the same
    // option (a double tap, a retry after a lost answer) asks for the same order.
    const keys = {};
    let busy = false;
    const buttons = options.map((o) => h('button.choice.topup-option', {
      type: 'button', 'data-option': String(o.amount_cents),
      onclick: () => place(o),
    }, h('strong', { text: topUpOptionText(o) }),
    h('small', { text: t('topup.gets', { total: money(o.amount_cents + (o.bonus_cents || 0)) }) })));
    async function place(option) {
      keys[option.amount_cents] ||= newKey();
      if (busy) return;
      busy = true;
      buttons.forEach((b) => { b.disabled = true; });
      status.textContent = t('m.topup.placing');
      try {
        const order = await api.post(`/cards/${cardId}/top-up-orders`, { amount_cents: option.amount_cents },
          { idempotencyKey: keys[option.amount_cents] });
        if (order.pay_params) sessionStorage.setItem(PAY_PARAMS(order.id), JSON.stringify(order.pay_params));
        sessionStorage.setItem(AUTOPAY(order.id), '1');
        location.hash = `#order/${order.id}`;
      } catch (err) {
        // The server answered (and keeps that answer under the key): the next tap is a new
        // attempt with a new key. No answer (network): the order may exist, keep the key.
        if (!err.network) delete keys[option.amount_cents];
        busy = false;
        buttons.forEach((b) => { b.disabled = false; });
        status.textContent = '';
        const text = errorText(err, { ...words(), validation_error: t('m.err.top_up.validation_error') });
        // The amount is no longer offered (the template changed since the view was drawn):
        // the options drawn again, as the server has them now.
        if (err.code === 'validation_error' && fieldErrors(err).some((e) => /amount_cents/.test(String(e.field)))) {
          await topUpView(el, cardId).catch(() => {});
        }
        toast(text, 'bad');
      }
    }
    const usable = card.kind === 'stored_value' && card.status === 'active' && options.length;
    mount(el,
      h('h1', { text: `${t('m.topup.title')} · ${cardName(card)}` }),
      h('div.panel', {},
        h('h2', { text: t('m.topup.current') }),
        balanceFigures(card)),
      h('div.panel', { id: 'topup-options' },
        h('h2', { text: t('m.topup.choose') }),
        usable ? [h('div.choices', { role: 'group', 'aria-label': t('m.topup.choose') }, buttons), status,
          h('p.muted', { text: t('m.topup.note') })]
          : h('p.muted', { text: card.status === 'active' ? t('m.topup.none') : t('m.card.inactive') })),
      h('div.row', {},
        h('a.btn.secondary', { href: `#card/${cardId}`, text: t('m.order.backToCard') }),
        h('a.btn.secondary', { href: '#orders', text: t('m.topup.orders') })));
  }

  async function orderView(el, orderId) {
    let order = await api.get(`/top-up-orders/${orderId}`);
    const params = loadParams(orderId);
    const autopay = sessionStorage.getItem(AUTOPAY(orderId)) === '1';
    sessionStorage.removeItem(AUTOPAY(orderId));
    const pill = h('span.pill');
    const state = h('div', { id: 'order-status', role: 'status', 'aria-live': 'polite' });
    const payBox = h('div', { id: 'pay-box' });
    const result = h('div', { id: 'order-result' });
    const facts = h('dl.terms', { id: 'order-facts' });
    mount(el,
      h('h1', { text: t('m.order.title') }),
      h('div.panel', { 'data-order': orderId },
        h('div.row.between', {},
          h('strong', { text: topUpOptionText(order) }),
          pill),
        facts, state, payBox),
      result,
      h('div.row', {},
        h('a.btn.secondary', { href: `#card/${order.card_id}`, text: t('m.order.backToCard') }),
        h('a.btn.secondary', { href: '#orders', text: t('m.topup.orders') })));

    let delay = 1000;
    let timer = null;
    const say = (text, cls = '') => {
      mount(state, h('p', { class: cls, text }));
    };

    function drawFacts() {
      const rows = [
        [t('m.order.amount'), money(order.amount_cents)],
        [t('m.order.bonus'), money(order.bonus_cents || 0)],
        [t('m.order.total'), money(order.amount_cents + (order.bonus_cents || 0))],
        [t('m.order.no'), order.out_trade_no || '—'],
        [t('m.order.created'), fmtDateTime(order.created_at)],
        order.paid_at ? [t('m.order.paidAt'), fmtDateTime(order.paid_at)] : null,
        order.refunded_cents ? [t('m.order.refunded'), money(order.refunded_cents)] : null,
        order.refunding_cents ? [t('m.order.refunding'), money(order.refunding_cents)] : null,
      ].filter(Boolean);
      mount(facts, rows.map(([label, text]) => [h('dt', { text: label }), h('dd', { text })]));
      pill.className = `pill ${order.anomaly ? 'revoked' : orderStatusClass(order.status)}`;
      pill.textContent = orderStateText(order);
      pill.dataset.status = order.status;
      state.dataset.status = order.status;
    }

    async function drawFinal() {
      mount(payBox);
      if (order.status === 'closed') {
        const why = { amount_mismatch: 'm.order.mismatch', refunded_elsewhere: 'm.order.refundedElsewhere' }[order.anomaly];
        say(t(why || (order.anomaly ? 'm.order.anomalyOther' : 'm.order.closed')), order.anomaly ? 'warnbox' : 'muted');
        mount(result);
        return;
      }
      if (!['paid', 'refunded', 'partially_refunded'].includes(order.status)) {
        say(t('m.order.otherText'), 'warnbox');
        mount(payBox, h('button.btn.secondary', { type: 'button', id: 'check-again', text: t('m.order.check'), onclick: () => { delay = 1000; poll(); } }));
        mount(result);
        return;
      }
      say(order.status === 'paid' ? `✓ ${t('m.order.paid')}` : t('m.order.refundedText', { amount: money(order.refunded_cents) }),
        order.status === 'paid' ? 'okbox' : 'warnbox');
      try {
        const card = await api.get(`/cards/${order.card_id}`);
        mount(result, h('div.panel', { id: 'new-balance' },
          h('h2', { text: cardName(card) }),
          balanceFigures(card),
          h('p', {}, h('a.btn', { href: `#topup/${card.id}`, text: t('m.order.again') }))));
      } catch (err) { mount(result, h('p.error', { text: errorText(err, words()) })); }
    }

    // Follow the order: back off from 1 s to 10 s; past its expiry (plus a minute for a
    // late notice) stop and offer "check again".
    async function poll() {
      timer = null;
      try {
        order = await api.get(`/top-up-orders/${orderId}`);
      } catch (err) {
        if (err.status === 401) return;
      }
      drawFacts();
      if (settled(order.status)) { await drawFinal(); return; }
      const expired = order.expires_at && Date.now() > new Date(order.expires_at).getTime() + 60000;
      if (expired) {
        say(t('m.order.slow'), 'muted');
        mount(payBox, h('button.btn.secondary', { type: 'button', id: 'check-again', text: t('m.order.check'), onclick: () => { delay = 1000; poll(); } }));
        return;
      }
      schedule();
    }
    function schedule(ms = delay) {
      if (timer) clearTimeout(timer);
      timer = later(poll, ms);
      delay = Math.min(10000, Math.round(delay * 1.5));
    }
    // The live stream says the card changed (credited by the notice): ask now.
    onCard((data) => { if (data.card_id === order.card_id && !settled(order.status)) { delay = 1000; schedule(0); } });

    async function pay(button) {
      if (button) button.disabled = true;
      const bridge = await weixinBridge();
      if (!bridge) {
        say(t('m.order.openInWechat'), 'warnbox');
        if (button) button.disabled = false;
        return;
      }
      say(t('m.order.waiting'));
      const outcome = await payInWechat(bridge, params);
      if (button) button.disabled = false;
      if (outcome === 'ok') { say(t('m.order.confirming')); delay = 1000; schedule(0); return; }
      say(t(outcome === 'cancel' ? 'm.order.cancelled' : 'm.order.failed'), outcome === 'cancel' ? 'warnbox' : 'error');
    }

    async function sandboxPay(button) {
      button.disabled = true;
      try {
        await api.post(`/top-up-orders/${orderId}/sandbox-pay`, {}, { idempotencyKey: newKey() });
        say(t('m.order.confirming'));
        delay = 1000;
        schedule(0);
      } catch (err) {
        button.disabled = false;
        fail(err);
      }
    }

    drawFacts();
    if (settled(order.status)) { await drawFinal(); return; }
    say(t('m.order.waiting'));
    if (params && order.status === 'pending') {
      const expires = order.expires_at ? h('p.muted', { text: t('m.order.expires', { d: fmtDateTime(order.expires_at) }) }) : null;
      if (params.signType === 'SANDBOX') {
        const button = h('button.btn.block.big', { type: 'button', id: 'sandbox-pay', text: t('m.order.paySandbox'),
          onclick: (event) => sandboxPay(event.currentTarget) });
        mount(payBox, h('p.muted', { text: t('m.order.sandboxNote') }), button, expires);
      } else {
        const button = h('button.btn.block.big', { type: 'button', id: 'wechat-pay', text: t('m.order.payWechat'),
          onclick: (event) => pay(event.currentTarget) });
        mount(payBox, button, expires);
        if (autopay) pay(button);
      }
    }
    schedule();
  }

  async function ordersView(el) {
    // A JSON array, like every /me/ list (an older server wrapped it in {items}).
    const list = listOf(await api.get('/me/top-up-orders'), 'orders');
    mount(el, h('h1', { text: t('m.orders.title') }), h('div.panel', {},
      list.length ? h('ul.list', { id: 'orders' }, list.map((o) => h('li', { 'data-order': o.id, 'data-status': o.status },
        h('a.row.between', { href: `#order/${o.id}` },
          h('strong', { text: topUpOptionText(o) }),
          h('span.pill', { class: o.anomaly ? 'revoked' : orderStatusClass(o.status), text: orderStateText(o) })),
        h('p.muted', { text: fmtDateTime(o.paid_at || o.created_at) }),
        o.refunded_cents ? h('p.muted', { text: `${t('m.order.refunded')} ${money(o.refunded_cents)}` }) : null)))
        : h('p.muted', { text: t('m.orders.empty') })));
  }

  return { topup: topUpView, order: orderView, orders: ordersView };
}
