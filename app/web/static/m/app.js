// The member's H5 page: log in, cards with a live QR, vouchers, claims, booking, inbox.
import { createApi, listOf, newKey } from '/static/common/api.js';
import { addMessages, errorText, langToggle, onLangChange, t } from '/static/common/i18n.js';
import { loginForm } from '/static/common/login.js';
import { qrCanvas } from '/static/common/qr.js';
import {
  addDays, confirmButton, fmtDate, fmtDateTime, fmtTime, groupDigits, h, localDate, money,
  mount, toast, weekdayLabel,
} from '/static/common/ui.js';

addMessages({
  zh: {
    'm.title': '会员中心', 'm.login.title': '会员登录', 'm.login.chain': '商户编号 (chain_id)',
    'm.login.code': '登录码', 'm.login.hint': '开发环境（sandbox）可用 sandbox:<openid> 登录；正式环境由微信授权自动登录。',
    'm.tab.cards': '卡包', 'm.tab.vouchers': '优惠券', 'm.tab.book': '预约', 'm.tab.bookings': '我的预约', 'm.tab.inbox': '消息',
    'm.cards.empty': '还没有会员卡', 'm.cards.claim': '领取会员卡', 'm.cards.claimBtn': '领取',
    'm.card.balance': '余额', 'm.card.points': '积分', 'm.card.tier': '等级', 'm.card.visits': '剩余次数',
    'm.card.expires': '有效期至', 'm.card.noExpiry': '长期有效', 'm.card.show': '向店员出示此码',
    'm.card.refreshIn': '{s} 秒后自动刷新', 'm.card.refreshing': '正在刷新…', 'm.card.ledger': '明细',
    'm.card.inactive': '此卡当前不可用', 'm.card.qrOffline': '无法刷新二维码，正在重试…',
    'm.ledger.issue': '开卡', 'm.ledger.top_up': '充值', 'm.ledger.charge': '消费', 'm.ledger.visit': '使用次数',
    'm.ledger.earn': '积分', 'm.ledger.reversal': '撤销', 'm.ledger.expire': '过期',
    'm.vouchers.mine': '我的券', 'm.vouchers.empty': '还没有券', 'm.vouchers.claimable': '可领取',
    'm.vouchers.claim': '领取', 'm.vouchers.claimed': '领取成功', 'm.vouchers.left': '剩余 {n} 张',
    'm.voucher.until': '有效期至 {d}', 'm.voucher.short': '数字券码（扫码失败时报给店员）',
    'm.voucher.minSpend': '满 {m} 可用', 'm.voucher.off': '减 {v}', 'm.voucher.pct': '{p}% 折扣', 'm.voucher.cap': '最多减 {v}',
    'm.book.store': '选择门店', 'm.book.service': '选择服务', 'm.book.date': '选择日期', 'm.book.slot': '选择时间',
    'm.book.noSlots': '当天没有可预约的时间', 'm.book.confirm': '确认预约', 'm.book.note': '备注（可选）',
    'm.book.done': '预约成功', 'm.book.minutes': '{n} 分钟', 'm.book.again': '再约一个', 'm.book.showCode': '到店时出示此码',
    'm.bookings.empty': '没有预约', 'm.bookings.cancel': '取消预约', 'm.bookings.reschedule': '改期',
    'm.bookings.cancelled': '已取消', 'm.bookings.moved': '已改期', 'm.bookings.code': '到店码',
    'm.inbox.empty': '没有消息', 'm.me': '我的', 'm.me.name': '姓名', 'm.me.phone': '手机号',
    'm.me.birthday': '生日', 'm.me.saved': '已保存', 'm.book.payWith': '到店使用', 'm.book.payNone': '到店再说',
  },
  en: {
    'm.title': 'Members', 'm.login.title': 'Member login', 'm.login.chain': 'Chain id',
    'm.login.code': 'Login code', 'm.login.hint': 'Development (sandbox): log in with sandbox:<openid>. Live: WeChat hands the code over.',
    'm.tab.cards': 'Cards', 'm.tab.vouchers': 'Vouchers', 'm.tab.book': 'Book', 'm.tab.bookings': 'Bookings', 'm.tab.inbox': 'Inbox',
    'm.cards.empty': 'No cards yet', 'm.cards.claim': 'Get a card', 'm.cards.claimBtn': 'Get it',
    'm.card.balance': 'Balance', 'm.card.points': 'Points', 'm.card.tier': 'Tier', 'm.card.visits': 'Visits left',
    'm.card.expires': 'Valid until', 'm.card.noExpiry': 'No expiry', 'm.card.show': 'Show this code to the clerk',
    'm.card.refreshIn': 'Refreshes in {s} s', 'm.card.refreshing': 'Refreshing…', 'm.card.ledger': 'History',
    'm.card.inactive': 'This card cannot be used now', 'm.card.qrOffline': 'Could not refresh the code; retrying…',
    'm.ledger.issue': 'Issued', 'm.ledger.top_up': 'Top-up', 'm.ledger.charge': 'Payment', 'm.ledger.visit': 'Visit',
    'm.ledger.earn': 'Points', 'm.ledger.reversal': 'Reversal', 'm.ledger.expire': 'Expired',
    'm.vouchers.mine': 'My vouchers', 'm.vouchers.empty': 'No vouchers yet', 'm.vouchers.claimable': 'Up for grabs',
    'm.vouchers.claim': 'Claim', 'm.vouchers.claimed': 'Claimed', 'm.vouchers.left': '{n} left',
    'm.voucher.until': 'Valid until {d}', 'm.voucher.short': 'Number code (read it out if the scan fails)',
    'm.voucher.minSpend': 'On bills from {m}', 'm.voucher.off': '{v} off', 'm.voucher.pct': '{p}% off', 'm.voucher.cap': 'up to {v}',
    'm.book.store': 'Choose a store', 'm.book.service': 'Choose a service', 'm.book.date': 'Choose a day', 'm.book.slot': 'Choose a time',
    'm.book.noSlots': 'No free times that day', 'm.book.confirm': 'Confirm booking', 'm.book.note': 'Note (optional)',
    'm.book.done': 'Booked', 'm.book.minutes': '{n} min', 'm.book.again': 'Book another', 'm.book.showCode': 'Show this code when you arrive',
    'm.bookings.empty': 'No bookings', 'm.bookings.cancel': 'Cancel booking', 'm.bookings.reschedule': 'Reschedule',
    'm.bookings.cancelled': 'Cancelled', 'm.bookings.moved': 'Rescheduled', 'm.bookings.code': 'Check-in code',
    'm.inbox.empty': 'No messages', 'm.me': 'Me', 'm.me.name': 'Name', 'm.me.phone': 'Phone',
    'm.me.birthday': 'Birthday', 'm.me.saved': 'Saved', 'm.book.payWith': 'Use at the visit', 'm.book.payNone': 'Decide there',
  },
});

