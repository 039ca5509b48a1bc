// Members: the chain's members (operators) or a manager's stores' members.
//   #members                  search (name or phone), filters (tier, card template, last visit),
//                             paging; tick members and issue them a campaign's voucher.
//   #members/<id>             a member: their cards (balances, points, visits, tier, status)
//                             with freeze / unfreeze / cancel, vouchers (terms, status) with
//                             revoke, and bookings.
//   #members/<id>/ledger/<card id>   the same, with that card's ledger (naming the store).
// Card and voucher actions, issuing and campaign choice are the operator's (the API agrees).
// export async function membersView(el, ctx)
import { listOf, newKey } from '/static/common/api.js';
import { addMessages, errorText, t } from '/static/common/i18n.js';
import { confirmButton, fmtDate, fmtDateTime, h, money, mount, toast } from '/static/common/ui.js';
import { balanceSplitText, memberLabel, termsText } from '/static/common/terms.js';
import { field, srOnly, table } from './kit.js';

// This view's own styles (CSP: style-src 'self'), loaded once like app.js loads admin.css.
if (!document.querySelector('link[data-members-css]')) {
  document.head.append(h('link', { rel: 'stylesheet', href: '/static/admin/members.css', 'data-members-css': '1' }));
}

addMessages({
  zh: {
    'a.mb.search': '搜索会员（姓名或手机号）', 'a.mb.go': '搜索', 'a.mb.name': '姓名', 'a.mb.phone': '手机号',
    'a.mb.joined': '注册日期', 'a.mb.reset': '清除筛选',
    'a.mb.tier': '等级', 'a.mb.template': '持有的会员卡', 'a.mb.visitAfter': '最近到店：从（含）', 'a.mb.visitBefore': '最近到店：早于',
    'a.mb.lastVisit': '最近到店', 'a.mb.cards': '有效卡', 'a.mb.never': '从未到店', 'a.mb.select': '选择',
    'a.mb.selectOne': '选择 {name}', 'a.mb.selectPage': '全选本页',
    'a.mb.page': '第 {n} 页', 'a.mb.prev': '上一页', 'a.mb.next': '下一页', 'a.mb.shown': '第 {from}–{to} 位',
    'a.mb.issueTitle': '给所选会员发券', 'a.mb.campaign': '活动', 'a.mb.issue': '发券（已选 {n} 位）',
    'a.mb.selected': '已选 {n} 位会员', 'a.mb.clearSel': '清除选择', 'a.mb.pickSome': '请先在列表中勾选会员',
    'a.mb.issued': '已发放 {n} 张券', 'a.mb.skipped': '{n} 位未发放：', 'a.mb.noCampaigns': '没有进行中的活动',
    'a.mb.skip.not_found': '不是本连锁的会员', 'a.mb.skip.claim_limit_reached': '已达每人限领数量',
    'a.mb.skip.campaign_sold_out': '券已发完', 'a.mb.skip.campaign_inactive': '活动已暂停或不在有效期内',
    'a.mb.back': '返回会员列表', 'a.mb.profile': '会员资料', 'a.mb.birthday': '生日', 'a.mb.verified': '（已验证）',
    'a.mb.cardsTitle': '会员卡', 'a.mb.vouchersTitle': '优惠券', 'a.mb.bookingsTitle': '预约',
    'a.mb.card': '卡', 'a.mb.number': '卡号', 'a.mb.balance': '余额', 'a.mb.points': '积分', 'a.mb.visits': '剩余次数',
    'a.mb.expires': '到期', 'a.mb.status': '状态', 'a.mb.ledger': '流水', 'a.mb.ledgerOf': '流水：{card}',
    'a.mb.freeze': '冻结', 'a.mb.unfreeze': '解冻', 'a.mb.cancel': '注销卡', 'a.mb.cancelSure': '再点一次确认注销（不可恢复）',
    'a.mb.frozen': '卡已冻结', 'a.mb.unfrozen': '卡已解冻', 'a.mb.cancelled': '卡已注销',
    'a.mb.revoke': '作废', 'a.mb.revokeSure': '再点一次确认作废', 'a.mb.revoked': '券已作废',
    'a.mb.voucher': '券', 'a.mb.terms': '使用条件', 'a.mb.until': '有效期至',
    'a.mb.when': '时间', 'a.mb.store': '门店', 'a.mb.service': '服务', 'a.mb.stylist': '技师', 'a.mb.anyStylist': '{name}（未指定技师）',
    'a.mb.kind': '类型', 'a.mb.money': '金额变动', 'a.mb.balanceAfter': '变动后余额', 'a.mb.pointsAfter': '变动后积分', 'a.mb.visitsAfter': '变动后次数',
    'a.mb.l.issue': '开卡', 'a.mb.l.top_up': '充值', 'a.mb.l.charge': '消费', 'a.mb.l.visit': '核销次数', 'a.mb.l.earn': '积分',
    'a.mb.l.reversal': '撤销', 'a.mb.l.adjust': '调整',
    'a.mb.l.top_up_bonus': '充值赠送', 'a.mb.l.refund': '退款', 'a.mb.l.refund_reverted': '退款失败退回',
    'a.mb.l.parts': '实充 {paid}，赠送 {bonus}', 'a.mb.topups': '充值订单', 'a.mb.closeLedger': '关闭流水', 'a.mb.noStore': '—（线上/后台）',
    'a.mb.opOnly': '冻结、注销卡和作废券仅运营人员可操作',
  },
  en: {
    'a.mb.search': 'Search members (name or phone)', 'a.mb.go': 'Search', 'a.mb.name': 'Name', 'a.mb.phone': 'Phone',
    'a.mb.joined': 'Joined', 'a.mb.reset': 'Clear filters',
    'a.mb.tier': 'Tier', 'a.mb.template': 'Holds card', 'a.mb.visitAfter': 'Last visit on or after', 'a.mb.visitBefore': 'Last visit before',
    'a.mb.lastVisit': 'Last visit', 'a.mb.cards': 'Live cards', 'a.mb.never': 'never', 'a.mb.select': 'Select',
    'a.mb.selectOne': 'Select {name}', 'a.mb.selectPage': 'Select all on this page',
    'a.mb.page': 'Page {n}', 'a.mb.prev': 'Previous', 'a.mb.next': 'Next', 'a.mb.shown': 'Members {from}–{to}',
    'a.mb.issueTitle': 'Issue a voucher to the selected members', 'a.mb.campaign': 'Campaign', 'a.mb.issue': 'Issue ({n} selected)',
    'a.mb.selected': '{n} members selected', 'a.mb.clearSel': 'Clear selection', 'a.mb.pickSome': 'Tick members in the list first',
    'a.mb.issued': '{n} vouchers issued', 'a.mb.skipped': '{n} not issued:', 'a.mb.noCampaigns': 'No running campaign',
    'a.mb.skip.not_found': 'not a member of this chain', 'a.mb.skip.claim_limit_reached': 'already holds as many as allowed per member',
    'a.mb.skip.campaign_sold_out': 'none left to issue', 'a.mb.skip.campaign_inactive': 'the campaign is paused or not running',
    'a.mb.back': 'Back to members', 'a.mb.profile': 'Profile', 'a.mb.birthday': 'Birthday', 'a.mb.verified': ' (verified)',
    'a.mb.cardsTitle': 'Cards', 'a.mb.vouchersTitle': 'Vouchers', 'a.mb.bookingsTitle': 'Bookings',
    'a.mb.card': 'Card', 'a.mb.number': 'Number', 'a.mb.balance': 'Balance', 'a.mb.points': 'Points', 'a.mb.visits': 'Visits left',
    'a.mb.expires': 'Expires', 'a.mb.status': 'Status', 'a.mb.ledger': 'Ledger', 'a.mb.ledgerOf': 'Ledger: {card}',
    'a.mb.freeze': 'Freeze', 'a.mb.unfreeze': 'Unfreeze', 'a.mb.cancel': 'Cancel card', 'a.mb.cancelSure': 'Click again to cancel for good',
    'a.mb.frozen': 'Card frozen', 'a.mb.unfrozen': 'Card unfrozen', 'a.mb.cancelled': 'Card cancelled',
    'a.mb.revoke': 'Revoke', 'a.mb.revokeSure': 'Click again to revoke', 'a.mb.revoked': 'Voucher revoked',
    'a.mb.voucher': 'Voucher', 'a.mb.terms': 'Terms', 'a.mb.until': 'Valid until',
    'a.mb.when': 'When', 'a.mb.store': 'Store', 'a.mb.service': 'Service', 'a.mb.stylist': 'Stylist', 'a.mb.anyStylist': '{name} (any stylist)',
    'a.mb.kind': 'Kind', 'a.mb.money': 'Amount', 'a.mb.balanceAfter': 'Balance after', 'a.mb.pointsAfter': 'Points after', 'a.mb.visitsAfter': 'Visits after',
    'a.mb.l.issue': 'Issued', 'a.mb.l.top_up': 'Top-up', 'a.mb.l.charge': 'Charge', 'a.mb.l.visit': 'Visit', 'a.mb.l.earn': 'Points earned',
    'a.mb.l.reversal': 'Reversal', 'a.mb.l.adjust': 'Adjustment',
    'a.mb.l.top_up_bonus': 'Top-up bonus', 'a.mb.l.refund': 'Refund', 'a.mb.l.refund_reverted': 'Refund failed, money back',
    'a.mb.l.parts': 'paid {paid}, bonus {bonus}', 'a.mb.topups': 'Top-up orders', 'a.mb.closeLedger': 'Close the ledger', 'a.mb.noStore': '— (online / back office)',
    'a.mb.opOnly': 'Only operators freeze or cancel cards and revoke vouchers',
  },
});

