// Staff: who may log in to the scanner and the dashboard, with their role and stores. Add a
// login; edit one's name, role and stores; deactivate or activate it; set a new password.
// Operators manage everyone; managers the clerks of their stores (the API decides).
// export async function staffView(el, ctx)
import { listOf } from '/static/common/api.js';
import { addMessages, errorText, t } from '/static/common/i18n.js';
import { confirmButton, h, mount, toast } from '/static/common/ui.js';
import { checkGroup, field, storeNames, submitter, table } from './kit.js';

addMessages({
  zh: {
    'a.staff.edit': '编辑', 'a.staff.editing': '编辑员工：{name}', 'a.staff.close': '关闭',
    'a.staff.displayName': '显示名称', 'a.staff.deactivate': '停用', 'a.staff.activate': '启用',
    'a.staff.deactivated': '已停用：其登录已立即失效', 'a.staff.activated': '已启用',
    'a.staff.inactive': '已停用', 'a.staff.newPassword': '新密码（至少 10 位）', 'a.staff.setPassword': '设置新密码',
    'a.staff.passwordSet': '密码已更新：其登录已立即失效', 'a.staff.access': '账号状态',
    'a.staff.you': '（你）', 'a.staff.savedOut': '已保存：角色或门店变更后，其登录已立即失效',
    'a.staff.usernameRule': '3–64 位字母、数字或 _ . @ -',
    'a.staff.storesRule': '店员和店长至少选一家门店',
    'a.staff.lastOperator': '这是最后一位启用的运营人员：不能停用或改为其他角色。请先新增或启用另一位运营人员。',
  },
  en: {
    'a.staff.edit': 'Edit', 'a.staff.editing': 'Edit staff: {name}', 'a.staff.close': 'Close',
    'a.staff.displayName': 'Display name', 'a.staff.deactivate': 'Deactivate', 'a.staff.activate': 'Activate',
    'a.staff.deactivated': 'Deactivated: their sessions ended at once', 'a.staff.activated': 'Activated',
    'a.staff.inactive': 'Deactivated', 'a.staff.newPassword': 'New password (10+ characters)', 'a.staff.setPassword': 'Set a new password',
    'a.staff.passwordSet': 'Password changed: their sessions ended at once', 'a.staff.access': 'Access',
    'a.staff.you': ' (you)', 'a.staff.savedOut': 'Saved: a role or store change ends their sessions at once',
    'a.staff.usernameRule': '3–64 letters, digits or _ . @ -',
    'a.staff.storesRule': 'clerks and managers need at least one store',
    'a.staff.lastOperator': 'This is the last active operator: they cannot be deactivated or given another role. Add or activate another operator first.',
  },
});

let editing = null; // the id of the staff member whose edit panel is open

export async function staffView(el, ctx) {
  const { api, session } = ctx;
  const [list, all] = await Promise.all([api.get('/staff').then((x) => listOf(x)), ctx.stores()]);
  const operator = session.staff.role === 'operator';
  const roles = operator ? ['clerk', 'manager', 'operator'] : ['clerk'];
  const words = { last_operator: t('a.staff.lastOperator') };
  const redraw = () => staffView(el, ctx);
  const current = list.find((s) => s.id === editing) || null;
  const label = (s) => `${s.username}${s.name && s.name !== s.username ? ` (${s.name})` : ''}${s.id === session.staff.id ? t('a.staff.you') : ''}`;

  const rows = list.map((s) => h('tr', { 'data-staff': s.id, class: s.id === editing ? 'on' : '' },
    h('th', { scope: 'row', text: label(s) }), h('td', { text: t(`a.role.${s.role}`) }),
    h('td', { text: s.role === 'operator' ? t('a.range.all') : storeNames(all, s.store_ids) }),
    h('td', {}, h('span.pill', { class: s.active === false ? 'cancelled' : 'active', text: s.active === false ? t('a.staff.inactive') : t('status.active') })),
    h('td', {}, h('button.btn.small.secondary', {
      type: 'button', text: t('a.staff.edit'), 'data-edit': s.id, 'aria-label': `${t('a.staff.edit')} ${s.username}`,
      'aria-expanded': String(s.id === editing), 'aria-controls': 'staff-edit',
      onclick: async () => {
        editing = editing === s.id ? null : s.id;
        await redraw();
        document.getElementById(editing ? 'staff-edit-h' : 'staff-list')?.focus();
      },
    }))));

  // --- the new staff form
  const [username, userBox] = field('u-name', t('a.f.username'), {
    required: true, autocomplete: 'off', minlength: 3, maxlength: 64, pattern: '[A-Za-z0-9_.@\\-]{3,64}',
    api: 'username', 'data-rule': t('a.staff.usernameRule'),
  });
  const [password, passBox] = field('u-pass', t('a.f.password'), {
    type: 'password', required: true, minlength: 10, maxlength: 256, autocomplete: 'new-password', api: 'password',
  });
  const [role, roleBox] = field('u-role', t('a.f.role'), { options: roles.map((r) => [r, t(`a.role.${r}`)]), api: 'role' });
  const [checked, storesBox] = checkGroup('u-stores', t('a.f.stores'), all.map((s) => [s.id, s.name]), { api: 'store_ids' });
  const needStores = (roleInput, picked, group) => () => (roleInput.value !== 'operator' && picked().length === 0
    ? [[group, t('a.staff.storesRule')]] : []);

  mount(el,
    h('div.panel', {}, h('h2', { id: 'staff-list', tabindex: '-1', text: t('a.nav.staff') }),
      table([t('a.f.username'), t('a.f.role'), t('a.f.stores'), t('a.staff.access'), ''], rows)),
    current ? editPanel(ctx, current, all, roles, words, redraw) : null,
    h('form.panel', {
      id: 'staff-new', novalidate: true,
      onsubmit: submitter(() => ({
        username: username.value.trim(), password: password.value, role: role.value,
        store_ids: role.value === 'operator' ? [] : checked(),
      }), (body) => api.post('/staff', body), redraw, { words, check: needStores(role, checked, storesBox) }),
    },
    h('h2', { text: t('a.staff.new') }),
    h('div.inline-fields', {}, userBox, passBox, roleBox),
    storesBox,
    h('button.btn', { type: 'submit', text: t('a.f.create') })));
}

