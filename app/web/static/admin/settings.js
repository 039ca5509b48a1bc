// The chain's settings (operators): the language of the members' notifications, how long
// an offline scanner may wait before uploading its scans, and WeChat Pay (the merchant
// account members' online top-ups are paid to; its two secrets are sent, stored encrypted
// and never shown back: the page only says "configured"), and the WeChat official account
// (subscribe messages, the message server and the card bag: admin/cardbag.js).
// export async function settingsView(el, ctx)
import { addMessages, errorText, t } from '/static/common/i18n.js';
import { h, mount } from '/static/common/ui.js';
import { wechatConfigForm } from './cardbag.js';
import { field, num, submitter } from './kit.js';

addMessages({
  zh: {
    'a.set.chain': '连锁品牌', 'a.set.locale': '会员通知的语言', 'a.set.localeHint': '会员收到的站内消息和微信订阅消息使用这种语言。',
    'a.set.zh': '中文（简体）', 'a.set.en': 'English（英文）',
    'a.set.offline': '离线核销的上传时限（分钟）', 'a.set.offlineHint': '店员离线扫码后，须在这段时间内联网上传，否则不予入账。1440 分钟 = 24 小时，最长 7 天。',
    'a.set.save': '保存设置',
    'a.pay.title': '微信支付（会员线上充值）',
    'a.pay.intro': '会员在微信里给储值卡充值时，钱付到这个商户号。资料在微信支付商户平台「账户中心 › API 安全」中查看；私钥和 APIv3 密钥加密保存，保存后不再显示。',
    'a.pay.configured': '已配置', 'a.pay.notConfigured': '尚未配置：会员暂时不能在线充值（测试环境的沙箱支付不需要配置）。',
    'a.pay.mchid': '商户号（mchid）', 'a.pay.appid': '公众号 AppID（appid）', 'a.pay.serial': '商户 API 证书序列号',
    'a.pay.key': '商户 API 私钥（apiclient_key.pem 的内容）', 'a.pay.apiv3': 'APIv3 密钥（32 个字符）',
    'a.pay.pubId': '微信支付公钥 ID（PUB_KEY_ID_ 开头）', 'a.pay.pubPem': '微信支付公钥（pub_key.pem 的内容）',
    'a.pay.keep': '已保存（不会显示）。留空则保持不变，填写则替换。', 'a.pay.keepShort': '已保存（不显示）：留空保持不变',
    'a.pay.pemRule': '须是完整的 PEM 文本（以 -----BEGIN 开头）', 'a.pay.pubIdRule': '以 PUB_KEY_ID_ 开头',
    'a.pay.keyRule': '须是商户的 RSA 私钥：apiclient_key.pem 的完整内容（以 -----BEGIN 开头）',
    'a.pay.pubPemRule': '须是微信支付的 RSA 公钥：pub_key.pem 的完整内容（以 -----BEGIN 开头）',
    'a.pay.apiv3Rule': '须与商户平台上设置的 APIv3 密钥完全一致（32 个字符）',
    'a.pay.save': '保存微信支付设置', 'a.pay.saved': '微信支付设置已保存',
  },
  en: {
    'a.set.chain': 'Chain', 'a.set.locale': 'Language of members\u2019 notifications', 'a.set.localeHint': 'Members\u2019 inbox messages and WeChat subscribe messages are written in it.',
    'a.set.zh': '中文 (Chinese, simplified)', 'a.set.en': 'English',
    'a.set.offline': 'Offline scans: upload within (minutes)', 'a.set.offlineHint': 'A scan made offline must reach the server within this time, or it is refused. 1440 minutes = 24 hours; 7 days at most.',
    'a.set.save': 'Save settings',
    'a.pay.title': 'WeChat Pay (members\u2019 online top-ups)',
    'a.pay.intro': 'Members topping up a stored-value card in WeChat pay this merchant account. Find the values in the WeChat Pay merchant platform (Account › API security). The private key and the APIv3 key are stored encrypted and never shown again.',
    'a.pay.configured': 'Configured', 'a.pay.notConfigured': 'Not configured: members cannot top up online yet (sandbox payments in a test setup need no configuration).',
    'a.pay.mchid': 'Merchant id (mchid)', 'a.pay.appid': 'Official account AppID (appid)', 'a.pay.serial': 'Merchant API certificate serial number',
    'a.pay.key': 'Merchant API private key (the text of apiclient_key.pem)', 'a.pay.apiv3': 'APIv3 key (32 characters)',
    'a.pay.pubId': 'WeChat Pay public key id (PUB_KEY_ID_…)', 'a.pay.pubPem': 'WeChat Pay public key (the text of pub_key.pem)',
    'a.pay.keep': 'Saved (never shown). Leave blank to keep it; type a new one to replace it.', 'a.pay.keepShort': 'Saved (hidden): blank keeps it',
    'a.pay.pemRule': 'the whole PEM text (starting with -----BEGIN)', 'a.pay.pubIdRule': 'starts with PUB_KEY_ID_',
    'a.pay.keyRule': 'the merchant\u2019s RSA private key: the whole text of apiclient_key.pem (starting with -----BEGIN)',
    'a.pay.pubPemRule': 'WeChat Pay\u2019s RSA public key: the whole text of pub_key.pem (starting with -----BEGIN)',
    'a.pay.apiv3Rule': 'exactly the APIv3 key set in the merchant platform (32 characters)',
    'a.pay.save': 'Save WeChat Pay settings', 'a.pay.saved': 'WeChat Pay settings saved',
  },
});

