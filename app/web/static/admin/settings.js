// The chain's settings (operators): the language of the members' notifications and how long
// an offline scanner may wait before uploading its scans.
// export async function settingsView(el, ctx)
import { addMessages, t } from '/static/common/i18n.js';
import { h, mount } from '/static/common/ui.js';
import { field, num, submitter } from './kit.js';

addMessages({
  zh: {
    'a.set.chain': '连锁品牌', 'a.set.locale': '会员通知的语言', 'a.set.localeHint': '会员收到的站内消息和微信订阅消息使用这种语言。',
    'a.set.zh': '中文（简体）', 'a.set.en': 'English（英文）',
    'a.set.offline': '离线核销的上传时限（分钟）', 'a.set.offlineHint': '店员离线扫码后，须在这段时间内联网上传，否则不予入账。1440 分钟 = 24 小时，最长 7 天。',
    'a.set.save': '保存设置',
  },
  en: {
    'a.set.chain': 'Chain', 'a.set.locale': 'Language of members\u2019 notifications', 'a.set.localeHint': 'Members\u2019 inbox messages and WeChat subscribe messages are written in it.',
    'a.set.zh': '中文 (Chinese, simplified)', 'a.set.en': 'English',
    'a.set.offline': 'Offline scans: upload within (minutes)', 'a.set.offlineHint': 'A scan made offline must reach the server within this time, or it is refused. 1440 minutes = 24 hours; 7 days at most.',
    'a.set.save': 'Save settings',
  },
});

export async function settingsView(el, ctx) {
  const { api } = ctx;
  const chain = await api.get('/chain');
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
    h('button.btn', { type: 'submit', text: t('a.set.save') })));
}