const PAGE = 20;
// Kept while the operator moves between the list and a member.
const search = { q: '', tier: '', template_id: '', last_visit_after: '', last_visit_before: '', offset: 0 };
const selected = new Map(); // member id -> name (across pages)
let issueKey = null; // one Idempotency-Key per selection and campaign: a retry repeats it

export async function membersView(el, ctx) {
  if (ctx.params[0]) return memberView(el, ctx, ctx.params[0]);
  return listView(el, ctx);
}

// --- the list ----------------------------------------------------------------------------

async function listView(el, ctx) {
  const { api } = ctx;
  const operator = ctx.role === 'operator';
  const [templates, campaigns] = await Promise.all([
    api.get('/card-templates').then((x) => listOf(x)).catch(() => []),
    operator ? api.get('/campaigns').then((x) => listOf(x)).catch(() => []) : [],
  ]);
  const tiers = [...new Set(templates.flatMap((tp) => (tp.tiers || []).map((x) => x.name)))];
  const any = [['', t('a.any')]];
  const [q, qBox] = field('mb-q', t('a.mb.search'), { type: 'search', value: search.q, maxlength: 60, autocomplete: 'off' });
  const [tier, tierBox] = field('mb-tier', t('a.mb.tier'), { options: [...any, ...tiers.map((x) => [x, x])], value: search.tier });
  const [tpl, tplBox] = field('mb-template', t('a.mb.template'), { options: [...any, ...templates.map((x) => [x.id, x.name])], value: search.template_id });
  const [after, afterBox] = field('mb-after', t('a.mb.visitAfter'), { type: 'date', value: search.last_visit_after });
  const [before, beforeBox] = field('mb-before', t('a.mb.visitBefore'), { type: 'date', value: search.last_visit_before });
  const results = h('div', { id: 'members', 'aria-live': 'polite', 'aria-busy': 'true' }, h('p.muted', { text: t('app.loading') }));
  const selection = h('p', { id: 'mb-selection', role: 'status' });
  const outcome = h('div', { id: 'issue-result', role: 'status' });
  let campaign = null;
  const sayCount = () => {
    selection.textContent = t('a.mb.selected', { n: selected.size });
    if (issueButton) issueButton.textContent = t('a.mb.issue', { n: selected.size });
  };
  const live = campaigns.filter((c) => c.status === 'active' && new Date(c.valid_until) > new Date());
  let issueButton = null;
  let pickBox = null;
  if (operator && live.length) {
    let pick;
    [pick, pickBox] = field('mb-campaign', t('a.mb.campaign'), { options: live.map((c) => [c.id, c.name]) });
    campaign = pick;
    pick.addEventListener('change', () => { issueKey = null; });
    issueButton = h('button.btn', { type: 'submit', id: 'mb-issue', text: t('a.mb.issue', { n: selected.size }) });
  }
  const issue = async (event) => {
    event.preventDefault();
    mount(outcome);
    if (!selected.size) { toast(t('a.mb.pickSome'), 'bad'); return; }
    const ids = [...selected.keys()];
    issueKey = issueKey || newKey();
    issueButton.disabled = true;
    try {
      const res = await api.post(`/campaigns/${campaign.value}/issue`, { member_ids: ids }, { idempotencyKey: issueKey });
      issueKey = null;
      const skipped = res.skipped || [];
      const n = res.issued.length;
      mount(outcome, h('p', { class: n ? 'ok' : null, 'data-issued': String(n), text: t('a.mb.issued', { n }) }),
        skipped.length ? h('div', { 'data-skipped': String(skipped.length) },
          h('p', { text: t('a.mb.skipped', { n: skipped.length }) }),
          h('ul', {}, skipped.map((s) => h('li', { 'data-member': s.member_id },
            t('a.v.pair', { label: selected.get(s.member_id) || s.member_id, rule: reason(s.code) }))))) : null);
      toast(t('a.mb.issued', { n }), n ? 'ok' : 'info');
    } catch (err) {
      mount(outcome, h('p.error', { role: 'alert', text: errorText(err) }));
    } finally { issueButton.disabled = false; }
  };

  // Only the newest request's answer is drawn: a search still on its way when the operator
  // pages on (or a slow first page) must not overwrite the later page (and its pager).
  let asked = 0;
  const load = async () => {
    const mine = ++asked;
    results.setAttribute('aria-busy', 'true');
    const query = { ...search, limit: PAGE + 1 };
    let list;
    try {
      list = listOf(await api.get('/members', query));
    } catch (err) {
      if (mine === asked) {
        mount(results, h('p.error', { role: 'alert', text: errorText(err) }));
        results.setAttribute('aria-busy', 'false');
      }
      return;
    }
    if (mine !== asked) return;
    const more = list.length > PAGE;
    list = list.slice(0, PAGE);
    const tick = (m) => h('input', {
      type: 'checkbox', class: 'pick', value: m.id, checked: selected.has(m.id),
      'aria-label': t('a.mb.selectOne', { name: memberLabel(m) }),
      onchange: (event) => {
        if (event.target.checked) selected.set(m.id, memberLabel(m)); else selected.delete(m.id);
        issueKey = null;
        sayCount();
      },
    });
    const head = [t('a.mb.name'), t('a.mb.phone'), { text: t('a.mb.cards'), num: true }, t('a.mb.lastVisit'), t('a.mb.joined')];
    const tbl = table(operator ? [t('a.mb.select'), ...head] : head,
      list.map((m) => h('tr', { 'data-member': m.id },
        operator ? h('td', {}, tick(m)) : null,
        h('th', { scope: 'row' }, h('a', { href: `#members/${m.id}`, text: memberLabel(m) })),
        h('td', { text: m.phone || '—' }),
        h('td.num', { text: String(m.cards_count ?? '—') }),
        h('td', { text: m.last_visit_at ? fmtDate(m.last_visit_at) : t('a.mb.never') }),
        h('td', { text: fmtDate(m.created_at) }))),
      { caption: t('a.nav.members') });
    if (operator && list.length) {
      // "Select all on this page" in the Select column's header.
      const th = tbl.querySelector('thead th');
      th.replaceChildren(srOnly(t('a.mb.select')), h('input', {
        type: 'checkbox', id: 'mb-all', 'aria-label': t('a.mb.selectPage'),
        checked: list.every((m) => selected.has(m.id)),
        onchange: (event) => {
          for (const box of tbl.querySelectorAll('input.pick')) {
            box.checked = event.target.checked;
            box.dispatchEvent(new Event('change'));
          }
        },
      }));
    }
    // The offset this page was drawn for: paging moves on from what the operator sees.
    const { offset } = query;
    const page = Math.floor(offset / PAGE) + 1;
    // Pages again and keeps the focus on the button pressed (or the other one at an end).
    const go = (delta) => async () => {
      search.offset = Math.max(0, offset + delta * PAGE);
      await load();
      const [same, other] = delta > 0 ? ['mb-next', 'mb-prev'] : ['mb-prev', 'mb-next'];
      const button = document.getElementById(same);
      (button && !button.disabled ? button : document.getElementById(other))?.focus();
    };
    mount(results,
      list.length ? tbl : h('p.muted', { text: t('app.none') }),
      h('nav.row.pager', { 'aria-label': t('a.mb.page', { n: page }) },
        h('button.btn.small.secondary', { type: 'button', id: 'mb-prev', text: t('a.mb.prev'), disabled: offset === 0, onclick: go(-1) }),
        h('span.muted', { id: 'mb-shown', text: list.length ? t('a.mb.shown', { from: offset + 1, to: offset + list.length }) : t('a.mb.page', { n: page }) }),
        h('button.btn.small.secondary', { type: 'button', id: 'mb-next', text: t('a.mb.next'), disabled: !more, onclick: go(1) })));
    results.setAttribute('aria-busy', 'false');
  };
  const submit = (event) => {
    event.preventDefault();
    Object.assign(search, {
      q: q.value.trim(), tier: tier.value, template_id: tpl.value,
      last_visit_after: after.value, last_visit_before: before.value, offset: 0,
    });
    load();
  };
  const reset = () => {
    Object.assign(search, { q: '', tier: '', template_id: '', last_visit_after: '', last_visit_before: '', offset: 0 });
    ctx.rerender();
  };
  mount(el,
    h('form.panel', { role: 'search', id: 'mb-filters', onsubmit: submit, 'aria-label': t('a.mb.search') },
      h('div.inline-fields', {}, qBox, tierBox, tplBox, afterBox, beforeBox),
      h('div.row', {},
        h('button.btn', { type: 'submit', text: t('a.mb.go') }),
        h('button.btn.secondary', { type: 'button', text: t('a.mb.reset'), onclick: reset }))),
    h('div.panel', {}, results),
    operator ? h('form.panel', { id: 'mb-issue-form', onsubmit: issue, 'aria-labelledby': 'mb-issue-title' },
      h('h2', { id: 'mb-issue-title', text: t('a.mb.issueTitle') }),
      selection,
      live.length
        ? h('div.row', {}, h('div.grow', {}, pickBox), issueButton,
          h('button.btn.secondary', { type: 'button', text: t('a.mb.clearSel'), onclick: () => { selected.clear(); issueKey = null; ctx.rerender(); } }))
        : h('p.muted', { text: t('a.mb.noCampaigns') }),
      outcome) : null);
  sayCount();
  await load();
}

