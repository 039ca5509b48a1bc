// Marketing on the member's page (issue 20):
//   #invite         my referral code, its QR (GET /me/referral/qr.svg, else drawn here from
//                   the link), the link with "Copy" and "Share", how many friends I invited
//                   and how many of them earned us both a voucher.
//   #gift/<token>   a voucher a friend gives me: what it is (GET /gifts/{token}), "Accept"
//                   (POST /gifts/{token}/accept), then the voucher with its new code.
//   on #voucher/<id> "Give to a friend" on a voucher of a giftable campaign (POST
//                   /vouchers/{id}/gift): the link to send, the voucher shown as being given
//                   (no QR: it cannot be redeemed meanwhile), "Cancel gift"; and a voucher
//                   outside its days or hours says so before the member walks to a store.
// Links: `/m/?chain=<id>&ref=<code>` (referral) and `/m/?chain=<id>&gift=<token>` (a gift);
// both survive the sign-in (kept in localStorage until used). The page holds no rule: who
// may accept, when a gift expires, who gets a voucher are the API's answers.
import { newKey } from '/static/common/api.js';
import { errorText, t } from '/static/common/i18n.js';
import { qrCanvas } from '/static/common/qr.js';
import { confirmButton, fmtDateTime, h, mount, toast } from '/static/common/ui.js';
import { notUsableReason, ruleText, valueText } from '/static/common/terms.js';

const REF_KEY = 'o2o.m.ref';
const GIFT_KEY = 'o2o.m.gift';
const SENT_KEY = (voucherId) => `o2o.m.sent.${voucherId}`;

function store(key, value) {
  try {
    if (value) localStorage.setItem(key, value); else localStorage.removeItem(key);
  } catch { /* storage denied: the link works for this visit only */ }
}
function stored(key) {
  try { return localStorage.getItem(key) || ''; } catch { return ''; }
}

// --- arriving through a link ------------------------------------------------------------

// Reads ?ref= (or ?referral_code=) and ?gift= (or #gift/<token>) once, at load: kept until
// the sign-in (ref) or the accept view (gift) uses them. The query is tidied so a reload or
// a copied address does not carry them again.
export function readLink(query) {
  const ref = query.get('ref') || query.get('referral_code');
  const gift = query.get('gift') || (location.hash.match(/^#\/?gift\/([^/?#]+)/) || [])[1];
  if (ref) store(REF_KEY, ref.trim());
  if (gift) store(GIFT_KEY, decodeURIComponent(gift).trim());
  if (query.has('ref') || query.has('referral_code') || query.has('gift')) {
    const keep = new URLSearchParams(query);
    ['ref', 'referral_code', 'gift'].forEach((k) => keep.delete(k));
    const rest = keep.toString();
    history.replaceState(null, '', location.pathname + (rest ? `?${rest}` : '') + location.hash);
  }
}

export const pendingReferral = () => stored(REF_KEY);
export const pendingGift = () => stored(GIFT_KEY);
export function referralUsed() { store(REF_KEY, ''); }

// The view to open after the sign-in (a gift waiting to be accepted), or null.
export function nextHash() {
  const gift = pendingGift();
  return gift ? `#gift/${encodeURIComponent(gift)}` : null;
}

// The sign-in, with the referral code of the link it came through. A code the server
// refuses (own, unknown, already invited...) never stands between a member and the page:
// the sign-in is tried again without it.
export async function signIn(api, chainId, code) {
  const ref = pendingReferral();
  const body = { chain_id: chainId, code };
  if (!ref) return api.post('/auth/member/wechat', body);
  try {
    const session = await api.post('/auth/member/wechat', { ...body, referral_code: ref });
    referralUsed();
    return session;
  } catch (err) {
    const loginTrouble = [0, 401, 429].includes(err.status) || err.status >= 500
      || ['wechat_login_failed', 'wechat_unavailable', 'rate_limited'].includes(err.code);
    if (loginTrouble) throw err;
    referralUsed();
    return api.post('/auth/member/wechat', body);
  }
}

// --- sharing ------------------------------------------------------------------------------

const absolute = (link) => new URL(link, location.origin).href;

async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No clipboard API (an old WebView, no permission): select the text and copy.
    input.focus();
    input.select();
    try { return document.execCommand('copy'); } catch { return false; }
  }
}

