// The clerk's till: log in, pick a store, scan or type a code (a voucher's, a card's
// dynamic 12 digits, a booking's), preview it in the till's own words, confirm, and see
// the result after it and nothing else. Also: today's redemptions at this store (reversal
// by role), the day sheet of bookings, member lookup with a member's cards, vouchers and
// bookings. Offline, vouchers are checked against the chain's cached public keys and the
// store's signed offline bundle (their value and terms, days and hours), and queued; the
// queue syncs through POST /redemptions/sync when back online, and a conflict is told as
// loudly as a failed scan.
import { createApi, listOf, newKey } from '/static/common/api.js';
import { verifyCode } from '/static/common/codes.js';
import { errorText, fieldErrors, langToggle, onLangChange, t } from '/static/common/i18n.js';
import { staffLoginView, staffSession } from '/static/common/login.js';
import {
  addDays, confirmButton, weekdayLabel, fmtDateTime, fmtTime, groupDigits, h, localDate, money, mount, parseYuan, toast,
} from '/static/common/ui.js';
import { clearFieldError, errorLine, showFieldError } from '/static/common/forms.js';
import { fetchBundle, offlineRefusal, openBundle, storedBundle, voucherTerms } from './bundle.js';
import {
  cardFigures, estimateDiscount, memberLabel, notUsableReason, ruleText, termsLines, untilText, valueText,
} from '/static/common/terms.js';
import { dateText, redemptionLines } from './words.js';

// The till's own stylesheet (after base.css): the shell links only base.css.
if (!document.querySelector('link[data-clerk]')) {
  document.head.append(h('link', { rel: 'stylesheet', href: '/static/clerk/clerk.css', 'data-clerk': '1' }));
}

const api = createApi('clerk', { onUnauthorized: () => { api.setToken(''); render(); } });
const root = document.getElementById('app');
const KEY = (name) => `o2o.clerk.${name}`;
const load = (name, fallback) => {
  try { return JSON.parse(localStorage.getItem(KEY(name))) ?? fallback; } catch { return fallback; }
};
const save = (name, value) => localStorage.setItem(KEY(name), JSON.stringify(value));

const session = staffSession(api, 'clerk');
let storeId = localStorage.getItem(KEY('store')) || '';
let storeList = load('stores', []);
let online = navigator.onLine !== false;
let cleanups = [];
function cleanup() { cleanups.forEach((fn) => fn()); cleanups = []; }

// A store's name; never its id (a person cannot read a UUID).
const storeName = (id, fallback) => storeList.find((s) => s.id === id)?.name || fallback || t('c.result.otherStore');
const currentStore = () => storeList.find((s) => s.id === storeId);
const tz = () => currentStore()?.timezone;

// The till's words for an error `code` (else the pages' common words; never `detail`).
const WORDS = () => Object.fromEntries(['not_found', 'code_used', 'code_expired', 'insufficient_balance',
  'rate_limited', 'forbidden', 'voucher_gifting'].map((code) => [code, t(`c.err.${code}`)]));
const say = (err) => errorText(err, WORDS());

// --- network state, keys, offline bundle, offline queue ---------------------------------

function queue() { return load('queue', []); }
function saveQueue(items) { save('queue', items); updateBadges(); }

async function refreshKeys() {
  const { staff } = session;
  if (!staff) return;
  try {
    const answer = await api.get('/keys', { chain_id: staff.chain_id });
    save('keys', { chain_id: staff.chain_id, keys: listOf(answer, 'keys'), fetched_at: Date.now() });
  } catch (err) {
    if (err.network) setOnline(false);
  }
}

function cachedKeys() {
  const cached = load('keys', null);
  return cached && session.staff && cached.chain_id === session.staff.chain_id ? cached.keys : null;
}

// The signed terms of this store's live vouchers, refreshed when stale (5 min) and online.
const BUNDLE_MAX_AGE = 5 * 60 * 1000;
let bundleFetch = null;
function refreshBundle(force = false) {
  if (!online || !api.token || !storeId || bundleFetch) return bundleFetch;
  const held = storedBundle();
  if (!force && held && held.store_id === storeId && Date.now() - held.fetched_at < BUNDLE_MAX_AGE) return null;
  bundleFetch = fetchBundle(api, storeId).catch((err) => { if (err.network) setOnline(false); })
    .finally(() => { bundleFetch = null; });
  return bundleFetch;
}

function bundleDoc() {
  const held = storedBundle();
  if (!held || held.store_id !== storeId || !session.staff) return null;
  return openBundle(held, cachedKeys(), { chainId: session.staff.chain_id, storeId });
}

let probe = null;
function setOnline(value) {
  if (online === value) return;
  online = value;
  updateBadges();
  if (online) {
    clearInterval(probe);
    probe = null;
    refreshKeys().then(() => refreshBundle(true));
    sync();
  } else if (!probe) {
    probe = setInterval(checkNetwork, 3000);
  }
}

async function checkNetwork() {
  try {
    const response = await fetch('/api/v1/health', { cache: 'no-store' });
    if (response.ok) setOnline(true);
  } catch { /* still offline */ }
}

window.addEventListener('offline', () => setOnline(false));
window.addEventListener('online', checkNetwork);

// What a queued voucher is, for a person: its campaign's name from the bundle.
function queuedName(item) {
  return item.campaign_name || voucherTerms(bundleDoc(), item.object_id)?.campaign_name || t('kind.voucher');
}

// Why the server refused an offline scan, told as the clerk must act on it.
function rejectionText(result) {
  const key = `c.reject.${result.code}`;
  const text = t(key);
  return text !== key ? text : say({ code: result.code });
}

function problemLine(item) {
  const r = item.result || {};
  if (item.status === 'conflict') {
    return t('c.pending.conflict', {
      when: fmtDateTime(r.redeemed_at, tz()), store: r.store_name || storeName(r.store_id),
    });
  }
  if (item.status === 'rejected') return t('c.pending.rejected', { reason: rejectionText(r) });
  return '';
}