const api = createApi('m', { onUnauthorized: () => { api.setToken(''); render(); } });
const root = document.getElementById('app');
const query = new URLSearchParams(location.search);
if (query.get('chain')) localStorage.setItem('o2o.m.chain', query.get('chain'));

// Timers of the current view, stopped whenever another view renders.
let timers = [];
function later(fn, ms) { timers.push(setTimeout(fn, ms)); }
function every(fn, ms) { timers.push(setInterval(fn, ms)); }
function stopTimers() { timers.forEach((id) => { clearTimeout(id); clearInterval(id); }); timers = []; }

const cache = { stores: null, services: {} };
async function stores() {
  if (!cache.stores) cache.stores = listOf(await api.get('/stores'));
  return cache.stores;
}
async function services(storeId) {
  if (!cache.services[storeId]) cache.services[storeId] = listOf(await api.get(`/stores/${storeId}/services`));
  return cache.services[storeId];
}

const TABS = [['cards', 'm.tab.cards'], ['vouchers', 'm.tab.vouchers'], ['book', 'm.tab.book'],
  ['bookings', 'm.tab.bookings'], ['inbox', 'm.tab.inbox']];
const VIEWS = {
  cards: cardsView, card: cardView, vouchers: vouchersView, voucher: voucherView,
  book: bookView, bookings: bookingsView, inbox: inboxView, me: profileView,
};

