// WeChat's card bag (微信会员卡, issue 21), the operator's side:
// - a card template's WeChat member card (#templates/<id>/wechat): none yet (GET
//   /card-templates/{id}/wechat-card answers 404) -> the form that creates it in WeChat
//   (POST, then WeChat reviews it); else its review status (a rejection with WeChat's
//   reason; a creation that failed offers the form again) and the sync's health: cards in
//   members' bags, removed, waiting to be sent, failing, the last sync and the recent
//   failures of WeChat's updateuser/activate calls in words;
// - the official account's message server in Settings: AppID and secret, the subscribe
//   message templates, the Token and EncodingAESKey WeChat's console asks for, the card bag
//   switch, and the callback URL to paste into WeChat's console. PUT /wechat-config replaces
//   the whole configuration and no secret ever comes back: the form says so, and asks for
//   the secrets every time it saves.
// export function wechatCardPanel(ctx, template), export function wechatConfigForm(ctx, chain, config, done)
import { addMessages, errorText, lang, t } from '/static/common/i18n.js';
import { fmtDateTime, h, mount } from '/static/common/ui.js';
import { field, submitter, table } from './kit.js';

// This module's styles (CSP: style-src 'self': the colour swatches are classes, not inline).
if (!document.querySelector('link[data-cardbag-css]')) {
  document.head.append(h('link', { rel: 'stylesheet', href: '/static/admin/cardbag.css', 'data-cardbag-css': '1' }));
}

