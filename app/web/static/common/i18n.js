// Chinese by default, English on request; the choice is kept per browser.
const messages = { zh: {}, en: {} };
const listeners = [];

export function addMessages(dict) {
  for (const lng of Object.keys(messages)) Object.assign(messages[lng], dict[lng] || {});
}

export function lang() {
  const saved = localStorage.getItem('o2o.lang');
  return saved === 'en' ? 'en' : 'zh';
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
  btn.textContent = lang() === 'zh' ? 'EN' : '中文';
  btn.setAttribute('aria-label', 'language');
  btn.addEventListener('click', () => setLang(lang() === 'zh' ? 'en' : 'zh'));
  return btn;
}

// A failed API call as a sentence for a person: the contract's code when we know it.
export function errorText(err) {
  const code = err?.code || 'unknown';
  const known = messages[lang()][`err.${code}`] ?? messages.zh[`err.${code}`];
  if (known) return known;
  return err?.problem?.detail || err?.message || t('err.unknown');
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
    'err.unknown': 'Something went wrong: try again',
  },
});
