// Card templates: the chain's kinds of membership card, and a form to add one (operators).
// export async function templatesView(el, ctx)
import { listOf } from '/static/common/api.js';
import { addMessages, t } from '/static/common/i18n.js';
import { h, mount } from '/static/common/ui.js';
import { field, num, storeNames as namesOf, submitter, table } from './kit.js';

addMessages({
  zh: { 'a.t.tiersRule': '每行一个等级：名称:所需积分:折扣百分比，如 Gold:5000:10' },
  en: { 'a.t.tiersRule': 'a tier a line: name:points:discount percent, such as Gold:5000:10' },
});

export async function templatesView(el, ctx) {
  const { api, session } = ctx;
  const list = listOf(await api.get('/card-templates'));
  const all = await ctx.stores();
  const storeNames = (ids) => (ids ? namesOf(all, ids) : t('a.range.all'));
  mount(el,
    h('div.panel', {}, table(
      [t('a.f.name'), t('a.f.kind'), t('a.f.validity'), t('a.f.visits'), t('a.f.ppy'), t('a.f.tiers'), t('a.f.stores')],
      list.map((tp) => h('tr', { 'data-template': tp.id },
        h('th', { scope: 'row', text: tp.name }), h('td', { text: t(`kind.${tp.kind}`) }),
        h('td', { text: tp.validity_days ?? '—' }), h('td', { text: tp.initial_visits ?? '—' }),
        h('td', { text: tp.points_per_yuan }),
        h('td', { text: (tp.tiers || []).map((x) => `${x.name} ≥${x.min_points} −${x.discount_percent}%`).join('; ') }),
        h('td', { text: storeNames(tp.store_ids) }))))),
    session.staff.role === 'operator' ? templateForm(ctx, () => templatesView(el, ctx)) : null);
}

function templateForm(ctx, done) {
  const { api } = ctx;
  const [name, nameBox] = field('t-name', t('a.f.name'), { required: true, maxlength: 120, api: 'name' });
  const [kind, kindBox] = field('t-kind', t('a.f.kind'), { options: ['stored_value', 'times', 'membership'].map((k) => [k, t(`kind.${k}`)]) });
  const [validity, validityBox] = field('t-validity', t('a.f.validity'), { type: 'number', min: 1, api: 'validity_days' });
  const [visits, visitsBox] = field('t-visits', t('a.f.visits'), { type: 'number', min: 1, api: 'initial_visits' });
  const [ppy, ppyBox] = field('t-ppy', t('a.f.ppy'), { type: 'number', min: 0, value: '1', api: 'points_per_yuan' });
  const [tiers, tiersBox] = field('t-tiers', t('a.f.tiers'), { multiline: true, rows: 3, placeholder: 'Silver:1000:5\nGold:5000:10', api: 'tiers', 'data-rule': t('a.t.tiersRule') });
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
    }), (body) => api.post('/card-templates', body), done),
  },
  h('h2', { text: t('a.t.new') }),
  h('div.inline-fields', {}, nameBox, kindBox, validityBox, visitsBox, ppyBox), tiersBox,
  h('label.check', {}, claimable, t('a.f.claimable')),
  h('p', {}, h('button.btn', { type: 'submit', text: t('a.f.create') })));
}