addMessages({
  zh: {
    'a.wc.action': '微信会员卡', 'a.wc.of': '微信会员卡：{name}', 'a.wc.close': '关闭', 'a.wc.reload': '刷新',
    'a.wc.intro': '在微信里创建这张卡的会员卡：会员可以把卡放进微信卡包，积分和余额由本系统同步；卡面上的「出示会员码」打开会员页的动态码（微信自带的静态码可被截图冒用）。创建后需微信审核。',
    'a.wc.create': '提交到微信创建', 'a.wc.created': '已提交，等待微信审核',
    'a.wc.logo': '商户 Logo 地址（先用微信「上传图片」接口上传，填返回的 mmbiz.qpic.cn 地址）', 'a.wc.logoRule': '须是 http:// 或 https:// 开头的图片地址',
    'a.wc.brand': '商户名称（卡面显示，最多 12 个字）', 'a.wc.color': '卡面颜色', 'a.wc.notice': '使用提醒（最多 16 个字）',
    'a.wc.description': '使用说明', 'a.wc.brandShort': '商户名称', 'a.wc.colorShort': '卡面颜色', 'a.wc.noticeDefault': '出示会员码给店员扫码',
    'a.wc.status': '审核状态', 'a.wc.cardId': '微信卡券 ID', 'a.wc.reviewed': '审核时间', 'a.wc.createdAt': '提交时间',
    'a.wc.st.creating': '正在微信创建', 'a.wc.st.pending': '等待微信审核', 'a.wc.st.approved': '审核通过：会员可以添加到微信卡包',
    'a.wc.st.rejected': '微信审核未通过', 'a.wc.st.failed': '创建失败：可修改后重新提交', 'a.wc.st.other': '状态：{status}',
    'a.wc.reason': '原因：{reason}', 'a.wc.noReason': '微信未说明原因',
    'a.wc.bagOff': '卡包功能尚未开启：会员还不能添加。在「设置 › 微信公众号」中勾选「会员卡放进微信卡包」。',
    'a.wc.sync': '同步情况', 'a.wc.inBag': '在卡包中', 'a.wc.removed': '已从卡包删除', 'a.wc.pending': '等待同步',
    'a.wc.failing': '同步出错', 'a.wc.lastSynced': '最近同步', 'a.wc.never': '还没有',
    'a.wc.failures': '最近的同步失败', 'a.wc.noFailures': '最近没有同步失败',
    'a.wc.f.at': '时间', 'a.wc.f.card': '会员卡', 'a.wc.f.action': '操作', 'a.wc.f.seq': '流水号', 'a.wc.f.errcode': '微信错误码',
    'a.wc.f.note': '说明', 'a.wc.f.outcome': '结果',
    'a.wc.act.activate': '激活', 'a.wc.act.update': '更新积分和余额', 'a.wc.act.updateuser': '更新积分和余额', 'a.wc.act.refresh': '更新等级和状态',
    'a.wc.out.retry': '稍后重试', 'a.wc.out.failed': '失败（不再重试，下次变动时整体重发）', 'a.wc.out.ok': '成功',
    'a.wc.err.conflict': '这张卡已在创建或已创建：已刷新显示', 'a.wc.err.wechat': '微信拒绝了创建：请检查 Logo 地址、名称和颜色',
    'a.wc.err.notConfigured': '请先在「设置 › 微信公众号」中填写 AppID 和 AppSecret',
  },
  en: {
    'a.wc.action': 'WeChat card', 'a.wc.of': 'WeChat card: {name}', 'a.wc.close': 'Close', 'a.wc.reload': 'Refresh',
    'a.wc.intro': 'Create this template as a WeChat member card: members can keep the card in WeChat\u2019s card bag, with points and balance kept in step from here; the card face\u2019s "Show member code" opens the member page\u2019s live code (WeChat\u2019s own static code could be copied). WeChat reviews it first.',
    'a.wc.create': 'Create in WeChat', 'a.wc.created': 'Sent: waiting for WeChat\u2019s review',
    'a.wc.logo': 'Logo URL (upload it with WeChat\u2019s image upload first and give the mmbiz.qpic.cn address)', 'a.wc.logoRule': 'an image address starting with http:// or https://',
    'a.wc.brand': 'Brand name (on the card, 12 characters at most)', 'a.wc.color': 'Card colour', 'a.wc.notice': 'Notice (16 characters at most)',
    'a.wc.description': 'How to use it', 'a.wc.brandShort': 'Brand name', 'a.wc.colorShort': 'Card colour', 'a.wc.noticeDefault': 'Show member code',
    'a.wc.status': 'Review', 'a.wc.cardId': 'WeChat card id', 'a.wc.reviewed': 'Reviewed', 'a.wc.createdAt': 'Sent',
    'a.wc.st.creating': 'Being created in WeChat', 'a.wc.st.pending': 'Waiting for WeChat\u2019s review', 'a.wc.st.approved': 'Approved: members can add it to WeChat\u2019s card bag',
    'a.wc.st.rejected': 'Rejected by WeChat', 'a.wc.st.failed': 'Creation failed: change what is needed and send it again', 'a.wc.st.other': 'Status: {status}',
    'a.wc.reason': 'Reason: {reason}', 'a.wc.noReason': 'WeChat gave no reason',
    'a.wc.bagOff': 'The card bag is off: members cannot add the card yet. Tick "Members\u2019 cards go to WeChat\u2019s card bag" in Settings › WeChat official account.',
    'a.wc.sync': 'Sync health', 'a.wc.inBag': 'In card bags', 'a.wc.removed': 'Removed from bags', 'a.wc.pending': 'Waiting to sync',
    'a.wc.failing': 'Failing', 'a.wc.lastSynced': 'Last synced', 'a.wc.never': 'not yet',
    'a.wc.failures': 'Recent sync failures', 'a.wc.noFailures': 'No recent sync failures',
    'a.wc.f.at': 'When', 'a.wc.f.card': 'Card', 'a.wc.f.action': 'Call', 'a.wc.f.seq': 'Entry', 'a.wc.f.errcode': 'WeChat errcode',
    'a.wc.f.note': 'Note', 'a.wc.f.outcome': 'Outcome',
    'a.wc.act.activate': 'Activate', 'a.wc.act.update': 'Update points and balance', 'a.wc.act.updateuser': 'Update points and balance', 'a.wc.act.refresh': 'Update tier and status',
    'a.wc.out.retry': 'Will retry', 'a.wc.out.failed': 'Failed (not retried; the next change sends the figures again)', 'a.wc.out.ok': 'Done',
    'a.wc.err.conflict': 'This template\u2019s WeChat card is already being created or exists: shown again', 'a.wc.err.wechat': 'WeChat refused to create it: check the logo address, the name and the colour',
    'a.wc.err.notConfigured': 'Set the WeChat official account\u2019s AppID and AppSecret in Settings first',
  },
});