function route() {
  const [name, arg] = location.hash.replace(/^#/, '').split('/');
  return VIEWS[name] ? [name, arg] : ['cards', undefined];
}

function render() {
  stopTimers();
  if (!api.token) { loginView(); return; }
  const [name, arg] = route();
  const tab = { card: 'cards', voucher: 'vouchers' }[name] || name;
  const content = h('main.page', { id: 'view' }, h('p.muted', { text: t('app.loading') }));
  mount(root,
    h('header.topbar', {},
      h('span.title', { text: t('m.title') }),
      langToggle(),
      h('a', { href: '#me', class: 'lang', text: t('m.me'), 'data-tab': 'me' }),
      h('button', { type: 'button', text: t('app.logout'), onclick: logout })),
    content,
    h('nav.tabs', {}, TABS.map(([key, label]) => h('a', {
      href: `#${key}`, class: key === tab ? 'on' : '', text: t(label), 'data-tab': key,
    }))));
  VIEWS[name](content, arg).catch((err) => showError(content, err));
}

function showError(el, err) {
  mount(el, h('div.panel', {},
    h('p.error', { text: errorText(err) }),
    h('button.btn.secondary', { type: 'button', text: t('app.retry'), onclick: render })));
}

function logout() {
  api.setToken('');
  location.hash = '';
  render();
}

// --- login ------------------------------------------------------------------------------

async function login(chainId, code) {
  const session = await api.post('/auth/member/wechat', { chain_id: chainId, code });
  localStorage.setItem('o2o.m.chain', chainId);
  api.setToken(session.token);
}

function loginView() {
  const chain = localStorage.getItem('o2o.m.chain') || '';
  const handedCode = query.get('code');
  if (handedCode && chain) {
    // The WeChat redirect (or mini program) handed a code over: use it once.
    history.replaceState(null, '', location.pathname + `?chain=${encodeURIComponent(chain)}`);
    login(chain, handedCode).then(render, (err) => { toast(errorText(err), 'bad'); memberLoginForm(chain); });
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
    hint: t('m.login.hint'),
    submit: async (values) => {
      await login(values.chain.trim(), values.code.trim());
      render();
    },
  });
}

// --- cards ------------------------------------------------------------------------------

function cardFigures(card) {
  const figures = [];
  if (card.kind === 'stored_value') figures.push([t('m.card.balance'), money(card.balance_cents)]);
  if (card.visits_left !== null && card.visits_left !== undefined) figures.push([t('m.card.visits'), card.visits_left]);
  figures.push([t('m.card.points'), card.points]);
  if (card.tier) figures.push([t('m.card.tier'), card.tier]);
  return h('div.figures', {}, figures.map(([label, value]) => h('div.figure', {},
    h('div.value', { text: value }), h('div.label', { text: label }))));
}

async function cardsView(el) {
  const [cards, templates] = await Promise.all([
    api.get('/me/cards').then((x) => listOf(x)),
    api.get('/card-templates').then((x) => listOf(x)).catch(() => []),
  ]);
  const held = new Set(cards.filter((c) => c.status === 'active').map((c) => c.template_id));
  const claimable = templates.filter((tp) => tp.active !== false && tp.claimable !== false && !held.has(tp.id));
  mount(el,
    cards.length ? cards.map((card) => h('a.cardtile', {
      href: `#card/${card.id}`, class: card.kind, 'data-card': card.id,
    },
    h('div.row.between', {},
      h('strong', { text: card.template_name || t(`kind.${card.kind}`) }),
      h('span.pill', { class: card.status, text: t(`status.${card.status}`) })),
    h('div.number', { text: card.number }),
    cardFigures(card))) : h('div.panel', {}, h('p.muted', { text: t('m.cards.empty') })),
    claimable.length ? h('div.panel', {},
      h('h2', { text: t('m.cards.claim') }),
      h('ul.list', {}, claimable.map((tp) => h('li.row.between', {},
        h('span', {}, tp.name, ' ', h('span.pill', { text: t(`kind.${tp.kind}`) })),
        h('button.btn.small', {
          type: 'button', text: t('m.cards.claimBtn'),
          onclick: async (event) => {
            event.target.disabled = true;
            try {
              const card = await api.post(`/card-templates/${tp.id}/claim`, {}, { idempotencyKey: newKey() });
              location.hash = `#card/${card.id}`;
            } catch (err) {
              toast(errorText(err), 'bad');
              event.target.disabled = false;
            }
          },
        }))))) : null);
}

