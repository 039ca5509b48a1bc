// Card templates: the chain's kinds of membership card, and a form to add one (operators).
// A stored-value template also says what members may pay online and the bonus each amount
// brings ("充 ¥500 送 ¥50": top_up_options) and how a charge takes from paid and bonus money
// (bonus_policy). Operators create a template's WeChat member card and follow its review
// and sync (#templates/<id>/wechat, admin/cardbag.js).
// export async function templatesView(el, ctx)
import { listOf } from '/static/common/api.js';
import { addMessages, t } from '/static/common/i18n.js';
import { h, mount, parseYuan } from '/static/common/ui.js';
import { topUpOptionText } from '/static/common/terms.js';
import { wechatCardPanel } from './cardbag.js';
import { field, num, storeNames as namesOf, submitter, table } from './kit.js';

addMessages({
  zh: {
    'a.t.tiersRule': '每行一个等级：名称:所需积分:折扣百分比，如 Gold:5000:10',
    'a.t.options': '线上充值档位（储值卡；每行：充值金额:赠送金额，单位元）', 'a.t.optionsCol': '线上充值', 'a.t.policy': '消费时的扣款顺序（储值卡）',
    'a.t.optionsRule': '每行一个档位，如 500:50（充 500 元送 50 元）；金额大于 0 且互不相同，赠送不小于 0，最多 12 档',
    'a.t.optionsHint': '会员只能在线充值这里列出的金额。留空 = 不开放线上充值。赠送金额不能退款。',
    'a.t.policyCol': '扣款顺序', 'a.t.onlyStored': '只有储值卡可以设置线上充值档位',
    'a.t.edit': '线上充值设置', 'a.t.editOf': '线上充值设置：{name}', 'a.t.close': '关闭', 'a.t.save': '保存',
  },
  en: {
    'a.t.tiersRule': 'a tier a line: name:points:discount percent, such as Gold:5000:10',
    'a.t.options': 'Online top-up options (stored value; a line each: amount:bonus, in yuan)', 'a.t.optionsCol': 'Online top-up', 'a.t.policy': 'What a charge takes first (stored value)',
    'a.t.optionsRule': 'an option a line, such as 500:50 (pay ¥500, get ¥50 bonus); amounts above 0 and all different, bonus 0 or more, 12 options at most',
    'a.t.optionsHint': 'Members can pay online only these amounts. Blank: no online top-up. Bonus money is never refunded.',
    'a.t.policyCol': 'Charges take', 'a.t.onlyStored': 'Only stored-value templates take online top-up options',
    'a.t.edit': 'Online top-up', 'a.t.editOf': 'Online top-up: {name}', 'a.t.close': 'Close', 'a.t.save': 'Save',
  },
});

// "500:50" lines -> [{amount_cents, bonus_cents}], or null when a line is not one.
export function parseOptionsText(text) {
  const lines = text.split('\n').map((line) => line.trim()).filter(Boolean);
  const out = lines.map((line) => {
    const [amount, bonus = '0'] = line.split(/[:：]/).map((x) => x.trim());
    return { amount_cents: parseYuan(amount), bonus_cents: parseYuan(bonus) ?? 0 };
  });
  const amounts = out.map((o) => o.amount_cents);
  const ok = out.length <= 12 && out.every((o) => Number.isInteger(o.amount_cents) && o.amount_cents > 0 && Number.isInteger(o.bonus_cents))
    && new Set(amounts).size === amounts.length;
  return ok ? out : null;
}

// [{amount_cents, bonus_cents}] -> "500:50" lines (yuan; fen only when there are some).
const yuanText = (cents) => (cents % 100 ? (cents / 100).toFixed(2) : String(cents / 100));
export const optionsText = (list) => (list || []).map((o) => `${yuanText(o.amount_cents)}:${yuanText(o.bonus_cents || 0)}`).join('\n');

