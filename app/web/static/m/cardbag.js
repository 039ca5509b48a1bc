// WeChat's card bag (微信卡包, issue 21): inside WeChat's browser, a card the member holds can
// be added to the card bag next to their other cards, where WeChat shows its points and
// balance (kept in step by the server). Outside WeChat nothing changes: no button, no SDK.
//
// The tap: load WeChat's JS-SDK (jweixin, only now and only here), wx.config with what
// GET /wechat/js-config signed for this page's address (without the hash; on iOS the one
// the page was entered at), then wx.addCard with what GET /cards/{id}/wechat-add
// signed with the wx_card api_ticket. When WeChat says the card signature is bad (a ticket
// WeChat has just replaced), the page asks again once with ?retry=true: the server then
// fetches a fresh ticket. The card answers `wechat`: null or {"in_card_bag": true, ...};
// the server learns of the add from WeChat's own event, not from this page.
// export function inWechatBrowser(), cardBagBox(api, card, { hint }), readCardFace(query),
// takeCardFace(cards)
import { addMessages, errorText, t } from '/static/common/i18n.js';
import { h, mount } from '/static/common/ui.js';

addMessages({
  zh: {
    'm.bag.add': '添加到微信卡包', 'm.bag.adding': '正在打开微信卡包…',
    'm.bag.in': '已在你的微信卡包中', 'm.bag.added': '已添加到微信卡包：余额和积分会在卡包里同步显示',
    'm.bag.cancelled': '没有添加：想放进卡包时再点一次', 'm.bag.failed': '没能添加到微信卡包，请稍后再试',
    'm.bag.sdk': '没能加载微信的组件，请检查网络后再试',
    'm.bag.unavailable': '这张卡暂时不能放进微信卡包',
    'm.bag.noOpenid': '请从公众号菜单打开本页（微信授权登录后）再添加到卡包',
    'm.bag.hint': '放进微信卡包后，可在「我 › 卡包」里查看余额和积分；付款时仍请出示本页的动态码。',
  },
  en: {
    'm.bag.add': 'Add to WeChat card bag', 'm.bag.adding': 'Opening WeChat\u2019s card bag…',
    'm.bag.in': 'In your WeChat card bag', 'm.bag.added': 'Added to your WeChat card bag: its balance and points show there too',
    'm.bag.cancelled': 'Not added: tap again whenever you want it in the card bag', 'm.bag.failed': 'Could not add it to WeChat\u2019s card bag: try again later',
    'm.bag.sdk': 'Could not load WeChat\u2019s component: check the network and try again',
    'm.bag.unavailable': 'This card cannot go to WeChat\u2019s card bag yet',
    'm.bag.noOpenid': 'Open this page from the official account\u2019s menu (signed in through WeChat) to add it to the card bag',
    'm.bag.hint': 'In the card bag (Me › Cards & Offers) you see the balance and points; to pay, still show this page\u2019s live code.',
  },
});

// Where WeChat serves its JS-SDK (res2: its documented fallback). The member page's CSP
// allows these two hosts for scripts (app/web/routes.py), nothing else.
const SDK_URLS = ['https://res.wx.qq.com/open/js/jweixin-1.6.0.js', 'https://res2.wx.qq.com/open/js/jweixin-1.6.0.js'];

export const inWechatBrowser = () => /MicroMessenger/i.test(navigator.userAgent);

// The address WeChat checks wx.config's signature against, without the hash: on iOS the
// one the page was entered at (WeChat's iOS browser keeps it, whatever history.replaceState
// did since: the page drops the login `code` WeChat's redirect handed over), elsewhere the
// current one. Read when this module loads, before the login rewrites the address.
const LANDING = location.href.split('#')[0];
const signedUrl = () => (/iPhone|iPad|iPod/i.test(navigator.userAgent) ? LANDING : location.href.split('#')[0]);

// The card face in WeChat's card bag (its cell and centre button) opens this page at
// ?wx_template=<template id> (WeChat adds its own parameters): the member's card of that
// template, at its live QR. Kept for this tab through the sign-in, which rewrites the
// address; taken once by the cards view.
const FACE = 'o2o.m.bag.template';
export function readCardFace(query) {
  const id = query.get('wx_template');
  if (!id) return;
  try { sessionStorage.setItem(FACE, id); } catch { /* private mode: the cards list then */ }
}
export function takeCardFace(cards) {
  let id = null;
  try { id = sessionStorage.getItem(FACE); sessionStorage.removeItem(FACE); } catch { return null; }
  const mine = cards.filter((c) => id && c.template_id === id);
  return mine.find((c) => c.status === 'active') || mine[0] || null;
}

// Cards the server said it cannot add (409) during this visit: a note instead of a button
// that would fail again (sessionStorage: a new visit asks again).
const UNAVAILABLE = 'o2o.m.bag.unavailable';
const unavailable = () => { try { return JSON.parse(sessionStorage.getItem(UNAVAILABLE) || '{}'); } catch { return {}; } };
function markUnavailable(cardId, code) {
  try { sessionStorage.setItem(UNAVAILABLE, JSON.stringify({ ...unavailable(), [cardId]: code })); } catch { /* private mode */ }
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = src;
    script.onload = resolve;
    script.onerror = () => { script.remove(); reject(new Error(`could not load ${src}`)); };
    document.head.append(script);
  });
}