const SYNC_BATCH = 500;
let syncing = false;
async function sync() {
  if (syncing || !online || !api.token) return;
  const items = queue().filter((item) => item.status === 'pending');
  if (!items.length) return;
  syncing = true;
  const failed = [];
  try {
    // One request per store and at most SYNC_BATCH items (the API's limit per request).
    const batches = [];
    const byStore = {};
    for (const item of items) (byStore[item.store_id] ||= []).push(item);
    for (const [store, list] of Object.entries(byStore)) {
      for (let i = 0; i < list.length; i += SYNC_BATCH) batches.push([store, list.slice(i, i + SYNC_BATCH)]);
    }
    let synced = 0;
    for (const [store, group] of batches) {
      const answer = await api.post('/redemptions/sync', {
        store_id: store,
        items: group.map((item) => {
          const out = { code: item.code, redeemed_at: item.redeemed_at, client_ref: item.client_ref };
          if (item.amount_cents !== null && item.amount_cents !== undefined) out.amount_cents = item.amount_cents;
          return out;
        }),
      });
      const results = Object.fromEntries(listOf(answer, 'results').map((r) => [r.client_ref, r]));
      const updated = queue().map((item) => {
        const r = results[item.client_ref];
        if (!r) return item;
        const status = ['accepted', 'duplicate'].includes(r.status) ? 'synced' : r.status;
        const next = { ...item, status, result: r, synced_at: new Date().toISOString() };
        if (status === 'synced') synced += 1; else failed.push(next);
        return next;
      });
      saveQueue(updated);
    }
    if (synced) toast(t('c.pending.synced', { n: synced }), 'ok');
    // Keep the last 20 synced for the record; conflicts and rejections until cleared.
    const all = queue();
    const done = all.filter((i) => i.status === 'synced');
    saveQueue(all.filter((i) => i.status !== 'synced').concat(done.slice(-20)));
  } catch (err) {
    if (err.network) setOnline(false); else toast(say(err), 'bad');
  } finally {
    syncing = false;
    if (route().name === 'pending') render();
  }
  // A conflict or a refusal means money was not taken as the clerk believed: as loud as a
  // failed scan, naming each voucher, where and when it was used, and what to do.
  if (failed.length) {
    showResult('bad', 'sync_problem', t('c.sync.problem', { n: failed.length }),
      [...failed.map((item) => `${queuedName(item)} · ${money(item.amount_cents)}: ${problemLine(item)}`), t('c.sync.see')]);
  }
}

function updateBadges() {
  const state = document.getElementById('netstate');
  if (state) {
    state.className = `netstate ${online ? 'online' : 'offline'}`;
    state.textContent = online ? t('app.online') : t('app.offline');
    state.setAttribute('aria-label', online ? t('c.net.online') : t('c.net.offline'));
  }
  const banner = document.getElementById('offline-banner');
  if (banner) banner.classList.toggle('hidden', online);
  const badge = document.getElementById('pending-badge');
  if (badge) {
    const waiting = queue().filter((i) => i.status !== 'synced').length;
    badge.textContent = waiting ? String(waiting) : '';
    badge.classList.toggle('hidden', !waiting);
  }
}

// --- shell and routing ------------------------------------------------------------------

const TABS = [['scan', 'c.tab.scan'], ['today', 'c.tab.today'], ['bookings', 'c.tab.bookings'],
  ['members', 'c.tab.members'], ['pending', 'c.tab.pending']];
const VIEWS = {
  scan: scanView, today: todayView, bookings: bookingsView, members: membersView, member: memberView,
  pending: pendingView,
};