// WeChat's named card colours (the card/create `color` field) and what they look like.
export const WECHAT_COLORS = [
  ['Color010', '#63b359', '淡绿', 'light green'], ['Color020', '#2c9f67', '深绿', 'dark green'],
  ['Color030', '#509fc9', '浅蓝', 'light blue'], ['Color040', '#5885cf', '蓝', 'blue'],
  ['Color050', '#9062c0', '紫', 'purple'], ['Color060', '#d09a45', '棕', 'brown'],
  ['Color070', '#e4b138', '黄', 'yellow'], ['Color080', '#ee903c', '橙', 'orange'],
  ['Color081', '#f08500', '深橙', 'deep orange'], ['Color082', '#a9d92d', '草绿', 'grass green'],
  ['Color090', '#dd6549', '红', 'red'], ['Color100', '#cc463d', '深红', 'dark red'],
];
const colorText = ([name, hex, zh, en]) => `${lang() === 'zh' ? zh : en} (${name}, ${hex})`;

// A word from a family of keys, or the fallback with the raw value (a value the page does
// not know yet is said as it comes, never as a message key).
function wordOr(key, fallbackKey, vars) {
  const word = t(key, vars);
  return word === key ? t(fallbackKey, vars) : word;
}

const statusText = (status) => wordOr(`a.wc.st.${status}`, 'a.wc.st.other', { status });
const actionText = (action) => { const w = t(`a.wc.act.${action}`); return w === `a.wc.act.${action}` ? action : w; };
const outcomeText = (outcome) => { const w = t(`a.wc.out.${outcome}`); return w === `a.wc.out.${outcome}` ? outcome : w; };
const when = (iso) => (iso ? fmtDateTime(iso) : '—');

// The panel of one template: reads its WeChat card and draws the form or the status.
export function wechatCardPanel(ctx, tp) {
  const body = h('div', { id: 'wechat-card-body' }, h('p.muted', { text: t('app.loading') }));
  const panel = h('section.panel', { id: 'wechat-card', 'data-template': tp.id, 'aria-labelledby': 'wc-title' },
    h('div.row.between', {},
      h('h2', { id: 'wc-title', tabindex: '-1', text: t('a.wc.of', { name: tp.name }) }),
      h('div.table-actions', {},
        h('button.btn.small.secondary', { type: 'button', id: 'wc-reload', text: t('a.wc.reload'), onclick: () => load() }),
        h('a.btn.small.secondary', { href: '#templates', text: t('a.wc.close') }))),
    body);
  async function load() {
    const [card, config] = await Promise.all([
      ctx.api.get(`/card-templates/${tp.id}/wechat-card`).catch((err) => (err.status === 404 ? null : { error: err })),
      ctx.api.get('/wechat-config').catch(() => null),
    ]);
    if (card?.error) { mount(body, h('p.error', { role: 'alert', text: errorText(card.error) })); return; }
    const bagOff = config && !config.card_bag ? h('p.warnbox', { id: 'wc-bag-off', text: t('a.wc.bagOff') }) : null;
    if (!card) { mount(body, h('p.muted', { text: t('a.wc.intro') }), bagOff, createForm(ctx, tp, null, load)); return; }
    mount(body, statusBlock(card), card.status === 'approved' ? bagOff : null,
      card.status === 'failed' ? createForm(ctx, tp, card, load) : null,
      card.sync ? syncBlock(card.sync) : null);
  }
  load().catch((err) => mount(body, h('p.error', { role: 'alert', text: errorText(err) })));
  return panel;
}

