// The clerk's scanner: log in, pick a store, scan or type a code, preview, confirm, see a
// result no one can misread. Offline, vouchers are checked against the chain's cached
// public keys and queued; the queue syncs through POST /redemptions/sync when back online.
import { createApi, listOf, newKey } from '/static/common/api.js';
import { verifyCode } from '/static/common/codes.js';
import { addMessages, errorText, langToggle, onLangChange, t } from '/static/common/i18n.js';
import { staffLoginView, staffSession } from '/static/common/login.js';
import {
  addDays, confirmButton, fmtDateTime, fmtTime, h, localDate, money, mount, parseYuan, toast,
} from '/static/common/ui.js';

addMessages({
  zh: {
    'c.title': '店员扫码', 'c.login.title': '店员登录', 'c.store.pick': '选择门店', 'c.store.change': '换店',
    'c.tab.scan': '扫码', 'c.tab.bookings': '今日预约', 'c.tab.members': '会员', 'c.tab.pending': '待同步',
    'c.scan.placeholder': '扫码枪扫描，或粘贴/输入券码、12 位数字码', 'c.scan.check': '查询',
    'c.scan.camera': '摄像头扫码', 'c.scan.stopCamera': '关闭摄像头', 'c.scan.noCamera': '无法打开摄像头（需要 HTTPS 与授权）',
    'c.preview.member': '会员', 'c.preview.bill': '消费金额（元）', 'c.preview.amount': '金额（元）',
    'c.preview.action': '操作', 'c.action.charge': '储值扣款', 'c.action.visit': '扣一次', 'c.action.earn': '只积分',
    'c.preview.confirm': '确认核销', 'c.preview.checkin': '确认到店', 'c.preview.topup': '充值', 'c.preview.topupBtn': '确认充值',
    'c.preview.offline': '离线验证：签名有效（是否已使用将在联网后确认）', 'c.preview.validUntil': '有效期至 {d}',
    'c.preview.badAmount': '请输入正确的金额', 'c.preview.cancel': '取消',
    'c.result.done': '完成', 'c.result.next': '继续扫码', 'c.result.pending': '已记录，待同步',
    'c.result.pendingDetail': '网络恢复后自动上传核销记录', 'c.result.toppedUp': '充值成功',
    'c.result.when': '已于 {when} 在 {store} 核销', 'c.result.discount': '优惠 {v}', 'c.result.charged': '实收 {v}',
    'c.result.balance': '余额 {v}', 'c.result.visits': '剩余次数 {n}', 'c.result.points': '积分 {n}',
    'c.result.localDup': '本机已离线核销过此券（待同步）', 'c.result.checkedIn': '已签到',
    'c.offline.short': '离线时不能用数字码，请扫描二维码', 'c.offline.noKeys': '没有缓存的公钥，请先联网登录一次',
    'c.offline.onlyVouchers': '离线时只能核销优惠券；会员卡和预约需要联网',
    'c.offline.banner': '离线模式：优惠券在本机验证后排队，联网后自动同步',
    'c.pending.empty': '没有待同步的记录', 'c.pending.sync': '立即同步', 'c.pending.synced': '已同步 {n} 条',
    'c.pending.conflict': '冲突：已于 {when} 在 {store} 被核销', 'c.pending.rejected': '被拒绝：{reason}',
    'c.pending.clear': '清除已处理', 'c.pending.recent': '最近同步',
    'c.pending.rejectedToast': '{n} 条离线核销未被接受，请查看“待同步”',
    // Why the server refused an offline scan, told as the clerk must act on it.
    'c.reject.offline_window_exceeded': '上传太晚（超过允许的离线时间）或本机时间不准：这笔没有核销成功，请向顾客另行收款或联系店长',
    'c.reject.code_expired': '扫码时这张券已经过期，没有核销成功',
    'c.reject.invalid_code': '不是本品牌的有效券码（或券码被改动过）',
    'c.reject.voucher_revoked': '这张券已被作废，没有核销成功',
    'c.reject.wrong_store': '这张券不能在本店使用',
    'c.reject.not_supported_offline': '离线时只能核销优惠券',
    'c.reject.campaign_inactive': '扫码时活动还没有开始',
    'c.reject.min_spend_not_met': '消费金额没有达到这张券的最低消费',
    'c.reject.validation_error': '这条记录有误（金额或时间）',
    'c.reject.not_found': '找不到这张券',
    'c.bookings.empty': '当天没有预约', 'c.bookings.checkin': '签到', 'c.bookings.complete': '完成',
    'c.bookings.noshow': '未到店', 'c.bookings.date': '日期',
    'c.bookings.billHint': '消费金额（元，空=服务价）',
    'c.members.register': '登记新会员', 'c.members.name': '姓名', 'c.members.phone': '手机号',
    'c.members.registerBtn': '登记', 'c.members.find': '按手机号或卡号查找', 'c.members.findBtn': '查找',
    'c.members.none': '没有找到会员', 'c.members.issue': '开卡', 'c.members.issued': '已开卡：{n}',
    'c.members.registered': '已登记 {name}', 'c.members.unverified': '手机号未验证',
  },
  en: {
    'c.title': 'Scanner', 'c.login.title': 'Staff login', 'c.store.pick': 'Choose the store', 'c.store.change': 'Store',
    'c.tab.scan': 'Scan', 'c.tab.bookings': "Today's bookings", 'c.tab.members': 'Members', 'c.tab.pending': 'Pending',
    'c.scan.placeholder': 'Scan with the reader, or paste/type a code or 12-digit number', 'c.scan.check': 'Check',
    'c.scan.camera': 'Scan with camera', 'c.scan.stopCamera': 'Stop camera', 'c.scan.noCamera': 'No camera (needs HTTPS and permission)',
    'c.preview.member': 'Member', 'c.preview.bill': 'Bill (yuan)', 'c.preview.amount': 'Amount (yuan)',
    'c.preview.action': 'Action', 'c.action.charge': 'Charge balance', 'c.action.visit': 'Use a visit', 'c.action.earn': 'Points only',
    'c.preview.confirm': 'Confirm', 'c.preview.checkin': 'Check in', 'c.preview.topup': 'Top up', 'c.preview.topupBtn': 'Confirm top-up',
    'c.preview.offline': 'Checked offline: signature valid (whether it was used is known once back online)', 'c.preview.validUntil': 'Valid until {d}',
    'c.preview.badAmount': 'Enter a valid amount', 'c.preview.cancel': 'Cancel',
    'c.result.done': 'Done', 'c.result.next': 'Next scan', 'c.result.pending': 'Saved, will sync',
    'c.result.pendingDetail': 'The redemption is uploaded when the network is back', 'c.result.toppedUp': 'Topped up',
    'c.result.when': 'Redeemed {when} at {store}', 'c.result.discount': 'Discount {v}', 'c.result.charged': 'Charged {v}',
    'c.result.balance': 'Balance {v}', 'c.result.visits': 'Visits left {n}', 'c.result.points': 'Points {n}',
    'c.result.localDup': 'Already redeemed on this device (waiting to sync)', 'c.result.checkedIn': 'Checked in',
    'c.offline.short': 'Number codes need the network: scan the QR', 'c.offline.noKeys': 'No cached keys: log in once while online',
    'c.offline.onlyVouchers': 'Offline only vouchers can be redeemed; cards and bookings need the network',
    'c.offline.banner': 'Offline: vouchers are checked here and queued; they sync when the network is back',
    'c.pending.empty': 'Nothing waiting', 'c.pending.sync': 'Sync now', 'c.pending.synced': 'Synced {n}',
    'c.pending.conflict': 'Conflict: redeemed {when} at {store}', 'c.pending.rejected': 'Rejected: {reason}',
    'c.pending.clear': 'Clear handled', 'c.pending.recent': 'Recently synced',
    'c.pending.rejectedToast': '{n} offline redemption(s) not accepted: see Pending',
    'c.reject.offline_window_exceeded': "Uploaded too late (past the offline time allowed) or this device's clock is wrong: NOT redeemed. Take payment another way or ask the manager",
    'c.reject.code_expired': 'The voucher had already expired when it was scanned: NOT redeemed',
    'c.reject.invalid_code': 'Not a valid code of this chain (or it was altered)',
    'c.reject.voucher_revoked': 'The voucher was revoked: NOT redeemed',
    'c.reject.wrong_store': 'This voucher is not valid at this store',
    'c.reject.not_supported_offline': 'Offline, only vouchers can be redeemed',
    'c.reject.campaign_inactive': 'The campaign had not started when it was scanned',
    'c.reject.min_spend_not_met': "The bill did not reach the voucher's minimum spend",
    'c.reject.validation_error': 'The record is wrong (amount or time)',
    'c.reject.not_found': 'No such voucher',
    'c.bookings.empty': 'No bookings that day', 'c.bookings.checkin': 'Check in', 'c.bookings.complete': 'Complete',
    'c.bookings.noshow': 'No-show', 'c.bookings.date': 'Date',
    'c.bookings.billHint': 'Bill in yuan (blank: the price)',
    'c.members.register': 'Register a member', 'c.members.name': 'Name', 'c.members.phone': 'Phone',
    'c.members.registerBtn': 'Register', 'c.members.find': 'Find by phone or card number', 'c.members.findBtn': 'Find',
    'c.members.none': 'No member found', 'c.members.issue': 'Issue card', 'c.members.issued': 'Card issued: {n}',
    'c.members.registered': 'Registered {name}', 'c.members.unverified': 'phone not verified',
  },
});

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