// "#member/<id>" is one member's page; every other hash is a tab.
function route() {
  const [name, arg] = location.hash.replace(/^#/, '').split('/');
  return VIEWS[name] ? { name, arg } : { name: 'scan' };
}

function render() {
  cleanup();
  if (!api.token || !session.staff) { staffLoginView(root, session, t('c.login.title'), loggedIn); return; }
  if (!storeId || !currentStore()) { storeView(); return; }
  const { name, arg } = route();
  const tab = name === 'member' ? 'members' : name;
  const content = h('main.page', { id: 'view' });
  mount(root,
    h('header.topbar', {},
      h('h1.title', { text: `${t('c.title')} · ${storeName(storeId)}` }),
      h('span', { id: 'netstate', role: 'status' }),
      langToggle(),
      h('button', { type: 'button', text: t('c.store.change'), onclick: () => { storeId = ''; render(); } }),
      h('button', { type: 'button', text: t('app.logout'), onclick: logout })),
    h('div.panel.hidden', { id: 'offline-banner', class: 'pending' }, h('strong', { text: t('c.offline.banner') })),
    content,
    h('nav.tabs', { 'aria-label': t('c.title') }, TABS.map(([key, label]) => h('a', {
      href: `#${key}`, class: key === tab ? 'on' : '', 'data-tab': key,
      'aria-current': key === tab ? 'page' : null,
    }, t(label), key === 'pending' ? h('span.badge.hidden', { id: 'pending-badge' }) : null))));
  updateBadges();
  VIEWS[name](content, arg).catch((err) => {
    if (err.network) setOnline(false);
    mount(content, h('div.panel', {}, h('p.error', { role: 'alert', text: say(err) })));
  });
}

function logout() {
  session.logout();
  render();
}

async function loggedIn() {
  await refreshKeys();
  render();
}

async function storeView() {
  mount(root, h('main.login', {}, h('div.panel', {}, h('p.muted', { text: t('app.loading') }))));
  try {
    storeList = listOf(await api.get('/stores'));
    save('stores', storeList);
  } catch (err) {
    if (err.network) setOnline(false);
  }
  const { staff } = session;
  const mine = storeList.filter((s) => staff.role === 'operator' || (staff.store_ids || []).includes(s.id));
  if (mine.length === 1) { pickStore(mine[0].id); return; }
  mount(root, h('main.login', {}, h('div.panel', {},
    h('div.row.between', {}, h('h1', { text: t('c.store.pick') }), langToggle()),
    h('div.choices', {}, mine.map((s) => h('button.choice', {
      type: 'button', 'data-store': s.id, onclick: () => pickStore(s.id),
    }, s.name, h('small', { text: s.address })))),
    h('p', {}, h('button.btn.secondary.small', { type: 'button', text: t('app.logout'), onclick: logout })))));
}

function pickStore(id) {
  storeId = id;
  localStorage.setItem(KEY('store'), id);
  location.hash = '#scan';
  refreshBundle(true);
  render();
}

// --- the result screen ------------------------------------------------------------------

let closeResult = null;
function showResult(kind, outcome, title, details = []) {
  closeResult?.();
  const next = h('button.btn.big', { type: 'button', text: t('c.result.next'), id: 'next-scan' });
  const screen = h('div.result', {
    class: kind, role: kind === 'ok' ? 'status' : 'alert', 'data-outcome': outcome, id: 'result',
    'aria-labelledby': 'result-title',
  },
  h('div.icon', { text: { ok: '✓', bad: '✗', pending: '⏳' }[kind], 'aria-hidden': 'true' }),
  h('h2', { id: 'result-title', text: title }),
  h('div.details', {}, details.filter(Boolean).map((line) => h('p', { text: line }))),
  next);
  let closed = false;
  // A USB scanner "types" Enter: the next scan closes this screen too (after a moment, so
  // that the Enter of the scan that opened it does not).
  const onKey = (event) => { if (event.key === 'Enter' || event.key === 'Escape') { event.preventDefault(); close(); } };
  const timer = setTimeout(() => document.addEventListener('keydown', onKey), 300);
  const close = () => {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    closeResult = null;
    screen.remove();
    document.removeEventListener('keydown', onKey);
    document.getElementById('scan-input')?.focus();
  };
  closeResult = close;
  next.addEventListener('click', close);
  screen.addEventListener('keydown', (event) => { if (event.key === 'Escape') { event.preventDefault(); close(); } });
  document.body.append(screen);
  next.focus();
}

// A refused scan: the till's words for the code, and for "used already" when and where.
function errorResult(err) {
  const details = [];
  const p = err.problem || {};
  if (err.code === 'already_redeemed' && p.redeemed_at) {
    details.push(t('c.result.when', { when: fmtDateTime(p.redeemed_at, tz()), store: p.store_name || storeName(p.store_id) }));
  }
  if (err.code === 'outside_usage_hours') {
    const rule = ruleText(p);
    if (rule) details.push(rule);
  }
  showResult('bad', err.code, say(err), details);
}

// --- scan -------------------------------------------------------------------------------

async function scanView(el) {
  const input = h('input', {
    id: 'scan-input', placeholder: t('c.scan.placeholder'), autocomplete: 'off',
    autocapitalize: 'off', spellcheck: 'false', enterkeyhint: 'go', 'aria-label': t('c.scan.label'),
  });
  const previewBox = h('div', { id: 'preview', 'aria-live': 'polite' });
  const cameraBox = h('div');
  const cameraBtn = h('button.btn.secondary', { type: 'button', text: t('c.scan.camera') });
  cameraBtn.addEventListener('click', () => toggleCamera(cameraBox, cameraBtn, (code) => {
    input.value = code;
    check(input.value, previewBox);
  }));
  mount(el,
    h('form.panel.scanbox', {
      onsubmit: (event) => {
        event.preventDefault();
        check(input.value, previewBox);
        input.select();
      },
    },
    h('h2', { text: t('c.tab.scan') }),
    h('div.row', {}, h('div.grow', {}, input), h('button.btn', { type: 'submit', text: t('c.scan.check'), id: 'check' })),
    h('div.row', { class: 'stack' }, cameraBtn)),
    cameraBox,
    previewBox);
  input.focus();
  refreshBundle();
}

function normalise(text) {
  const value = String(text || '').trim();
  const digits = value.replace(/[\s-]/g, '');
  if (/^\d{12}$/.test(digits)) return { short_code: digits };
  return { code: value.replace(/\s+/g, '') };
}

async function check(text, box) {
  const scanned = normalise(text);
  if (!scanned.code && !scanned.short_code) return;
  mount(box);
  if (!online) { offlineCheck(scanned, box); return; }
  try {
    // POST: the code travels in the body, never in a URL that a log or a proxy keeps.
    const preview = await api.post('/redemptions/preview', { store_id: storeId, ...scanned });
    await onlinePreview(scanned, preview, box);
  } catch (err) {
    if (err.network) {
      setOnline(false);
      offlineCheck(scanned, box);
    } else {
      errorResult(err);
    }
  }
}

// An amount input with its label and a line for what is wrong with it (said, not toasted:
// a screen reader hears it and the clerk sees it where they type).
function amountField(id, label) {
  const input = h('input', {
    id, inputmode: 'decimal', placeholder: '0.00', autocomplete: 'off',
  });
  const box = h('div.field', {}, h('label', { for: id, text: label }), input, errorLine(id, { role: 'alert' }));
  const fail = (message) => {
    showFieldError(input, message);
    input.focus();
    return null;
  };
  // -> cents, or null after saying why (required: a blank or zero amount is refused).
  const read = ({ required = false, min = 0, minText = '' } = {}) => {
    clearFieldError(input);
    const cents = parseYuan(input.value);
    if (Number.isNaN(cents)) return fail(t('c.preview.badAmount'));
    if (required && !cents) return fail(typeof required === 'string' ? required : t('c.preview.needAmount'));
    if (min && (cents ?? 0) < min) return fail(minText);
    return cents ?? undefined;
  };
  return { input, box, read };
}

function figuresBlock(card) {
  return h('div.figures.till', {}, cardFigures(card).map(([, label, value]) => h('div.figure', {},
    h('div.value.money', { text: value }), h('div.label', { text: label }))));
}

function termsBlock(terms, timeZone) {
  const lines = termsLines(terms, { stores: storeList, timeZone });
  return lines.length ? h('ul.terms', { 'data-terms': '1' }, lines.map((line) => h('li', { text: line }))) : null;
}

function memberLine(member) {
  if (!member) return null;
  return h('p', { id: 'preview-member' }, h('strong', { text: `${t('c.preview.member')}: ` }), memberLabel(member),
    member.phone && member.name ? ` · ${t('member.tail', { tail: member.phone.slice(-4) })}` : '');
}

// The booking a scanned booking code stands for, in words (service, time, stylist).
async function bookingLines(id) {
  try {
    const b = await api.get(`/bookings/${id}`);
    return [
      t('c.preview.booking', { service: b.service_name || '', time: `${fmtDateTime(b.start, tz())}` }),
      b.resource_name && !b.any_resource ? t('c.preview.stylist', { name: b.resource_name }) : t('c.preview.anyStylist'),
    ];
  } catch {
    return [];
  }
}

async function onlinePreview(scanned, preview, box) {
  const key = newKey(); // one confirmation: a double tap or a retry is the same request
  const card = preview.card || null;
  const voucher = preview.voucher || null;
  const parts = [
    h('div.row.between', {},
      h('h2', { text: card?.template_name || voucher?.campaign_name || t(`kind.${preview.kind}`) }),
      h('span.pill', { class: card ? card.status : '', text: card ? `${t(`kind.${card.kind}`)} · ${t(`status.${card.status}`)}` : t(`kind.${preview.kind}`) })),
    memberLine(preview.member),
  ];
  if (card) {
    parts.push(h('p.muted', { text: t('c.card.number', { n: groupDigits(card.number) }) }), figuresBlock(card));
  }
  if (voucher) {
    parts.push(termsBlock(voucher.terms, tz()));
    const reason = notUsableReason(voucher.terms, { timeZone: tz(), storeId });
    if (reason) parts.push(h('p.notice.bad', { text: reason }));
  }
  if (preview.kind === 'booking') {
    (await bookingLines(preview.object_id)).forEach((line) => parts.push(h('p', { text: line })));
  }
  const amount = amountField('amount', preview.kind === 'voucher' ? t('c.preview.bill') : t('c.preview.amount'));
  // A card opens on its natural action: times -> visit, stored value -> charge, membership
  // -> earn (the API's default_action); only the actions this card accepts are offered.
  const actions = card ? (card.actions || []) : [];
  let action = preview.default_action || actions[0] || null;
  const showAmount = () => amount.box.classList.toggle('hidden', preview.kind === 'card' && (action === 'visit' || !action));
  if (card && actions.length > 1) {
    parts.push(h('div.field', { role: 'group', 'aria-labelledby': 'action-label' },
      h('p.muted', { id: 'action-label', text: t('c.preview.action') }),
      h('div.choices', {}, actions.map((name) => h('button.choice', {
        type: 'button', class: name === action ? 'on' : '', 'data-action': name,
        'aria-pressed': name === action ? 'true' : 'false',
        onclick: (event) => {
          action = name;
          event.target.parentElement.querySelectorAll('.choice').forEach((c) => {
            c.classList.toggle('on', c.dataset.action === name);
            c.setAttribute('aria-pressed', c.dataset.action === name ? 'true' : 'false');
          });
          showAmount();
        },
      }, t(`c.action.${name}`))))));
  } else if (card && action) {
    parts.push(h('p', { 'data-action': action }, h('strong', { text: `${t('c.preview.action')}: ` }), t(`c.action.${action}`)));
  } else if (card) {
    parts.push(h('p.notice', { text: t('c.preview.noActions') }));
  }
  if (preview.kind !== 'booking' && (!card || action)) parts.push(amount.box);
  showAmount();
  let estimate = null;
  if (voucher && ['cash', 'discount'].includes(voucher.terms?.kind)) {
    estimate = h('p.muted', { id: 'estimate', 'aria-live': 'polite' });
    amount.input.addEventListener('input', () => {
      const bill = parseYuan(amount.input.value);
      const off = Number.isNaN(bill) ? null : estimateDiscount(voucher.terms, bill);
      estimate.textContent = off === null ? '' : t('c.preview.estimate', { d: money(off), p: money(bill - off) });
    });
    parts.push(estimate);
  }
  const confirm = h('button.btn.block.big', {
    type: 'button', id: 'confirm',
    text: preview.kind === 'booking' ? t('c.preview.checkin') : t('c.preview.confirm'),
  });
  confirm.addEventListener('click', async () => {
    const body = { store_id: storeId, ...scanned };
    if (card) {
      body.action = action;
      if (action !== 'visit') {
        const cents = amount.read({ required: true });
        if (cents === null) return;
        body.amount_cents = cents;
      }
    } else if (voucher || preview.kind === 'voucher') {
      const min = voucher?.terms?.min_spend_cents || 0;
      const cents = amount.read({ min, minText: t('c.preview.minSpend', { v: money(min) }) });
      if (cents === null) return;
      if (cents !== undefined) body.amount_cents = cents;
    }
    confirm.disabled = true;
    try {
      const done = await api.post('/redemptions', body, { idempotencyKey: key });
      mount(box);
      const title = preview.kind === 'booking' ? t('c.result.checkedIn') : t('c.result.done');
      // Only what the redemption left behind: the figures after it, never the preview's.
      const what = voucher?.campaign_name || card?.template_name || null;
      showResult('ok', 'done', title, [what, memberLabel(preview.member), ...redemptionLines(done)]);
    } catch (err) {
      confirm.disabled = false;
      if (err.network) {
        setOnline(false);
        toast(say(err), 'bad');
      } else {
        mount(box);
        errorResult(err);
      }
    }
  });
  if (preview.kind === 'booking' || !card || action) parts.push(confirm);
  if (card && card.kind === 'stored_value') parts.push(topUpForm(card.id || preview.object_id, () => mount(box)));
  parts.push(h('button.btn.secondary.block', { type: 'button', text: t('c.preview.cancel'), onclick: () => mount(box) }));
  mount(box, h('div.panel.stack', { 'data-kind': preview.kind, 'data-card-kind': card?.kind || null }, parts));
  // Focus stays in the scan field (a USB scanner's next Enter must never confirm); Enter
  // in the amount confirms, for keyboards.
  amount.input.addEventListener('keydown', (event) => { if (event.key === 'Enter') { event.preventDefault(); confirm.click(); } });
}

function topUpForm(cardId, onDone) {
  const amount = amountField(`topup-${cardId}`, t('c.preview.amount'));
  const key = newKey();
  return h('details.panel', {},
    h('summary', { text: t('c.preview.topup') }),
    amount.box,
    h('button.btn.secondary.block', {
      type: 'button', text: t('c.preview.topupBtn'), 'data-topup': cardId,
      onclick: async (event) => {
        const cents = amount.read({ required: t('c.preview.needTopUp') });
        if (cents === null) return;
        event.target.disabled = true;
        try {
          const entry = await api.post(`/cards/${cardId}/top-ups`, { amount_cents: cents, store_id: storeId }, { idempotencyKey: key });
          onDone();
          showResult('ok', 'topped_up', t('c.result.toppedUp'), [
            `+${money(cents)}`, t('c.result.balance', { v: money(entry.balance_after_cents) })]);
        } catch (err) {
          event.target.disabled = false;
          errorResult(err);
        }
      },
    }));
}

// Offline: the signature against the cached keys, then the voucher's value and terms from
// the store's signed bundle; outside its dates, days or hours it is refused here.
function offlineCheck(scanned, box) {
  if (scanned.short_code) { showResult('bad', 'offline_short_code', t('c.offline.short')); return; }
  const keys = cachedKeys();
  if (!keys) { showResult('bad', 'no_keys', t('c.offline.noKeys')); return; }
  const checked = verifyCode(scanned.code, keys);
  if (!checked.ok) { showResult('bad', checked.reason, say({ code: checked.reason })); return; }
  const code = checked.code;
  if (code.kind !== 'voucher') { showResult('bad', 'offline_voucher_only', t('c.offline.onlyVouchers')); return; }
  if (queue().some((item) => item.object_id === code.objectId && item.status !== 'rejected')) {
    showResult('bad', 'already_redeemed', say({ code: 'already_redeemed' }), [t('c.result.localDup')]);
    return;
  }
  const refusal = offlineRefusal(bundleDoc(), code);
  if (refusal) {
    // The server answers these invalid_code (a replaced code) and voucher_gifting.
    showResult('bad', refusal === 'code_replaced' ? 'invalid_code' : refusal, t(`c.err.${refusal}`));
    return;
  }
  const known = voucherTerms(bundleDoc(), code.objectId);
  const zone = known?.timezone || tz();
  if (known) {
    const reason = notUsableReason(known.terms, { timeZone: zone, storeId });
    if (reason) {
      showResult('bad', 'outside_usage_hours', reason, [known.campaign_name, valueText(known.terms)]);
      return;
    }
  }
  const amount = amountField('amount', t('c.preview.bill'));
  const confirm = h('button.btn.block.big', { type: 'button', id: 'confirm', text: t('c.preview.confirm') });
  confirm.addEventListener('click', () => {
    const min = known?.terms.min_spend_cents || 0;
    const cents = amount.read({ min, minText: t('c.preview.minSpend', { v: money(min) }) });
    if (cents === null) return;
    const item = {
      client_ref: newKey(), store_id: storeId, code: scanned.code, object_id: code.objectId,
      campaign_name: known?.campaign_name || null,
      amount_cents: cents ?? null, redeemed_at: new Date().toISOString(), status: 'pending',
    };
    saveQueue([...queue(), item]);
    mount(box);
    showResult('pending', 'pending', t('c.result.pending'), [known?.campaign_name, t('c.result.pendingDetail')]);
    sync(); // in case the network is already back
  });
  mount(box, h('div.panel.stack', { 'data-kind': 'voucher', 'data-offline': 'true' },
    h('div.row.between', {}, h('h2', { text: known?.campaign_name || t('kind.voucher') }), h('span.pill.pending', { text: t('app.offline') })),
    known ? termsBlock(known.terms, zone) : h('p.notice', { text: t('c.preview.notCached') }),
    h('p.muted', { text: t('c.preview.offline') }),
    known ? null : h('p.muted', { text: t('c.preview.validUntil', { d: fmtDateTime(code.notAfter.toISOString(), zone) }) }),
    amount.box,
    confirm,
    h('button.btn.secondary.block', { type: 'button', text: t('c.preview.cancel'), onclick: () => mount(box) })));
  amount.input.addEventListener('keydown', (event) => { if (event.key === 'Enter') { event.preventDefault(); confirm.click(); } });
}

// --- camera -----------------------------------------------------------------------------

let jsqrLoaded = null;
function loadJsQR() {
  jsqrLoaded ||= new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = '/static/vendor/jsqr/jsQR.js';
    script.onload = () => resolve(window.jsQR);
    script.onerror = reject;
    document.head.append(script);
  });
  return jsqrLoaded;
}

