// Automations: vouchers the server issues by itself (birthday, win-back after N days without a
// visit, welcome on the first card, the n-th visit). Create one (the trigger decides which
// number it asks for), list them, pause/resume, and per automation its run log (who got
// which voucher for which occurrence) and results.
// export async function automationsTab(el, ctx)
import { listOf } from '/static/common/api.js';
import { addMessages, errorText, t } from '/static/common/i18n.js';
import { fmtDateTime, h, mount, toast } from '/static/common/ui.js';
import { field, submitter, table } from './kit.js';
import { resultsTable } from './results.js';

addMessages({
  zh: {
    'a.au.new': '新建自动营销', 'a.au.list': '自动营销', 'a.au.trigger': '触发条件', 'a.au.campaign': '发放的活动',
    'a.au.t.birthday': '生日', 'a.au.t.inactive': '久未到店（唤回）', 'a.au.t.welcome': '欢迎新会员（首张卡）', 'a.au.t.nth_visit': '第 N 次到店',
    'a.au.daysBefore': '生日前几天发（0 = 当天）', 'a.au.inactiveDays': '多少天没到店', 'a.au.n': '第几次到店',
    'a.au.notify': '发券时通知会员', 'a.au.active': '创建后立即启用',
    'a.au.d.birthday': '生日前 {n} 天', 'a.au.d.birthday0': '生日当天', 'a.au.d.inactive': '{n} 天未到店',
    'a.au.d.welcome': '首次开卡', 'a.au.d.nth_visit': '第 {n} 次到店',
    'a.au.pause': '暂停', 'a.au.resume': '启用', 'a.au.paused': '已暂停', 'a.au.resumed': '已启用',
    'a.au.runs': '运行记录', 'a.au.runsOf': '运行记录：{name}', 'a.au.member': '会员', 'a.au.voucher': '券', 'a.au.occurrence': '触发',
    'a.au.when': '时间', 'a.au.noRuns': '还没有发过券', 'a.au.none': '还没有自动营销', 'a.au.close': '关闭',
    'a.au.results': '效果（最近 90 天）', 'a.au.zone': '生日和未到店天数按连锁的时区计算；每位会员每次触发最多发一张券。',
    'a.au.noCampaigns': '先创建一个进行中的活动', 'a.au.outcome': '结果', 'a.au.issued': '已发券', 'a.au.skipped': '未发', 'a.au.prev': '上一页', 'a.au.next': '下一页',
  },
  en: {
    'a.au.new': 'New automation', 'a.au.list': 'Automations', 'a.au.trigger': 'Trigger', 'a.au.campaign': 'Campaign to issue',
    'a.au.t.birthday': 'Birthday', 'a.au.t.inactive': 'Inactive (win-back)', 'a.au.t.welcome': 'Welcome (first card)', 'a.au.t.nth_visit': 'N-th visit',
    'a.au.daysBefore': 'Days before the birthday (0: on the day)', 'a.au.inactiveDays': 'Days without a visit', 'a.au.n': 'Which visit',
    'a.au.notify': 'Notify the member', 'a.au.active': 'Start it now',
    'a.au.d.birthday': '{n} days before the birthday', 'a.au.d.birthday0': 'on the birthday', 'a.au.d.inactive': 'no visit for {n} days',
    'a.au.d.welcome': 'first card', 'a.au.d.nth_visit': 'visit number {n}',
    'a.au.pause': 'Pause', 'a.au.resume': 'Resume', 'a.au.paused': 'Paused', 'a.au.resumed': 'Resumed',
    'a.au.runs': 'Run log', 'a.au.runsOf': 'Run log: {name}', 'a.au.member': 'Member', 'a.au.voucher': 'Voucher', 'a.au.occurrence': 'Occurrence',
    'a.au.when': 'When', 'a.au.noRuns': 'Nothing issued yet', 'a.au.none': 'No automation yet', 'a.au.close': 'Close',
    'a.au.results': 'Results (last 90 days)', 'a.au.zone': 'Birthdays and days without a visit count in the chain\'s time zone; a member gets at most one voucher per occurrence.',
    'a.au.noCampaigns': 'Create a running campaign first', 'a.au.outcome': 'Outcome', 'a.au.issued': 'Voucher issued', 'a.au.skipped': 'Not issued', 'a.au.prev': 'Previous', 'a.au.next': 'Next',
  },
});

const TRIGGERS = ['birthday', 'inactive', 'welcome', 'nth_visit'];
// The number each trigger asks for: [param, label key, min, max, default].
const PARAMS = {
  birthday: ['days_before', 'a.au.daysBefore', 0, 60, '0'],
  inactive: ['inactive_days', 'a.au.inactiveDays', 1, 3650, '60'],
  nth_visit: ['n', 'a.au.n', 1, 10000, '5'],
};
const RUNS_PAGE = 20;