function statusBlock(card) {
  const rejected = card.status === 'rejected';
  const color = WECHAT_COLORS.find(([name]) => name === card.color);
  return h('div', { id: 'wc-status', 'data-status': card.status },
    h('p', {}, h('span.pill', { class: card.status, text: statusText(card.status) })),
    rejected ? h('p.error', { id: 'wc-reason', text: card.reject_reason ? t('a.wc.reason', { reason: card.reject_reason }) : t('a.wc.noReason') }) : null,
    h('dl.facts', {},
      card.wechat_card_id ? [h('dt', { text: t('a.wc.cardId') }), h('dd.techdetail', { id: 'wc-card-id', text: card.wechat_card_id })] : null,
      h('dt', { text: t('a.wc.brandShort') }), h('dd', { text: card.brand_name || '—' }),
      h('dt', { text: t('a.wc.colorShort') }), h('dd', {}, colorSwatch(card.color), color ? colorText(color) : (card.color || '—')),
      h('dt', { text: t('a.wc.createdAt') }), h('dd', { text: when(card.created_at) }),
      card.reviewed_at ? [h('dt', { text: t('a.wc.reviewed') }), h('dd', { text: when(card.reviewed_at) })] : null));
}

const colorSwatch = (name) => (WECHAT_COLORS.some(([c]) => c === name)
  ? h('span.swatch', { class: `wx-${name}`, 'aria-hidden': 'true' }) : null);

function syncBlock(sync) {
  const figures = [['in_bag', 'a.wc.inBag', sync.in_bag], ['removed', 'a.wc.removed', sync.removed],
    ['pending', 'a.wc.pending', sync.pending], ['failing', 'a.wc.failing', sync.failing],
    ['last_synced_at', 'a.wc.lastSynced', sync.last_synced_at ? fmtDateTime(sync.last_synced_at) : t('a.wc.never')]];
  const failures = sync.recent_failures || [];
  return h('div', { id: 'wc-sync' },
    h('h3', { text: t('a.wc.sync') }),
    h('div.stats', {}, figures.map(([key, label, value]) => h('div.stat', { 'data-sync': key, class: key === 'failing' && value ? 'bad' : null },
      h('div.value', { text: String(value ?? 0) }), h('div.label', { text: t(label) })))),
    h('h3', { text: t('a.wc.failures') }),
    failures.length ? table(
      [t('a.wc.f.at'), t('a.wc.f.card'), t('a.wc.f.action'), { text: t('a.wc.f.seq'), num: true }, t('a.wc.f.errcode'), t('a.wc.f.note'), t('a.wc.f.outcome')],
      failures.map((f) => h('tr', { 'data-failure': `${f.card_id}:${f.seq ?? ''}`, 'data-outcome': f.outcome },
        h('td', { text: when(f.at) }),
        h('td.techdetail', { text: f.card_id, title: f.card_id }),
        h('td', { text: actionText(f.action) }),
        h('td.num', { text: f.seq ?? '—' }),
        h('td', { text: f.errcode ?? '—' }),
        h('td.techdetail', { text: f.note || '' }),
        h('td', { text: outcomeText(f.outcome) }))),
      { caption: t('a.wc.failures') })
      : h('p.muted', { id: 'wc-no-failures', text: t('a.wc.noFailures') }));
}

