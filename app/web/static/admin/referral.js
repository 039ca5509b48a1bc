// The referral program: the campaign whose voucher the referrer gets and the one the invitee
// gets (both at the invitee's first redemption, once), active or paused (PUT
// /referral-program), and its figures (GET /stats/referrals).
// export async function referralTab(el, ctx)
import { listOf } from '/static/common/api.js';
import { addMessages, errorText, t } from '/static/common/i18n.js';
import { addDays, h, localDate, mount } from '/static/common/ui.js';
import { field, submitter } from './kit.js';

addMessages({
  zh: {
    'a.rf.title': '推荐有礼', 'a.rf.referrer': '推荐人获得的券', 'a.rf.invitee': '被推荐的新会员获得的券', 'a.rf.status': '状态',
    'a.rf.active': '进行中', 'a.rf.paused': '已暂停', 'a.rf.save': '保存', 'a.rf.saved': '推荐有礼已保存',
    'a.rf.how': '会员在“我的”里出示推荐码或分享链接；朋友通过它注册并第一次核销后，双方各得一张券（每位新会员只算一次，不能推荐自己）。',
    'a.rf.figures': '推荐数据（最近 90 天）', 'a.rf.invited': '被推荐注册', 'a.rf.rewarded': '已发奖励', 'a.rf.refused': '拒绝（自荐或重复账号）',
    'a.rf.noCampaigns': '先创建两个进行中的活动（推荐人的券和新会员的券）', 'a.rf.notSet': '还没有设置推荐有礼',
    'a.rf.allTime': '推荐数据（全部）', 'a.rf.pending': '等待首次核销',
    'a.rf.vIssued': '{who}：发放 {issued}，核销 {redeemed}', 'a.rf.referrerShort': '推荐人的券', 'a.rf.inviteeShort': '新会员的券',
    'a.rf.verifiedPhone': '朋友须先通过微信验证手机号', 'a.rf.verifiedPhoneNote': '验证前不发券：老顾客的新账号或假账号拿不到奖励（一个已验证的号码在品牌内只属于一位会员）。',
    'a.rf.afterReversal': '到店 24 小时后再发券', 'a.rf.afterReversalNote': '首次核销满 24 小时（店长可撤销核销的时间）后才发券，撤销的核销不算。',
  },
  en: {
    'a.rf.title': 'Referral program', 'a.rf.referrer': 'Voucher for the referrer', 'a.rf.invitee': 'Voucher for the new member', 'a.rf.status': 'Status',
    'a.rf.active': 'Active', 'a.rf.paused': 'Paused', 'a.rf.save': 'Save', 'a.rf.saved': 'Referral program saved',
    'a.rf.how': 'A member shows their code or shares their link; when the friend signs up through it and redeems for the first time, both get a voucher (once per new member; nobody refers themselves).',
    'a.rf.figures': 'Referral figures (last 90 days)', 'a.rf.invited': 'Signed up through a referral', 'a.rf.rewarded': 'Rewarded', 'a.rf.refused': 'Refused (self or duplicate accounts)',
    'a.rf.noCampaigns': 'Create two running campaigns first (the referrer\'s and the new member\'s)', 'a.rf.notSet': 'No referral program yet',
    'a.rf.allTime': 'Referral figures (all time)', 'a.rf.pending': 'Waiting for a first visit',
    'a.rf.vIssued': '{who}: issued {issued}, redeemed {redeemed}', 'a.rf.referrerShort': 'Referrer vouchers', 'a.rf.inviteeShort': 'New member vouchers',
    'a.rf.verifiedPhone': 'Friend must verify their phone through WeChat', 'a.rf.verifiedPhoneNote': 'No vouchers until then: an existing customer\'s second account or a fake one gets nothing (a verified number belongs to one member of the chain).',
    'a.rf.afterReversal': 'Reward the day after the visit', 'a.rf.afterReversalNote': 'Vouchers come once the first visit is 24 hours old (the time a manager may reverse it); a reversed visit never counts.',
  },
});