async function cardView(el, cardId) {
  const [card, ledger] = await Promise.all([
    api.get(`/cards/${cardId}`), api.get(`/cards/${cardId}/ledger`).then((x) => listOf(x)),
  ]);
  const qrBox = h('div.qrbox', { id: 'card-qr' });
  const countdown = h('p.countdown', { id: 'countdown' });
  mount(el,
    h('div.cardtile', { class: card.kind },
      h('div.row.between', {},
        h('strong', { text: card.template_name || t(`kind.${card.kind}`) }),
        h('span.pill', { class: card.status, text: t(`status.${card.status}`) })),
      h('div.number', { text: card.number }),
      cardFigures(card),
      h('p.muted', {
        text: `${t('m.card.expires')}: ${card.expires_at ? fmtDate(card.expires_at) : t('m.card.noExpiry')}`,
      })),
    h('div.panel', {},
      card.status === 'active'
        ? [h('p.muted', { text: t('m.card.show') }), qrBox, countdown]
        : h('p.error', { text: t('m.card.inactive') })),
    h('div.panel', {},
      h('h2', { text: t('m.card.ledger') }),
      h('ul.list', {}, [...ledger].reverse().map((entry) => h('li', {},
        h('div.row.between', {},
          h('strong', { text: t(`m.ledger.${entry.kind}`) }),
          h('span.muted', { text: fmtDateTime(entry.created_at) })),
        h('div.row', { class: 'muted' },
          entry.delta_cents ? `${entry.delta_cents > 0 ? '+' : ''}${money(entry.delta_cents)} → ${money(entry.balance_after_cents)}` : null,
          entry.delta_visits ? ` ${entry.delta_visits > 0 ? '+' : ''}${entry.delta_visits} ${t('m.card.visits')}` : null,
          entry.delta_points ? ` ${entry.delta_points > 0 ? '+' : ''}${entry.delta_points} ${t('m.card.points')}` : null))))));
  if (card.status !== 'active') return;

  // A fresh code every time the old one nears its end (codes live up to 60 s).
  let expiresAt = 0;
  async function refresh() {
    countdown.textContent = t('m.card.refreshing');
    try {
      const fresh = await api.get(`/cards/${cardId}/code`);
      expiresAt = new Date(fresh.expires_at).getTime();
      mount(qrBox, qrCanvas(fresh.code));
      const wait = Math.max(3000, expiresAt - Date.now() - 10000);
      later(refresh, wait);
      tick();
    } catch (err) {
      countdown.textContent = t('m.card.qrOffline');
      if (Date.now() > expiresAt) qrBox.replaceChildren();
      later(refresh, 5000);
    }
  }
  function tick() {
    if (!expiresAt) return;
    const left = Math.max(0, Math.round((expiresAt - Date.now() - 10000) / 1000));
    countdown.textContent = t('m.card.refreshIn', { s: left });
  }
  every(tick, 1000);
  await refresh();
}

// --- vouchers ---------------------------------------------------------------------------

function campaignTerms(c) {
  const parts = [];
  if (c.kind === 'cash' && c.value_cents) parts.push(t('m.voucher.off', { v: money(c.value_cents) }));
  if (c.kind === 'discount' && c.percent_off) parts.push(t('m.voucher.pct', { p: c.percent_off }));
  if (c.max_discount_cents) parts.push(t('m.voucher.cap', { v: money(c.max_discount_cents) }));
  if (c.item_name) parts.push(c.item_name);
  if (c.min_spend_cents) parts.push(t('m.voucher.minSpend', { m: money(c.min_spend_cents) }));
  return parts.join(' · ');
}