let camera = null;
async function toggleCamera(box, btn, onCode) {
  if (camera) { camera.stop(); return; }
  if (!navigator.mediaDevices?.getUserMedia) { toast(t('c.scan.noCamera'), 'bad'); return; }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
  } catch {
    toast(t('c.scan.noCamera'), 'bad');
    return;
  }
  const video = h('video.camera', { playsinline: true, muted: true, autoplay: true });
  video.srcObject = stream;
  mount(box, video);
  btn.textContent = t('c.scan.stopCamera');
  let detector = null;
  if ('BarcodeDetector' in window) {
    try {
      const formats = await window.BarcodeDetector.getSupportedFormats();
      if (formats.includes('qr_code')) detector = new window.BarcodeDetector({ formats: ['qr_code'] });
    } catch { detector = null; }
  }
  const jsQR = detector ? null : await loadJsQR();
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  let timer = null;
  const stop = () => {
    clearInterval(timer);
    stream.getTracks().forEach((track) => track.stop());
    box.replaceChildren();
    btn.textContent = t('c.scan.camera');
    camera = null;
  };
  camera = { stop };
  cleanups.push(() => camera && camera.stop());
  let busy = false;
  timer = setInterval(async () => {
    if (busy || video.readyState < 2) return;
    busy = true;
    try {
      let text = null;
      if (detector) {
        const found = await detector.detect(video);
        text = found[0]?.rawValue || null;
      } else {
        canvas.width = video.videoWidth;
        canvas.height = video.videoHeight;
        ctx.drawImage(video, 0, 0);
        const image = ctx.getImageData(0, 0, canvas.width, canvas.height);
        text = jsQR(image.data, image.width, image.height, { inversionAttempts: 'dontInvert' })?.data || null;
      }
      if (text) { stop(); onCode(text); }
    } finally {
      busy = false;
    }
  }, 150);
}