export async function templatesView(el, ctx) {
  const { api, session } = ctx;
  const list = listOf(await api.get('/card-templates'));
  const all = await ctx.stores();
  const storeNames = (ids) => (ids ? namesOf(all, ids) : t('a.range.all'));
  const operator = session.staff.role === 'operator';
  // #templates/<id>/top-up: that stored-value template's online top-up, editable.
  const editing = operator && ctx.params[1] === 'top-up'
    ? list.find((tp) => tp.id === ctx.params[0] && tp.kind === 'stored_value') : null;
  // #templates/<id>/wechat: that template's WeChat member card (issue 21).
  const wechat = operator && ctx.params[1] === 'wechat' ? list.find((tp) => tp.id === ctx.params[0]) : null;
  const editPanel = editing ? topUpEditForm(ctx, editing) : (wechat ? wechatCardPanel(ctx, wechat) : null);
  const shown = editing || wechat;
  mount(el,
    editPanel,
    h('div.panel', {}, table(
      [t('a.f.name'), t('a.f.kind'), t('a.f.validity'), t('a.f.visits'), t('a.f.ppy'), t('a.f.tiers'), t('a.t.optionsCol'), t('a.t.policyCol'), t('a.f.stores'), ''],
      list.map((tp) => h('tr', { 'data-template': tp.id, class: shown?.id === tp.id ? 'on' : null },
        h('th', { scope: 'row', text: tp.name }), h('td', { text: t(`kind.${tp.kind}`) }),
        h('td', { text: tp.validity_days ?? '—' }), h('td', { text: tp.initial_visits ?? '—' }),
        h('td', { text: tp.points_per_yuan }),
        h('td', { text: (tp.tiers || []).map((x) => `${x.name} ≥${x.min_points} −${x.discount_percent}%`).join('; ') }),
        h('td', { 'data-field': 'top-up-options', text: (tp.top_up_options || []).map(topUpOptionText).join('; ') || '—' }),
        h('td', { text: tp.kind === 'stored_value' && tp.bonus_policy ? t(`topup.policy.${tp.bonus_policy}`) : '—' }),
        h('td', { text: storeNames(tp.store_ids) }),
        h('td', {}, operator ? h('div.table-actions', {},
          tp.kind === 'stored_value' ? h('a.btn.small.secondary', {
            href: `#templates/${tp.id}/top-up`, text: t('a.t.edit'), 'data-edit-top-up': tp.id,
            'aria-label': `${t('a.t.edit')}: ${tp.name}`,
          }) : null,
          h('a.btn.small.secondary', {
            href: `#templates/${tp.id}/wechat`, text: t('a.wc.action'), 'data-wechat-card': tp.id,
            'aria-label': `${t('a.wc.action')}: ${tp.name}`,
          })) : null))),
    { caption: t('a.nav.templates') })),
    operator ? templateForm(ctx, () => templatesView(el, ctx)) : null);
  editPanel?.querySelector('h2').focus({ preventScroll: true });
}

// A stored-value template's online top-up: the amounts members may pay with their bonus,
// and what a charge takes first. PATCH /card-templates/{id} {top_up_options, bonus_policy}.
function topUpEditForm(ctx, tp) {
  const [options, optionsBox] = field('te-options', t('a.t.options'), {
    multiline: true, rows: 4, placeholder: '500:50\n1000:150', value: optionsText(tp.top_up_options), api: 'top_up_options',
    'data-rule': t('a.t.optionsRule'), 'aria-describedby': 'te-options-hint',
  });
  optionsBox.append(h('p.muted', { id: 'te-options-hint', text: t('a.t.optionsHint') }));
  const [policy, policyBox] = field('te-policy', t('a.t.policy'), {
    options: ['proportional', 'paid_first'].map((k) => [k, t(`topup.policy.${k}`)]), value: tp.bonus_policy || 'proportional', api: 'bonus_policy',
  });
  const check = () => (parseOptionsText(options.value) ? [] : [[options, t('a.t.optionsRule')]]);
  return h('form.panel', {
    id: 'template-top-up', 'data-template': tp.id, novalidate: true, 'aria-labelledby': 'te-title',
    onsubmit: submitter(
      () => ({ top_up_options: parseOptionsText(options.value) || [], bonus_policy: policy.value }),
      // clean() drops nothing here: an empty list (no online top-up) is sent as it is.
      (body) => ctx.api.patch(`/card-templates/${tp.id}`, { top_up_options: [], ...body }),
      () => { location.hash = '#templates'; },
      { check, ok: t('a.saved') }),
  },
  h('div.row.between', {},
    h('h2', { id: 'te-title', tabindex: '-1', text: t('a.t.editOf', { name: tp.name }) }),
    h('a.btn.small.secondary', { href: '#templates', text: t('a.t.close') })),
  h('div.inline-fields', {}, optionsBox, policyBox),
  h('p', {}, h('button.btn', { type: 'submit', text: t('a.t.save') })));
}