async function vouchersView(el) {
  const [vouchers, campaigns] = await Promise.all([
    api.get('/me/vouchers').then((x) => listOf(x)),
    api.get('/campaigns').then((x) => listOf(x)).catch(() => []),
  ]);
  const order = { issued: 0, redeemed: 1, expired: 2, revoked: 3 };
  vouchers.sort((a, b) => (order[a.status] ?? 9) - (order[b.status] ?? 9));
  mount(el,
    h('div.panel', {},
      h('h2', { text: t('m.vouchers.mine') }),
      vouchers.length ? h('ul.list', {}, vouchers.map((v) => h('li', {},
        h('a.row.between', { href: `#voucher/${v.id}`, 'data-voucher': v.id },
          h('span', {}, h('strong', { text: v.campaign_name }), ' ',
            h('span.pill', { text: t(`kind.${v.kind}`) })),
          h('span.pill', { class: v.status, text: t(`status.${v.status}`) })),
        h('p.muted', { text: t('m.voucher.until', { d: fmtDate(v.valid_until) }) }))))
        : h('p.muted', { text: t('m.vouchers.empty') })),
    campaigns.length ? h('div.panel', {},
      h('h2', { text: t('m.vouchers.claimable') }),
      h('ul.list', {}, campaigns.map((c) => h('li.row.between', {},
        h('div.grow', {},
          h('strong', { text: c.name }),
          h('p.muted', { text: campaignTerms(c) }),
          h('p.muted', { text: `${t('m.vouchers.left', { n: Math.max(0, c.total_quantity - c.issued_count) })} · ${t('m.voucher.until', { d: fmtDate(c.valid_until) })}` })),
        h('button.btn.small', {
          type: 'button', text: t('m.vouchers.claim'), 'data-claim': c.id,
          onclick: async (event) => {
            event.target.disabled = true;
            try {
              const voucher = await api.post(`/campaigns/${c.id}/claim`, {}, { idempotencyKey: newKey() });
              toast(t('m.vouchers.claimed'), 'ok');
              location.hash = `#voucher/${voucher.id}`;
            } catch (err) {
              toast(errorText(err), 'bad');
              event.target.disabled = false;
            }
          },
        }))))) : null);
}

async function voucherView(el, voucherId) {
  const v = await api.get(`/vouchers/${voucherId}`);
  const usable = v.status === 'issued';
  mount(el,
    h('div.panel', {},
      h('div.row.between', {},
        h('h2', { text: v.campaign_name }),
        h('span.pill', { class: v.status, text: t(`status.${v.status}`) })),
      h('p.muted', { text: t('m.voucher.until', { d: fmtDateTime(v.valid_until) }) }),
      v.redeemed_at ? h('p.muted', { text: `${t('status.redeemed')} ${fmtDateTime(v.redeemed_at)}` }) : null,
      usable ? h('div.qrbox', { id: 'voucher-qr' }, qrCanvas(v.code)) : null,
      usable ? h('div', { class: 'qrbox' },
        h('p.muted', { text: t('m.voucher.short') }),
        h('p.shortcode', { id: 'short-code', text: groupDigits(v.short_code) })) : null),
    h('a.btn.secondary', { href: '#vouchers', text: t('app.back') }));
}

// --- booking ----------------------------------------------------------------------------

const booking = { store: null, service: null, date: null, slot: null, key: null };

function choice(label, sub, on, onclick, attrs = {}) {
  return h('button.choice', { type: 'button', class: on ? 'on' : '', onclick, ...attrs },
    label, sub ? h('small', { text: sub }) : null);
}

function dayChoices(store, selected, onPick) {
  const today = localDate(new Date(), store.timezone);
  const days = Math.min(14, store.booking_horizon_days || 14);
  return h('div.choices.slots', {}, Array.from({ length: days }, (_, i) => {
    const day = addDays(today, i);
    return choice(day.slice(5), weekdayLabel(day), day === selected, () => onPick(day), { 'data-date': day });
  }));
}

async function slotChoices(store, serviceId, date, selected, onPick) {
  const answer = await api.get(`/stores/${store.id}/availability`, { service_id: serviceId, date, party_size: 1 });
  const slots = listOf(answer, 'slots');
  if (!slots.length) return h('p.muted', { text: t('m.book.noSlots') });
  return h('div.choices.slots', {}, slots.map((slot) => choice(
    fmtTime(slot.start, store.timezone), null, selected && selected.start === slot.start,
    () => onPick(slot), { 'data-slot': slot.start })));
}