// POST /card-templates/{id}/wechat-card; after a failed creation, prefilled with what was sent.
function createForm(ctx, tp, before, done) {
  const [logo, logoBox] = field('wc-logo', t('a.wc.logo'), {
    type: 'url', required: true, maxlength: 512, value: before?.logo_url || '', api: 'logo_url', autocomplete: 'off',
    'data-rule': t('a.wc.logoRule'), placeholder: 'http://mmbiz.qpic.cn/mmbiz/…',
  });
  const [brand, brandBox] = field('wc-brand', t('a.wc.brand'), { required: true, maxlength: 12, value: before?.brand_name || '', api: 'brand_name' });
  const [color, colorBox] = field('wc-color', t('a.wc.color'), {
    options: WECHAT_COLORS.map((c) => [c[0], colorText(c)]), value: before?.color || 'Color010', api: 'color',
  });
  const swatch = h('span.swatch.big', { id: 'wc-swatch', 'aria-hidden': 'true', class: `wx-${color.value}` });
  color.addEventListener('change', () => { swatch.className = `swatch big wx-${color.value}`; });
  colorBox.insertBefore(swatch, color.nextSibling);
  const [notice, noticeBox] = field('wc-notice', t('a.wc.notice'), { maxlength: 16, value: before?.notice || t('a.wc.noticeDefault'), api: 'notice' });
  const [description, descriptionBox] = field('wc-description', t('a.wc.description'), {
    multiline: true, rows: 3, maxlength: 1024, value: before?.description || '', api: 'description',
  });
  const check = () => (/^https?:\/\/\S+$/.test(logo.value.trim()) ? [] : [[logo, t('a.wc.logoRule')]]);
  const said = h('p.error', { id: 'wc-error', role: 'alert' });
  return h('form', {
    id: 'wechat-card-form', novalidate: true,
    onsubmit: submitter(() => ({
      logo_url: logo.value.trim(), brand_name: brand.value.trim(), color: color.value,
      notice: notice.value.trim(), description: description.value.trim(),
    }), (body) => ctx.api.post(`/card-templates/${tp.id}/wechat-card`, body), () => done(), {
      check, ok: t('a.wc.created'),
      words: { conflict: t('a.wc.err.conflict'), wechat_refused: t('a.wc.err.wechat'), wechat_not_configured: t('a.wc.err.notConfigured') },
      // Said beside the button too (a toast goes); a card created meanwhile is shown.
      failed: (err, text) => { said.textContent = text; if (err?.code === 'conflict') done(); },
    }),
  },
  logoBox, h('div.inline-fields', {}, brandBox, colorBox, noticeBox), descriptionBox,
  said,
  h('p', {}, h('button.btn', { type: 'submit', id: 'wc-create', text: t('a.wc.create') })));
}

// --- the official account (Settings) ---------------------------------------------------