// --- today's redemptions at this store, reversal by role --------------------------------

const REDEMPTION_WORDS = () => ({ forbidden: t('c.today.why.role'), reversal_window_closed: t('c.today.why.too_late') });

function redemptionWhat(r) {
  if (r.kind === 'voucher') return r.campaign_name || t('c.today.voucher');
  if (r.kind === 'card') return `${r.template_name || t('c.today.card')}${r.action ? ` · ${t(`c.action.${r.action}`)}` : ''}`;
  return t('c.today.booking');
}

function redemptionAmount(r) {
  if (r.kind === 'voucher') return r.discount_cents ? t('c.result.discount', { v: money(r.discount_cents) }) : '';
  if (r.action === 'visit') return t('c.result.visitUsed');
  if (r.action === 'charge') return t('c.result.charged', { v: money(r.charged_cents) });
  if (r.action === 'earn' && r.amount_cents) return money(r.amount_cents);
  return '';
}

// Why this login may not reverse `r` (null: it may). The API says so per row; a server
// that does not yet, by the same rules: manager or operator, within 24 h, once.
function reversalRefusal(r) {
  if (r.reversed_at) return 'already_reversed';
  if ('reversible' in r) return r.reversible ? null : (r.not_reversible_reason || 'role');
  if (!['manager', 'operator'].includes(session.staff?.role)) return 'role';
  const at = new Date(r.recorded_at || r.created_at).getTime();
  return Date.now() - at > 24 * 3600e3 ? 'too_late' : null;
}

