// The till's words (zh and en) and the small functions that put API figures into them:
// a card's figures and what a redemption did (a voucher's terms and who a member is are in
// common/terms.js). Nothing here shows an API field name or the server's English `summary`/`detail`.
import { addMessages, lang, t } from '/static/common/i18n.js';
import { fmtDate, money } from '/static/common/ui.js';

addMessages({
  zh: {
    'c.title': '店员收银台', 'c.login.title': '店员登录', 'c.store.pick': '选择门店', 'c.store.change': '换店',
    'c.tab.scan': '扫码', 'c.tab.today': '今日核销', 'c.tab.bookings': '预约', 'c.tab.members': '会员', 'c.tab.pending': '待同步',
    'c.scan.label': '券码、卡的数字码或二维码内容',
    'c.scan.placeholder': '扫码枪扫描，或输入 12 位数字码', 'c.scan.check': '查询',
    'c.scan.camera': '摄像头扫码', 'c.scan.stopCamera': '关闭摄像头', 'c.scan.noCamera': '无法打开摄像头（需要 HTTPS 与授权）',
    'c.preview.member': '会员', 'c.preview.bill': '消费金额（元）', 'c.preview.amount': '金额（元）',
    'c.preview.action': '操作', 'c.action.charge': '储值扣款', 'c.action.visit': '扣一次', 'c.action.earn': '只积分',
    'c.preview.confirm': '确认核销', 'c.preview.checkin': '确认到店', 'c.preview.topup': '充值', 'c.preview.topupBtn': '确认充值',
    'c.preview.offline': '离线验证：签名有效（是否已使用将在联网后确认）', 'c.preview.validUntil': '有效期至 {d}',
    'c.preview.badAmount': '请输入正确的金额（例如 88 或 88.50）', 'c.preview.needAmount': '请输入消费金额',
    'c.preview.needTopUp': '请输入充值金额',
    'c.preview.minSpend': '消费满 {v} 才能使用这张券', 'c.preview.cancel': '取消',
    'c.preview.noActions': '这张卡在本店没有可做的操作', 'c.preview.estimate': '预计优惠 {d}，实收 {p}',
    'c.preview.notCached': '本机没有这张券的条款缓存（签名有效）',
    'c.preview.booking': '{service} · {time}', 'c.preview.stylist': '发型师：{name}', 'c.preview.anyStylist': '不指定发型师',
    'c.card.balance': '余额', 'c.card.visits': '剩余次数', 'c.card.points': '积分', 'c.card.tier': '等级',
    'c.card.tierDiscount': '{tier}（优惠 {n}%）', 'c.card.number': '卡号 {n}',
    'c.result.done': '完成', 'c.result.next': '继续扫码', 'c.result.pending': '已记录，待同步',
    'c.result.pendingDetail': '网络恢复后自动上传核销记录', 'c.result.toppedUp': '充值成功',
    'c.result.when': '已于 {when} 在 {store} 使用', 'c.result.discount': '优惠 {v}', 'c.result.pay': '顾客实付 {v}',
    'c.result.charged': '扣款 {v}', 'c.result.visitUsed': '已扣 1 次',
    'c.result.balance': '余额 {v}', 'c.result.visits': '剩余次数 {n}', 'c.result.points': '积分 {n}',
    'c.result.localDup': '本机已离线核销过此券（待同步）', 'c.result.checkedIn': '已签到',
    'c.result.otherStore': '另一家门店', 'c.result.completed': '预约已完成',
    'c.offline.short': '离线时不能用数字码，请扫描二维码', 'c.offline.noKeys': '没有缓存的公钥，请先联网登录一次',
    'c.offline.onlyVouchers': '离线时只能核销优惠券；会员卡和预约需要联网',
    'c.offline.banner': '离线模式：优惠券在本机验证后排队，联网后自动同步',
    'c.net.online': '网络：在线', 'c.net.offline': '网络：离线',
    'c.pending.empty': '没有待同步的记录', 'c.pending.sync': '立即同步', 'c.pending.synced': '已同步 {n} 条',
    'c.pending.conflict': '冲突：这张券已于 {when} 在 {store} 被使用，本笔没有核销成功，请向顾客另行收款',
    'c.pending.rejected': '未被接受：{reason}',
    'c.pending.clear': '清除已处理', 'c.pending.recent': '最近同步',
    'c.pending.status.pending': '待同步', 'c.pending.status.conflict': '冲突', 'c.pending.status.rejected': '未接受',
    'c.pending.status.synced': '已同步',
    'c.sync.problem': '{n} 笔离线核销没有成功', 'c.sync.see': '详情见“待同步”',
    'c.reject.offline_window_exceeded': '上传太晚（超过允许的离线时间）或本机时间不准：这笔没有核销成功，请向顾客另行收款或联系店长',
    'c.reject.code_expired': '扫码时这张券已经过期，没有核销成功',
    'c.reject.invalid_code': '不是本品牌的有效券码（或券码被改动过）',
    'c.reject.voucher_revoked': '这张券已被作废，没有核销成功',
    'c.reject.wrong_store': '这张券不能在本店使用',
    'c.reject.not_supported_offline': '离线时只能核销优惠券',
    'c.reject.campaign_inactive': '扫码时活动还没有开始',
    'c.reject.min_spend_not_met': '消费金额没有达到这张券的最低消费',
    'c.reject.voucher_not_usable_now': '扫码时不在这张券可用的日期或时段',
    'c.reject.validation_error': '这条记录有误（金额或时间）',
    'c.reject.not_found': '找不到这张券',
    'c.err.not_found': '没有这个码：请核对数字，或扫描二维码',
    'c.err.code_used': '这个码已经用过了：请顾客刷新会员卡页面',
    'c.err.code_expired': '码已过期：请顾客刷新会员卡页面',
    'c.err.insufficient_balance': '余额不足：请先充值或换其他方式付款',
    'c.err.rate_limited': '输错次数太多，请稍后再试或扫描二维码',
    'c.err.forbidden': '你的账号没有这个权限（需要店长）',
    'c.bookings.empty': '当天没有预约', 'c.bookings.checkin': '签到', 'c.bookings.complete': '完成',
    'c.bookings.noshow': '未到店', 'c.bookings.date': '日期', 'c.bookings.prev': '前一天', 'c.bookings.next': '后一天',
    'c.bookings.today': '今天', 'c.bookings.title': '{d} 的预约',
    'c.bookings.billHint': '消费金额（元，空=服务价）', 'c.bookings.stylist': '发型师 {name}', 'c.bookings.anyStylist': '任意发型师',
    'c.bookings.usesCard': '用会员卡', 'c.bookings.usesVoucher': '用优惠券',
    'c.members.register': '登记新会员', 'c.members.name': '姓名', 'c.members.phone': '手机号',
    'c.members.registerBtn': '登记', 'c.members.bad.phone': '请填写正确的手机号（11 位数字）', 'c.members.bad.name': '请填写姓名', 'c.members.find': '查找会员', 'c.members.findLabel': '手机号或卡号',
    'c.members.findBtn': '查找', 'c.members.findHint': '输入完整手机号或 12 位卡号',
    'c.members.none': '没有找到会员', 'c.members.issue': '开卡', 'c.members.issued': '已开卡：{n}',
    'c.members.registered': '已登记 {name}', 'c.members.unverified': '手机号未验证', 'c.members.open': '查看',
    'c.members.cards': '会员卡', 'c.members.vouchers': '优惠券', 'c.members.bookings': '预约',
    'c.members.noCards': '还没有会员卡', 'c.members.noVouchers': '没有优惠券', 'c.members.noBookings': '在本店没有预约',
    'c.members.lastVisit': '最近到店 {d}', 'c.members.neverVisited': '还没有到店记录', 'c.members.cardsCount': '{n} 张卡',
    'c.members.back': '返回查找', 'c.members.detail': '会员详情', 'c.members.usedVouchers': '已使用、已过期或作废的券（{n}）',
    'c.today.title': '今日核销', 'c.today.empty': '今天本店还没有核销', 'c.today.total': '{n} 笔 · 储值扣款 {v}',
    'c.today.reverse': '撤销', 'c.today.reversed': '已撤销', 'c.today.reversedToast': '已撤销这笔核销',
    'c.today.why.role': '撤销需要店长账号', 'c.today.why.too_late': '已超过 24 小时，不能撤销',
    'c.today.why.already_reversed': '已撤销', 'c.today.offline': '离线核销',
    'c.today.booking': '预约签到', 'c.today.voucher': '优惠券', 'c.today.card': '会员卡',
  },
  en: {
    'c.title': 'Till', 'c.login.title': 'Staff login', 'c.store.pick': 'Choose the store', 'c.store.change': 'Store',
    'c.tab.scan': 'Scan', 'c.tab.today': 'Today', 'c.tab.bookings': 'Bookings', 'c.tab.members': 'Members', 'c.tab.pending': 'Pending',
    'c.scan.label': 'Voucher code, card number code or QR content',
    'c.scan.placeholder': 'Scan with the reader, or type the 12 digits', 'c.scan.check': 'Check',
    'c.scan.camera': 'Scan with camera', 'c.scan.stopCamera': 'Stop camera', 'c.scan.noCamera': 'No camera (needs HTTPS and permission)',
    'c.preview.member': 'Member', 'c.preview.bill': 'Bill (yuan)', 'c.preview.amount': 'Amount (yuan)',
    'c.preview.action': 'Action', 'c.action.charge': 'Charge balance', 'c.action.visit': 'Use a visit', 'c.action.earn': 'Points only',
    'c.preview.confirm': 'Confirm', 'c.preview.checkin': 'Check in', 'c.preview.topup': 'Top up', 'c.preview.topupBtn': 'Confirm top-up',
    'c.preview.offline': 'Checked offline: signature valid (whether it was used is known once back online)', 'c.preview.validUntil': 'Valid until {d}',
    'c.preview.badAmount': 'Enter an amount like 88 or 88.50', 'c.preview.needAmount': 'Enter the amount of the bill',
    'c.preview.needTopUp': 'Enter the amount to top up',
    'c.preview.minSpend': 'This voucher needs a bill of at least {v}', 'c.preview.cancel': 'Cancel',
    'c.preview.noActions': 'Nothing can be done with this card here', 'c.preview.estimate': 'About {d} off, customer pays {p}',
    'c.preview.notCached': "This voucher's terms are not cached on this device (signature valid)",
    'c.preview.booking': '{service} · {time}', 'c.preview.stylist': 'Stylist: {name}', 'c.preview.anyStylist': 'Any stylist',
    'c.card.balance': 'Balance', 'c.card.visits': 'Visits left', 'c.card.points': 'Points', 'c.card.tier': 'Tier',
    'c.card.tierDiscount': '{tier} ({n}% off)', 'c.card.number': 'Card {n}',
    'c.result.done': 'Done', 'c.result.next': 'Next scan', 'c.result.pending': 'Saved, will sync',
    'c.result.pendingDetail': 'The redemption is uploaded when the network is back', 'c.result.toppedUp': 'Topped up',
    'c.result.when': 'Used on {when} at {store}', 'c.result.discount': 'Discount {v}', 'c.result.pay': 'Customer pays {v}',
    'c.result.charged': 'Charged {v}', 'c.result.visitUsed': '1 visit used',
    'c.result.balance': 'Balance {v}', 'c.result.visits': 'Visits left {n}', 'c.result.points': 'Points {n}',
    'c.result.localDup': 'Already redeemed on this device (waiting to sync)', 'c.result.checkedIn': 'Checked in',
    'c.result.otherStore': 'another store', 'c.result.completed': 'Booking completed',
    'c.offline.short': 'Number codes need the network: scan the QR', 'c.offline.noKeys': 'No cached keys: log in once while online',
    'c.offline.onlyVouchers': 'Offline only vouchers can be redeemed; cards and bookings need the network',
    'c.offline.banner': 'Offline: vouchers are checked here and queued; they sync when the network is back',
    'c.net.online': 'Network: online', 'c.net.offline': 'Network: offline',
    'c.pending.empty': 'Nothing waiting', 'c.pending.sync': 'Sync now', 'c.pending.synced': 'Synced {n}',
    'c.pending.conflict': 'Conflict: this voucher was used on {when} at {store}. NOT redeemed here: take payment another way',
    'c.pending.rejected': 'Not accepted: {reason}',
    'c.pending.clear': 'Clear handled', 'c.pending.recent': 'Recently synced',
    'c.pending.status.pending': 'Waiting', 'c.pending.status.conflict': 'Conflict', 'c.pending.status.rejected': 'Not accepted',
    'c.pending.status.synced': 'Synced',
    'c.sync.problem': '{n} offline redemption(s) failed', 'c.sync.see': 'See Pending for details',
    'c.reject.offline_window_exceeded': "Uploaded too late (past the offline time allowed) or this device's clock is wrong: NOT redeemed. Take payment another way or ask the manager",
    'c.reject.code_expired': 'The voucher had already expired when it was scanned: NOT redeemed',
    'c.reject.invalid_code': 'Not a valid code of this chain (or it was altered)',
    'c.reject.voucher_revoked': 'The voucher was revoked: NOT redeemed',
    'c.reject.wrong_store': 'This voucher is not valid at this store',
    'c.reject.not_supported_offline': 'Offline, only vouchers can be redeemed',
    'c.reject.campaign_inactive': 'The campaign had not started when it was scanned',
    'c.reject.min_spend_not_met': "The bill did not reach the voucher's minimum spend",
    'c.reject.voucher_not_usable_now': "It was outside the voucher's days or hours when scanned",
    'c.reject.validation_error': 'The record is wrong (amount or time)',
    'c.reject.not_found': 'No such voucher',
    'c.err.not_found': 'No such code: check the digits, or scan the QR',
    'c.err.code_used': 'This code was used already: ask the customer to refresh their card',
    'c.err.code_expired': 'The code expired: ask the customer to refresh their card',
    'c.err.insufficient_balance': 'Not enough balance: top up first or pay another way',
    'c.err.rate_limited': 'Too many wrong numbers: wait a little or scan the QR',
    'c.err.forbidden': 'Your login may not do this (a manager can)',
    'c.bookings.empty': 'No bookings that day', 'c.bookings.checkin': 'Check in', 'c.bookings.complete': 'Complete',
    'c.bookings.noshow': 'No-show', 'c.bookings.date': 'Date', 'c.bookings.prev': 'Previous day', 'c.bookings.next': 'Next day',
    'c.bookings.today': 'today', 'c.bookings.title': 'Bookings on {d}',
    'c.bookings.billHint': 'Bill in yuan (blank: the price)', 'c.bookings.stylist': 'Stylist {name}', 'c.bookings.anyStylist': 'Any stylist',
    'c.bookings.usesCard': 'Pays with a card', 'c.bookings.usesVoucher': 'Uses a voucher',
    'c.members.register': 'Register a member', 'c.members.name': 'Name', 'c.members.phone': 'Phone',
    'c.members.registerBtn': 'Register', 'c.members.bad.phone': 'Enter a valid phone number (11 digits)', 'c.members.bad.name': 'Enter a name', 'c.members.find': 'Find a member', 'c.members.findLabel': 'Phone or card number',
    'c.members.findBtn': 'Find', 'c.members.findHint': 'The whole phone number or the 12-digit card number',
    'c.members.none': 'No member found', 'c.members.issue': 'Issue card', 'c.members.issued': 'Card issued: {n}',
    'c.members.registered': 'Registered {name}', 'c.members.unverified': 'phone not verified', 'c.members.open': 'Open',
    'c.members.cards': 'Cards', 'c.members.vouchers': 'Vouchers', 'c.members.bookings': 'Bookings',
    'c.members.noCards': 'No cards yet', 'c.members.noVouchers': 'No vouchers', 'c.members.noBookings': 'No bookings at your stores',
    'c.members.lastVisit': 'Last visit {d}', 'c.members.neverVisited': 'No visit yet', 'c.members.cardsCount': '{n} card(s)',
    'c.members.back': 'Back to search', 'c.members.detail': 'Member', 'c.members.usedVouchers': 'Used, expired or revoked ({n})',
    'c.today.title': "Today's redemptions", 'c.today.empty': 'Nothing redeemed at this store today', 'c.today.total': '{n} redemption(s) · {v} charged to cards',
    'c.today.reverse': 'Reverse', 'c.today.reversed': 'Reversed', 'c.today.reversedToast': 'The redemption was reversed',
    'c.today.why.role': 'A manager can reverse this', 'c.today.why.too_late': 'Past 24 hours: cannot be reversed',
    'c.today.why.already_reversed': 'Reversed', 'c.today.offline': 'offline scan',
    'c.today.booking': 'Booking check-in', 'c.today.voucher': 'Voucher', 'c.today.card': 'Card',
  },
});