addMessages({
  zh: {
    'a.wx.title': '微信公众号（订阅消息、消息服务器、会员卡包）',
    'a.wx.intro': '资料在微信公众平台「设置与开发 › 基本配置」中。AppSecret、Token 和 EncodingAESKey 加密保存，保存后不再显示。',
    'a.wx.replaces': '每次保存都会替换整套配置：请重新填写 AppSecret；要保留消息服务器和卡包，也请重新填写 Token 和 EncodingAESKey。',
    'a.wx.configured': '已配置', 'a.wx.notConfigured': '尚未配置', 'a.wx.set': '已保存（不显示）',
    'a.wx.appId': 'AppID', 'a.wx.secret': 'AppSecret', 'a.wx.templates': '订阅消息模板（每行：事件=模板 ID）',
    'a.wx.templatesRule': '每行一个：事件=模板 ID，如 booking_confirmed=AbC123',
    'a.wx.server': '消息服务器', 'a.wx.callback': '服务器地址（URL）：复制到公众平台「服务器配置」',
    'a.wx.token': '令牌（Token，3–32 位字母或数字）', 'a.wx.tokenRule': '3–32 位英文字母或数字，与公众平台上填写的一致',
    'a.wx.aes': '消息加解密密钥（EncodingAESKey，43 位）', 'a.wx.aesRule': '43 位英文字母或数字，与公众平台上的一致（可点「随机生成」后复制过去）',
    'a.wx.aesMake': '随机生成', 'a.wx.safeMode': '公众平台上的「消息加解密方式」请选「安全模式」。',
    'a.wx.cardBag': '会员卡放进微信卡包（需先填写 Token 和 EncodingAESKey）', 'a.wx.cardBagNeeds': '开启卡包需要填写 Token 和 EncodingAESKey',
    'a.wx.copy': '复制', 'a.wx.copied': '已复制', 'a.wx.copyFailed': '无法自动复制：请选中后手动复制',
    'a.wx.save': '保存微信公众号设置', 'a.wx.saved': '微信公众号设置已保存',
  },
  en: {
    'a.wx.title': 'WeChat official account (subscribe messages, message server, card bag)',
    'a.wx.intro': 'Find the values in the WeChat Official Accounts Platform (Settings and development › Basic configuration). The AppSecret, Token and EncodingAESKey are stored encrypted and never shown again.',
    'a.wx.replaces': 'Saving replaces the whole configuration: type the AppSecret again, and the Token and EncodingAESKey too to keep the message server and the card bag.',
    'a.wx.configured': 'Configured', 'a.wx.notConfigured': 'Not configured', 'a.wx.set': 'Saved (hidden)',
    'a.wx.appId': 'AppID', 'a.wx.secret': 'AppSecret', 'a.wx.templates': 'Subscribe message templates (a line each: event=template id)',
    'a.wx.templatesRule': 'a line each: event=template id, such as booking_confirmed=AbC123',
    'a.wx.server': 'Message server', 'a.wx.callback': 'Server URL: paste it into the platform\u2019s server configuration',
    'a.wx.token': 'Token (3–32 letters or digits)', 'a.wx.tokenRule': '3–32 letters or digits, the same as in the platform',
    'a.wx.aes': 'EncodingAESKey (43 characters)', 'a.wx.aesRule': '43 letters or digits, the same as in the platform (Generate one and copy it there)',
    'a.wx.aesMake': 'Generate', 'a.wx.safeMode': 'In the platform, choose "Safe mode" as the message encryption method.',
    'a.wx.cardBag': 'Members\u2019 cards go to WeChat\u2019s card bag (needs the Token and EncodingAESKey)', 'a.wx.cardBagNeeds': 'The card bag needs the Token and the EncodingAESKey',
    'a.wx.copy': 'Copy', 'a.wx.copied': 'Copied', 'a.wx.copyFailed': 'Could not copy: select it and copy by hand',
    'a.wx.save': 'Save WeChat official account settings', 'a.wx.saved': 'WeChat official account settings saved',
  },
});

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
// 43 random letters and digits, as WeChat's console generates them (rejection sampling:
// no bias towards the first letters).
export function randomAesKey() {
  let out = '';
  while (out.length < 43) {
    for (const byte of crypto.getRandomValues(new Uint8Array(64))) {
      if (byte < 248 && out.length < 43) out += ALNUM[byte % 62];
    }
  }
  return out;
}

const templatesText = (templates) => Object.entries(templates || {}).map(([event, id]) => `${event}=${id}`).join('\n');
function parseTemplates(text) {
  const out = {};
  for (const line of text.split('\n').map((x) => x.trim()).filter(Boolean)) {
    const match = /^([a-z_]{1,40})\s*[=:：]\s*(\S{1,128})$/.exec(line);
    if (!match) return null;
    out[match[1]] = match[2];
  }
  return out;
}

// The callback URL for WeChat's console, read-only with a copy button.
function callbackBox(chainId) {
  const url = `${location.origin}/api/v1/wechat/callback/${chainId}`;
  const input = h('input', { id: 'wx-callback', readonly: true, value: url, 'data-callback': url });
  const said = h('span.muted', { role: 'status', 'aria-live': 'polite' });
  return h('div.field', {},
    h('label', { for: 'wx-callback', text: t('a.wx.callback') }),
    h('div.row', {}, input, h('button.btn.small.secondary', {
      type: 'button', id: 'wx-callback-copy', text: t('a.wx.copy'),
      onclick: async () => {
        try { await navigator.clipboard.writeText(url); said.textContent = t('a.wx.copied'); } catch {
          input.select();
          said.textContent = t('a.wx.copyFailed');
        }
      },
    }), said));
}