// Inside WeChat with the JS-SDK present (configured by the host page), the link and its
// title become what "Send to friend" shares. Never required: without it nothing happens.
export function wechatShare({ title, desc, link }) {
  const wx = window.wx;
  if (!wx || typeof wx.updateAppMessageShareData !== 'function') return false;
  const data = { title, desc, link: absolute(link) };
  const go = () => {
    try {
      wx.updateAppMessageShareData({ ...data, success() {}, fail() {} });
      if (typeof wx.updateTimelineShareData === 'function') {
        wx.updateTimelineShareData({ title, link: data.link, success() {} });
      }
    } catch { /* an SDK that is not configured: the menu shares the page as it is */ }
  };
  if (typeof wx.ready === 'function') wx.ready(go); else go();
  return true;
}

const inWechat = () => /MicroMessenger/i.test(navigator.userAgent) || Boolean(window.wx);

// The link in a read-only box with "Copy" and "Share" (the system's share sheet where the
// browser has one; inside WeChat, a hint to use the ··· menu, which shares what
// wechatShare() set).
function shareBox({ id, link, title, text }) {
  const url = absolute(link);
  const input = h('input', { id: `${id}-link`, readonly: true, value: url, 'data-link': url, class: 'share-link' });
  const hint = h('p.muted', { id: `${id}-hint`, role: 'status', 'aria-live': 'polite' });
  const canShare = typeof navigator.share === 'function';
  return h('div.share', { id },
    h('label', { for: `${id}-link`, text: t('m.share.link') }),
    input,
    h('div.row.share-actions', {},
      h('button.btn', {
        type: 'button', id: `${id}-copy`, text: t('m.share.copy'),
        onclick: async () => {
          const ok = await copyText(url, input);
          toast(ok ? t('m.share.copied') : t('m.share.copyFailed'), ok ? 'ok' : 'bad');
        },
      }),
      h('button.btn.secondary', {
        type: 'button', id: `${id}-share`, text: t('m.share.share'),
        onclick: async () => {
          if (canShare) {
            try { await navigator.share({ title, text, url }); } catch { /* dismissed */ }
            return;
          }
          hint.textContent = inWechat() ? t('m.share.wechatHint') : t('m.share.copyHint');
        },
      })),
    hint);
}

// --- invite friends (referral) --------------------------------------------------------------

// The referral QR: the server's SVG (fetched with the token, shown as a blob: image), else
// the same link drawn here.
async function referralQr(api, link) {
  try {
    const response = await api.raw('/me/referral/qr.svg');
    const blob = await response.blob();
    if (!blob.size) throw new Error('empty');
    const img = h('img', { src: URL.createObjectURL(blob), alt: t('m.invite.qrAlt'), class: 'qr', width: 240, height: 240 });
    return img;
  } catch {
    const canvas = qrCanvas(absolute(link));
    canvas.setAttribute('aria-label', t('m.invite.qrAlt'));
    return canvas;
  }
}

function countsPanel(me) {
  return h('div.panel', {},
    h('h2', { text: t('m.invite.results') }),
    h('div.figures', {},
      h('div.figure', {}, h('div.value', { id: 'invited-count', text: String(me.invited ?? 0) }),
        h('div.label', { text: t('m.invite.invited') })),
      h('div.figure', {}, h('div.value', { id: 'rewarded-count', text: String(me.rewarded ?? 0) }),
        h('div.label', { text: t('m.invite.rewarded') }))));
}