const has = (value) => value !== null && value !== undefined;

// A card's figures as [label, value] pairs (balance, visits, points, tier).
export function cardFigures(card) {
  const out = [];
  if (card.kind === 'stored_value' || card.balance_cents) out.push([t('c.card.balance'), money(card.balance_cents)]);
  if (card.kind === 'times' || has(card.visits_left)) out.push([t('c.card.visits'), String(card.visits_left ?? 0)]);
  if (card.kind !== 'times' || card.points) out.push([t('c.card.points'), String(card.points ?? 0)]);
  if (card.tier) {
    out.push([t('c.card.tier'), card.discount_percent
      ? t('c.card.tierDiscount', { tier: card.tier, n: card.discount_percent }) : card.tier]);
  }
  return out;
}

// What a redemption did, the figures AFTER it only (the Done screen, a completed booking).
export function redemptionLines(r) {
  if (!r) return [];
  const lines = [];
  if (r.kind === 'voucher') {
    if (r.discount_cents) lines.push(t('c.result.discount', { v: money(r.discount_cents) }));
    if (has(r.amount_cents)) lines.push(t('c.result.pay', { v: money(r.charged_cents ?? r.amount_cents - (r.discount_cents || 0)) }));
    return lines;
  }
  if (r.action === 'visit') lines.push(t('c.result.visitUsed'));
  if (r.action === 'charge' && has(r.charged_cents)) lines.push(t('c.result.charged', { v: money(r.charged_cents) }));
  if (r.action === 'charge' && r.discount_cents) lines.push(t('c.result.discount', { v: money(r.discount_cents) }));
  if (has(r.balance_after_cents) && r.action === 'charge') lines.push(t('c.result.balance', { v: money(r.balance_after_cents) }));
  if (has(r.visits_left)) lines.push(t('c.result.visits', { n: r.visits_left }));
  if (has(r.points_after) && (r.action !== 'visit' || r.points_after)) lines.push(t('c.result.points', { n: r.points_after }));
  return lines;
}

export function dateText(iso, timeZone) { return fmtDate(iso, timeZone); }
export function isZh() { return lang() === 'zh'; }