export function triggerText(a) {
  const p = a.params || {};
  if (a.trigger === 'birthday') return p.days_before ? t('a.au.d.birthday', { n: p.days_before }) : t('a.au.d.birthday0');
  if (a.trigger === 'inactive') return t('a.au.d.inactive', { n: p.inactive_days ?? '?' });
  if (a.trigger === 'nth_visit') return t('a.au.d.nth_visit', { n: p.n ?? '?' });
  return t(`a.au.d.${a.trigger}`);
}

export async function automationsTab(el, ctx) {
  const { api } = ctx;
  const [list, campaigns] = await Promise.all([
    api.get('/automations').then((x) => listOf(x)),
    api.get('/campaigns').then((x) => listOf(x)).catch(() => []),
  ]);
  const open = ctx.params[1] ? list.find((a) => a.id === ctx.params[1]) : null;
  const campaignName = (id) => campaigns.find((c) => c.id === id)?.name || '—';
  const toggle = (a) => async () => {
    const paused = a.status === 'paused';
    try {
      await api.patch(`/automations/${a.id}`, { status: paused ? 'active' : 'paused' });
      toast(paused ? t('a.au.resumed') : t('a.au.paused'), 'ok');
      await ctx.rerender();
      document.querySelector(`tr[data-automation='${a.id}'] button[data-toggle]`)?.focus();
    } catch (err) { toast(errorText(err), 'bad'); }
  };
  const panel = open ? runsPanel(ctx, open, campaignName(open.campaign_id)) : null;
  mount(el,
    panel,
    h('section.panel', { id: 'automations', 'aria-labelledby': 'au-list-title' },
      h('h2', { id: 'au-list-title', text: t('a.au.list') }),
      list.length ? table([t('a.f.name'), t('a.au.trigger'), t('a.au.campaign'), t('a.n.status'), ''],
        list.map((a) => h('tr', { 'data-automation': a.id, 'data-status': a.status, class: open?.id === a.id ? 'on' : null },
          h('th', { scope: 'row', text: a.name }),
          h('td', { text: `${t(`a.au.t.${a.trigger}`)} · ${triggerText(a)}` }),
          h('td', { text: campaignName(a.campaign_id) }),
          h('td', {}, h('span.pill', { class: a.status, text: t(`status.${a.status}`) })),
          h('td', {}, h('div.table-actions', {},
            h('a.btn.small.secondary', { href: `#marketing/automations/${a.id}`, text: t('a.au.runs'), 'data-runs': a.id, 'aria-label': `${t('a.au.runs')}: ${a.name}` }),
            h('button.btn.small.secondary', {
              type: 'button', 'data-toggle': '1', onclick: toggle(a),
              text: a.status === 'paused' ? t('a.au.resume') : t('a.au.pause'),
              'aria-label': `${a.status === 'paused' ? t('a.au.resume') : t('a.au.pause')}: ${a.name}`,
            }))))),
      { caption: t('a.au.list') }) : h('p.muted', { text: t('a.au.none') }),
      h('p.muted', { text: t('a.au.zone') })),
    automationForm(ctx, campaigns));
  if (panel) panel.querySelector('h2').focus({ preventScroll: true });
}