function templateForm(ctx, done) {
  const { api } = ctx;
  const [name, nameBox] = field('t-name', t('a.f.name'), { required: true, maxlength: 120, api: 'name' });
  const [kind, kindBox] = field('t-kind', t('a.f.kind'), { options: ['stored_value', 'times', 'membership'].map((k) => [k, t(`kind.${k}`)]) });
  const [validity, validityBox] = field('t-validity', t('a.f.validity'), { type: 'number', min: 1, api: 'validity_days' });
  const [visits, visitsBox] = field('t-visits', t('a.f.visits'), { type: 'number', min: 1, api: 'initial_visits' });
  const [ppy, ppyBox] = field('t-ppy', t('a.f.ppy'), { type: 'number', min: 0, value: '1', api: 'points_per_yuan' });
  const [tiers, tiersBox] = field('t-tiers', t('a.f.tiers'), { multiline: true, rows: 3, placeholder: 'Silver:1000:5\nGold:5000:10', api: 'tiers', 'data-rule': t('a.t.tiersRule') });
  const [options, optionsBox] = field('t-options', t('a.t.options'), {
    multiline: true, rows: 3, placeholder: '500:50\n1000:150', api: 'top_up_options', 'data-rule': t('a.t.optionsRule'),
    'aria-describedby': 't-options-hint',
  });
  optionsBox.append(h('p.muted', { id: 't-options-hint', text: t('a.t.optionsHint') }));
  const [policy, policyBox] = field('t-policy', t('a.t.policy'), {
    options: ['proportional', 'paid_first'].map((k) => [k, t(`topup.policy.${k}`)]), value: 'proportional', api: 'bonus_policy',
  });
  const parseOptions = () => parseOptionsText(options.value);
  const checkOptions = () => {
    if (!options.value.trim()) return [];
    if (kind.value !== 'stored_value') return [[options, t('a.t.onlyStored')]];
    return parseOptions() ? [] : [[options, t('a.t.optionsRule')]];
  };
  const claimable = h('input', { type: 'checkbox', id: 't-claimable', checked: true });
  return h('form.panel', {
    novalidate: true,
    onsubmit: submitter(() => ({
      name: name.value.trim(), kind: kind.value, validity_days: num(validity), initial_visits: num(visits),
      points_per_yuan: num(ppy) ?? 0, claimable: claimable.checked,
      tiers: tiers.value.split('\n').map((line) => line.trim()).filter(Boolean).map((line) => {
        const [tierName, points, discount] = line.split(':');
        return { name: tierName.trim(), min_points: Number(points) || 0, discount_percent: Number(discount) || 0 };
      }),
      ...(kind.value === 'stored_value' ? { top_up_options: parseOptions() || [], bonus_policy: policy.value } : {}),
    }), (body) => api.post('/card-templates', body), done, { check: checkOptions }),
  },
  h('h2', { text: t('a.t.new') }),
  h('div.inline-fields', {}, nameBox, kindBox, validityBox, visitsBox, ppyBox), tiersBox,
  h('div.inline-fields', {}, optionsBox, policyBox),
  h('label.check', {}, claimable, t('a.f.claimable')),
  h('p', {}, h('button.btn', { type: 'submit', text: t('a.f.create') })));
}

