// Staff: who may log in to the scanner and the dashboard, with their role and stores.
// export async function staffView(el, ctx)
import { listOf } from '/static/common/api.js';
import { t } from '/static/common/i18n.js';
import { h, mount } from '/static/common/ui.js';
import { field, submitter, table } from './kit.js';

export async function staffView(el, ctx) {
  const { api, session } = ctx;
  const [list, all] = await Promise.all([api.get('/staff').then((x) => listOf(x)), ctx.stores()]);
  const names = (ids) => (ids || []).map((id) => all.find((s) => s.id === id)?.name || id).join(', ');
  const [username, userBox] = field('u-name', t('a.f.username'), { required: true, autocomplete: 'off' });
  const [password, passBox] = field('u-pass', t('a.f.password'), { type: 'password', minlength: 10, autocomplete: 'new-password' });
  const [role, roleBox] = field('u-role', t('a.f.role'), {
    options: (session.staff.role === 'operator' ? ['clerk', 'manager', 'operator'] : ['clerk']).map((r) => [r, t(`a.role.${r}`)]),
  });
  const checks = all.map((s) => h('input', { type: 'checkbox', value: s.id }));
  mount(el,
    h('div.panel', {}, table([t('a.f.username'), t('a.f.role'), t('a.f.stores'), t('a.n.status')],
      list.map((s) => h('tr', {},
        h('td', { text: `${s.username}${s.name ? ` (${s.name})` : ''}` }), h('td', { text: t(`a.role.${s.role}`) }),
        h('td', { text: s.role === 'operator' ? t('a.range.all') : names(s.store_ids) }),
        h('td', {}, h('span.pill', { class: s.active === false ? 'cancelled' : 'active', text: s.active === false ? '—' : t('status.active') })))))),
    h('form.panel', {
      novalidate: true,
      onsubmit: submitter(() => ({
        username: username.value.trim(), password: password.value, role: role.value,
        store_ids: checks.filter((c) => c.checked).map((c) => c.value),
      }), (body) => api.post('/staff', body), () => staffView(el, ctx)),
    },
    h('h2', { text: t('a.staff.new') }),
    h('div.inline-fields', {}, userBox, passBox, roleBox),
    h('div.field', {}, h('label', { text: t('a.f.stores') }), all.map((s, i) => h('label.check', {}, checks[i], s.name))),
    h('button.btn', { type: 'submit', text: t('a.f.create') })));
}