const storeName = (id) => storeList.find((s) => s.id === id)?.name || id || '';
const currentStore = () => storeList.find((s) => s.id === storeId);
const tz = () => currentStore()?.timezone;

// --- network state, keys, offline queue -------------------------------------------------

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

let probe = null;
function setOnline(value) {
  if (online === value) return;
  online = value;
  updateBadges();
  if (online) {
    clearInterval(probe);
    probe = null;
    refreshKeys();
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

const SYNC_BATCH = 500;
let syncing = false;
async function sync() {
  if (syncing || !online || !api.token) return;
  const items = queue().filter((item) => item.status === 'pending');
  if (!items.length) return;
  syncing = true;
  try {
    // One request per store and at most SYNC_BATCH items (the API's limit per request).
    const batches = [];
    const byStore = {};
    for (const item of items) (byStore[item.store_id] ||= []).push(item);
    for (const [store, list] of Object.entries(byStore)) {
      for (let i = 0; i < list.length; i += SYNC_BATCH) batches.push([store, list.slice(i, i + SYNC_BATCH)]);
    }
    let synced = 0;
    let refused = 0;
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
        if (status === 'synced') synced += 1;
        if (status === 'rejected') refused += 1;
        return { ...item, status, result: r, synced_at: new Date().toISOString() };
      });
      saveQueue(updated);
    }
    if (synced) toast(t('c.pending.synced', { n: synced }), 'ok');
    if (refused) toast(t('c.pending.rejectedToast', { n: refused }), 'bad');
    // Keep the last 20 synced for the record; conflicts and rejections until cleared.
    const all = queue();
    const done = all.filter((i) => i.status === 'synced');
    saveQueue(all.filter((i) => i.status !== 'synced').concat(done.slice(-20)));
  } catch (err) {
    if (err.network) setOnline(false); else toast(errorText(err), 'bad');
  } finally {
    syncing = false;
    if (route() === 'pending') render();
  }
}