async function bookView(el) {
  const all = await stores();
  const parts = [h('div.panel', {}, h('h2', { text: t('m.book.store') }),
    h('div.choices', {}, all.map((s) => choice(s.name, s.address, booking.store?.id === s.id, () => {
      Object.assign(booking, { store: s, service: null, date: null, slot: null });
      bookView(el);
    }, { 'data-store': s.id }))))];
  if (booking.store) {
    const list = (await services(booking.store.id)).filter((s) => s.active !== false);
    parts.push(h('div.panel', {}, h('h2', { text: t('m.book.service') }),
      h('div.choices', {}, list.map((s) => choice(s.name,
        `${t('m.book.minutes', { n: s.duration_minutes })} · ${money(s.price_cents)}`,
        booking.service?.id === s.id, () => {
          Object.assign(booking, { service: s, date: booking.date, slot: null });
          bookView(el);
        }, { 'data-service': s.id })))));
  }
  if (booking.service) {
    parts.push(h('div.panel', {}, h('h2', { text: t('m.book.date') }),
      dayChoices(booking.store, booking.date, (day) => {
        Object.assign(booking, { date: day, slot: null });
        bookView(el);
      })));
  }
  if (booking.date) {
    parts.push(h('div.panel', {}, h('h2', { text: t('m.book.slot') }),
      await slotChoices(booking.store, booking.service.id, booking.date, booking.slot, (slot) => {
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
        value: `card:${c.id}`, text: `${c.template_name} ${c.number}`,
      })),
      vouchers.filter((v) => v.status === 'issued').map((v) => h('option', {
        value: `voucher:${v.id}`, text: v.campaign_name,
      })));
    parts.push(h('div.panel', {},
      h('p', {}, h('strong', { text: booking.service.name }), ` · ${booking.store.name}`),
      h('p', { text: fmtDateTime(booking.slot.start, booking.store.timezone) }),
      h('div.field', {}, h('label', { for: 'pay-with', text: t('m.book.payWith') }), pay),
      h('div.field', {}, h('label', { for: 'note', text: t('m.book.note') }), note),
      h('button.btn.block.big', {
        type: 'button', id: 'confirm-booking', text: t('m.book.confirm'),
        onclick: async (event) => {
          event.target.disabled = true;
          const body = { store_id: booking.store.id, service_id: booking.service.id, start: booking.slot.start };
          if (note.value.trim()) body.note = note.value.trim();
          const [payKind, payId] = pay.value.split(':');
          if (payKind === 'card') body.card_id = payId;
          if (payKind === 'voucher') body.voucher_id = payId;
          try {
            const made = await api.post('/bookings', body, { idempotencyKey: booking.key });
            Object.assign(booking, { date: null, slot: null });
            bookedView(el, made);
          } catch (err) {
            toast(errorText(err), 'bad');
            if (err.code === 'slot_unavailable') { booking.slot = null; bookView(el); } else event.target.disabled = false;
          }
        },
      })));
  }
  mount(el, parts);
  if (booking.slot) document.getElementById('confirm-booking')?.scrollIntoView({ block: 'center' });
}

async function bookedView(el, made) {
  const store = (await stores()).find((s) => s.id === made.store_id);
  const service = (await services(made.store_id)).find((s) => s.id === made.service_id);
  mount(el, h('div.panel', {},
    h('h2', { text: `✓ ${t('m.book.done')}` }),
    h('p', {}, h('strong', { text: service?.name || '' }), ` · ${store?.name || ''}`),
    h('p', { text: fmtDateTime(made.start, store?.timezone) }),
    made.code ? [h('p.muted', { text: t('m.book.showCode') }), h('div.qrbox', {}, qrCanvas(made.code))] : null,
    h('div.row', {},
      h('a.btn', { href: '#bookings', text: t('m.tab.bookings') }),
      h('button.btn.secondary', { type: 'button', text: t('m.book.again'), onclick: () => bookView(el) }))));
}

async function bookingsView(el) {
  const list = listOf(await api.get('/me/bookings'), 'bookings');
  const storeList = await stores();
  const byId = Object.fromEntries(storeList.map((s) => [s.id, s]));
  await Promise.all([...new Set(list.map((b) => b.store_id))].map((id) => services(id).catch(() => [])));
  list.sort((a, b) => (a.start < b.start ? 1 : -1));
  const upcoming = (b) => ['confirmed'].includes(b.status) && new Date(b.start).getTime() > Date.now() - 3600e3;
  mount(el, list.length ? list.map((b) => {
    const store = byId[b.store_id] || {};
    const service = (cache.services[b.store_id] || []).find((s) => s.id === b.service_id) || {};
    const extra = h('div');
    return h('div.panel', { 'data-booking': b.id },
      h('div.row.between', {},
        h('strong', { text: service.name || b.service_name || '' }),
        h('span.pill', { class: b.status, text: t(`status.${b.status}`) })),
      h('p', { text: `${fmtDateTime(b.start, store.timezone)} · ${store.name || ''}` }),
      upcoming(b) ? h('div.row', {},
        b.code ? h('button.btn.small.secondary', {
          type: 'button', text: t('m.bookings.code'),
          onclick: () => mount(extra, h('div.qrbox', {}, qrCanvas(b.code))),
        }) : null,
        h('button.btn.small.secondary', {
          type: 'button', text: t('m.bookings.reschedule'),
          onclick: () => reschedule(extra, b, store),
        }),
        confirmButton(t('m.bookings.cancel'), t('app.sure'), async () => {
          try {
            await api.post(`/bookings/${b.id}/cancel`, {});
            toast(t('m.bookings.cancelled'), 'ok');
            bookingsView(el);
          } catch (err) { toast(errorText(err), 'bad'); }
        }, 'btn small danger')) : null,
      extra);
  }) : h('div.panel', {}, h('p.muted', { text: t('m.bookings.empty') })));
}