async function todayView(el) {
  const list = listOf(await api.get('/redemptions', { store_id: storeId }));
  list.sort((a, b) => ((a.recorded_at || a.created_at) < (b.recorded_at || b.created_at) ? 1 : -1));
  const live = list.filter((r) => !r.reversed_at);
  const taken = live.reduce((sum, r) => sum + (r.kind === 'card' && r.action === 'charge' ? r.charged_cents || 0 : 0), 0);
  const row = (r) => {
    const reason = r.reversed_at ? 'already_reversed' : reversalRefusal(r);
    const key = newKey();
    return h('li', { 'data-redemption': r.id, 'data-reversed': r.reversed_at ? 'true' : 'false' },
      h('div.row.between', {},
        h('strong', { text: `${fmtTime(r.recorded_at || r.created_at, tz())} ${redemptionWhat(r)}` }),
        r.reversed_at ? h('span.pill.reversed', { text: t('c.today.reversed') }) : h('span.money', { text: redemptionAmount(r) })),
      h('p', { text: [memberLabel(r), r.card_number ? groupDigits(r.card_number) : '', r.offline ? t('c.today.offline') : '']
        .filter(Boolean).join(' · ') }),
      !reason
        ? confirmButton(t('c.today.reverse'), t('app.sure'), async () => {
          try {
            await api.post(`/redemptions/${r.id}/reverse`, {}, { idempotencyKey: key });
            toast(t('c.today.reversedToast'), 'ok');
            todayView(el);
          } catch (err) {
            toast(errorText(err, { ...WORDS(), ...REDEMPTION_WORDS() }), 'bad');
          }
        }, 'btn small danger')
        : (reason && reason !== 'already_reversed' ? h('p.muted', { 'data-why': reason, text: t(`c.today.why.${reason}`) }) : null));
  };
  mount(el, h('div.panel', {},
    h('div.row.between', {}, h('h2', { text: t('c.today.title') }),
      h('span.muted', { id: 'today-total', text: t('c.today.total', { n: live.length, v: money(taken) }) })),
    list.length ? h('ul.list', { id: 'today-list' }, list.map(row)) : h('p.muted', { text: t('c.today.empty') })));
}

// --- the day sheet of bookings ----------------------------------------------------------

let bookingsDate = null;
async function bookingsView(el) {
  const today = localDate(new Date(), tz());
  const date = bookingsDate || today;
  const list = listOf(await api.get(`/stores/${storeId}/bookings`, { date }), 'bookings');
  list.sort((a, b) => (a.start < b.start ? -1 : 1));
  const go = (days) => { bookingsDate = addDays(date, days); bookingsView(el); };
  const act = (b, move, bodyOf = () => ({})) => async (event) => {
    const body = bodyOf();
    if (body === null) return;
    event.target.disabled = true;
    try {
      const answer = await api.post(`/bookings/${b.id}/${move}`, body);
      await bookingsView(el);
      // Completing uses the attached card or voucher: say what it took and what is left.
      if (move === 'complete' && answer?.redemption) {
        showResult('ok', 'booking_completed', t('c.result.completed'),
          [answer.service_name, memberLabel(answer), ...redemptionLines(answer.redemption)]);
      } else if (move === 'complete') {
        toast(t('c.result.completed'), 'ok');
      }
    } catch (err) {
      event.target.disabled = false;
      if (['already_redeemed', 'outside_usage_hours'].includes(err.code)) errorResult(err);
      else toast(say(err), 'bad');
    }
  };
  const shown = `${weekdayLabel(date)} ${dateText(`${date}T12:00:00Z`, 'UTC')}`;
  const heading = date === today ? `${shown} (${t('c.bookings.today')})` : shown;
  mount(el,
    h('div.panel.row.between.daybar', {},
      h('button.btn.small.secondary', { type: 'button', id: 'day-prev', text: '‹', 'aria-label': t('c.bookings.prev'), onclick: () => go(-1) }),
      h('h2', { id: 'day-title', text: t('c.bookings.title', { d: heading }) }),
      h('button.btn.small.secondary', { type: 'button', id: 'day-next', text: '›', 'aria-label': t('c.bookings.next'), onclick: () => go(1) })),
    h('div.panel', {}, list.length ? h('ul.list', { id: 'day-sheet' }, list.map((b) => h('li', { 'data-booking': b.id },
      h('div.row.between', {},
        h('strong', { text: `${fmtTime(b.start, tz())}–${fmtTime(b.end, tz())} ${b.service_name || ''}` }),
        h('span.pill', { class: b.status, text: t(`status.${b.status}`) })),
      h('p', { 'data-who': '1', text: `${memberLabel(b)}${b.party_size > 1 ? ` ×${b.party_size}` : ''}` }),
      h('p.muted', { 'data-stylist': '1', text: [
        b.resource_name ? t('c.bookings.stylist', { name: b.resource_name }) : t('c.bookings.anyStylist'),
        b.card_id ? t('c.bookings.usesCard') : '', b.voucher_id ? t('c.bookings.usesVoucher') : '',
      ].filter(Boolean).join(' · ') }),
      b.note ? h('p.muted', { text: b.note }) : null,
      b.redemption ? h('p', { 'data-used': '1', text: redemptionLines(b.redemption).join(' · ') }) : null,
      h('div.row', {},
        b.status === 'confirmed' ? h('button.btn.small', { type: 'button', text: t('c.bookings.checkin'), onclick: act(b, 'check-in') }) : null,
        ['confirmed', 'checked_in'].includes(b.status) ? completeControls(b, act) : null,
        b.status === 'confirmed' && new Date(b.start) < new Date()
          ? confirmButton(t('c.bookings.noshow'), t('app.sure'), () => act(b, 'no-show')({ target: {} }), 'btn small danger') : null))))
      : h('p.muted', { text: t('c.bookings.empty') })));
}

