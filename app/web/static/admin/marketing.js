// Marketing (issue 20): the segment builder and saved segments, automations, the referral
// program and campaign results, each a tab of one view:
//   #marketing                       segments: builder with the live count, saved segments
//   #marketing/segments/<id>         ... with that segment's members
//   #marketing/issue/<segment id>    ... with "issue a campaign to it" and the job's progress
//   #marketing/automations[/<id>]    automations (with that one's run log and results)
//   #marketing/referral              the referral program and its figures
//   #marketing/results               campaign results: table, chart, CSV
// Managers see the segments tab only (the API lets them preview their stores' members).
// export async function marketingView(el, ctx)
import { addMessages, t } from '/static/common/i18n.js';
import { h, mount } from '/static/common/ui.js';
import { automationsTab } from './automations.js';
import { referralTab } from './referral.js';
import { resultsTab } from './results.js';
import { segmentsTab } from './segments.js';

if (!document.querySelector('link[data-marketing-css]')) {
  document.head.append(h('link', { rel: 'stylesheet', href: '/static/admin/marketing.css', 'data-marketing-css': '1' }));
}

addMessages({
  zh: {
    'a.nav.marketing': '营销', 'a.mk.tabs': '营销功能',
    'a.mk.segments': '人群', 'a.mk.automations': '自动营销', 'a.mk.referral': '推荐有礼', 'a.mk.results': '活动效果',
  },
  en: {
    'a.nav.marketing': 'Marketing', 'a.mk.tabs': 'Marketing sections',
    'a.mk.segments': 'Segments', 'a.mk.automations': 'Automations', 'a.mk.referral': 'Referral', 'a.mk.results': 'Campaign results',
  },
});

// [tab, label key, draw, operators only]
const TABS = [
  ['segments', 'a.mk.segments', segmentsTab, false],
  ['automations', 'a.mk.automations', automationsTab, true],
  ['referral', 'a.mk.referral', referralTab, true],
  ['results', 'a.mk.results', resultsTab, true],
];

export async function marketingView(el, ctx) {
  const operator = ctx.role === 'operator';
  const mine = TABS.filter(([, , , opOnly]) => operator || !opOnly);
  const first = ctx.params[0] || 'segments';
  // #marketing/segments/<id> and #marketing/issue/<id> belong to the segments tab.
  const name = ['issue'].includes(first) ? 'segments' : first;
  const [key, , draw] = mine.find(([k]) => k === name) || mine[0];
  const body = h('div', { id: `mk-${key}` }, h('p.muted', { text: t('app.loading') }));
  mount(el,
    h('nav.subnav', { 'aria-label': t('a.mk.tabs') }, mine.map(([k, label]) => h('a', {
      href: `#marketing/${k}`, text: t(label), 'data-tab': k, class: k === key ? 'on' : null,
      'aria-current': k === key ? 'page' : null,
    }))),
    body);
  await draw(body, ctx);
}
