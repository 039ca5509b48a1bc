// The member's H5 page: log in, cards with a live QR (and the digits to read out), live
// updates pushed by the server (SSE), vouchers with their terms, campaigns, booking with a
// stylist and the cancellation cut-off told before, my bookings, inbox, store info.
import { createApi, listOf, newKey } from '/static/common/api.js';
import { errorText, fieldErrors, langToggle, onLangChange, t } from '/static/common/i18n.js';
import { loginForm } from '/static/common/login.js';
import { qrCanvas } from '/static/common/qr.js';
import {
  addDays, confirmButton, fmtDate, fmtDateTime, fmtTime, groupDigits, h, localDate, money,
  mount, toast, weekdayLabel,
} from '/static/common/ui.js';
import {
  balanceSplitText, cardFigures, daysText, hoursText, minSpendText, storesText, valueText, weekdayName,
} from '/static/common/terms.js';
import { cardBagBox, readCardFace, takeCardFace } from './cardbag.js';
import { topUpViews } from './topup.js';
import {
  GIFT_WORDS, giftPanel, giftView, inviteView, nextHash, normalTerms, outsideHours, pendingGift,
  pendingReferral, readLink, referralUsed, sentGift, shareGiftInWechat, signIn, usageNote,
} from './marketing.js';
import './words.js';

// The page's own styles (CSP: a stylesheet of our origin, no inline style).
document.head.append(h('link', { rel: 'stylesheet', href: '/static/m/m.css' }));

const api = createApi('m', { onUnauthorized: () => { api.setToken(''); live.stop(); render(); } });
const root = document.getElementById('app');
const query = new URLSearchParams(location.search);
if (query.get('chain')) localStorage.setItem('o2o.m.chain', query.get('chain'));
// A referral link (?ref=) or a gift link (?gift=): kept through the sign-in (marketing.js).
readLink(query);
// Opened from the card face in WeChat's card bag (?wx_template=): that card, after sign-in.
readCardFace(query);
// Signed in already: a member already, whom a referral cannot bring (the server agrees).
if (api.token) referralUsed();
if (api.token && pendingGift()) history.replaceState(null, '', location.pathname + location.search + nextHash());

// Timers of the current view, stopped whenever another view renders.
let timers = [];
function every(fn, ms) { timers.push(setInterval(fn, ms)); }
function later(fn, ms) { const id = setTimeout(fn, ms); timers.push(id); return id; }
function stopTimers() { timers.forEach((id) => { clearTimeout(id); clearInterval(id); }); timers = []; }

const cache = { stores: null, services: {}, resources: {} };
async function stores() {
  if (!cache.stores) cache.stores = listOf(await api.get('/stores'));
  return cache.stores;
}
async function storesById() {
  return Object.fromEntries((await stores().catch(() => [])).map((s) => [s.id, s]));
}
async function services(storeId) {
  if (!cache.services[storeId]) cache.services[storeId] = listOf(await api.get(`/stores/${storeId}/services`));
  return cache.services[storeId];
}
// The store's stylists (resources of kind staff), for the "choose a stylist" step.
async function stylists(storeId) {
  if (!cache.resources[storeId]) {
    cache.resources[storeId] = listOf(await api.get(`/stores/${storeId}/resources`).catch(() => []));
  }
  return cache.resources[storeId].filter((r) => r.kind === 'staff' && r.active !== false);
}

const TABS = [['cards', 'm.tab.cards'], ['vouchers', 'm.tab.vouchers'], ['book', 'm.tab.book'],
  ['bookings', 'm.tab.bookings'], ['stores', 'm.tab.stores'], ['inbox', 'm.tab.inbox']];
// Online top-up (topup.js): the options, the order followed to the end, the history.
const topUp = topUpViews({
  api, later, fail: (err) => fail(err), words: () => pageWords(), cardName: (card) => cardName(card),
  onCard: (fn) => { onCardEvent = fn; },
});
const VIEWS = {
  cards: cardsView, card: cardView, vouchers: vouchersView, voucher: voucherView,
  book: bookView, bookings: bookingsView, inbox: inboxView, me: profileView,
  stores: storesView, store: storeView, topup: topUp.topup, order: topUp.order, orders: topUp.orders,
  invite: (el) => inviteView(el, { api, fail }),
  gift: async (el, token) => giftView(el, decodeURIComponent(token || ''), {
    api, fail, voucherTerms, termRows, byStore: await storesById(),
  }),
};