// The SDK, loaded once per page (a failed load is tried again on the next tap).
let sdk = null;
function loadSdk() {
  if (window.wx && typeof window.wx.config === 'function') return Promise.resolve(window.wx);
  sdk ||= (async () => {
    for (const src of SDK_URLS) {
      try {
        await loadScript(src);
        if (window.wx && typeof window.wx.config === 'function') return window.wx;
      } catch { /* the next host */ }
    }
    sdk = null;
    throw Object.assign(new Error('jweixin'), { code: 'wechat_sdk' });
  })();
  return sdk;
}

// wx.config for this page, once it worked (the address without the hash does not change
// while the member moves between views); a config WeChat refused is asked for again on the
// next tap. WeChat may call ready even when it then refuses the config (error comes
// after): a later error forgets the config too.
let configured = null;
function configure(api) {
  configured ||= (async () => {
    const wx = await loadSdk();
    const c = await api.get('/wechat/js-config', { url: signedUrl() });
    await new Promise((resolve, reject) => {
      let settled = false;
      wx.ready(() => { if (!settled) { settled = true; resolve(); } });
      wx.error((res) => {
        configured = null;
        if (!settled) { settled = true; reject(Object.assign(new Error(res?.errMsg || 'config'), { code: 'wechat_config', res })); }
      });
      wx.config({
        debug: false, appId: c.app_id, timestamp: c.timestamp, nonceStr: c.nonce_str,
        signature: c.signature, jsApiList: ['addCard'],
      });
    });
    return wx;
  })().catch((err) => { configured = null; throw err; });
  return configured;
}

// wx.addCard as a promise: 'ok', 'cancel', or a rejection carrying WeChat's errMsg.
function addCard(wx, add) {
  return new Promise((resolve, reject) => {
    wx.addCard({
      cardList: [{ cardId: add.card_id, cardExt: add.card_ext }],
      success: () => resolve('ok'),
      cancel: () => resolve('cancel'),
      fail: (res) => reject(Object.assign(new Error(res?.errMsg || 'addCard'), { code: 'wechat_add', res })),
    });
  });
}

const badSignature = (err) => err?.code === 'wechat_add' && /sign/i.test(err.res?.errMsg || '');

// Asks the server for the signed card and hands it to WeChat; once more with ?retry=true
// (the server refreshes its ticket) when WeChat says the signature is bad.
async function addWithRetry(api, card) {
  const wx = await configure(api);
  const signed = (retry) => api.get(`/cards/${card.id}/wechat-add`, retry ? { retry: 'true' } : undefined);
  try {
    return await addCard(wx, await signed(false));
  } catch (err) {
    // Any other refusal (a permission the config did not get...): configure afresh next time.
    if (!badSignature(err)) { if (err?.code === 'wechat_add') configured = null; throw err; }
    return addCard(wx, await signed(true));
  }
}

function failureText(err) {
  if (err?.code === 'wechat_sdk') return t('m.bag.sdk');
  if (['wechat_add', 'wechat_config'].includes(err?.code)) return t('m.bag.failed');
  // The API's codes (docs/decisions/058); wechat_unavailable and the rest: the shared words.
  return errorText(err, { not_found: t('m.bag.unavailable'), wechat_card_unavailable: t('m.bag.unavailable'),
    wechat_not_configured: t('m.bag.unavailable'), member_not_linked: t('m.bag.noOpenid'),
    wechat_refused: t('m.bag.failed') });
}

// Inside WeChat's browser, the card bag's line on a card: "In your WeChat card bag", or
// (an active card) the button; null elsewhere (outside WeChat the pages are as they were).
export function cardBagBox(api, card, { hint = true } = {}) {
  if (!inWechatBrowser()) return null;
  if (card.wechat?.in_card_bag) {
    return h('p.bag-in', { 'data-card-bag': 'in', text: `✓ ${t('m.bag.in')}` });
  }
  if (card.status !== 'active') return null;
  const box = h('div.bag', { 'data-card-bag': 'add' });
  const said = unavailable()[card.id];
  if (said) {
    mount(box, h('p.muted', { 'data-card-bag-note': said, text: failureText({ code: said }) }));
    return box;
  }
  const status = h('p.muted', { role: 'status', 'aria-live': 'polite' });
  const button = h('button.btn.secondary.bag-add', {
    type: 'button', text: t('m.bag.add'), 'data-add-to-bag': card.id,
    'aria-label': `${t('m.bag.add')}: ${card.template_name || card.number}`,
    onclick: async () => {
      button.disabled = true;
      status.textContent = t('m.bag.adding');
      try {
        const answer = await addWithRetry(api, card);
        if (answer === 'ok') {
          box.dataset.cardBag = 'added';
          mount(box, h('p.bag-in', { role: 'status', text: `✓ ${t('m.bag.added')}` }));
          return;
        }
        status.textContent = t('m.bag.cancelled');
      } catch (err) {
        if (err?.status === 409) {
          markUnavailable(card.id, err.code);
          mount(box, h('p.muted', { role: 'status', 'data-card-bag-note': err.code, text: failureText(err) }));
          return;
        }
        status.textContent = failureText(err);
      }
      button.disabled = false;
    },
  });
  mount(box, button, hint ? h('p.muted', { text: t('m.bag.hint') }) : null, status);
  return box;
}
