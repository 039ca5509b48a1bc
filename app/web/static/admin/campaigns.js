// The campaigns view (moved as it was from app.js; H7b builds it out: results, store limits).
// export async function campaignsView(el, ctx)
import { listOf } from '/static/common/api.js';
import { errorText, t } from '/static/common/i18n.js';
import { addDays, fmtDate, h, money, mount, toast } from '/static/common/ui.js';
import { field, num, submitter, table, yuan } from './kit.js';

export async function campaignsView(el, ctx) {
  const { api, session } = ctx;
  const list = listOf(await api.get('/campaigns'));
  const operator = session.staff.role === 'operator';
  const toggle = (c) => async () => {
    try {
      await api.post(`/campaigns/${c.id}/${c.status === 'paused' ? 'resume' : 'pause'}`, {});
      campaignsView(el, ctx);
    } catch (err) { toast(errorText(err), 'bad'); }
  };
  const terms = (c) => [c.value_cents ? money(c.value_cents) : null, c.percent_off ? `${c.percent_off}%` : null,
    c.max_discount_cents ? `≤${money(c.max_discount_cents)}` : null, c.item_name,
    c.min_spend_cents ? `≥${money(c.min_spend_cents)}` : null].filter(Boolean).join(' ');
  mount(el,
    h('div.panel', {}, table(
      [t('a.f.name'), t('a.f.kind'), '', t('a.c.issued'), t('a.c.valid'), t('a.n.status'), ''],
      list.map((c) => h('tr', { 'data-campaign': c.id },
        h('td', { text: c.name }), h('td', { text: t(`kind.${c.kind}`) }), h('td', { text: terms(c) }),
        h('td', { text: `${c.issued_count} / ${c.total_quantity}` }),
        h('td', { text: `${fmtDate(c.valid_from)} – ${fmtDate(c.valid_until)}` }),
        h('td', {}, h('span.pill', { class: c.status, text: t(`status.${c.status}`) })),
        h('td', {}, operator ? h('button.btn.small.secondary', {
          type: 'button', text: c.status === 'paused' ? t('a.c.resume') : t('a.c.pause'), onclick: toggle(c),
        }) : null))))),
    operator ? campaignForm(ctx, () => campaignsView(el, ctx)) : null);
}

function campaignForm(ctx, done) {
  const { api } = ctx;
  const today = new Date().toISOString().slice(0, 10);
  const [name, nameBox] = field('c-name', t('a.f.name'), { required: true, maxlength: 120 });
  const [kind, kindBox] = field('c-kind', t('a.f.kind'), { options: ['cash', 'discount', 'gift', 'service'].map((k) => [k, t(`kind.${k}`)]) });
  const [value, valueBox] = field('c-value', t('a.f.value'), { inputmode: 'decimal' });
  const [percent, percentBox] = field('c-percent', t('a.f.percent'), { type: 'number', min: 1, max: 100 });
  const [cap, capBox] = field('c-cap', t('a.f.maxDiscount'), { inputmode: 'decimal' });
  const [item, itemBox] = field('c-item', t('a.f.item'));
  const [minSpend, minBox] = field('c-min', t('a.f.minSpend'), { inputmode: 'decimal' });
  const [total, totalBox] = field('c-total', t('a.f.total'), { type: 'number', min: 1, value: '100', required: true });
  const [limit, limitBox] = field('c-limit', t('a.f.perMember'), { type: 'number', min: 1, value: '1' });
  const [from, fromBox] = field('c-from', t('a.f.from'), { type: 'date', value: today, required: true });
  const [until, untilBox] = field('c-until', t('a.f.until'), { type: 'date', value: addDays(today, 30), required: true });
  return h('form.panel', {
    novalidate: true,
    onsubmit: submitter(() => ({
      name: name.value.trim(), kind: kind.value, value_cents: yuan(value), percent_off: num(percent),
      max_discount_cents: yuan(cap), item_name: item.value.trim(), min_spend_cents: yuan(minSpend),
      total_quantity: num(total), per_member_limit: num(limit),
      valid_from: new Date(`${from.value}T00:00:00`).toISOString(),
      valid_until: new Date(`${until.value}T23:59:59`).toISOString(),
    }), (body) => api.post('/campaigns', body), done),
  },
  h('h2', { text: t('a.c.new') }),
  h('div.inline-fields', {}, nameBox, kindBox, valueBox, percentBox, capBox, itemBox, minBox, totalBox, limitBox, fromBox, untilBox),
  h('button.btn', { type: 'submit', text: t('a.f.create') }));
}

