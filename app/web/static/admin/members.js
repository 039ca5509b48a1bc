// Members: the chain's members (operators) or a manager's stores' members, with a search box.
// A first version for the split; H7b builds it out (filters, a member's cards, ledger,
// vouchers and bookings, card and voucher actions).
// export async function membersView(el, ctx)
import { listOf } from '/static/common/api.js';
import { addMessages, errorText, t } from '/static/common/i18n.js';
import { fmtDate, h, mount } from '/static/common/ui.js';
import { field, table } from './kit.js';

addMessages({
  zh: {
    'a.mb.search': '搜索会员（姓名或手机号）', 'a.mb.go': '搜索', 'a.mb.name': '姓名', 'a.mb.phone': '手机号',
    'a.mb.joined': '注册日期', 'a.mb.nameless': '（未填姓名）',
  },
  en: {
    'a.mb.search': 'Search members (name or phone)', 'a.mb.go': 'Search', 'a.mb.name': 'Name', 'a.mb.phone': 'Phone',
    'a.mb.joined': 'Joined', 'a.mb.nameless': '(no name)',
  },
});

const search = { q: '' };

export async function membersView(el, ctx) {
  const { api } = ctx;
  const [q, qBox] = field('mb-q', t('a.mb.search'), { type: 'search', value: search.q, maxlength: 60, autocomplete: 'off' });
  const results = h('div.panel', { id: 'members', 'aria-live': 'polite' }, h('p.muted', { text: t('app.loading') }));
  const load = async () => {
    search.q = q.value.trim();
    try {
      const list = listOf(await api.get('/members', { q: search.q, limit: 50 }));
      mount(results, list.length ? table([t('a.mb.name'), t('a.mb.phone'), t('a.mb.joined')],
        list.map((m) => h('tr', { 'data-member': m.id },
          h('td', { text: m.name || t('a.mb.nameless') }), h('td', { text: m.phone || '—' }),
          h('td', { text: fmtDate(m.created_at) }))))
        : h('p.muted', { text: t('app.none') }));
    } catch (err) {
      mount(results, h('p.error', { role: 'alert', text: errorText(err) }));
    }
  };
  mount(el,
    h('form.panel', { role: 'search', onsubmit: (event) => { event.preventDefault(); load(); } },
      h('div.row', {}, h('div.grow', {}, qBox), h('button.btn', { type: 'submit', text: t('a.mb.go') }))),
    results);
  await load();
}