const reason = (code) => {
  const key = `a.mb.skip.${code}`;
  const text = t(key);
  return text === key ? errorText({ code }) : text;
};

// --- one member --------------------------------------------------------------------------

async function memberView(el, ctx, memberId) {
  const { api } = ctx;
  const operator = ctx.role === 'operator';
  const ledgerCard = ctx.params[1] === 'ledger' ? ctx.params[2] : null;
  const [member, cards, vouchers, bookings, allStores] = await Promise.all([
    api.get(`/members/${memberId}`),
    api.get(`/members/${memberId}/cards`).then((x) => listOf(x)),
    api.get(`/members/${memberId}/vouchers`).then((x) => listOf(x)),
    api.get(`/members/${memberId}/bookings`, { limit: 50 }).then((x) => listOf(x)),
    ctx.stores(),
  ]);
  const storeName = (id) => allStores.find((s) => s.id === id)?.name || (id ? '—' : t('a.mb.noStore'));
  const storeZone = (id) => allStores.find((s) => s.id === id)?.timezone;
  // Acts, draws the member again and puts the focus back on that row (keyboard users keep
  // their place).
  const act = (path, okText, row) => async () => {
    try {
      await api.post(path, {});
      toast(okText, 'ok');
      await ctx.rerender();
      const again = document.querySelector(row);
      (again?.querySelector('[data-action]') || again?.querySelector('a, button'))?.focus();
    } catch (err) { toast(errorText(err), 'bad'); }
  };
  const cardName = (c) => `${c.template_name} · ${c.number}`;
  const cardActions = (c) => h('div.table-actions', {},
    // The online top-ups view is the operators' (GET /top-up-orders is theirs only).
    operator && c.kind === 'stored_value' ? h('a.btn.small.secondary', {
      href: `#topups/card/${c.id}`, text: t('a.mb.topups'), 'aria-label': `${t('a.mb.topups')}: ${cardName(c)}`,
    }) : null,
    h('a.btn.small.secondary', {
      href: `#members/${memberId}/ledger/${c.id}`, text: t('a.mb.ledger'), 'data-ledger': c.id,
      'aria-label': `${t('a.mb.ledger')}: ${cardName(c)}`,
    }),
    operator && c.status === 'active' ? h('button.btn.small.secondary', {
      type: 'button', text: t('a.mb.freeze'), 'data-action': 'freeze',
      'aria-label': `${t('a.mb.freeze')}: ${cardName(c)}`, onclick: act(`/cards/${c.id}/freeze`, t('a.mb.frozen'), `[data-card='${c.id}']`),
    }) : null,
    operator && c.status === 'frozen' ? h('button.btn.small.secondary', {
      type: 'button', text: t('a.mb.unfreeze'), 'data-action': 'unfreeze',
      'aria-label': `${t('a.mb.unfreeze')}: ${cardName(c)}`, onclick: act(`/cards/${c.id}/unfreeze`, t('a.mb.unfrozen'), `[data-card='${c.id}']`),
    }) : null,
    operator && (c.status === 'active' || c.status === 'frozen') ? (() => {
      const b = confirmButton(t('a.mb.cancel'), t('a.mb.cancelSure'), act(`/cards/${c.id}/cancel`, t('a.mb.cancelled'), `[data-card='${c.id}']`), 'btn small danger');
      b.dataset.action = 'cancel';
      return b;
    })() : null);
  const cardsTable = cards.length ? table(
    [t('a.mb.card'), t('a.mb.number'), { text: t('a.mb.balance'), num: true }, { text: t('a.mb.points'), num: true },
      { text: t('a.mb.visits'), num: true }, t('a.mb.tier'), t('a.mb.expires'), t('a.mb.status'), ''],
    cards.map((c) => h('tr', { 'data-card': c.id, class: c.id === ledgerCard ? 'on' : null },
      h('th', { scope: 'row' }, c.template_name, h('br'), h('small.muted', { text: t(`kind.${c.kind}`) })),
      h('td', { text: c.number }),
      h('td.num', {}, h('span', { 'data-field': 'balance', text: c.kind === 'stored_value' ? money(c.balance_cents) : '—' }),
        c.kind === 'stored_value' && c.bonus_balance_cents ? [h('br'), h('small.muted', { 'data-field': 'split', text: balanceSplitText(c) })] : null),
      h('td.num', { text: String(c.points) }),
      h('td.num', { text: c.visits_left === null || c.visits_left === undefined ? '—' : String(c.visits_left) }),
      h('td', { text: c.tier || '—' }),
      h('td', { text: c.expires_at ? fmtDate(c.expires_at) : '—' }),
      h('td', {}, h('span.pill', { class: c.status, 'data-status': c.status, text: t(`status.${c.status}`) })),
      h('td', {}, cardActions(c)))),
    { caption: t('a.mb.cardsTitle') }) : h('p.muted', { text: t('app.none') });

  const voucherActions = (v) => (operator && v.status === 'issued' ? (() => {
    const b = confirmButton(t('a.mb.revoke'), t('a.mb.revokeSure'), act(`/vouchers/${v.id}/revoke`, t('a.mb.revoked'), `[data-voucher='${v.id}']`), 'btn small danger');
    b.dataset.action = 'revoke';
    b.setAttribute('aria-label', `${t('a.mb.revoke')}: ${v.campaign_name}`);
    return b;
  })() : null);
  const vouchersTable = vouchers.length ? table(
    [t('a.mb.voucher'), t('a.mb.terms'), t('a.mb.until'), t('a.mb.status'), ''],
    vouchers.map((v) => h('tr', { 'data-voucher': v.id },
      h('th', { scope: 'row' }, v.campaign_name, h('br'), h('small.muted', { text: t(`kind.${v.kind}`) })),
      h('td', { text: termsText(v.terms, allStores) }),
      h('td', { text: fmtDate(v.valid_until) }),
      h('td', {}, h('span.pill', { class: v.status, 'data-status': v.status, text: t(`status.${v.status}`) }),
        v.redeemed_at ? h('small.muted', { text: ` ${fmtDateTime(v.redeemed_at)}` }) : null),
      h('td', {}, voucherActions(v)))),
    { caption: t('a.mb.vouchersTitle') }) : h('p.muted', { text: t('app.none') });

  const bookingsTable = bookings.length ? table(
    [t('a.mb.when'), t('a.mb.store'), t('a.mb.service'), t('a.mb.stylist'), t('a.mb.status')],
    bookings.map((b) => h('tr', { 'data-booking': b.id },
      h('td', { text: fmtDateTime(b.start, storeZone(b.store_id)) }),
      h('td', { text: b.store_name || storeName(b.store_id) }),
      h('td', { text: b.service_name || '—' }),
      h('td', { text: b.resource_name ? (b.any_resource ? t('a.mb.anyStylist', { name: b.resource_name }) : b.resource_name) : '—' }),
      h('td', {}, h('span.pill', { class: b.status, text: t(`status.${b.status}`) })))),
    { caption: t('a.mb.bookingsTitle') }) : h('p.muted', { text: t('app.none') });

  const ledgerPanel = ledgerCard ? h('section.panel', { id: 'ledger', 'aria-labelledby': 'ledger-title' },
    h('p.muted', { text: t('app.loading') })) : null;

  mount(el,
    h('p', {}, h('a', { href: '#members', id: 'mb-back', text: `← ${t('a.mb.back')}` })),
    h('section.panel', { id: 'member', 'data-member': member.id, 'aria-labelledby': 'member-title' },
      h('h2', { id: 'member-title', text: memberLabel(member) }),
      h('dl.facts', {},
        h('dt', { text: t('a.mb.phone') }), h('dd', { text: (member.phone || '—') + (member.phone_verified ? t('a.mb.verified') : '') }),
        h('dt', { text: t('a.mb.birthday') }), h('dd', { text: member.birthday || '—' }),
        h('dt', { text: t('a.mb.joined') }), h('dd', { text: fmtDate(member.created_at) }))),
    h('section.panel', { id: 'member-cards', 'aria-labelledby': 'cards-title' },
      h('h2', { id: 'cards-title', text: t('a.mb.cardsTitle') }), cardsTable,
      operator ? null : h('p.muted', { text: t('a.mb.opOnly') })),
    ledgerPanel,
    h('section.panel', { id: 'member-vouchers', 'aria-labelledby': 'vouchers-title' },
      h('h2', { id: 'vouchers-title', text: t('a.mb.vouchersTitle') }), vouchersTable),
    h('section.panel', { id: 'member-bookings', 'aria-labelledby': 'bookings-title' },
      h('h2', { id: 'bookings-title', text: t('a.mb.bookingsTitle') }), bookingsTable));

  if (ledgerPanel) {
    const card = cards.find((c) => c.id === ledgerCard);
    const title = h('h2', { id: 'ledger-title', tabindex: '-1', text: t('a.mb.ledgerOf', { card: card ? cardName(card) : ledgerCard }) });
    try {
      const entries = listOf(await api.get(`/cards/${ledgerCard}/ledger`));
      const signed = (cents) => (cents > 0 ? `+${money(cents)}` : money(cents));
      const word = (kind) => { const key = `a.mb.l.${kind}`; const x = t(key); return x === key ? kind : x; };
      mount(ledgerPanel,
        h('div.row.between', {}, title,
          h('a.btn.small.secondary', { href: `#members/${memberId}`, text: t('a.mb.closeLedger') })),
        entries.length ? table(
          [t('a.mb.when'), t('a.mb.store'), t('a.mb.kind'), { text: t('a.mb.money'), num: true },
            { text: t('a.mb.balanceAfter'), num: true }, { text: t('a.mb.points'), num: true },
            { text: t('a.mb.pointsAfter'), num: true }, { text: t('a.mb.visitsAfter'), num: true }],
          entries.map((e) => h('tr', { 'data-entry': e.id, 'data-kind': e.kind },
            h('td', { text: fmtDateTime(e.created_at, storeZone(e.store_id)) }),
            h('td', { 'data-field': 'store', text: e.store_id ? storeName(e.store_id) : t('a.mb.noStore') }),
            h('td', { text: word(e.kind) }),
            h('td.num', {}, e.delta_cents ? signed(e.delta_cents) : '—',
              e.delta_bonus_cents && e.kind !== 'top_up_bonus'
                ? [h('br'), h('small.muted', { text: t('a.mb.l.parts', { paid: money(e.delta_paid_cents ?? 0), bonus: money(e.delta_bonus_cents) }) })] : null),
            h('td.num', { text: money(e.balance_after_cents) }),
            h('td.num', { text: e.delta_points ? `${e.delta_points > 0 ? '+' : ''}${e.delta_points}` : '—' }),
            h('td.num', { text: String(e.points_after) }),
            h('td.num', { text: e.visits_after === null || e.visits_after === undefined ? '—' : String(e.visits_after) }))),
          { caption: title.textContent }) : h('p.muted', { text: t('app.none') }));
    } catch (err) {
      mount(ledgerPanel, title, h('p.error', { role: 'alert', text: errorText(err) }));
    }
    // Opened from a card's Ledger link: the reader (and the keyboard) lands on it.
    title.focus({ preventScroll: true });
    ledgerPanel.scrollIntoView({ block: 'nearest' });
  }
}