export async function settingsView(el, ctx) {
  const { api } = ctx;
  const [chain, pay, wechat] = await Promise.all([
    api.get('/chain'),
    // 404 (or configured: false) until the operator saves it.
    api.get('/wechat-pay-config').catch((err) => (err.status === 404 ? { configured: false } : { error: err })),
    api.get('/wechat-config').catch((err) => (err.status === 404 ? null : { error: err })),
  ]);
  const [locale, localeBox] = field('set-locale', t('a.set.locale'), {
    options: [['zh-CN', t('a.set.zh')], ['en', t('a.set.en')]], value: chain.locale || 'zh-CN', api: 'locale',
    'aria-describedby': 'set-locale-hint',
  });
  const [offline, offlineBox] = field('set-offline', t('a.set.offline'), {
    type: 'number', min: 5, max: 10080, step: 1, required: true, value: String(chain.offline_window_minutes ?? 1440),
    api: 'offline_window_minutes', 'aria-describedby': 'set-offline-hint',
  });
  localeBox.append(h('p.muted', { id: 'set-locale-hint', text: t('a.set.localeHint') }));
  offlineBox.append(h('p.muted', { id: 'set-offline-hint', text: t('a.set.offlineHint') }));
  mount(el,
    h('form.panel', {
      id: 'settings', novalidate: true,
      onsubmit: submitter(() => ({ locale: locale.value, offline_window_minutes: num(offline) }),
        (body) => api.patch('/chain', body), () => settingsView(el, ctx), { ok: t('a.saved') }),
    },
    h('p', {}, h('span.muted', { text: `${t('a.set.chain')}: ` }), h('strong', { text: chain.name })),
    localeBox, offlineBox,
    h('button.btn', { type: 'submit', text: t('a.set.save') })),
    wechatConfigForm(ctx, chain, wechat, () => settingsView(el, ctx)),
    payForm(ctx, pay, () => settingsView(el, ctx)));
}

// WeChat Pay: the public parts shown back, the secrets never (blank fields, "saved").
function payForm(ctx, pay, done) {
  const { api } = ctx;
  const configured = Boolean(pay && pay.configured);
  const keep = configured ? { placeholder: t('a.pay.keepShort'), 'aria-describedby': 'pay-keep' } : { required: true };
  const [mchid, mchidBox] = field('pay-mchid', t('a.pay.mchid'), { required: true, maxlength: 32, value: pay?.mchid || '', api: 'mchid', autocomplete: 'off' });
  const [appid, appidBox] = field('pay-appid', t('a.pay.appid'), { required: true, maxlength: 32, value: pay?.appid || '', api: 'appid', autocomplete: 'off' });
  const [serial, serialBox] = field('pay-serial', t('a.pay.serial'), { required: true, maxlength: 64, value: pay?.merchant_serial_no || '', api: 'merchant_serial_no', autocomplete: 'off' });
  const [key, keyBox] = field('pay-key', t('a.pay.key'), { multiline: true, rows: 4, spellcheck: 'false', autocomplete: 'off', api: 'merchant_private_key_pem', 'data-rule': t('a.pay.pemRule'), 'data-server-rule': t('a.pay.keyRule'), ...keep });
  const [apiv3, apiv3Box] = field('pay-apiv3', t('a.pay.apiv3'), { type: 'password', minlength: 32, maxlength: 32, autocomplete: 'new-password', api: 'apiv3_key', 'data-server-rule': t('a.pay.apiv3Rule'), ...keep });
  const [pubId, pubIdBox] = field('pay-pub-id', t('a.pay.pubId'), { required: true, maxlength: 64, value: pay?.platform_public_key_id || '', api: 'platform_public_key_id', autocomplete: 'off', 'data-rule': t('a.pay.pubIdRule') });
  const [pubPem, pubPemBox] = field('pay-pub-pem', t('a.pay.pubPem'), { multiline: true, rows: 4, spellcheck: 'false', autocomplete: 'off', api: 'platform_public_key_pem', 'data-rule': t('a.pay.pemRule'), 'data-server-rule': t('a.pay.pubPemRule'), ...keep });
  const pem = (input) => !input.value.trim() || /^-----BEGIN [A-Z ]+-----/.test(input.value.trim());
  const check = () => [
    ...[key, pubPem].filter((input) => !pem(input)).map((input) => [input, t('a.pay.pemRule')]),
    ...(pubId.value.trim() && !pubId.value.trim().startsWith('PUB_KEY_ID_') ? [[pubId, t('a.pay.pubIdRule')]] : []),
  ];
  const state = pay?.error
    ? h('p.error', { role: 'alert', text: errorText(pay.error) })
    : h('p', { id: 'pay-state', 'data-configured': String(configured) },
      configured ? h('span.pill.active', { text: `✓ ${t('a.pay.configured')}` }) : h('span.muted', { text: t('a.pay.notConfigured') }));
  return h('form.panel', {
    id: 'wechat-pay', novalidate: true, 'aria-labelledby': 'pay-h',
    onsubmit: submitter(() => ({
      mchid: mchid.value.trim(), appid: appid.value.trim(), merchant_serial_no: serial.value.trim(),
      merchant_private_key_pem: key.value.trim(), apiv3_key: apiv3.value.trim(),
      platform_public_key_id: pubId.value.trim(), platform_public_key_pem: pubPem.value.trim(),
    }), (body) => api.put('/wechat-pay-config', body), done, { ok: t('a.pay.saved'), check }),
  },
  h('h2', { id: 'pay-h', text: t('a.pay.title') }),
  h('p.muted', { text: t('a.pay.intro') }),
  state,
  configured ? h('p.muted', { id: 'pay-keep', text: t('a.pay.keep') }) : null,
  h('div.inline-fields', {}, mchidBox, appidBox, serialBox, pubIdBox),
  keyBox, apiv3Box, pubPemBox,
  h('button.btn', { type: 'submit', id: 'pay-save', text: t('a.pay.save') }));
}