// What each side gets, in the campaigns' names when the program names them.
function rewardsText(me) {
  const mine = me.referrer_reward?.name;
  const theirs = me.invitee_reward?.name;
  if (mine && theirs) return t('m.invite.rewards', { mine, theirs });
  return t('m.invite.how');
}

export async function inviteView(el, { api, fail }) {
  const me = await api.get('/me/referral');
  // A paused program (or none): no code to hand out, but what was earned stays shown.
  if ((me.program_status ?? 'active') !== 'active') {
    mount(el, h('h1', { text: t('m.invite.title') }),
      h('div.panel', { id: 'invite-off' }, h('p', { text: t('m.invite.off') })),
      me.invited ? countsPanel(me) : null);
    return;
  }
  const title = t('m.invite.shareTitle');
  const desc = t('m.invite.shareDesc', { code: me.code });
  wechatShare({ title, desc, link: me.link });
  mount(el,
    h('h1', { text: t('m.invite.title') }),
    h('div.panel', { id: 'invite' },
      h('p', { id: 'invite-how', text: rewardsText(me) }),
      // The program waits for the friend's verified phone: say so, or they never learn why.
      me.require_verified_phone ? h('p', { id: 'invite-phone', text: t('m.invite.phone') }) : null,
      h('p.muted', { text: t('m.invite.code') }),
      h('p.shortcode', { id: 'referral-code', text: me.code }),
      h('div.qrbox', { id: 'referral-qr' }, h('p.muted', { text: t('app.loading') })),
      h('p.muted.center', { text: t('m.invite.showQr') }),
      shareBox({ id: 'invite-share', link: me.link, title, text: desc })),
    countsPanel(me));
  const qr = await referralQr(api, me.link).catch((err) => { fail(err); return null; });
  const box = document.getElementById('referral-qr');
  if (qr && box) mount(box, qr);
}

// --- giving a voucher -----------------------------------------------------------------------

// Hours as the older pages word them: `hours: {from, to}` (the contract) or time_from/until.
export function normalTerms(terms) {
  if (!terms) return terms;
  const hours = terms.hours || null;
  return {
    ...terms,
    time_from: terms.time_from ?? hours?.from ?? null,
    time_until: terms.time_until ?? hours?.to ?? hours?.until ?? null,
  };
}

// Why the voucher cannot be used at this moment because of its days or hours (the store's
// zone), or null. Validity dates and stores are said elsewhere.
export function outsideHours(v, timeZone) {
  const terms = normalTerms(v.terms);
  if (!terms || v.status !== 'issued') return null;
  const limited = (terms.weekdays && terms.weekdays.length && terms.weekdays.length < 7)
    || (terms.time_from && terms.time_until);
  if (!limited) return null;
  const now = new Date();
  if (terms.valid_from && now < new Date(terms.valid_from)) return null;
  if (terms.valid_until && now > new Date(terms.valid_until)) return null;
  return notUsableReason({ ...terms, store_ids: null, valid_from: null, valid_until: null }, { timeZone })
    ? t('m.voucher.outsideHours', { rule: ruleText(terms) }) : null;
}

export function usageNote(v, timeZone) {
  const why = outsideHours(v, timeZone);
  return why ? h('div.warnbox', { id: 'usage-note', role: 'note', 'data-usage': 'outside_usage_hours', text: why }) : null;
}

const giftable = (v) => Boolean(v.giftable ?? v.terms?.giftable);

// The gift being given: the server's pending gift of this voucher (GET /me/gifts: its id
// and end), with the link this browser kept when it made the gift (only a hash of the
// token is stored server-side: another phone can cancel but not re-share).
function keptGift(v) {
  try { return JSON.parse(stored(SENT_KEY(v.id)) || 'null'); } catch { return null; }
}

