// The operator's dashboard: the session, the navigation and the routing. Each view lives in
// its own module and exports `async function xView(el, ctx)`: it fills `el` (inside the
// page's one <main>, under the view's <h1>) and may call ctx.rerender() to draw itself again.
// ctx = { api, session, staff, role, params, stores(fresh?), rerender() } (see /work/wt/api/admin.md).
import { createApi, listOf } from '/static/common/api.js';
import { errorText, langToggle, onLangChange, t } from '/static/common/i18n.js';
import { staffLoginView, staffSession } from '/static/common/login.js';
import { h, mount } from '/static/common/ui.js';
import { campaignsView } from './campaigns.js';
import { integrationsView } from './integrations.js';
import { marketingView } from './marketing.js';
import { membersView } from './members.js';
import { notificationsView } from './notifications.js';
import { overviewView } from './overview.js';
import { settingsView } from './settings.js';
import { staffView } from './staff.js';
import { storesView } from './stores.js';
import { templatesView } from './templates.js';
import { topUpsView } from './topups.js';

// The dashboard's own styles (CSP: style-src 'self'; base.css is shared by the pages).
if (!document.querySelector('link[data-admin-css]')) {
  document.head.append(h('link', { rel: 'stylesheet', href: '/static/admin/admin.css', 'data-admin-css': '1' }));
}

const api = createApi('admin', { onUnauthorized: () => { api.setToken(''); render(); } });
const root = document.getElementById('app');
const session = staffSession(api, 'admin');
let storeCache = null;
async function stores(fresh = false) {
  if (!storeCache || fresh) storeCache = listOf(await api.get('/stores'));
  return storeCache;
}

// [route, nav label, view, who sees it (default: everyone signed in)]
const VIEWS = [
  ['overview', 'a.nav.overview', overviewView],
  ['members', 'a.nav.members', membersView],
  ['campaigns', 'a.nav.campaigns', campaignsView],
  ['marketing', 'a.nav.marketing', marketingView, ['operator', 'manager']],
  ['templates', 'a.nav.templates', templatesView],
  ['topups', 'a.nav.topups', topUpsView, ['operator']],
  ['stores', 'a.nav.stores', storesView],
  ['staff', 'a.nav.staff', staffView],
  ['notifications', 'a.nav.notifications', notificationsView],
  ['integrations', 'a.nav.integrations', integrationsView, ['operator']],
  ['settings', 'a.nav.settings', settingsView, ['operator']],
];
const mine = () => VIEWS.filter(([, , , roles]) => !roles || roles.includes(session.staff?.role));
const route = () => {
  const name = location.hash.replace(/^#/, '').split('/')[0];
  return mine().find(([key]) => key === name) || VIEWS[0];
};

function render() {
  if (!api.token || !session.staff) { staffLoginView(root, session, t('a.login.title'), render); return; }
  const [name, label, view] = route();
  const content = h('div', { id: 'view', 'data-view': name }, h('p.muted', { text: t('app.loading') }));
  mount(root,
    h('header.topbar', {},
      h('span.title', { text: `${t('a.title')} · ${session.staff.name || session.staff.username || ''}` }),
      langToggle(),
      h('button', { type: 'button', text: t('app.logout'), onclick: logout })),
    h('main.page.wide', {},
      h('nav.nav', { 'aria-label': t('a.title') }, mine().map(([key, navLabel]) => h('a', {
        href: `#${key}`, class: key === name ? 'on' : '', text: t(navLabel), 'data-nav': key,
        'aria-current': key === name ? 'page' : null,
      }))),
      h('h1.viewtitle', { text: t(label), tabindex: '-1' }),
      content));
  const ctx = {
    api, session, stores, staff: session.staff, role: session.staff.role,
    // what follows the view's name in the hash: #members/<id> -> ['<id>']
    params: location.hash.replace(/^#/, '').split('/').slice(1),
    rerender: () => draw(),
  };
  const draw = () => view(content, ctx)
    .catch((err) => mount(content, h('div.panel', {}, h('p.error', { role: 'alert', text: errorText(err) }))));
  draw();
}

function logout() {
  session.logout();
  render();
}

window.addEventListener('hashchange', () => {
  render();
  document.querySelector('h1.viewtitle')?.focus({ preventScroll: true });
});
onLangChange(render);
render();