function automationForm(ctx, campaigns) {
  const live = campaigns.filter((c) => c.status === 'active' && new Date(c.valid_until) > new Date());
  if (!live.length) {
    return h('section.panel', {}, h('h2', { text: t('a.au.new') }), h('p.muted', { text: t('a.au.noCampaigns') }));
  }
  const [name, nameBox] = field('au-name', t('a.f.name'), { required: true, maxlength: 120, api: 'name' });
  const [trigger, triggerBox] = field('au-trigger', t('a.au.trigger'), { options: TRIGGERS.map((x) => [x, t(`a.au.t.${x}`)]), api: 'trigger' });
  const numbers = Object.fromEntries(Object.entries(PARAMS).map(([key, [param, label, min, max, value]]) => [key,
    field(`au-${param.replace('_', '-')}`, t(label), { type: 'number', min, max, value, required: true, api: 'params' })]));
  const [campaign, campaignBox] = field('au-campaign', t('a.au.campaign'), { options: live.map((c) => [c.id, c.name]), api: 'campaign_id' });
  const notify = h('input', { type: 'checkbox', id: 'au-notify', checked: true });
  const active = h('input', { type: 'checkbox', id: 'au-active', checked: true });
  // Only the trigger's own number is shown (and checked).
  const showParams = () => {
    for (const [key, [input, box]] of Object.entries(numbers)) {
      box.hidden = key !== trigger.value;
      input.disabled = box.hidden;
    }
  };
  trigger.addEventListener('change', showParams);
  showParams();
  const build = () => {
    const own = PARAMS[trigger.value];
    const params = own ? { [own[0]]: Number(numbers[trigger.value][0].value) } : {};
    return {
      name: name.value.trim(), trigger: trigger.value, params, campaign_id: campaign.value,
      notify: notify.checked, status: active.checked ? 'active' : 'paused',
    };
  };
  return h('form.panel', {
    id: 'automation-form', novalidate: true, 'aria-labelledby': 'au-new-title',
    onsubmit: submitter(build, (body) => ctx.api.post('/automations', body), () => ctx.rerender()),
  },
  h('h2', { id: 'au-new-title', text: t('a.au.new') }),
  h('div.inline-fields', {}, nameBox, triggerBox, ...Object.values(numbers).map(([, box]) => box), campaignBox),
  h('div.row', {},
    h('label.check', { for: 'au-notify' }, notify, t('a.au.notify')),
    h('label.check', { for: 'au-active' }, active, t('a.au.active'))),
  h('p', {}, h('button.btn', { type: 'submit', text: t('a.f.create') })));
}

function runsPanel(ctx, automation, campaignName) {
  const { api } = ctx;
  const box = h('div', { id: 'automation-runs' }, h('p.muted', { text: t('app.loading') }));
  const results = h('div', { id: 'automation-results' });
  let offset = 0;
  const load = async () => {
    try {
      const list = listOf(await api.get(`/automations/${automation.id}/runs`, { limit: RUNS_PAGE + 1, offset }), 'runs');
      const more = list.length > RUNS_PAGE;
      const page = list.slice(0, RUNS_PAGE);
      const go = (delta) => () => { offset = Math.max(0, offset + delta * RUNS_PAGE); load(); };
      mount(box,
        page.length ? table([t('a.au.when'), t('a.au.member'), t('a.au.occurrence'), t('a.au.outcome')],
          page.map((r) => h('tr', { 'data-run': r.voucher_id || '', 'data-status': r.status || (r.voucher_id ? 'issued' : 'skipped') },
            h('td', { text: fmtDateTime(r.created_at) }),
            // The run names the member by id: the link opens them.
            h('td', {}, h('a.techdetail', { href: `#members/${r.member_id}`, text: r.member_name || String(r.member_id).slice(0, 8) })),
            h('td', { text: String(r.occurrence ?? '—') }),
            h('td', { text: r.voucher_id ? t('a.au.issued') : t('a.v.pair', { label: t('a.au.skipped'), rule: errorText({ code: r.skipped_code }) }) }))),
          { caption: t('a.au.runsOf', { name: automation.name }) }) : h('p.muted', { text: t('a.au.noRuns') }),
        h('nav.row.pager', { 'aria-label': t('a.au.runsOf', { name: automation.name }) },
          h('button.btn.small.secondary', { type: 'button', text: t('a.au.prev'), disabled: offset === 0, onclick: go(-1) }),
          h('button.btn.small.secondary', { type: 'button', text: t('a.au.next'), disabled: !more, onclick: go(1) })));
    } catch (err) {
      mount(box, h('p.error', { role: 'alert', text: errorText(err) }));
    }
  };
  const figures = async () => {
    const to = new Date().toISOString().slice(0, 10);
    const from = new Date(Date.now() - 89 * 86400000).toISOString().slice(0, 10);
    try {
      const rows = listOf(await api.get('/stats/automations', { from, to })).filter((r) => r.source_id === automation.id);
      mount(results, h('h3', { text: t('a.au.results') }), resultsTable(rows.length ? rows : [{ name: automation.name, issued: 0, redeemed: 0 }], 'automation'));
    } catch (err) {
      mount(results, h('p.muted', { text: errorText(err) }));
    }
  };
  load();
  figures();
  return h('section.panel', { id: 'automation-view', 'data-automation': automation.id, 'aria-labelledby': 'au-runs-title' },
    h('div.row.between', {},
      h('h2', { id: 'au-runs-title', tabindex: '-1', text: t('a.au.runsOf', { name: automation.name }) }),
      h('a.btn.small.secondary', { href: '#marketing/automations', text: t('a.au.close') })),
    h('p.muted', { text: `${t(`a.au.t.${automation.trigger}`)} · ${triggerText(automation)} · ${campaignName}` }),
    results, box);
}