export async function sentGift(api, v) {
  if (v.status !== 'gifting') return null;
  const kept = keptGift(v);
  let mine = null;
  try {
    mine = (await api.get('/me/gifts') || []).find((g) => g.voucher_id === v.id && (g.status ?? 'pending') === 'pending');
  } catch { /* no list: what this browser kept */ }
  if (!mine) return kept;
  return { ...mine, ...(kept && kept.id === mine.id ? { token: kept.token, link: kept.link } : {}) };
}

export const GIFT_WORDS = () => ({
  voucher_gifting: t('m.err.voucher_gifting'),
  not_giftable: t('m.err.not_giftable'), voucher_not_giftable: t('m.err.not_giftable'),
  gift_expired: t('m.gift.expired'), gift_taken: t('m.gift.taken'), gift_accepted: t('m.gift.taken'),
  gift_cancelled: t('m.gift.cancelled'), own_gift: t('m.gift.own'), gift_own: t('m.gift.own'),
  self_gift: t('m.gift.own'), gift_not_pending: t('m.gift.gone'),
  outside_usage_hours: t('m.err.outside_usage_hours'),
});
// On the accept view a 404 is an unknown gift, not a page.
const ACCEPT_WORDS = () => ({ ...GIFT_WORDS(), not_found: t('m.gift.notFound'), invalid_state: t('m.gift.gone') });

// The gifting panel of the voucher's view: "Give to a friend", or the link being given with
// "Cancel gift". `rerender` reads the voucher again.
export function giftPanel(v, gift, { api, fail, rerender }) {
  if (v.status === 'gifting') {
    return h('div.panel', { id: 'gift-panel', 'data-gift': gift?.id || '' },
      h('h2', { text: t('m.gift.giving') }),
      h('p', { text: t('m.gift.givingText') }),
      gift?.expires_at ? h('p.muted', { id: 'gift-expires', text: t('m.gift.until', { d: fmtDateTime(gift.expires_at) }) }) : null,
      gift?.link ? shareBox({ id: 'gift-share', link: gift.link, title: t('m.gift.shareTitle'), text: t('m.gift.shareDesc', { name: v.campaign_name }) }) : null,
      gift?.id ? confirmButton(t('m.gift.cancel'), t('app.sure'), async () => {
        try {
          await api.post(`/gifts/${gift.id}/cancel`, {}, { idempotencyKey: newKey() });
          store(SENT_KEY(v.id), '');
          toast(t('m.gift.cancelledOk'), 'ok');
          rerender();
        } catch (err) {
          fail(err);
          rerender();
        }
      }, 'btn danger gift-cancel') : h('p.muted', { text: t('m.gift.noLinkHere') }));
  }
  if (v.status !== 'issued' || !giftable(v)) return null;
  const key = newKey();  // one gift per visit of the view, whatever the taps
  return h('div.panel', { id: 'gift-panel' },
    h('h2', { text: t('m.gift.title') }),
    h('p.muted', { text: t('m.gift.explain') }),
    h('button.btn', {
      type: 'button', id: 'give-voucher', text: t('m.gift.give'),
      onclick: async (event) => {
        event.target.disabled = true;
        try {
          const gift = await api.post(`/vouchers/${v.id}/gift`, {}, { idempotencyKey: key });
          store(SENT_KEY(v.id), JSON.stringify(gift));
          toast(t('m.gift.made'), 'ok');
          wechatShare({ title: t('m.gift.shareTitle'), desc: t('m.gift.shareDesc', { name: v.campaign_name }), link: gift.link });
          rerender();
        } catch (err) {
          fail(err);
          event.target.disabled = false;
        }
      },
    }));
}

// Shared with the voucher view: a gifting voucher's share data stays set for WeChat's menu.
export function shareGiftInWechat(v, gift) {
  if (gift?.link) wechatShare({ title: t('m.gift.shareTitle'), desc: t('m.gift.shareDesc', { name: v.campaign_name }), link: gift.link });
}

// --- accepting a gift -------------------------------------------------------------------------