function route() {
  const [name, arg] = location.hash.replace(/^#\/?/, '').split('/');
  return VIEWS[name] ? [name, arg] : ['cards', undefined];
}

// What the current view does when the server says a card changed (see live below).
let onCardEvent = null;
let onVoucherEvent = null;
let noticeBox = null;

function render() {
  stopTimers();
  onCardEvent = null;
  onVoucherEvent = null;
  if (!api.token) { live.stop(); loginView(); return; }
  live.start();
  const [name, arg] = route();
  const tab = {
    card: 'cards', voucher: 'vouchers', store: 'stores', topup: 'cards', order: 'cards', orders: 'cards',
    invite: 'me', gift: 'vouchers',
  }[name] || name;
  const keep = noticeBox && noticeBox.childElementCount ? [...noticeBox.childNodes] : [];
  noticeBox = h('div.live-notice', { id: 'live-notice', role: 'status', 'aria-live': 'polite' }, keep);
  const content = h('div', { id: 'view-body' }, h('p.muted', { text: t('app.loading') }));
  mount(root,
    h('header.topbar', {},
      h('span.title', { text: t('m.title') }),
      langToggle(),
      h('a', { href: '#me', class: 'lang', text: t('m.me'), 'data-tab': 'me' }),
      h('button', { type: 'button', text: t('app.logout'), onclick: logout })),
    h('main.page', { id: 'view', 'data-view': name }, noticeBox, content),
    h('nav.tabs', { 'aria-label': t('m.tabs') }, TABS.map(([key, label]) => h('a', {
      href: `#${key}`, class: key === tab ? 'on' : '', text: t(label), 'data-tab': key,
      'aria-current': key === tab ? 'page' : null,
    }))));
  VIEWS[name](content, arg).catch((err) => showError(content, err));
}

function showError(el, err) {
  mount(el, h('h1', { text: t('m.error.title') }), h('div.panel', {},
    h('p.error', { text: errorText(err, pageWords()) }),
    h('button.btn.secondary', { type: 'button', text: t('app.retry'), onclick: render })));
}

// The page's words for an error code where they say more than the shared ones.
function pageWords() {
  return {
    not_found: t('m.err.not_found'),
    claim_limit_reached: t('m.err.claim_limit_reached'),
    booking_not_cancellable: t('m.err.booking_not_cancellable'),
    slot_unavailable: t('m.err.slot_unavailable'),
    phone_taken: t('m.err.phone_taken'),
    card_exists: t('m.err.card_exists'),
    validation_error: t('m.err.validation_error'),
    ...GIFT_WORDS(),
  };
}
const fail = (err) => toast(errorText(err, pageWords()), 'bad');

function logout() {
  api.setToken('');
  live.stop();
  location.hash = '';
  render();
}

// --- live updates: Server-Sent Events ---------------------------------------------------
// A single-use ticket (EventSource cannot send a bearer token), then GET /me/events. The
// server pushes `card` and `voucher` events when the member's card or voucher is used at a
// till; the page never polls. On an error the stream is closed and reopened with a new
// ticket (the old one is spent), backing off up to a minute.

const live = (() => {
  let source = null;
  let retry = null;
  let delay = 2000;
  let wanted = false;
  let connectedOnce = false;

  async function open() {
    retry = null;
    if (!wanted || source) return;
    let ticket;
    try {
      ticket = (await api.post('/me/events/ticket', {})).ticket;
    } catch (err) {
      schedule(err?.status === 404 || err?.status === 405 ? 60000 : delay);
      return;
    }
    if (!wanted || source) return;
    source = new EventSource(`/api/v1/me/events?ticket=${encodeURIComponent(ticket)}`);
    source.addEventListener('ready', () => {
      delay = 2000;
      document.documentElement.dataset.live = 'on';
      // After a reconnect, what happened meanwhile was not pushed: read the view again.
      if (connectedOnce && ['card', 'cards', 'vouchers', 'voucher'].includes(route()[0])) render();
      connectedOnce = true;
    });
    source.addEventListener('card', (event) => handle(event, cardEvent));
    source.addEventListener('voucher', (event) => handle(event, voucherEvent));
    source.onerror = () => {
      document.documentElement.dataset.live = 'off';
      if (source) source.close();
      source = null;
      schedule(delay);
      delay = Math.min(60000, delay * 2);
    };
  }
  function schedule(ms) {
    if (wanted && !retry) retry = setTimeout(open, ms);
  }
  function handle(event, fn) {
    let data = null;
    try { data = JSON.parse(event.data); } catch { return; }
    fn(data);
  }
  return {
    start() { wanted = true; if (!source && !retry) open(); },
    stop() {
      wanted = false;
      connectedOnce = false;
      if (retry) clearTimeout(retry);
      retry = null;
      if (source) source.close();
      source = null;
      delete document.documentElement.dataset.live;
    },
  };
})();

// "¥88.00 charged at 静安店", in the page's language, from the event's figures.
function cardNotice(data) {
  const r = data.redemption;
  if (!r) return null;
  const at = r.store_name || '';
  const vars = { amount: money(r.charged_cents), store: at, balance: money(data.balance_cents),
    visits: data.visits_left, points: data.points };
  const key = {
    charge: 'm.live.charge', top_up: 'm.live.top_up', visit: 'm.live.visit', earn: 'm.live.earn',
    reversal: 'm.live.reversal', top_up_bonus: 'm.live.top_up_bonus', refund: 'm.live.refund',
    refund_reverted: 'm.live.refund_reverted',
  }[r.action];
  if (!key) return t('m.live.changed');
  return t(at ? key : `${key}.nostore`, vars);
}

function showNotice(text) {
  if (!text || !noticeBox) return;
  mount(noticeBox, h('div.notice', { 'data-notice': '' },
    h('span', { text }),
    h('button', { type: 'button', text: t('m.live.dismiss'), onclick: () => noticeBox.replaceChildren() })));
}

function cardEvent(data) {
  showNotice(cardNotice(data));
  if (onCardEvent) onCardEvent(data);
}

function voucherEvent(data) {
  if (data.status === 'redeemed') {
    showNotice(data.store_name ? t('m.live.voucher', { store: data.store_name }) : t('m.live.voucher.nostore'));
  }
  if (onVoucherEvent) onVoucherEvent(data);
}

// --- login ------------------------------------------------------------------------------

async function login(chainId, code) {
  const session = await signIn(api, chainId, code);
  localStorage.setItem('o2o.m.chain', chainId);
  api.setToken(session.token);
  // Came through a gift link: the gift is the first thing to see.
  const next = nextHash();
  if (next) history.replaceState(null, '', location.pathname + location.search + next);
}

function loginView() {
  const chain = localStorage.getItem('o2o.m.chain') || '';
  const handedCode = query.get('code');
  if (handedCode && chain) {
    // The WeChat redirect (or mini program) handed a code over: use it once.
    history.replaceState(null, '', location.pathname + `?chain=${encodeURIComponent(chain)}`);
    login(chain, handedCode).then(render, (err) => { fail(err); memberLoginForm(chain); });
    return;
  }
  memberLoginForm(chain);
}

function memberLoginForm(chain) {
  loginForm(root, {
    title: t('m.login.title'),
    fields: [
      { id: 'chain', label: t('m.login.chain'), attrs: { value: chain, autocomplete: 'off' },
        fieldAttrs: { class: chain && query.get('chain') ? 'hidden' : '' } },
      { id: 'code', label: t('m.login.code'), attrs: { placeholder: 'sandbox:<openid>', autocomplete: 'off' } },
    ],
    hint: [pendingGift() ? t('m.login.giftHint') : '', pendingReferral() ? t('m.login.refHint') : '', t('m.login.hint')]
      .filter(Boolean).join(' '),
    submit: async (values) => {
      await login(values.chain.trim(), values.code.trim());
      render();
    },
  });
}

// --- cards ------------------------------------------------------------------------------

function figuresBlock(card) {
  return h('div.figures', {}, cardFigures(card).map(([key, label, value]) => h('div.figure', {},
    h('div.value', { text: value, 'data-figure': key }), h('div.label', { text: label }))));
}

function cardName(card) { return card.template_name || t(`kind.${card.kind}`); }

function cardTile(card, attrs) {
  const split = balanceSplitText(card);
  return h(attrs.href ? 'a.cardtile' : 'div.cardtile', { class: card.kind, ...attrs },
    h('div.row.between', {},
      h('strong', { text: cardName(card) }),
      h('span.pill', { class: card.status, text: t(`status.${card.status}`) })),
    h('div.number', { text: groupDigits(card.number) }),
    figuresBlock(card),
    split ? h('div.split', { 'data-split': '', text: split }) : null);
}

async function cardsView(el) {
  const [cards, templates] = await Promise.all([
    api.get('/me/cards').then((x) => listOf(x)),
    api.get('/card-templates').then((x) => listOf(x)).catch(() => []),
  ]);
  const face = takeCardFace(cards);
  if (face) { location.replace(`#card/${face.id}`); return; }
  const held = new Set(cards.filter((c) => c.status === 'active').map((c) => c.template_id));
  const claimable = templates.filter((tp) => tp.active !== false && tp.claimable !== false && !held.has(tp.id));
  onCardEvent = () => cardsView(el).catch(() => {});
  mount(el,
    h('h1', { text: t('m.cards.title') }),
    cards.length ? cards.map((card) => [
      cardTile(card, { href: `#card/${card.id}`, 'data-card': card.id }), cardBagBox(api, card, { hint: false })])
      : h('div.panel', {}, h('p.muted', { text: t('m.cards.empty') })),
    claimable.length ? h('div.panel', {},
      h('h2', { text: t('m.cards.claim') }),
      h('ul.list', {}, claimable.map((tp) => h('li.row.between', {},
        h('span', {}, tp.name, ' ', h('span.pill', { text: t(`kind.${tp.kind}`) })),
        h('button.btn.small', {
          type: 'button', text: t('m.cards.claimBtn'), 'aria-label': `${t('m.cards.claimBtn')}: ${tp.name}`,
          onclick: async (event) => {
            event.target.disabled = true;
            try {
              const card = await api.post(`/card-templates/${tp.id}/claim`, {}, { idempotencyKey: newKey() });
              location.hash = `#card/${card.id}`;
            } catch (err) {
              fail(err);
              event.target.disabled = false;
            }
          },
        }))))) : null);
}

// A ledger entry's kind in words; a kind this page does not know yet: "Card change".
function ledgerWord(kind) {
  const key = `m.ledger.${kind}`;
  const word = t(key);
  return word === key ? t('m.ledger.other') : word;
}

function ledgerList(ledger, byStore) {
  if (!ledger.length) return h('p.muted', { text: t('m.card.noHistory') });
  return h('ul.list', { id: 'ledger' }, [...ledger].reverse().map((entry) => {
    const store = entry.store_id ? byStore[entry.store_id] : null;
    const online = !entry.store_id && ['top_up', 'top_up_bonus', 'refund', 'refund_reverted'].includes(entry.kind);
    const bonus = entry.delta_bonus_cents && entry.kind !== 'top_up_bonus'
      ? t('m.ledger.parts', { paid: money(entry.delta_paid_cents ?? 0), bonus: money(entry.delta_bonus_cents) }) : null;
    return h('li', { 'data-entry': entry.id, 'data-kind': entry.kind },
      h('div.row.between', {},
        h('strong', { text: ledgerWord(entry.kind) }),
        h('span.muted', { text: fmtDateTime(entry.created_at, store?.timezone) })),
      store ? h('div.muted', { 'data-store-name': '', text: store.name }) : null,
      online ? h('div.muted', { text: t('m.ledger.online') }) : null,
      bonus ? h('div.muted', { 'data-parts': '', text: bonus }) : null,
      h('div.row', { class: 'muted' },
        entry.delta_cents ? `${entry.delta_cents > 0 ? '+' : ''}${money(entry.delta_cents)} → ${money(entry.balance_after_cents)}` : null,
        entry.delta_visits ? ` ${entry.delta_visits > 0 ? '+' : ''}${entry.delta_visits} ${t('m.card.visits')}` : null,
        entry.delta_points ? ` ${entry.delta_points > 0 ? '+' : ''}${entry.delta_points} ${t('m.card.points')}` : null));
  }));
}

async function cardView(el, cardId) {
  const [card, ledger, byStore] = await Promise.all([
    api.get(`/cards/${cardId}`), api.get(`/cards/${cardId}/ledger`).then((x) => listOf(x)),
    storesById(),
  ]);
  // "Top up" only where the card's template offers amounts to pay online.
  const template = card.kind === 'stored_value' && card.template_id
    ? await api.get(`/card-templates/${card.template_id}`).catch(() => null) : null;
  const canTopUp = card.status === 'active' && (template?.top_up_options || []).length > 0;
  const qrBox = h('div.qrbox', { id: 'card-qr' });
  const countdown = h('p.countdown', { id: 'countdown' });
  const shortBox = h('div.card-short', { id: 'card-short-box' });
  let tile = cardTile(card, { id: 'card-tile' });
  const ledgerBox = h('div', {}, ledgerList(ledger, byStore));
  mount(el,
    h('h1', { text: cardName(card) }),
    tile,
    h('p.muted', {
      text: `${t('m.card.expires')}: ${card.expires_at ? fmtDate(card.expires_at) : t('m.card.noExpiry')}`,
    }),
    cardBagBox(api, card),
    card.kind === 'stored_value' ? h('div.row.topup-links', {},
      canTopUp ? h('a.btn', { href: `#topup/${card.id}`, id: 'top-up', text: t('m.topup.button') }) : null,
      h('a.btn.secondary', { href: '#orders', id: 'top-up-orders', text: t('m.topup.orders') })) : null,
    h('div.panel', {},
      h('h2', { text: t('m.card.code') }),
      card.status === 'active'
        ? [h('p.muted', { text: t('m.card.show') }), qrBox, shortBox, countdown]
        : h('p.error', { text: t('m.card.inactive') })),
    h('div.panel', {}, h('h2', { text: t('m.card.ledger') }), ledgerBox));

  // A fresh code every time the old one nears its end (codes live up to 60 s).
  let expiresAt = 0;
  let pending = null;
  async function refresh() {
    countdown.textContent = t('m.card.refreshing');
    try {
      const fresh = await api.get(`/cards/${cardId}/code`);
      expiresAt = new Date(fresh.expires_at).getTime();
      mount(qrBox, qrCanvas(fresh.code));
      mount(shortBox, fresh.short_code ? [
        h('p.muted', { text: t('m.card.short') }),
        h('p.shortcode', { id: 'card-short', text: groupDigits(fresh.short_code) })] : null);
      clearTimeout(pending);
      pending = setTimeout(refresh, Math.max(3000, expiresAt - Date.now() - 10000));
      timers.push(pending);
      tick();
    } catch (err) {
      countdown.textContent = t('m.card.qrOffline');
      if (Date.now() > expiresAt) { qrBox.replaceChildren(); shortBox.replaceChildren(); }
      clearTimeout(pending);
      pending = setTimeout(refresh, 5000);
      timers.push(pending);
    }
  }
  function tick() {
    if (!expiresAt) return;
    const left = Math.max(0, Math.round((expiresAt - Date.now() - 10000) / 1000));
    countdown.textContent = t('m.card.refreshIn', { s: left });
  }
  // The till used this card: new figures now, and a fresh code at once (the shown one is spent).
  onCardEvent = async (data) => {
    if (data.card_id !== cardId) return;
    Object.assign(card, {
      balance_cents: data.balance_cents, points: data.points, visits_left: data.visits_left,
      status: data.status || card.status, tier: data.tier,
    });
    if ('paid_balance_cents' in data) {
      Object.assign(card, { paid_balance_cents: data.paid_balance_cents, bonus_balance_cents: data.bonus_balance_cents });
    } else if ('paid_balance_cents' in card) {
      // The event has only the total: the parts are read again.
      api.get(`/cards/${cardId}`).then((fresh) => {
        Object.assign(card, { paid_balance_cents: fresh.paid_balance_cents, bonus_balance_cents: fresh.bonus_balance_cents });
        const again = cardTile(card, { id: 'card-tile' });
        tile.replaceWith(again);
        tile = again;
      }).catch(() => {});
    }
    const fresh = cardTile(card, { id: 'card-tile' });
    tile.replaceWith(fresh);
    tile = fresh;
    if (card.status === 'active') refresh();
    api.get(`/cards/${cardId}/ledger`).then((x) => mount(ledgerBox, ledgerList(listOf(x), byStore))).catch(() => {});
  };
  if (card.status !== 'active') return;
  every(tick, 1000);
  await refresh();
}

// --- vouchers ---------------------------------------------------------------------------

// A campaign or a voucher's terms as label/value rows (value, minimum spend, stores, days,
// hours, until when). Campaigns carry the same fields at the top level.
function termRows(terms, byStore) {
  const rows = [];
  const value = valueText(terms);
  if (value) rows.push(['value', t('m.terms.value'), value]);
  rows.push(['min-spend', t('m.terms.minSpend'), minSpendText(terms)]);
  rows.push(['stores', t('m.terms.stores'), storesText(terms, byStore)]);
  rows.push(['days', t('m.terms.days'), daysText(terms.weekdays)]);
  rows.push(['hours', t('m.terms.hours'), hoursText(terms)]);
  if (terms.valid_until) rows.push(['until', t('m.terms.until'), fmtDateTime(terms.valid_until)]);
  return h('dl.terms', {}, rows.map(([key, label, text]) => [
    h('dt', { text: label }), h('dd', { text, 'data-term': key })]));
}

// A voucher's terms: H1's structured `terms`, else what the voucher itself says.
function voucherTerms(v) {
  if (v.terms) return normalTerms(v.terms);
  return { kind: v.kind, value_cents: v.value_cents ?? null, percent_off: v.percent_off ?? null,
    min_spend_cents: v.min_spend_cents || 0, store_ids: null, weekdays: null, valid_until: v.valid_until };
}

const CLAIM_REASONS = {
  claim_limit_reached: 'm.claim.limit', campaign_sold_out: 'm.claim.soldOut', campaign_inactive: 'm.claim.inactive',
};

function claimButton(c) {
  if (c.can_claim === false) {
    return h('p.reason', {
      'data-cannot-claim': c.cannot_claim_reason || '',
      text: t(CLAIM_REASONS[c.cannot_claim_reason] || 'm.claim.inactive', { n: c.claimed_count ?? '', limit: c.per_member_limit ?? '' }),
    });
  }
  return h('button.btn.small', {
    type: 'button', text: t('m.vouchers.claim'), 'data-claim': c.id, 'aria-label': `${t('m.vouchers.claim')}: ${c.name}`,
    onclick: async (event) => {
      event.target.disabled = true;
      try {
        const voucher = await api.post(`/campaigns/${c.id}/claim`, {}, { idempotencyKey: newKey() });
        toast(t('m.vouchers.claimed'), 'ok');
        location.hash = `#voucher/${voucher.id}`;
      } catch (err) {
        fail(err);
        event.target.disabled = false;
      }
    },
  });
}

async function vouchersView(el) {
  const [vouchers, campaigns, byStore] = await Promise.all([
    api.get('/me/vouchers').then((x) => listOf(x)),
    api.get('/campaigns').then((x) => listOf(x)).catch(() => []),
    storesById(),
  ]);
  const order = { issued: 0, gifting: 1, redeemed: 2, expired: 3, revoked: 4 };
  vouchers.sort((a, b) => (order[a.status] ?? 9) - (order[b.status] ?? 9));
  onVoucherEvent = () => vouchersView(el).catch(() => {});
  const running = campaigns.filter((c) => c.status !== 'paused');
  mount(el,
    h('h1', { text: t('m.vouchers.title') }),
    h('p.topup-links', {}, h('a.btn.secondary.small', { href: '#invite', id: 'invite-link', text: t('m.invite.entry') })),
    h('div.panel', {},
      h('h2', { text: t('m.vouchers.mine') }),
      vouchers.length ? h('ul.list', {}, vouchers.map((v) => h('li', {},
        h('a.row.between', { href: `#voucher/${v.id}`, 'data-voucher': v.id },
          h('span', {}, h('strong', { text: v.campaign_name }), ' ',
            h('span.pill', { text: t(`kind.${v.kind}`) })),
          h('span.pill', { class: v.status, text: statusText(v.status) })),
        h('p.value-line', { text: valueText(voucherTerms(v)) }),
        usageLine(v, byStore),
        h('p.muted', { text: t('m.voucher.until', { d: fmtDate(v.valid_until) }) }))))
        : h('p.muted', { text: t('m.vouchers.empty') })),
    running.length ? h('div.panel', { id: 'campaigns' },
      h('h2', { text: t('m.vouchers.claimable') }),
      h('ul.list', {}, running.map((c) => h('li', { 'data-campaign': c.id },
        h('div.row.between', {},
          h('strong', { text: c.name }),
          claimButton(c)),
        termRows({ ...c, valid_until: c.valid_until }, byStore),
        c.total_quantity ? h('p.muted', { text: t('m.vouchers.left', { n: Math.max(0, c.total_quantity - c.issued_count) }) }) : null)))) : null);
}

// A voucher's status in words; `gifting` (being given to a friend) is this page's word.
function statusText(status) {
  const own = t(`m.status.${status}`);
  return own === `m.status.${status}` ? t(`status.${status}`) : own;
}

// The zone the voucher's days and hours are read in: its first store's, else the chain's
// first store's (a chain's stores share one zone in practice), else Shanghai.
function zoneOf(v, byStore) {
  const ids = v.terms?.store_ids || [];
  const first = byStore[ids[0]] || Object.values(byStore)[0];
  return first?.timezone || 'Asia/Shanghai';
}

// "Not usable at this time: …" under a voucher of the list, or nothing.
function usageLine(v, byStore) {
  const why = outsideHours(v, zoneOf(v, byStore));
  return why ? h('p.reason', { 'data-usage': 'outside_usage_hours', text: why }) : null;
}

async function voucherView(el, voucherId) {
  const [v, byStore] = await Promise.all([api.get(`/vouchers/${voucherId}`), storesById()]);
  const usable = v.status === 'issued';
  const gift = await sentGift(api, v);
  const rerender = () => voucherView(el, voucherId).catch((err) => showError(el, err));
  onVoucherEvent = (data) => { if (data.voucher_id === voucherId) rerender(); };
  shareGiftInWechat(v, gift);
  mount(el,
    h('h1', { text: v.campaign_name }),
    h('div.panel', {},
      h('div.row.between', {},
        h('span.pill', { text: t(`kind.${v.kind}`) }),
        h('span.pill', { class: v.status, id: 'voucher-status', 'data-status': v.status, text: statusText(v.status) })),
      usageNote(v, zoneOf(v, byStore)),
      h('h2', { text: t('m.voucher.terms') }),
      termRows(voucherTerms(v), byStore),
      v.redeemed_at ? h('p.muted', { text: `${t('status.redeemed')} ${fmtDateTime(v.redeemed_at)}` }) : null),
    giftPanel(v, gift, { api, fail, rerender }),
    usable ? h('div.panel', {},
      h('h2', { text: t('m.voucher.code') }),
      h('div.qrbox', { id: 'voucher-qr' }, qrCanvas(v.code)),
      h('div.qrbox', {},
        h('p.muted', { text: t('m.voucher.short') }),
        h('p.shortcode', { id: 'short-code', text: groupDigits(v.short_code) }))) : null,
    h('a.btn.secondary', { href: '#vouchers', text: t('app.back') }));
}

// --- booking ----------------------------------------------------------------------------

// The flow's choices; stylist: null = not chosen yet, 'any' = any free one, else a resource.
const booking = { store: null, service: null, stylist: null, date: null, slot: null, key: null };

function choice(label, sub, on, onclick, attrs = {}, tag = null) {
  return h('button.choice', { type: 'button', class: on ? 'on' : '', 'aria-pressed': on ? 'true' : 'false', onclick, ...attrs },
    label, sub ? h('small', { text: sub }) : null, tag ? h('span.tag', { text: tag }) : null);
}

function dayChoices(store, selected, onPick) {
  const today = localDate(new Date(), store.timezone);
  const days = Math.min(14, store.booking_horizon_days || 14);
  return h('div.choices.slots', {}, Array.from({ length: days }, (_, i) => {
    const day = addDays(today, i);
    return choice(day.slice(5), weekdayLabel(day), day === selected, () => onPick(day), { 'data-date': day });
  }));
}

// The day's free times (for one stylist when one is chosen). A time inside the cancellation
// cut-off is marked: booked now, it could no longer be cancelled or moved.
async function slotChoices(store, serviceId, date, stylist, selected, onPick) {
  const answer = await api.get(`/stores/${store.id}/availability`, { service_id: serviceId, date, party_size: 1 });
  let slots = listOf(answer, 'slots');
  if (stylist && stylist !== 'any') slots = slots.filter((s) => (s.resource_ids || []).includes(stylist.id));
  if (!slots.length) return h('p.muted', { text: t('m.book.noSlots') });
  return h('div.choices.slots', {}, slots.map((slot) => choice(
    fmtTime(slot.start, store.timezone), null, selected && selected.start === slot.start,
    () => onPick(slot), { 'data-slot': slot.start, 'data-inside-cutoff': slot.inside_cutoff ? 'true' : null },
    slot.inside_cutoff ? t('m.book.noCancelTag') : null)));
}

// Told before confirming: until when the booking can be cancelled or moved, or that it cannot.
function cutoffBox(slot, store) {
  if (!slot.cancellable_until) return null;
  if (slot.inside_cutoff) {
    return h('div.warnbox', { id: 'cutoff-warning', role: 'note' },
      h('strong', { text: t('m.book.insideCutoff') }), ' ',
      t('m.book.insideCutoffMore', { h: durationText(store.cancel_cutoff_minutes) }),
      store.phone ? [' ', h('a', { href: `tel:${store.phone}`, text: store.phone })] : null);
  }
  return h('div.okbox', { id: 'cutoff-ok' },
    t('m.book.cancellableUntil', { d: fmtDateTime(slot.cancellable_until, store.timezone) }));
}

function durationText(minutes) {
  if (!minutes) return t('m.minutes', { n: 0 });
  if (minutes % 1440 === 0) return t('m.days', { n: minutes / 1440 });
  return minutes % 60 ? t('m.minutes', { n: minutes }) : t('m.hours', { n: minutes / 60 });
}

function stylistLabel(stylist) {
  return !stylist || stylist === 'any' ? t('m.book.anyStylist') : stylist.name;
}

async function bookView(el) {
  const all = await stores();
  if (booking.store) booking.store = all.find((s) => s.id === booking.store.id) || booking.store;
  const parts = [h('h1', { text: t('m.book.title') }), h('div.panel', {}, h('h2', { text: t('m.book.store') }),
    h('div.choices', {}, all.map((s) => choice(s.name, s.address, booking.store?.id === s.id, () => {
      Object.assign(booking, { store: s, service: null, stylist: null, date: null, slot: null });
      bookView(el);
    }, { 'data-store': s.id }))))];
  if (booking.store) {
    const list = (await services(booking.store.id)).filter((s) => s.active !== false);
    parts.push(h('div.panel', {}, h('h2', { text: t('m.book.service') }),
      h('div.choices', {}, list.map((s) => choice(s.name,
        `${t('m.book.minutes', { n: s.duration_minutes })} · ${money(s.price_cents)}`,
        booking.service?.id === s.id, () => {
          Object.assign(booking, { service: s, stylist: null, slot: null });
          bookView(el);
        }, { 'data-service': s.id })))));
  }
  if (booking.service) {
    const people = (await stylists(booking.store.id)).filter((r) => !r.service_ids || r.service_ids.includes(booking.service.id));
    if (!people.length && !booking.stylist) booking.stylist = 'any';
    parts.push(h('div.panel', {}, h('h2', { text: t('m.book.stylist') }),
      h('div.choices', {},
        choice(t('m.book.anyStylist'), t('m.book.anyStylistSub'), booking.stylist === 'any', () => {
          Object.assign(booking, { stylist: 'any', slot: null });
          bookView(el);
        }, { 'data-stylist': 'any' }),
        people.map((r) => choice(r.name, null, booking.stylist?.id === r.id, () => {
          Object.assign(booking, { stylist: r, slot: null });
          bookView(el);
        }, { 'data-stylist': r.id })))));
  }
  if (booking.stylist) {
    parts.push(h('div.panel', {}, h('h2', { text: t('m.book.date') }),
      dayChoices(booking.store, booking.date, (day) => {
        Object.assign(booking, { date: day, slot: null });
        bookView(el);
      })));
  }
  if (booking.stylist && booking.date) {
    parts.push(h('div.panel', {}, h('h2', { text: t('m.book.slot') }),
      await slotChoices(booking.store, booking.service.id, booking.date, booking.stylist, booking.slot, (slot) => {
        Object.assign(booking, { slot, key: newKey() });
        bookView(el);
      })));
  }
  if (booking.slot) {
    const note = h('input', { id: 'note', maxlength: 200 });
    // A card or voucher to redeem when the visit is completed (optional).
    const [cards, vouchers] = await Promise.all([
      api.get('/me/cards').then((x) => listOf(x)).catch(() => []),
      api.get('/me/vouchers').then((x) => listOf(x)).catch(() => []),
    ]);
    const pay = h('select', { id: 'pay-with' },
      h('option', { value: '', text: t('m.book.payNone') }),
      cards.filter((c) => c.status === 'active').map((c) => h('option', {
        value: `card:${c.id}`, text: `${cardName(c)} ${c.number}`,
      })),
      vouchers.filter((v) => v.status === 'issued').map((v) => h('option', {
        value: `voucher:${v.id}`, text: [v.campaign_name, valueText(voucherTerms(v))].filter(Boolean).join(' · '),
      })));
    const store = booking.store;
    parts.push(h('div.panel', { id: 'booking-summary' },
      h('h2', { text: t('m.book.check') }),
      h('p', {}, h('strong', { text: booking.service.name }), ` · ${store.name}`),
      h('p', { id: 'summary-stylist', text: `${t('m.book.stylistIs')}: ${stylistLabel(booking.stylist)}` }),
      h('p', { text: fmtDateTime(booking.slot.start, store.timezone) }),
      cutoffBox(booking.slot, store),
      h('div.field', {}, h('label', { for: 'pay-with', text: t('m.book.payWith') }), pay),
      h('div.field', {}, h('label', { for: 'note', text: t('m.book.note') }), note),
      h('button.btn.block.big', {
        type: 'button', id: 'confirm-booking',
        text: booking.slot.inside_cutoff ? t('m.book.confirmAnyway') : t('m.book.confirm'),
        'aria-describedby': booking.slot.inside_cutoff ? 'cutoff-warning' : null,
        onclick: async (event) => {
          event.target.disabled = true;
          const body = { store_id: store.id, service_id: booking.service.id, start: booking.slot.start };
          if (booking.stylist && booking.stylist !== 'any') body.resource_id = booking.stylist.id;
          if (note.value.trim()) body.note = note.value.trim();
          const [payKind, payId] = pay.value.split(':');
          if (payKind === 'card') body.card_id = payId;
          if (payKind === 'voucher') body.voucher_id = payId;
          try {
            const made = await api.post('/bookings', body, { idempotencyKey: booking.key });
            Object.assign(booking, { date: null, slot: null });
            bookedView(el, made);
          } catch (err) {
            fail(err);
            if (err.code === 'slot_unavailable') { booking.slot = null; bookView(el); } else event.target.disabled = false;
          }
        },
      })));
  }
  mount(el, parts);
  if (booking.slot) document.getElementById('confirm-booking')?.scrollIntoView({ block: 'center' });
}

function bookingStylist(b) {
  if (b.any_resource) return b.resource_name ? t('m.book.anyGot', { name: b.resource_name }) : t('m.book.anyStylist');
  return b.resource_name || '';
}

async function bookedView(el, made) {
  const store = (await stores()).find((s) => s.id === made.store_id) || {};
  mount(el,
    h('h1', { text: `✓ ${t('m.book.done')}` }),
    h('div.panel', { 'data-booked': made.id },
      h('p', {}, h('strong', { text: made.service_name || '' }), ` · ${made.store_name || store.name || ''}`),
      bookingStylist(made) ? h('p', { 'data-stylist-name': '', text: `${t('m.book.stylistIs')}: ${bookingStylist(made)}` }) : null,
      h('p', { text: fmtDateTime(made.start, store.timezone) }),
      changeRules(made, store),
      made.code ? [h('p.muted', { text: t('m.book.showCode') }), h('div.qrbox', {}, qrCanvas(made.code))] : null,
      h('div.row', {},
        h('a.btn', { href: '#bookings', text: t('m.tab.bookings') }),
        h('button.btn.secondary', { type: 'button', text: t('m.book.again'), onclick: () => bookView(el) }))));
}

// Why a booking cannot be cancelled or moved any more (the API's rules), or until when it can.
function changeRules(b, store) {
  if (b.status !== 'confirmed') return null;
  if (b.cannot_change_reason === 'cutoff_passed') {
    return h('p.reason', { id: `reason-${b.id}`, 'data-reason': 'cutoff_passed' },
      t('m.bookings.cutoffPassed', { d: fmtDateTime(b.cancellable_until, store.timezone) }),
      store.phone ? [' ', h('a', { href: `tel:${store.phone}`, text: store.phone })] : null);
  }
  if (b.cancellable_until && b.can_cancel !== false) {
    return h('p.muted', { text: t('m.book.cancellableUntil', { d: fmtDateTime(b.cancellable_until, store.timezone) }) });
  }
  return null;
}

async function bookingsView(el) {
  const list = listOf(await api.get('/me/bookings'), 'bookings');
  const byId = await storesById();
  const upcoming = (b) => b.status === 'confirmed' && new Date(b.start).getTime() > Date.now() - 3600e3;
  // What is still to come first, soonest first; then the rest, latest first.
  list.sort((a, b) => (upcoming(b) - upcoming(a))
    || (upcoming(a) ? (a.start < b.start ? -1 : 1) : (a.start < b.start ? 1 : -1)));
  mount(el, h('h1', { text: t('m.bookings.title') }), list.length ? list.map((b) => {
    const store = byId[b.store_id] || {};
    const extra = h('div');
    const canCancel = b.can_cancel ?? true;
    const canMove = b.can_reschedule ?? true;
    const reasonId = `reason-${b.id}`;
    const cancel = canCancel
      ? confirmButton(t('m.bookings.cancel'), t('app.sure'), async () => {
        try {
          await api.post(`/bookings/${b.id}/cancel`, {});
          toast(t('m.bookings.cancelled'), 'ok');
          bookingsView(el);
        } catch (err) { fail(err); }
      }, 'btn small danger')
      : h('button.btn.small.danger', { type: 'button', disabled: true, text: t('m.bookings.cancel'), 'aria-describedby': reasonId, 'data-action': 'cancel' });
    const move = h('button.btn.small.secondary', {
      type: 'button', text: t('m.bookings.reschedule'), disabled: !canMove, 'data-action': 'reschedule',
      'aria-describedby': canMove ? null : reasonId,
      onclick: () => reschedule(extra, b, store),
    });
    return h('div.panel', { 'data-booking': b.id },
      h('div.row.between', {},
        h('h2', { text: b.service_name || '' }),
        h('span.pill', { class: b.status, text: t(`status.${b.status}`) })),
      h('p', { text: `${fmtDateTime(b.start, store.timezone)} · ${b.store_name || store.name || ''}` }),
      bookingStylist(b) ? h('p', { 'data-stylist-name': '', text: `${t('m.book.stylistIs')}: ${bookingStylist(b)}` }) : null,
      upcoming(b) ? [
        changeRules(b, store),
        h('div.row', {},
          b.code ? h('button.btn.small.secondary', {
            type: 'button', text: t('m.bookings.code'),
            onclick: () => mount(extra, h('div.qrbox', {}, qrCanvas(b.code))),
          }) : null,
          move, cancel)] : null,
      extra);
  }) : h('div.panel', {}, h('p.muted', { text: t('m.bookings.empty') })));
}

function reschedule(box, b, store) {
  let date = null;
  const slotsBox = h('div');
  const stylist = b.any_resource || !b.resource_id ? 'any' : { id: b.resource_id };
  const days = dayChoices(store, null, async (day) => {
    date = day;
    days.querySelectorAll('.choice').forEach((c) => {
      c.classList.toggle('on', c.dataset.date === day);
      c.setAttribute('aria-pressed', c.dataset.date === day ? 'true' : 'false');
    });
    mount(slotsBox, await slotChoices(store, b.service_id, date, stylist, null, async (slot) => {
      try {
        await api.post(`/bookings/${b.id}/reschedule`, { start: slot.start });
        toast(t('m.bookings.moved'), 'ok');
        render();
      } catch (err) { fail(err); }
    }));
  });
  mount(box, h('h3', { text: t('m.book.date') }), days, slotsBox);
}

// --- stores -----------------------------------------------------------------------------

function mapUrl(store) {
  return `https://uri.amap.com/search?keyword=${encodeURIComponent(store.address || store.name)}`;
}

// Opening hours, Monday first; days with the same hours are not merged (7 short rows).
function hoursTable(store) {
  const byDay = {};
  for (const row of store.opening_hours || []) (byDay[row.weekday] ||= []).push(`${row.open}–${row.close}`);
  return h('table.hours', {},
    h('caption.visually-hidden', { text: t('m.store.hours') }),
    h('tbody', {}, [0, 1, 2, 3, 4, 5, 6].map((d) => h('tr', {},
      h('th', { scope: 'row', text: weekdayName(d) }),
      h('td', { text: byDay[d] ? byDay[d].join(', ') : t('m.store.closed') })))));
}

function storeDetails(store) {
  return [
    h('p', { 'data-address': '', text: store.address }),
    h('div.store-actions', {},
      h('a.btn.small.secondary', { href: mapUrl(store), target: '_blank', rel: 'noopener', 'data-map': '', text: t('m.store.map') }),
      store.phone ? h('a.btn.small.secondary', { href: `tel:${store.phone}`, 'data-phone': '', text: `${t('m.store.call')} ${store.phone}` }) : null,
      h('a.btn.small', { href: `#book`, 'data-book-here': store.id, text: t('m.store.book'),
        onclick: () => Object.assign(booking, { store, service: null, stylist: null, date: null, slot: null }) })),
  ];
}

async function storesView(el) {
  const all = await stores();
  mount(el, h('h1', { text: t('m.stores.title') }), all.map((s) => h('div.panel', { 'data-store-info': s.id },
    h('h2', {}, h('a', { href: `#store/${s.id}`, text: s.name })),
    storeDetails(s))));
}

async function storeView(el, storeId) {
  const store = (await stores()).find((s) => s.id === storeId);
  if (!store) { showError(el, { code: 'not_found', status: 404 }); return; }
  mount(el, h('h1', { text: store.name }),
    h('div.panel', { 'data-store-info': store.id }, storeDetails(store)),
    h('div.panel', {}, h('h2', { text: t('m.store.hours') }), hoursTable(store)),
    h('a.btn.secondary', { href: '#stores', text: t('app.back') }));
}

// --- my profile -------------------------------------------------------------------------

async function profileView(el) {
  const me = await api.get('/me');
  const name = h('input', { id: 'me-name', value: me.name || '', maxlength: 120, autocomplete: 'name' });
  const phone = h('input', { id: 'me-phone', value: me.phone || '', inputmode: 'tel', autocomplete: 'tel' });
  const birthday = h('input', { id: 'me-birthday', type: 'date', value: me.birthday || '' });
  const message = h('p.error', { id: 'me-error', role: 'alert' });
  mount(el, h('h1', { text: t('m.me') }), h('form.panel', {
    onsubmit: async (event) => {
      event.preventDefault();
      message.textContent = '';
      const body = { name: name.value.trim() };
      if (phone.value.trim()) body.phone = phone.value.trim();
      if (birthday.value) body.birthday = birthday.value;
      try {
        await api.patch('/me', body);
        toast(t('m.me.saved'), 'ok');
      } catch (err) {
        const field = fieldErrors(err)[0]?.field;
        message.textContent = field && t(`m.me.bad.${field}`) !== `m.me.bad.${field}`
          ? t(`m.me.bad.${field}`) : errorText(err, pageWords());
      }
    },
  },
  h('div.field', {}, h('label', { for: 'me-name', text: t('m.me.name') }), name),
  h('div.field', {}, h('label', { for: 'me-phone', text: t('m.me.phone') }), phone),
  h('div.field', {}, h('label', { for: 'me-birthday', text: t('m.me.birthday') }), birthday),
  message,
  h('button.btn', { type: 'submit', text: t('app.save') })),
  h('p.row', {},
    h('a.btn.secondary', { href: '#orders', text: t('m.topup.orders') }),
    h('a.btn.secondary', { href: '#invite', id: 'invite-link', text: t('m.invite.entry') })));
}

// --- inbox ------------------------------------------------------------------------------

// The event's name in the page's language when we know the event, else the server's title.
function eventTitle(m) {
  if (m.event === 'booking_confirmed' && m.data && m.data.previous_start) return t('m.event.rescheduled');
  const known = t(`event.${m.event}`);
  return known !== `event.${m.event}` ? known : (m.title || m.event);
}

async function inboxView(el) {
  const items = listOf(await api.get('/me/inbox'), 'messages');
  // The server writes `text` in the chain's language (a chain setting): shown as it is.
  mount(el, h('h1', { text: t('m.inbox.title') }), h('div.panel', {}, items.length ? h('ul.list', { id: 'inbox' }, items.map((m) => h('li', { 'data-message': m.id, 'data-event': m.event },
    h('div.row.between', {},
      h('strong', { text: eventTitle(m) }),
      h('span.muted', { text: fmtDateTime(m.created_at) })),
    h('p', { lang: m.locale === 'en' ? 'en' : (m.locale ? 'zh-CN' : null), text: m.text || m.body || m.message || '' }))))
    : h('p.muted', { text: t('m.inbox.empty') })));
}

window.addEventListener('hashchange', render);
onLangChange(render);
document.addEventListener('visibilitychange', () => {
  // Back from the background: the QR on screen may be stale.
  if (document.visibilityState === 'visible' && route()[0] === 'card') render();
});
render();