export async function referralTab(el, ctx) {
  const { api } = ctx;
  const [campaigns, program] = await Promise.all([
    api.get('/campaigns').then((x) => listOf(x)).catch(() => []),
    // 404 until the program is first set: the form starts blank.
    api.get('/referral-program').catch(() => null),
  ]);
  const live = campaigns.filter((c) => c.status === 'active' || c.id === program?.referrer_campaign_id || c.id === program?.invitee_campaign_id);
  const figures = h('div', { id: 'referral-figures' });
  const stat = (key, label, value) => h('div.stat', { 'data-figure': key }, h('div.value', { text: String(value ?? 0) }), h('div.label', { text: label }));
  // The program's all-time figures (GET /referral-program tells them).
  const allTime = program && 'invited' in program ? h('section.panel', { id: 'referral-all-time', 'aria-labelledby': 'rf-all-title' },
    h('h2', { id: 'rf-all-title', text: t('a.rf.allTime') }),
    h('div.stats', {},
      stat('invited', t('a.rf.invited'), program.invited), stat('rewarded', t('a.rf.rewarded'), program.rewarded),
      stat('pending', t('a.rf.pending'), program.pending), stat('refused', t('a.rf.refused'), program.refused))) : null;
  mount(el, referralForm(ctx, live, program), allTime, h('section.panel', { 'aria-labelledby': 'rf-fig-title' },
    h('h2', { id: 'rf-fig-title', text: t('a.rf.figures') }), figures));
  await showFigures(api, figures);
}

function referralForm(ctx, campaigns, program) {
  if (!campaigns.length) return h('section.panel', {}, h('h2', { text: t('a.rf.title') }), h('p.muted', { text: t('a.rf.noCampaigns') }));
  const options = campaigns.map((c) => [c.id, c.name]);
  const [referrer, referrerBox] = field('rf-referrer', t('a.rf.referrer'), { options, value: program?.referrer_campaign_id, api: 'referrer_campaign_id' });
  const [invitee, inviteeBox] = field('rf-invitee', t('a.rf.invitee'), { options, value: program?.invitee_campaign_id, api: 'invitee_campaign_id' });
  const [status, statusBox] = field('rf-status', t('a.rf.status'), {
    options: [['active', t('a.rf.active')], ['paused', t('a.rf.paused')]], value: program?.status || 'active', api: 'status',
  });
  // The two anti-fraud options (off for a new program); sent on every save, so the form
  // shows and keeps what is stored.
  const option = (id, api, label, note) => {
    const box = h('input', { type: 'checkbox', id, checked: Boolean(program?.[api]), 'aria-describedby': `${id}-note` });
    box.dataset.api = api;
    return [box, h('div.field', {}, h('label.check', { for: id }, box, label), h('p.muted', { id: `${id}-note`, text: note }))];
  };
  const [phone, phoneBox] = option('rf-verified-phone', 'require_verified_phone', t('a.rf.verifiedPhone'), t('a.rf.verifiedPhoneNote'));
  const [later, laterBox] = option('rf-after-reversal', 'reward_after_reversal_window', t('a.rf.afterReversal'), t('a.rf.afterReversalNote'));
  const state = h('p', { id: 'rf-state', 'data-status': program?.status || '' },
    program?.status ? h('span.pill', { class: program.status, text: t(`a.rf.${program.status}`) }) : h('span.muted', { text: t('a.rf.notSet') }));
  return h('form.panel', {
    id: 'referral-form', novalidate: true, 'aria-labelledby': 'rf-title',
    onsubmit: submitter(
      () => ({ referrer_campaign_id: referrer.value, invitee_campaign_id: invitee.value, status: status.value,
        require_verified_phone: phone.checked, reward_after_reversal_window: later.checked }),
      (body) => ctx.api.put('/referral-program', body), () => ctx.rerender(), { ok: t('a.rf.saved') }),
  },
  h('div.row.between', {}, h('h2', { id: 'rf-title', text: t('a.rf.title') }), state),
  h('p.muted', { text: t('a.rf.how') }),
  h('div.inline-fields', {}, referrerBox, inviteeBox, statusBox),
  phoneBox, laterBox,
  h('p', {}, h('button.btn', { type: 'submit', text: t('a.rf.save') })));
}

async function showFigures(api, box) {
  const to = localDate(new Date());
  try {
    const r = await api.get('/stats/referrals', { from: addDays(to, -89), to });
    const stat = (key, label, value) => h('div.stat', { 'data-figure': key }, h('div.value', { text: String(value ?? 0) }), h('div.label', { text: label }));
    const vouchers = (who, v) => (v ? h('p.muted', { text: t('a.rf.vIssued', { who, issued: v.issued ?? 0, redeemed: v.redeemed ?? 0 }) }) : null);
    mount(box,
      h('div.stats', {},
        stat('invited', t('a.rf.invited'), r.invited), stat('rewarded', t('a.rf.rewarded'), r.rewarded),
        'refused' in r ? stat('refused', t('a.rf.refused'), r.refused) : null),
      vouchers(t('a.rf.referrerShort'), r.referrer_vouchers), vouchers(t('a.rf.inviteeShort'), r.invitee_vouchers));
  } catch (err) {
    mount(box, h('p.muted', { text: errorText(err) }));
  }
}