// Completing redeems the attached card or voucher; the amount defaults to the service's
// price on the server, and the clerk may give the real bill instead.
function completeControls(b, act) {
  const attached = b.card_id || b.voucher_id;
  const amount = attached ? h('input', {
    inputmode: 'decimal', placeholder: t('c.bookings.billHint'), class: 'grow', 'aria-label': t('c.bookings.billHint'),
    'data-bill': b.id,
  }) : null;
  const body = () => {
    if (!amount || !amount.value.trim()) return {};
    const cents = parseYuan(amount.value);
    if (Number.isNaN(cents)) { toast(t('c.preview.badAmount'), 'bad'); amount.focus(); return null; }
    return { amount_cents: cents };
  };
  return [amount, h('button.btn.small', { type: 'button', 'data-complete': b.id, text: t('c.bookings.complete'), onclick: act(b, 'complete', body) })];
}

// --- members: find, register, one member's cards, vouchers and bookings ----------------

let lastFound = [];

function memberRow(m) {
  return h('li', { 'data-member': m.id },
    h('div.row.between', {},
      h('div', {},
        h('strong', { text: memberLabel(m) }), ` ${m.phone || ''}`,
        m.phone && m.phone_verified === false ? h('span.muted', { text: ` (${t('c.members.unverified')})` }) : null,
        h('p.muted', { text: [
          m.cards_count !== undefined ? t('c.members.cardsCount', { n: m.cards_count }) : '',
          m.last_visit_at ? t('c.members.lastVisit', { d: dateText(m.last_visit_at, tz()) }) : (m.last_visit_at === null ? t('c.members.neverVisited') : ''),
        ].filter(Boolean).join(' · ') })),
      h('a.btn.small', { href: `#member/${m.id}`, 'data-open': m.id, text: t('c.members.open'), 'aria-label': `${t('c.members.open')}: ${memberLabel(m)}` })));
}

async function membersView(el) {
  const found = h('div', { id: 'found', 'aria-live': 'polite' });
  const name = h('input', { id: 'member-name', autocomplete: 'off' });
  const phone = h('input', { id: 'member-phone', inputmode: 'tel', autocomplete: 'off' });
  const findPhone = h('input', { id: 'find-phone', inputmode: 'numeric', autocomplete: 'off', 'aria-describedby': 'find-hint' });
  const showMembers = (members) => {
    lastFound = members;
    mount(found, h('div.panel', {}, members.length
      ? h('ul.list', { id: 'found-list' }, members.map(memberRow)) : h('p.muted', { text: t('c.members.none') })));
  };
  mount(el,
    h('form.panel', {
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          // Clerks find members by exact phone or card number (12 digits); never a list.
          const typed = findPhone.value.replace(/[\s-]/g, '');
          if (!typed) return;
          const query = /^\d{12}$/.test(typed) ? { card_number: typed } : { phone: typed };
          const members = listOf(await api.get('/members', query));
          if (members.length === 1) { lastFound = members; location.hash = `#member/${members[0].id}`; return; }
          showMembers(members);
        } catch (err) { toast(say(err), 'bad'); }
      },
    },
    h('h2', { text: t('c.members.find') }),
    h('label', { for: 'find-phone', text: t('c.members.findLabel') }),
    h('div.row', {}, h('div.grow', {}, findPhone), h('button.btn', { type: 'submit', id: 'find-btn', text: t('c.members.findBtn') })),
    h('p.muted', { id: 'find-hint', text: t('c.members.findHint') })),
    found,
    h('form.panel', {
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          const member = await api.post('/members', { name: name.value.trim(), phone: phone.value.trim(), store_id: storeId });
          toast(t('c.members.registered', { name: member.name }), 'ok');
          location.hash = `#member/${member.id}`;
        } catch (err) {
          // A refused field is named in the till's words (never the API's field name).
          const field = fieldErrors(err).map((e) => e.field).find((f) => ['phone', 'name'].includes(f));
          toast(field ? t(`c.members.bad.${field}`) : say(err), 'bad');
          (field === 'name' ? name : phone).focus();
        }
      },
    },
    h('h2', { text: t('c.members.register') }),
    h('div.inline-fields', {},
      h('div.field', {}, h('label', { for: 'member-name', text: t('c.members.name') }), name),
      h('div.field', {}, h('label', { for: 'member-phone', text: t('c.members.phone') }), phone)),
    h('button.btn', { type: 'submit', text: t('c.members.registerBtn') })));
  if (lastFound.length) showMembers(lastFound);
  findPhone.focus();
}