// What stops an accept, in words, from the gift as read (or null when it can be accepted).
function giftBlock(gift, own) {
  if (!gift) return null;
  const status = gift.status || 'pending';
  if (own && status === 'pending') return ['own', t('m.gift.own')];
  if (status === 'pending' && gift.expires_at && new Date(gift.expires_at) < new Date()) return ['expired', t('m.gift.expired')];
  return {
    expired: ['expired', t('m.gift.expired')], accepted: ['taken', t('m.gift.taken')],
    cancelled: ['cancelled', t('m.gift.cancelled')],
  }[status] || (status === 'pending' ? null : ['gone', t('m.gift.gone')]);
}

// An accept refused: the words, and the state the view shows.
const ACCEPT_STATES = { gift_expired: 'expired', own_gift: 'own', not_found: 'unknown', gift_not_pending: 'gone' };

export async function giftView(el, token, { api, fail, voucherTerms, termRows, byStore }) {
  store(GIFT_KEY, '');  // opened: the link is used up whatever happens next
  let gift = null;
  let readError = null;
  try {
    gift = await api.get(`/gifts/${encodeURIComponent(token)}`);
  } catch (err) {
    readError = err;
  }
  const words = ACCEPT_WORDS();
  if (readError && readError.status !== 405) {
    // Unknown (or another chain's) token, or the server could not say: the words for it.
    mount(el, h('h1', { text: t('m.gift.received') }),
      h('div.panel', { id: 'gift-view', 'data-state': ACCEPT_STATES[readError.code] || readError.code },
        h('p.reason', { id: 'gift-reason', role: 'alert', text: errorText(readError, words) }),
        h('a.btn.secondary', { href: '#vouchers', text: t('m.tab.vouchers') })));
    return;
  }
  // My own gift (the server says so; else: one of the gifts I sent): nothing to accept.
  const own = gift && (gift.own ?? await api.get('/me/gifts')
    .then((x) => (x || []).some((g) => g.id === gift.id)).catch(() => false));
  const block = giftBlock(gift, own);
  const terms = gift?.terms ? normalTerms(voucherTerms({ terms: gift.terms })) : null;
  const acceptKey = newKey();  // a double tap accepts once
  const reason = h('p.reason', { id: 'gift-reason', role: 'alert', text: block ? block[1] : '' });
  const view = h('div.panel', { id: 'gift-view', 'data-state': block ? block[0] : 'open' });
  const accept = block ? null : h('button.btn.block.big', {
    type: 'button', id: 'accept-gift', text: t('m.gift.accept'),
    onclick: async (event) => {
      event.target.disabled = true;
      try {
        const mine = await api.post(`/gifts/${encodeURIComponent(token)}/accept`, {}, { idempotencyKey: acceptKey });
        toast(t('m.gift.accepted'), 'ok');
        location.hash = `#voucher/${mine.id}`;
      } catch (err) {
        reason.textContent = errorText(err, words);
        view.dataset.state = ACCEPT_STATES[err.code] || err.code;
        if (err.status >= 500 || err.status === 0) event.target.disabled = false;
        else event.target.remove();
      }
    },
  });
  mount(el, h('h1', { text: t('m.gift.received') }), mount(view,
    gift?.giver_name ? h('p', { id: 'gift-from', text: t('m.gift.from', { name: gift.giver_name }) }) : h('p', { text: t('m.gift.fromFriend') }),
    gift?.campaign_name ? h('h2', { id: 'gift-name', text: gift.campaign_name }) : null,
    terms ? [h('p.value-line', { text: valueText(terms) }), termRows(terms, byStore)] : null,
    gift?.expires_at && !block ? h('p.muted', { text: t('m.gift.acceptUntil', { d: fmtDateTime(gift.expires_at) }) }) : null,
    reason,
    accept,
    h('a.btn.secondary', { href: '#vouchers', text: t('m.tab.vouchers') })));
}