function updateBadges() {
  const state = document.getElementById('netstate');
  if (state) {
    state.className = `netstate ${online ? 'online' : 'offline'}`;
    state.textContent = online ? t('app.online') : t('app.offline');
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

const TABS = [['scan', 'c.tab.scan'], ['bookings', 'c.tab.bookings'], ['members', 'c.tab.members'],
  ['pending', 'c.tab.pending']];
const VIEWS = { scan: scanView, bookings: bookingsView, members: membersView, pending: pendingView };

function route() {
  const name = location.hash.replace(/^#/, '');
  return VIEWS[name] ? name : 'scan';
}

function render() {
  cleanup();
  if (!api.token || !session.staff) { staffLoginView(root, session, t('c.login.title'), loggedIn); return; }
  if (!storeId || !currentStore()) { storeView(); return; }
  const name = route();
  const content = h('main.page', { id: 'view' });
  mount(root,
    h('header.topbar', {},
      h('span.title', { text: `${t('c.title')} · ${storeName(storeId)}` }),
      h('span', { id: 'netstate' }),
      langToggle(),
      h('button', { type: 'button', text: t('c.store.change'), onclick: () => { storeId = ''; render(); } }),
      h('button', { type: 'button', text: t('app.logout'), onclick: logout })),
    h('div.panel.hidden', { id: 'offline-banner', class: 'pending' }, h('strong', { text: t('c.offline.banner') })),
    content,
    h('nav.tabs', {}, TABS.map(([key, label]) => h('a', {
      href: `#${key}`, class: key === name ? 'on' : '', 'data-tab': key,
    }, t(label), key === 'pending' ? h('span.badge.hidden', { id: 'pending-badge' }) : null))));
  updateBadges();
  VIEWS[name](content).catch((err) => {
    if (err.network) setOnline(false);
    mount(content, h('div.panel', {}, h('p.error', { text: errorText(err) })));
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
  mount(root, h('div.login', {}, h('div.panel', {}, h('p.muted', { text: t('app.loading') }))));
  try {
    storeList = listOf(await api.get('/stores'));
    save('stores', storeList);
  } catch (err) {
    if (err.network) setOnline(false);
  }
  const { staff } = session;
  const mine = storeList.filter((s) => staff.role === 'operator' || (staff.store_ids || []).includes(s.id));
  if (mine.length === 1) { pickStore(mine[0].id); return; }
  mount(root, h('div.login', {}, h('div.panel', {},
    h('h1', { text: t('c.store.pick') }),
    h('div.choices', {}, mine.map((s) => h('button.choice', {
      type: 'button', 'data-store': s.id, onclick: () => pickStore(s.id),
    }, s.name, h('small', { text: s.address })))),
    h('p', {}, h('button.btn.secondary.small', { type: 'button', text: t('app.logout'), onclick: logout })))));
}

function pickStore(id) {
  storeId = id;
  localStorage.setItem(KEY('store'), id);
  location.hash = '#scan';
  render();
}

// --- the result screen ------------------------------------------------------------------

function showResult(kind, outcome, title, details = []) {
  const next = h('button.btn.big', { type: 'button', text: t('c.result.next'), id: 'next-scan' });
  const screen = h('div.result', { class: kind, role: 'alert', 'data-outcome': outcome, id: 'result' },
    h('div.icon', { text: { ok: '✓', bad: '✗', pending: '⏳' }[kind] }),
    h('h1', { text: title }),
    h('div.details', {}, details.filter(Boolean).map((line) => h('p', { text: line }))),
    next);
  const close = () => {
    screen.remove();
    document.removeEventListener('keydown', onKey);
    document.getElementById('scan-input')?.focus();
  };
  // A USB scanner "types" Enter: the next scan closes this screen too.
  const onKey = (event) => { if (event.key === 'Enter' || event.key === 'Escape') { event.preventDefault(); close(); } };
  next.addEventListener('click', close);
  document.body.append(screen);
  setTimeout(() => document.addEventListener('keydown', onKey), 300);
  next.focus();
}

function errorResult(err) {
  const details = [];
  const p = err.problem || {};
  if (err.code === 'already_redeemed' && p.redeemed_at) {
    details.push(t('c.result.when', { when: fmtDateTime(p.redeemed_at, tz()), store: storeName(p.store_id) }));
  } else if (p.detail && p.detail !== p.title) {
    details.push(p.detail);
  }
  showResult('bad', err.code, errorText(err), details);
}

function redemptionDetails(r) {
  return [
    r.discount_cents ? t('c.result.discount', { v: money(r.discount_cents) }) : null,
    r.amount_cents !== null && r.amount_cents !== undefined ? t('c.result.charged', { v: money(r.charged_cents) }) : null,
    r.balance_after_cents !== null && r.balance_after_cents !== undefined ? t('c.result.balance', { v: money(r.balance_after_cents) }) : null,
    r.visits_left !== null && r.visits_left !== undefined ? t('c.result.visits', { n: r.visits_left }) : null,
    r.points_after !== null && r.points_after !== undefined ? t('c.result.points', { n: r.points_after }) : null,
  ];
}

// --- scan -------------------------------------------------------------------------------

async function scanView(el) {
  const input = h('input', {
    id: 'scan-input', placeholder: t('c.scan.placeholder'), autocomplete: 'off',
    autocapitalize: 'off', spellcheck: 'false', enterkeyhint: 'go',
  });
  const previewBox = h('div', { id: 'preview' });
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
    h('div.row', {}, h('div.grow', {}, input), h('button.btn', { type: 'submit', text: t('c.scan.check'), id: 'check' })),
    h('div.row', { class: 'stack' }, cameraBtn)),
    cameraBox,
    previewBox);
  input.focus();
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
    onlinePreview(scanned, preview, box);
  } catch (err) {
    if (err.network) {
      setOnline(false);
      offlineCheck(scanned, box);
    } else {
      errorResult(err);
    }
  }
}

function amountField(id, label) {
  const input = h('input', { id, inputmode: 'decimal', placeholder: '0.00', autocomplete: 'off' });
  return [input, h('div.field', {}, h('label', { for: id, text: label }), input)];
}

function onlinePreview(scanned, preview, box) {
  const key = newKey(); // one confirmation: a double tap or a retry is the same request
  const member = preview.member || {};
  const parts = [
    h('div.row.between', {},
      h('h2', { text: t(`kind.${preview.kind}`) }),
      h('span.pill', { text: online ? t('app.online') : t('app.offline') })),
    h('p', {}, h('strong', { text: `${t('c.preview.member')}: ` }), `${member.name || ''} ${member.phone || ''}`),
    h('p', { id: 'summary', text: preview.summary || '' }),
  ];
  const [amount, amountBox] = amountField('amount', preview.kind === 'voucher' ? t('c.preview.bill') : t('c.preview.amount'));
  let action = 'charge';
  if (preview.kind === 'card') {
    parts.push(h('div.field', {}, h('label', { text: t('c.preview.action') }),
      h('div.choices', {}, ['charge', 'visit', 'earn'].map((name) => h('button.choice', {
        type: 'button', class: name === action ? 'on' : '', 'data-action': name,
        onclick: (event) => {
          action = name;
          event.target.parentElement.querySelectorAll('.choice').forEach((c) => c.classList.toggle('on', c.dataset.action === name));
          amountBox.classList.toggle('hidden', name === 'visit');
        },
      }, t(`c.action.${name}`))))));
  }
  if (preview.kind !== 'booking') parts.push(amountBox);
  const confirm = h('button.btn.block.big', {
    type: 'button', id: 'confirm',
    text: preview.kind === 'booking' ? t('c.preview.checkin') : t('c.preview.confirm'),
  });
  confirm.addEventListener('click', async () => {
    const cents = parseYuan(amount.value);
    if (Number.isNaN(cents)) { toast(t('c.preview.badAmount'), 'bad'); return; }
    const body = { store_id: storeId, ...scanned };
    if (preview.kind === 'card') body.action = action;
    if (cents !== null && !(preview.kind === 'card' && action === 'visit')) body.amount_cents = cents;
    confirm.disabled = true;
    try {
      const done = await api.post('/redemptions', body, { idempotencyKey: key });
      mount(box);
      showResult('ok', 'done', t('c.result.done'), [preview.summary, ...redemptionDetails(done)]);
    } catch (err) {
      confirm.disabled = false;
      if (err.network) {
        setOnline(false);
        toast(errorText(err), 'bad');
      } else {
        mount(box);
        errorResult(err);
      }
    }
  });
  parts.push(confirm);
  if (preview.kind === 'card') parts.push(topUpForm(preview.object_id, () => mount(box)));
  parts.push(h('button.btn.secondary.block', { type: 'button', text: t('c.preview.cancel'), onclick: () => mount(box) }));
  mount(box, h('div.panel.stack', { 'data-kind': preview.kind }, parts));
}

function topUpForm(cardId, onDone) {
  const [amount, amountBox] = amountField(`topup-${cardId}`, t('c.preview.amount'));
  const key = newKey();
  return h('details.panel', {},
    h('summary', { text: t('c.preview.topup') }),
    amountBox,
    h('button.btn.secondary.block', {
      type: 'button', text: t('c.preview.topupBtn'),
      onclick: async (event) => {
        const cents = parseYuan(amount.value);
        if (!cents) { toast(t('c.preview.badAmount'), 'bad'); return; }
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

function offlineCheck(scanned, box) {
  if (scanned.short_code) { showResult('bad', 'offline_short_code', t('c.offline.short')); return; }
  const keys = cachedKeys();
  if (!keys) { showResult('bad', 'no_keys', t('c.offline.noKeys')); return; }
  const checked = verifyCode(scanned.code, keys);
  if (!checked.ok) { showResult('bad', checked.reason, t(`err.${checked.reason}`)); return; }
  const code = checked.code;
  if (code.kind !== 'voucher') { showResult('bad', 'offline_voucher_only', t('c.offline.onlyVouchers')); return; }
  if (queue().some((item) => item.object_id === code.objectId && item.status !== 'rejected')) {
    showResult('bad', 'already_redeemed', t('err.already_redeemed'), [t('c.result.localDup')]);
    return;
  }
  const [amount, amountBox] = amountField('amount', t('c.preview.bill'));
  const confirm = h('button.btn.block.big', { type: 'button', id: 'confirm', text: t('c.preview.confirm') });
  confirm.addEventListener('click', () => {
    const cents = parseYuan(amount.value);
    if (Number.isNaN(cents)) { toast(t('c.preview.badAmount'), 'bad'); return; }
    const item = {
      client_ref: newKey(), store_id: storeId, code: scanned.code, object_id: code.objectId,
      amount_cents: cents, redeemed_at: new Date().toISOString(), status: 'pending',
    };
    saveQueue([...queue(), item]);
    mount(box);
    showResult('pending', 'pending', t('c.result.pending'), [t('c.result.pendingDetail')]);
    sync(); // in case the network is already back
  });
  mount(box, h('div.panel.stack', { 'data-kind': 'voucher', 'data-offline': 'true' },
    h('div.row.between', {}, h('h2', { text: t('kind.voucher') }), h('span.pill.pending', { text: t('app.offline') })),
    h('p', { text: t('c.preview.offline') }),
    h('p.muted', { text: t('c.preview.validUntil', { d: fmtDateTime(code.notAfter.toISOString(), tz()) }) }),
    amountBox,
    confirm,
    h('button.btn.secondary.block', { type: 'button', text: t('c.preview.cancel'), onclick: () => mount(box) })));
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

// --- today's bookings -------------------------------------------------------------------

const memberNames = {};
async function memberName(b) {
  if (b.member?.name) return b.member.name;
  if (b.member_name) return b.member_name;
  if (!memberNames[b.member_id]) {
    memberNames[b.member_id] = api.get(`/members/${b.member_id}`).then((m) => `${m.name} ${m.phone || ''}`, () => '');
  }
  return memberNames[b.member_id];
}

let bookingsDate = null;
async function bookingsView(el) {
  const today = localDate(new Date(), tz());
  const date = bookingsDate || today;
  const [list, services] = await Promise.all([
    api.get(`/stores/${storeId}/bookings`, { date }).then((x) => listOf(x, 'bookings')),
    api.get(`/stores/${storeId}/services`).then((x) => listOf(x)),
  ]);
  const serviceName = (id) => services.find((s) => s.id === id)?.name || '';
  list.sort((a, b) => (a.start < b.start ? -1 : 1));
  const names = await Promise.all(list.map(memberName));
  const go = (days) => { bookingsDate = addDays(date, days); bookingsView(el); };
  const act = (b, move, bodyOf = () => ({})) => async (event) => {
    const body = bodyOf();
    if (body === null) return;
    event.target.disabled = true;
    try {
      await api.post(`/bookings/${b.id}/${move}`, body);
      bookingsView(el);
    } catch (err) {
      event.target.disabled = false;
      toast(errorText(err), 'bad');
    }
  };
  mount(el,
    h('div.panel.row.between', {},
      h('button.btn.small.secondary', { type: 'button', id: 'day-prev', text: '‹', onclick: () => go(-1) }),
      h('strong', { text: date === today ? `${date} (${t('c.tab.bookings')})` : date }),
      h('button.btn.small.secondary', { type: 'button', id: 'day-next', text: '›', onclick: () => go(1) })),
    h('div.panel', {}, list.length ? h('ul.list', {}, list.map((b, i) => h('li', { 'data-booking': b.id },
      h('div.row.between', {},
        h('strong', { text: `${fmtTime(b.start, tz())}–${fmtTime(b.end, tz())} ${serviceName(b.service_id)}` }),
        h('span.pill', { class: b.status, text: t(`status.${b.status}`) })),
      h('p', { text: `${names[i]}${b.party_size > 1 ? ` ×${b.party_size}` : ''}` }),
      b.note ? h('p.muted', { text: b.note }) : null,
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
    inputmode: 'decimal', placeholder: t('c.bookings.billHint'), class: 'grow', 'aria-label': t('c.preview.bill'),
  }) : null;
  const body = () => {
    if (!amount || !amount.value.trim()) return {};
    const cents = parseYuan(amount.value);
    if (Number.isNaN(cents)) { toast(t('c.preview.badAmount'), 'bad'); return null; }
    return { amount_cents: cents };
  };
  return [amount, h('button.btn.small', { type: 'button', text: t('c.bookings.complete'), onclick: act(b, 'complete', body) })];
}

// --- members: register, find, issue a card, top up --------------------------------------

async function membersView(el) {
  const templates = listOf(await api.get('/card-templates')).filter((tp) => tp.active !== false
    && (!tp.store_ids || tp.store_ids.includes(storeId)));
  const found = h('div');
  const name = h('input', { id: 'member-name', autocomplete: 'off' });
  const phone = h('input', { id: 'member-phone', inputmode: 'tel', autocomplete: 'off' });
  const findPhone = h('input', { id: 'find-phone', inputmode: 'tel', autocomplete: 'off' });

  const showMembers = (members) => mount(found, members.length ? members.map((m) => h('div.panel', { 'data-member': m.id },
    h('p', {}, h('strong', { text: m.name }), ` ${m.phone || ''}`,
      m.phone && m.phone_verified === false ? h('span.muted', { text: ` (${t('c.members.unverified')})` }) : null),
    h('div.row', {}, templates.map((tp) => h('button.btn.small.secondary', {
      type: 'button', text: `${t('c.members.issue')}: ${tp.name}`,
      onclick: async (event) => {
        event.target.disabled = true;
        try {
          const card = await api.post('/cards', { template_id: tp.id, member_id: m.id, store_id: storeId }, { idempotencyKey: newKey() });
          toast(t('c.members.issued', { n: card.number }), 'ok');
          if (card.kind === 'stored_value') event.target.replaceWith(topUpForm(card.id, () => {}));
        } catch (err) {
          event.target.disabled = false;
          toast(errorText(err), 'bad');
        }
      },
    }))))) : h('p.muted', { text: t('c.members.none') }));

  mount(el,
    h('form.panel', {
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          const member = await api.post('/members', { name: name.value.trim(), phone: phone.value.trim(), store_id: storeId });
          toast(t('c.members.registered', { name: member.name }), 'ok');
          showMembers([member]);
        } catch (err) { toast(errorText(err), 'bad'); }
      },
    },
    h('h2', { text: t('c.members.register') }),
    h('div.inline-fields', {},
      h('div.field', {}, h('label', { for: 'member-name', text: t('c.members.name') }), name),
      h('div.field', {}, h('label', { for: 'member-phone', text: t('c.members.phone') }), phone)),
    h('button.btn', { type: 'submit', text: t('c.members.registerBtn') })),
    h('form.panel', {
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          // Clerks find members by exact phone or card number (12 digits); never a list.
          const typed = findPhone.value.replace(/[\s-]/g, '');
          if (!typed) return;
          const query = /^\d{12}$/.test(typed) ? { card_number: typed } : { phone: typed };
          showMembers(listOf(await api.get('/members', query)));
        } catch (err) { toast(errorText(err), 'bad'); }
      },
    },
    h('h2', { text: t('c.members.find') }),
    h('div.row', {}, h('div.grow', {}, findPhone), h('button.btn', { type: 'submit', text: t('c.members.findBtn') }))),
    found);
}

// --- pending offline redemptions --------------------------------------------------------

// Why an offline scan was refused, in the clerk's words: what happened and what to do.
function rejectionText(result) {
  const key = `c.reject.${result.code}`;
  const text = t(key);
  if (text !== key) return text;
  return errorText({ code: result.code, problem: { detail: result.detail } });
}

async function pendingView(el) {
  const items = queue();
  const open = items.filter((i) => i.status !== 'synced');
  const done = items.filter((i) => i.status === 'synced').reverse();
  const line = (item) => {
    const r = item.result || {};
    let note = '';
    if (item.status === 'conflict') note = t('c.pending.conflict', { when: fmtDateTime(r.redeemed_at, tz()), store: storeName(r.store_id) });
    if (item.status === 'rejected') note = t('c.pending.rejected', { reason: rejectionText(r) });
    return h('li', { 'data-ref': item.client_ref, 'data-status': item.status },
      h('div.row.between', {},
        h('span', { text: `${t('kind.voucher')} …${item.object_id.slice(-8)} · ${item.amount_cents !== null ? money(item.amount_cents) : ''}` }),
        h('span.pill', { class: item.status === 'synced' ? 'accepted' : item.status, text: item.status })),
      h('p.muted', { text: `${fmtDateTime(item.redeemed_at, tz())} · ${storeName(item.store_id)}` }),
      note ? h('p.error', { text: note }) : null,
      // The server's own words under the clerk's, for the manager the clerk calls.
      item.status === 'rejected' && r.detail ? h('p.muted', { text: r.detail }) : null);
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
else if (api.token) { refreshKeys(); sync(); }
render();