export function wechatConfigForm(ctx, chain, config, done) {
  const configured = Boolean(config && !config.error && config.app_id);
  const [appId, appIdBox] = field('wx-app-id', t('a.wx.appId'), { required: true, maxlength: 64, value: config?.app_id || '', api: 'app_id', autocomplete: 'off' });
  const [secret, secretBox] = field('wx-secret', t('a.wx.secret'), {
    type: 'password', required: true, minlength: 8, maxlength: 128, api: 'app_secret', autocomplete: 'new-password',
    placeholder: configured ? t('a.wx.set') : null,
  });
  const [templates, templatesBox] = field('wx-templates', t('a.wx.templates'), {
    multiline: true, rows: 3, value: templatesText(config?.templates), api: 'templates', 'data-rule': t('a.wx.templatesRule'),
  });
  const [token, tokenBox] = field('wx-token', t('a.wx.token'), {
    type: 'password', minlength: 3, maxlength: 32, pattern: '[A-Za-z0-9]{3,32}', api: 'server_token', autocomplete: 'new-password',
    'data-rule': t('a.wx.tokenRule'), placeholder: config?.server_token_set ? t('a.wx.set') : null,
  });
  const [aes, aesBox] = field('wx-aes', t('a.wx.aes'), {
    minlength: 43, maxlength: 43, pattern: '[A-Za-z0-9]{43}', api: 'encoding_aes_key', autocomplete: 'off', spellcheck: 'false',
    'data-rule': t('a.wx.aesRule'), placeholder: config?.encoding_aes_key_set ? t('a.wx.set') : null,
  });
  aesBox.append(h('button.btn.small.secondary', {
    type: 'button', id: 'wx-aes-make', text: t('a.wx.aesMake'), onclick: () => { aes.value = randomAesKey(); aes.focus(); },
  }));
  const cardBag = h('input', { type: 'checkbox', id: 'wx-card-bag', checked: Boolean(config?.card_bag), 'data-api': 'card_bag' });
  const check = () => [
    ...(parseTemplates(templates.value) ? [] : [[templates, t('a.wx.templatesRule')]]),
    ...(cardBag.checked && !token.value.trim() ? [[token, t('a.wx.cardBagNeeds')]] : []),
    ...(cardBag.checked && !aes.value.trim() ? [[aes, t('a.wx.cardBagNeeds')]] : []),
  ];
  const state = config?.error
    ? h('p.error', { role: 'alert', text: errorText(config.error) })
    : h('p', { id: 'wx-state', 'data-configured': String(configured) },
      configured ? h('span.pill.active', { text: `✓ ${t('a.wx.configured')}` }) : h('span.muted', { text: t('a.wx.notConfigured') }));
  return h('form.panel', {
    id: 'wechat-config', novalidate: true, 'aria-labelledby': 'wx-h',
    onsubmit: submitter(() => ({
      app_id: appId.value.trim(), app_secret: secret.value.trim(), templates: parseTemplates(templates.value) || {},
      server_token: token.value.trim() || null, encoding_aes_key: aes.value.trim() || null, card_bag: cardBag.checked,
    }), (body) => ctx.api.put('/wechat-config', { templates: {}, card_bag: false, ...body }), done, { ok: t('a.wx.saved'), check }),
  },
  h('h2', { id: 'wx-h', text: t('a.wx.title') }),
  h('p.muted', { text: t('a.wx.intro') }),
  state,
  configured ? h('p.warnbox', { id: 'wx-replaces', text: t('a.wx.replaces') }) : null,
  h('div.inline-fields', {}, appIdBox, secretBox), templatesBox,
  h('h3', { text: t('a.wx.server') }),
  callbackBox(chain.id),
  h('p.muted', { text: t('a.wx.safeMode') }),
  h('div.inline-fields', {}, tokenBox, aesBox),
  h('label.check', {}, cardBag, t('a.wx.cardBag')),
  h('p', {}, h('button.btn', { type: 'submit', id: 'wx-save', text: t('a.wx.save') })));
}