function editPanel(ctx, s, all, roles, words, redraw) {
  const { api } = ctx;
  const self = s.id === ctx.session.staff.id;
  const [name, nameBox] = field('e-name', t('a.staff.displayName'), { value: s.name || '', maxlength: 120, api: 'name' });
  const choices = roles.includes(s.role) ? roles : [s.role, ...roles];
  const [role, roleBox] = field('e-role', t('a.f.role'), { options: choices.map((r) => [r, t(`a.role.${r}`)]), value: s.role, api: 'role' });
  const [checked, storesBox] = checkGroup('e-stores', t('a.f.stores'), all.map((x) => [x.id, x.name]),
    { checked: s.store_ids || [], api: 'store_ids' });
  const [password, passBox] = field('e-pass', t('a.staff.newPassword'), {
    type: 'password', required: true, minlength: 10, maxlength: 256, autocomplete: 'new-password', api: 'password',
  });
  const status = h('p', { id: 'staff-edit-status', role: 'status' });
  const toggle = async () => {
    const action = s.active === false ? 'activate' : 'deactivate';
    try {
      await api.post(`/staff/${s.id}/${action}`, {});
      toast(t(action === 'activate' ? 'a.staff.activated' : 'a.staff.deactivated'), 'ok');
      await redraw();
      document.getElementById('staff-edit-h')?.focus();
    } catch (err) {
      status.className = 'error';
      status.textContent = errorText(err, words);
      toast(errorText(err, words), 'bad');
    }
  };
  const save = submitter(() => ({
    name: name.value.trim(), role: role.value, store_ids: role.value === 'operator' ? [] : checked(),
  }), (body) => api.patch(`/staff/${s.id}`, { ...body, name: name.value.trim() }), async () => {
    await redraw();
    document.getElementById('staff-edit-h')?.focus();
  }, {
    ok: t('a.staff.savedOut'), words, failed: (err, text) => { status.className = 'error'; status.textContent = text; },
    check: () => (role.value !== 'operator' && checked().length === 0 ? [[storesBox, t('a.staff.storesRule')]] : []),
  });
  return h('section.panel', { id: 'staff-edit', 'data-editing': s.id, 'aria-labelledby': 'staff-edit-h' },
    h('div.row.between', {},
      h('h2', { id: 'staff-edit-h', tabindex: '-1', text: t('a.staff.editing', { name: s.username }) }),
      h('button.btn.small.secondary', { type: 'button', text: t('a.staff.close'), onclick: async () => { editing = null; await redraw(); } })),
    status,
    h('form', {
      id: 'staff-edit-form', novalidate: true,
      onsubmit: (event) => { status.textContent = ''; return save(event); },
    },
    h('div.inline-fields', {}, nameBox, roleBox), storesBox,
    h('button.btn', { type: 'submit', text: t('app.save') })),
    h('h3', { text: t('a.staff.access') }),
    h('div.row', {},
      h('span.pill', { class: s.active === false ? 'cancelled' : 'active', text: s.active === false ? t('a.staff.inactive') : t('status.active') }),
      s.active === false
        ? h('button.btn.small', { type: 'button', id: 'staff-toggle', text: t('a.staff.activate'), onclick: toggle })
        : (() => { const b = confirmButton(t('a.staff.deactivate'), t('app.sure'), toggle, 'btn small danger'); b.id = 'staff-toggle'; return b; })(),
      self ? h('span.muted', { text: t('a.staff.you') }) : null),
    h('form', {
      id: 'staff-password', novalidate: true,
      onsubmit: submitter(() => ({ password: password.value }), (body) => api.post(`/staff/${s.id}/password`, body),
        () => { password.value = ''; }, { ok: t('a.staff.passwordSet'), words }),
    },
    h('h3', { text: t('a.staff.setPassword') }),
    h('div.inline-fields', {}, passBox),
    h('button.btn.small', { type: 'submit', text: t('a.staff.setPassword') })));
}
