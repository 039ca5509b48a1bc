// The browser's language picks the first language (zh for zh-*, else en) until the reader
// switches; the choice is then kept per browser.
const messages = { zh: {}, en: {} };
const listeners = [];

export function addMessages(dict) {
  for (const lng of Object.keys(messages)) Object.assign(messages[lng], dict[lng] || {});
}

export function lang() {
  let saved = null;
  try { saved = localStorage.getItem('o2o.lang'); } catch { /* storage denied: the browser's */ }
  if (saved === 'en' || saved === 'zh') return saved;
  const first = (navigator.languages && navigator.languages[0]) || navigator.language || '';
  return first.toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

// The BCP 47 tag dates and numbers are written in: the reader's own English (en-US,
// en-GB...) when the page is in English, else zh-CN.
export function locale() {
  if (lang() === 'zh') return 'zh-CN';
  const first = (navigator.languages && navigator.languages[0]) || navigator.language || '';
  return first.toLowerCase().startsWith('en') ? first : 'en-GB';
}

export function setLang(value) {
  localStorage.setItem('o2o.lang', value === 'en' ? 'en' : 'zh');
  document.documentElement.lang = lang() === 'zh' ? 'zh-CN' : 'en';
  for (const fn of listeners) fn();
}

export function onLangChange(fn) { listeners.push(fn); }

export function t(key, vars = {}) {
  const text = messages[lang()][key] ?? messages.zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

export function langToggle() {
  const btn = document.createElement('button');
  btn.type = 'button';
  btn.className = 'lang';
  // The button names the language it switches to, in that language.
  btn.textContent = lang() === 'zh' ? 'EN' : '中文';
  btn.lang = lang() === 'zh' ? 'en' : 'zh-CN';
  // The accessible name starts with the visible text (WCAG 2.5.3, label in name).
  btn.setAttribute('aria-label', lang() === 'zh' ? 'EN: switch to English' : '中文：切换到中文');
  btn.addEventListener('click', () => setLang(lang() === 'zh' ? 'en' : 'zh'));
  return btn;
}

// A failed API call as a sentence for a person, in the page's words for its `code`. The
// server's `detail` is for developers (English, may name API fields): never shown. A page
// with better words for a code in its context passes them in `words` ({code: text}).
export function errorText(err, words = {}) {
  const code = err?.code || 'unknown';
  if (words[code]) return words[code];
  const known = messages[lang()][`err.${code}`] ?? messages.zh[`err.${code}`];
  if (known) return known;
  const status = err?.status;
  if (status >= 500) return t('err.server');
  return t('err.unknown');
}

// The fields a 400 validation_error names: [{field, message}] (the page words them).
export function fieldErrors(err) {
  return Array.isArray(err?.problem?.errors) ? err.problem.errors : [];
}

document.documentElement.lang = lang() === 'zh' ? 'zh-CN' : 'en';

addMessages({
  zh: {
    'app.logout': '退出', 'app.loading': '加载中…', 'app.retry': '重试', 'app.back': '返回',
    'app.save': '保存', 'app.cancel': '取消', 'app.none': '暂无', 'app.sure': '再点一次确认',
    'app.username': '用户名', 'app.password': '密码', 'app.login': '登录',
    'app.offline': '离线', 'app.online': '在线',
    'status.active': '有效', 'status.frozen': '已冻结', 'status.expired': '已过期',
    'status.cancelled': '已取消', 'status.issued': '可使用', 'status.redeemed': '已核销',
    'status.revoked': '已作废', 'status.confirmed': '已确认', 'status.checked_in': '已到店',
    'status.completed': '已完成', 'status.no_show': '未到店', 'status.paused': '已暂停',
    'status.pending': '待发送', 'status.sent': '已发送', 'status.failed': '失败',
    'kind.membership': '会员卡', 'kind.stored_value': '储值卡', 'kind.times': '次卡',
    'kind.cash': '代金券', 'kind.discount': '折扣券', 'kind.gift': '礼品券', 'kind.service': '服务券',
    'kind.voucher': '优惠券', 'kind.card': '会员卡', 'kind.booking': '预约',
    'err.network': '网络不可用，请检查连接',
    'err.unauthorized': '登录已失效，请重新登录',
    'err.invalid_credentials': '用户名或密码错误',
    'err.rate_limited': '尝试次数过多，请稍后再试',
    'err.wechat_login_failed': '微信登录失败',
    'err.forbidden': '没有权限',
    'err.not_found': '未找到',
    'err.validation_error': '输入有误',
    'err.invalid_code': '无效的码',
    'err.code_expired': '码已过期',
    'err.already_redeemed': '已经核销过了',
    'err.code_used': '此码已使用，请让顾客刷新',
    'err.wrong_store': '本店不能使用',
    'err.voucher_revoked': '券已作废',
    'err.insufficient_balance': '余额不足',
    'err.no_visits_left': '次数已用完',
    'err.min_spend_not_met': '未达到最低消费',
    'err.card_inactive': '卡不可用（冻结或过期）',
    'err.wrong_card_kind': '此卡不支持该操作',
    'err.campaign_sold_out': '已领完',
    'err.claim_limit_reached': '已达领取上限',
    'err.campaign_inactive': '活动未开始或已结束',
    'err.card_exists': '已持有此卡',
    'err.slot_unavailable': '该时段已被约满，请选择其他时间',
    'err.booking_not_cancellable': '已过可取消时间',
    'err.invalid_state': '当前状态不能这样操作',
    'err.username_taken': '用户名已被占用',
    'err.idempotency_in_flight': '正在处理，请稍候',
    'err.already_reversed': '这笔已经撤销过了',
    'err.reversal_window_closed': '已超过可撤销的时间（24 小时）',
    'err.idempotency_conflict': '这次提交与上次不同，请刷新后重试',
    'err.conflict': '数据已被他人修改，请刷新后重试',
    'err.last_operator': '不能停用或降级最后一位运营人员',
    'err.not_supported_offline': '离线时不能这样操作',
    'err.offline_window_exceeded': '超过允许的离线时间',
    'err.payment_unusable': '支付暂不可用',
    'err.phone_taken': '这个手机号已经注册过了',
    'err.unsupported_media_type': '请求格式不对',
    'err.wechat_phone_failed': '获取微信手机号失败',
    'err.wechat_unavailable': '微信服务暂时不可用，请稍后再试',
    'err.voucher_not_usable_now': '此券现在不能使用（不在可用的日期或时段）',
    'err.outside_usage_hours': '此券现在不能使用（不在可用的日期或时段）',
    'err.voucher_gifting': '这张券正在转赠中，暂不能使用',
    'err.voucher_not_held': '预约所用的券已转赠给别人，不能再用它付款：请取消预约，另行收款',
    'err.not_giftable': '这张券不能转赠',
    'err.gift_expired': '转赠已过期，券已退回给赠送人',
    'err.gift_not_pending': '这份转赠已被领取或已取消',
    'err.own_gift': '不能领取自己送出的券',
    'err.segment_issue_unavailable': '暂时不能按人群发券，请稍后再试',
    'err.import_invalid': '文件中有错误，未导入任何数据',
    'err.external_id_taken': '这个外部编号（external_id）已被使用',
    'err.payment_not_configured': '线上充值尚未开通（商户的微信支付还没有配置好）',
    'err.refund_exceeds_unspent': '退款金额超过了这笔充值在卡上尚未用掉的实充金额',
    'err.order_not_refundable': '这笔订单现在不能退款（未支付或已全部退款）',
    'err.member_not_linked': '你的账号还没有关联微信，暂时不能在线支付',
    'err.payment_unavailable': '微信支付暂时不可用，请稍后再试',
    'err.payment_refused': '微信支付拒绝了这笔订单，请稍后再试或到店充值',
    'err.order_closed': '订单已关闭或已过期，请重新下单',
    'err.sandbox_only': '只有测试环境的订单可以模拟支付',
    'err.server': '服务器出错了，请稍后重试',
    'err.unknown': '出错了，请重试',
  },
  en: {
    'app.logout': 'Log out', 'app.loading': 'Loading…', 'app.retry': 'Retry', 'app.back': 'Back',
    'app.save': 'Save', 'app.cancel': 'Cancel', 'app.none': 'Nothing yet', 'app.sure': 'Tap again to confirm',
    'app.username': 'Username', 'app.password': 'Password', 'app.login': 'Log in',
    'app.offline': 'Offline', 'app.online': 'Online',
    'status.active': 'Active', 'status.frozen': 'Frozen', 'status.expired': 'Expired',
    'status.cancelled': 'Cancelled', 'status.issued': 'Ready to use', 'status.redeemed': 'Redeemed',
    'status.revoked': 'Revoked', 'status.confirmed': 'Confirmed', 'status.checked_in': 'Checked in',
    'status.completed': 'Completed', 'status.no_show': 'No-show', 'status.paused': 'Paused',
    'status.pending': 'Pending', 'status.sent': 'Sent', 'status.failed': 'Failed',
    'kind.membership': 'Membership', 'kind.stored_value': 'Prepaid', 'kind.times': 'Visits card',
    'kind.cash': 'Cash voucher', 'kind.discount': 'Discount', 'kind.gift': 'Gift', 'kind.service': 'Service',
    'kind.voucher': 'Voucher', 'kind.card': 'Card', 'kind.booking': 'Booking',
    'err.network': 'No network: check the connection',
    'err.unauthorized': 'Session expired: please log in again',
    'err.invalid_credentials': 'Wrong username or password',
    'err.rate_limited': 'Too many attempts: try again later',
    'err.wechat_login_failed': 'WeChat login failed',
    'err.forbidden': 'Not allowed',
    'err.not_found': 'Not found',
    'err.validation_error': 'Please check the input',
    'err.invalid_code': 'Invalid code',
    'err.code_expired': 'Code expired',
    'err.already_redeemed': 'Already redeemed',
    'err.code_used': 'Code already used: ask the customer to refresh',
    'err.wrong_store': 'Not valid at this store',
    'err.voucher_revoked': 'Voucher revoked',
    'err.insufficient_balance': 'Insufficient balance',
    'err.no_visits_left': 'No visits left',
    'err.min_spend_not_met': 'Minimum spend not met',
    'err.card_inactive': 'Card not active (frozen or expired)',
    'err.wrong_card_kind': 'This card does not allow that',
    'err.campaign_sold_out': 'Sold out',
    'err.claim_limit_reached': 'Claim limit reached',
    'err.campaign_inactive': 'Campaign not running',
    'err.card_exists': 'You already hold this card',
    'err.slot_unavailable': 'That time was just taken: pick another',
    'err.booking_not_cancellable': 'Too late to cancel',
    'err.invalid_state': 'Not possible in the current status',
    'err.username_taken': 'Username taken',
    'err.idempotency_in_flight': 'Still processing: please wait',
    'err.already_reversed': 'Already reversed',
    'err.reversal_window_closed': 'Too late to reverse (24 hours have passed)',
    'err.idempotency_conflict': 'This differs from the first attempt: refresh and try again',
    'err.conflict': 'Someone changed this meanwhile: refresh and try again',
    'err.last_operator': 'The last operator cannot be deactivated or demoted',
    'err.not_supported_offline': 'Not possible offline',
    'err.offline_window_exceeded': 'Past the offline time allowed',
    'err.payment_unusable': 'Payment is unavailable',
    'err.phone_taken': 'This phone number is registered already',
    'err.unsupported_media_type': 'Wrong request format',
    'err.wechat_phone_failed': 'Could not get the phone number from WeChat',
    'err.wechat_unavailable': 'WeChat is unavailable: try again later',
    'err.voucher_not_usable_now': 'This voucher cannot be used now (outside its days or hours)',
    'err.outside_usage_hours': 'This voucher cannot be used now (outside its days or hours)',
    'err.voucher_gifting': 'This voucher is being gifted: it cannot be used now',
    'err.voucher_not_held': 'The booking\'s voucher was given to someone else: it cannot pay. Cancel the booking and take the payment another way',
    'err.not_giftable': 'This voucher cannot be gifted',
    'err.gift_expired': 'The gift expired: the voucher went back to the giver',
    'err.gift_not_pending': 'This gift was already accepted or cancelled',
    'err.own_gift': 'You cannot accept your own gift',
    'err.segment_issue_unavailable': 'Issuing to a segment is not available right now: try again later',
    'err.import_invalid': 'The file has errors: nothing was imported',
    'err.external_id_taken': 'This external id is in use already',
    'err.payment_not_configured': 'Online top-up is not available yet (the shop has not set up WeChat Pay)',
    'err.refund_exceeds_unspent': 'More than the paid money of this top-up still unspent on the card',
    'err.order_not_refundable': 'This order cannot be refunded now (not paid, or refunded in full)',
    'err.member_not_linked': 'Your account is not linked to WeChat yet: online payment is not possible',
    'err.payment_unavailable': 'WeChat Pay is unavailable just now: try again shortly',
    'err.payment_refused': 'WeChat Pay refused this order: try again later or top up at a store',
    'err.order_closed': 'The order is closed or expired: place a new one',
    'err.sandbox_only': 'Only test orders can be paid with the sandbox button',
    'err.server': 'Server error: try again later',
    'err.unknown': 'Something went wrong: try again',
  },
});