function reschedule(box, b, store) {
  let date = null;
  const slotsBox = h('div');
  const days = dayChoices(store, null, async (day) => {
    date = day;
    days.querySelectorAll('.choice').forEach((c) => c.classList.toggle('on', c.dataset.date === day));
    mount(slotsBox, await slotChoices(store, b.service_id, date, null, async (slot) => {
      try {
        await api.post(`/bookings/${b.id}/reschedule`, { start: slot.start });
        toast(t('m.bookings.moved'), 'ok');
        render();
      } catch (err) { toast(errorText(err), 'bad'); }
    }));
  });
  mount(box, h('h3', { text: t('m.book.date') }), days, slotsBox);
}

// --- my profile -------------------------------------------------------------------------

async function profileView(el) {
  const me = await api.get('/me');
  const name = h('input', { id: 'me-name', value: me.name || '', maxlength: 120 });
  const phone = h('input', { id: 'me-phone', value: me.phone || '', inputmode: 'tel' });
  const birthday = h('input', { id: 'me-birthday', type: 'date', value: me.birthday || '' });
  mount(el, h('form.panel', {
    onsubmit: async (event) => {
      event.preventDefault();
      const body = { name: name.value.trim() };
      if (phone.value.trim()) body.phone = phone.value.trim();
      if (birthday.value) body.birthday = birthday.value;
      try {
        await api.patch('/me', body);
        toast(t('m.me.saved'), 'ok');
      } catch (err) { toast(errorText(err), 'bad'); }
    },
  },
  h('h2', { text: t('m.me') }),
  h('div.field', {}, h('label', { for: 'me-name', text: t('m.me.name') }), name),
  h('div.field', {}, h('label', { for: 'me-phone', text: t('m.me.phone') }), phone),
  h('div.field', {}, h('label', { for: 'me-birthday', text: t('m.me.birthday') }), birthday),
  h('button.btn', { type: 'submit', text: t('app.save') })));
}

// --- inbox ------------------------------------------------------------------------------

// The event's name in the page's language when we know the event, else the server's title.
function eventTitle(m) {
  const known = t(`event.${m.event}`);
  return known !== `event.${m.event}` ? known : (m.title || m.event);
}

async function inboxView(el) {
  const items = listOf(await api.get('/me/inbox'), 'messages');
  mount(el, h('div.panel', {}, items.length ? h('ul.list', {}, items.map((m) => h('li', {},
    h('div.row.between', {},
      h('strong', { text: eventTitle(m) }),
      h('span.muted', { text: fmtDateTime(m.created_at) })),
    h('p', { text: m.text || m.body || m.message || '' }))))
    : h('p.muted', { text: t('m.inbox.empty') })));
}

addMessages({
  zh: {
    'event.card_issued': '开卡成功', 'event.voucher_issued': '收到优惠券', 'event.booking_confirmed': '预约成功',
    'event.booking_cancelled': '预约已取消', 'event.booking_reminder': '预约提醒', 'event.redeemed': '核销成功',
    'event.balance_changed': '余额变动',
  },
  en: {
    'event.card_issued': 'New card', 'event.voucher_issued': 'New voucher', 'event.booking_confirmed': 'Booking confirmed',
    'event.booking_cancelled': 'Booking cancelled', 'event.booking_reminder': 'Booking reminder', 'event.redeemed': 'Redeemed',
    'event.balance_changed': 'Balance changed',
  },
});

window.addEventListener('hashchange', render);
onLangChange(render);
document.addEventListener('visibilitychange', () => {
  // Back from the background: the QR on screen may be stale.
  if (document.visibilityState === 'visible' && route()[0] === 'card') render();
});
render();