async function memberView(el, memberId) {
  const quiet = (promise) => promise.catch((err) => { if (err.status === 403 || err.status === 404) return []; throw err; });
  const [member, cards, vouchers, bookings, templates] = await Promise.all([
    api.get(`/members/${memberId}`),
    quiet(api.get(`/members/${memberId}/cards`)).then((x) => listOf(x)),
    quiet(api.get(`/members/${memberId}/vouchers`)).then((x) => listOf(x)),
    quiet(api.get(`/members/${memberId}/bookings`, { limit: 20 })).then((x) => listOf(x)),
    api.get('/card-templates').then((x) => listOf(x).filter((tp) => tp.active !== false
      && (!tp.store_ids || tp.store_ids.includes(storeId)))),
  ]);
  const usable = (v) => v.status === 'issued';
  const voucherItem = (v) => h('li', { 'data-voucher': v.id },
    h('div.row.between', {}, h('strong', { text: v.campaign_name || t(`kind.${v.kind}`) }),
      h('span.pill', { class: v.status, text: t(`status.${v.status}`) })),
    v.terms ? termsBlock(v.terms, tz()) : h('p.muted', { text: untilText(v, tz()) }));
  const held = new Set(cards.filter((c) => !['cancelled', 'expired'].includes(c.status)).map((c) => c.template_id));
  mount(el,
    h('p', {}, h('a', { href: '#members', id: 'back-to-find', text: `‹ ${t('c.members.back')}` })),
    h('section.panel', { 'data-member-detail': member.id, 'aria-labelledby': 'member-title' },
      h('h2', { id: 'member-title', text: memberLabel(member) }),
      h('p', {}, member.phone || '', member.phone && member.phone_verified === false
        ? h('span.muted', { text: ` (${t('c.members.unverified')})` }) : null)),
    h('section.panel', { 'aria-labelledby': 'cards-title' },
      h('h2', { id: 'cards-title', text: t('c.members.cards') }),
      cards.length ? h('ul.list', { id: 'member-cards' }, cards.map((c) => h('li', { 'data-card': c.id, 'data-card-kind': c.kind },
        h('div.row.between', {}, h('strong', { text: c.template_name || t(`kind.${c.kind}`) }),
          h('span.pill', { class: c.status, text: `${t(`kind.${c.kind}`)} · ${t(`status.${c.status}`)}` })),
        h('p.muted', { text: t('c.card.number', { n: groupDigits(c.number) }) }),
        figuresBlock(c),
        c.kind === 'stored_value' && c.status === 'active' ? topUpForm(c.id, () => memberView(el, memberId)) : null)))
        : h('p.muted', { text: t('c.members.noCards') }),
      h('div.row', {}, templates.filter((tp) => !held.has(tp.id)).map((tp) => h('button.btn.small.secondary', {
        type: 'button', text: `${t('c.members.issue')}: ${tp.name}`,
        onclick: async (event) => {
          event.target.disabled = true;
          try {
            const card = await api.post('/cards', { template_id: tp.id, member_id: member.id, store_id: storeId }, { idempotencyKey: newKey() });
            toast(t('c.members.issued', { n: groupDigits(card.number) }), 'ok');
            memberView(el, memberId);
          } catch (err) {
            event.target.disabled = false;
            toast(say(err), 'bad');
          }
        },
      })))),
    h('section.panel', { 'aria-labelledby': 'vouchers-title' },
      h('h2', { id: 'vouchers-title', text: t('c.members.vouchers') }),
      vouchers.some(usable) ? h('ul.list', { id: 'member-vouchers' }, vouchers.filter(usable).map(voucherItem)) : null,
      vouchers.some((v) => !usable(v)) ? h('details', { id: 'member-old-vouchers' },
        h('summary', { text: t('c.members.usedVouchers', { n: vouchers.filter((v) => !usable(v)).length }) }),
        h('ul.list', {}, vouchers.filter((v) => !usable(v)).map(voucherItem))) : null,
      vouchers.some(usable) ? null
        : h('p.muted', { text: t('c.members.noVouchers') })),
    h('section.panel', { 'aria-labelledby': 'bookings-title' },
      h('h2', { id: 'bookings-title', text: t('c.members.bookings') }),
      bookings.length ? h('ul.list', { id: 'member-bookings' }, bookings.map((b) => h('li', { 'data-booking': b.id },
        h('div.row.between', {}, h('strong', { text: `${fmtDateTime(b.start, tz())} ${b.service_name || ''}` }),
          h('span.pill', { class: b.status, text: t(`status.${b.status}`) })),
        h('p.muted', { text: [b.store_name, b.resource_name ? t('c.bookings.stylist', { name: b.resource_name }) : ''].filter(Boolean).join(' · ') }))))
        : h('p.muted', { text: t('c.members.noBookings') })));
}

// --- pending offline redemptions --------------------------------------------------------

async function pendingView(el) {
  const items = queue();
  const open = items.filter((i) => i.status !== 'synced');
  const done = items.filter((i) => i.status === 'synced').reverse();
  const line = (item) => {
    const note = problemLine(item);
    return h('li', { 'data-ref': item.client_ref, 'data-status': item.status },
      h('div.row.between', {},
        h('span', { text: `${queuedName(item)} · ${item.amount_cents !== null && item.amount_cents !== undefined ? money(item.amount_cents) : ''}` }),
        h('span.pill', { class: item.status, text: t(`c.pending.status.${item.status}`) })),
      h('p.muted', { text: `${fmtDateTime(item.redeemed_at, tz())} · ${storeName(item.store_id)}` }),
      note ? h('p.error', { text: note }) : null);
  };
  mount(el,
    h('div.panel', {},
      h('div.row.between', {},
        h('h2', { text: t('c.tab.pending') }),
        h('button.btn.small', { type: 'button', id: 'sync-now', text: t('c.pending.sync'), onclick: () => (online ? sync() : checkNetwork()) })),
      open.length ? h('ul.list', { id: 'pending-list' }, open.map(line)) : h('p.muted', { text: t('c.pending.empty') }),
      open.some((i) => i.status !== 'pending') ? h('button.btn.small.secondary', {
        type: 'button', text: t('c.pending.clear'),
        onclick: () => { saveQueue(queue().filter((i) => i.status === 'pending' || i.status === 'synced')); render(); },
      }) : null),
    done.length ? h('div.panel', {}, h('h2', { text: t('c.pending.recent') }), h('ul.list', { id: 'synced-list' }, done.map(line))) : null);
}

// Keeps the scanner's page and assets for opening it without a network (not the API).
if ('serviceWorker' in navigator) navigator.serviceWorker.register('/clerk/sw.js').catch(() => {});

window.addEventListener('hashchange', render);
onLangChange(render);
if (!online) probe = setInterval(checkNetwork, 3000);
else if (api.token) { refreshKeys().then(() => refreshBundle()); sync(); }
render();
