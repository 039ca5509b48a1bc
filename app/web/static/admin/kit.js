// The dashboard's shared kit: the words every view uses, labelled form fields that check
// themselves and show a 400's field errors in the page's words, the submitter that ties a
// form to the API, tables, and the overview's range state. Views import what they need.
import { addMessages, errorText, fieldErrors, lang, t } from '/static/common/i18n.js';
import { clearFieldErrors, errorLine, showFieldError as markInvalid } from '/static/common/forms.js';
import { h, parseYuan, toast } from '/static/common/ui.js';

addMessages({
  zh: {
    'a.title': '运营后台', 'a.login.title': '运营登录',
    'a.nav.overview': '概览', 'a.nav.campaigns': '营销活动', 'a.nav.templates': '会员卡', 'a.nav.stores': '门店与服务',
    'a.nav.staff': '员工', 'a.nav.notifications': '通知日志', 'a.nav.members': '会员', 'a.nav.settings': '设置',
    'a.range.from': '开始日期', 'a.range.to': '结束日期', 'a.range.store': '门店', 'a.range.all': '全部门店',
    'a.range.apply': '查询', 'a.range.csv': '下载 CSV',
    'a.s.members': '会员总数', 'a.s.newMembers': '新会员', 'a.s.active': '活跃会员', 'a.s.cardsIssued': '新开卡',
    'a.s.cardsActive': '有效卡', 'a.s.vIssued': '发券', 'a.s.vRedeemed': '核销券', 'a.s.rate': '核销率',
    'a.s.redemptions': '核销次数', 'a.s.value': '核销金额', 'a.s.topups': '充值笔数', 'a.s.topupAmount': '充值金额',
    'a.s.bookings': '预约', 'a.s.completed': '完成', 'a.s.cancelled': '取消', 'a.s.noShow': '未到店',
    'a.f.name': '名称', 'a.f.kind': '类型', 'a.f.value': '面额（元）', 'a.f.percent': '折扣（%）', 'a.f.maxDiscount': '最多减（元）',
    'a.f.item': '礼品/服务名称', 'a.f.minSpend': '最低消费（元）', 'a.f.total': '总量', 'a.f.perMember': '每人限领',
    'a.f.from': '开始', 'a.f.until': '结束', 'a.f.create': '创建', 'a.f.created': '已创建',
    'a.f.validity': '有效天数（空=长期）', 'a.f.visits': '次数（次卡）', 'a.f.ppy': '每元积分', 'a.f.tiers': '等级（每行：名称:积分:折扣%）',
    'a.f.claimable': '会员可自助领取', 'a.f.address': '地址', 'a.f.timezone': '时区', 'a.f.open': '营业开始', 'a.f.close': '营业结束',
    'a.f.duration': '时长（分钟）', 'a.f.price': '价格（元）', 'a.f.buffer': '间隔（分钟）', 'a.f.capacity': '容量',
    'a.f.services': '可做的服务', 'a.f.username': '用户名', 'a.f.password': '密码（至少 10 位）', 'a.f.role': '角色', 'a.f.stores': '门店',
    'a.c.issued': '已发/总量', 'a.c.valid': '有效期', 'a.c.pause': '暂停', 'a.c.resume': '恢复', 'a.c.new': '新建活动',
    'a.t.new': '新建会员卡模板', 'a.st.new': '新建门店', 'a.st.services': '服务', 'a.st.resources': '资源（技师/桌/房间）',
    'a.st.newService': '新增服务', 'a.st.newResource': '新增资源', 'a.staff.new': '新增员工',
    'a.n.status': '状态', 'a.n.event': '事件', 'a.n.member': '会员', 'a.n.attempts': '尝试', 'a.n.error': '错误', 'a.n.created': '创建', 'a.n.sent': '发送',
    'a.any': '全部', 'a.actions': '操作', 'a.role.operator': '运营', 'a.role.manager': '店长', 'a.role.clerk': '店员',
    'a.daily': '每天', 'a.res.staff': '技师', 'a.res.table': '桌', 'a.res.room': '房间', 'a.csvReady': 'CSV 已下载',
  },
  en: {
    'a.title': 'Dashboard', 'a.login.title': 'Operator login',
    'a.nav.overview': 'Overview', 'a.nav.campaigns': 'Campaigns', 'a.nav.templates': 'Card templates', 'a.nav.stores': 'Stores & services',
    'a.nav.staff': 'Staff', 'a.nav.notifications': 'Notifications', 'a.nav.members': 'Members', 'a.nav.settings': 'Settings',
    'a.range.from': 'From', 'a.range.to': 'To', 'a.range.store': 'Store', 'a.range.all': 'All stores',
    'a.range.apply': 'Show', 'a.range.csv': 'Download CSV',
    'a.s.members': 'Members', 'a.s.newMembers': 'New members', 'a.s.active': 'Active members', 'a.s.cardsIssued': 'Cards issued',
    'a.s.cardsActive': 'Active cards', 'a.s.vIssued': 'Vouchers issued', 'a.s.vRedeemed': 'Vouchers redeemed', 'a.s.rate': 'Redemption rate',
    'a.s.redemptions': 'Redemptions', 'a.s.value': 'Redeemed value', 'a.s.topups': 'Top-ups', 'a.s.topupAmount': 'Topped up',
    'a.s.bookings': 'Bookings', 'a.s.completed': 'completed', 'a.s.cancelled': 'cancelled', 'a.s.noShow': 'no-show',
    'a.f.name': 'Name', 'a.f.kind': 'Kind', 'a.f.value': 'Value (yuan)', 'a.f.percent': 'Percent off', 'a.f.maxDiscount': 'Max discount (yuan)',
    'a.f.item': 'Gift / service', 'a.f.minSpend': 'Min spend (yuan)', 'a.f.total': 'Quantity', 'a.f.perMember': 'Per member',
    'a.f.from': 'From', 'a.f.until': 'Until', 'a.f.create': 'Create', 'a.f.created': 'Created',
    'a.f.validity': 'Valid days (blank: no expiry)', 'a.f.visits': 'Visits (visits card)', 'a.f.ppy': 'Points per yuan', 'a.f.tiers': 'Tiers (a line each: name:points:discount%)',
    'a.f.claimable': 'Members may claim it', 'a.f.address': 'Address', 'a.f.timezone': 'Time zone', 'a.f.open': 'Opens', 'a.f.close': 'Closes',
    'a.f.duration': 'Minutes', 'a.f.price': 'Price (yuan)', 'a.f.buffer': 'Buffer (minutes)', 'a.f.capacity': 'Capacity',
    'a.f.services': 'Services it serves', 'a.f.username': 'Username', 'a.f.password': 'Password (10+ characters)', 'a.f.role': 'Role', 'a.f.stores': 'Stores',
    'a.c.issued': 'Issued / total', 'a.c.valid': 'Valid', 'a.c.pause': 'Pause', 'a.c.resume': 'Resume', 'a.c.new': 'New campaign',
    'a.t.new': 'New card template', 'a.st.new': 'New store', 'a.st.services': 'Services', 'a.st.resources': 'Resources (stylists, tables, rooms)',
    'a.st.newService': 'Add a service', 'a.st.newResource': 'Add a resource', 'a.staff.new': 'Add staff',
    'a.n.status': 'Status', 'a.n.event': 'Event', 'a.n.member': 'Member', 'a.n.attempts': 'Attempts', 'a.n.error': 'Error', 'a.n.created': 'Created', 'a.n.sent': 'Sent',
    'a.any': 'Any', 'a.actions': 'Actions', 'a.role.operator': 'Operator', 'a.role.manager': 'Manager', 'a.role.clerk': 'Clerk',
    'a.daily': 'Daily', 'a.res.staff': 'Stylist', 'a.res.table': 'Table', 'a.res.room': 'Room', 'a.csvReady': 'CSV downloaded',
  },
});

addMessages({
  zh: {
    'a.v.required': '必填', 'a.v.min': '不能小于 {n}', 'a.v.max': '不能大于 {n}',
    'a.v.minlength': '至少 {n} 个字符', 'a.v.maxlength': '最多 {n} 个字符', 'a.v.integer': '请填整数',
    'a.v.money': '请填金额，如 12.50（最多两位小数）', 'a.v.date': '请选日期', 'a.v.time': '请填时间，如 09:30',
    'a.v.invalid': '请检查这一项', 'a.v.summary': '有 {n} 项需要修改', 'a.v.pair': '{label}：{rule}',
    'a.saved': '已保存',
  },
  en: {
    'a.v.required': 'required', 'a.v.min': 'at least {n}', 'a.v.max': 'at most {n}',
    'a.v.minlength': 'at least {n} characters', 'a.v.maxlength': 'at most {n} characters', 'a.v.integer': 'a whole number',
    'a.v.money': 'an amount such as 12.50 (two decimals at most)', 'a.v.date': 'pick a date', 'a.v.time': 'a time such as 09:30',
    'a.v.invalid': 'please check this value', 'a.v.summary': '{n} fields need a change', 'a.v.pair': '{label}: {rule}',
    'a.saved': 'Saved',
  },
});

// --- fields -----------------------------------------------------------------------------

// A labelled input (or select/textarea) -> [input, box]. attrs go to the input, except:
//   options: [[value, text]] makes a <select> (value: the selected one); multiline: a textarea;
//   api: the API field it fills ("value_cents"), so a 400 naming that field lands here;
//   money: true for yuan typed as "12.50" (checked before submit; read it with yuan()).
// The box holds the label and a hidden error line the input is described by when wrong.
export function field(id, label, attrs = {}) {
  const { options, multiline, api, money: isMoney, ...rest } = attrs;
  const input = options
    ? h('select', { id }, options.map(([value, text]) => h('option', { value, text, selected: value === attrs.value })))
    : h(multiline ? 'textarea' : 'input', { id, ...(isMoney ? { inputmode: 'decimal' } : {}), ...rest });
  input.dataset.label = label;
  if (api) input.dataset.api = api;
  if (isMoney) input.dataset.money = '1';
  const error = errorLine(id);
  return [input, h('div.field', {}, h('label', { for: id, text: label }), input, error)];
}

// A group of checkboxes with a legend -> [values() -> checked values, fieldset].
// items: [[value, text]]; checked: the values ticked at first; api: as for field().
export function checkGroup(id, legend, items, { checked = [], api } = {}) {
  const boxes = items.map(([value], i) => h('input', {
    type: 'checkbox', id: `${id}-${i}`, value, checked: checked.includes(value),
  }));
  const error = errorLine(id);
  const set = h('fieldset.field.checks', { id, 'data-label': legend, 'data-api': api || null },
    h('legend', { text: legend }),
    items.map(([, text], i) => h('label.check', { for: `${id}-${i}` }, boxes[i], text)), error);
  return [() => boxes.filter((b) => b.checked).map((b) => b.value), set];
}

export const num = (input) => (input.value.trim() === '' ? null : Number(input.value));
export const yuan = (input) => parseYuan(input.value);
export function clean(body) {
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== null && v !== undefined && v !== '' && !Number.isNaN(v)));
}

// The rule an input keeps, in the page's words, from its own attributes (required, min, max,
// minlength, maxlength, type, money): "at least 1, at most 100".
export function ruleText(input) {
  const rules = [];
  const attr = (name) => input.getAttribute(name);
  if (input.required) rules.push(t('a.v.required'));
  if (input.dataset.money) rules.push(t('a.v.money'));
  if (input.type === 'number' && !(attr('step') && attr('step') !== '1')) rules.push(t('a.v.integer'));
  if (input.type === 'date') rules.push(t('a.v.date'));
  if (input.type === 'time') rules.push(t('a.v.time'));
  if (attr('min') !== null && input.type !== 'date') rules.push(t('a.v.min', { n: attr('min') }));
  if (attr('max') !== null && input.type !== 'date') rules.push(t('a.v.max', { n: attr('max') }));
  if (attr('minlength') !== null) rules.push(t('a.v.minlength', { n: attr('minlength') }));
  if (attr('maxlength') !== null) rules.push(t('a.v.maxlength', { n: attr('maxlength') }));
  if (input.dataset.rule) rules.push(input.dataset.rule);
  return rules.length ? rules.join(lang() === 'zh' ? '，' : ', ') : t('a.v.invalid');
}

// "Name: required" in the page's words, for the field's error line and the summary toast.
export const fieldMessage = (input, rule) => t('a.v.pair', { label: input.dataset.label || input.id, rule: rule || ruleText(input) });

// Marks an input (or a checkGroup's fieldset) wrong: aria-invalid, and its error line says
// which rule it broke (aria-describedby). clearFieldErrors(form): common/forms.js's.
export const showFieldError = (input, rule) => markInvalid(input, fieldMessage(input, rule));
export { clearFieldErrors };

// The checks the browser knows from the attributes, done by us (forms are novalidate so the
// words are ours and both languages match): -> [[input, rule]].
export function checkFields(form) {
  const wrong = [];
  for (const input of form.querySelectorAll('input[data-label], select[data-label], textarea[data-label]')) {
    if (input.disabled || input.type === 'checkbox') continue;
    const value = input.value.trim();
    if (input.dataset.money) {
      if ((input.required && !value) || Number.isNaN(parseYuan(value))) wrong.push([input, null]);
      continue;
    }
    if (!input.checkValidity() || (input.required && !value)) wrong.push([input, null]);
  }
  return wrong;
}

// Maps a 400 validation_error onto the form: each errors[].field finds its input by data-api
// (or opts.fields[field]) and is marked with the input's rule (its data-server-rule when the
// server checks more than the page can, e.g. that a PEM really is an RSA key).
// -> [[input, rule]] found.
export function serverFieldErrors(form, err, fields = {}) {
  const found = [];
  for (const { field: name } of fieldErrors(err)) {
    const key = String(name || '').replace(/^\$\./, '').split(/[.[]/)[0];
    const input = fields[key] || form.querySelector(`[data-api="${CSS.escape(key)}"]`);
    if (input && !found.some(([x]) => x === input)) found.push([input, input.dataset.serverRule || null]);
  }
  return found;
}

function report(form, wrong) {
  for (const [input, rule] of wrong) showFieldError(input, rule);
  const first = wrong[0][0];
  (first.matches('fieldset') ? first.querySelector('input') : first)?.focus();
  toast(wrong.length === 1 ? fieldMessage(wrong[0][0], wrong[0][1]) : t('a.v.summary', { n: wrong.length }), 'bad');
}

// A form's submit handler: checks the fields (the inputs' rules, then opts.check() ->
// [[input, rule text]]), sends clean(build()) with send(body), then toasts opts.ok (default
// "Created") and calls done(result). A 400 naming fields marks them; other errors are toasted
// in the page's words (opts.words: {code: text} for better words in this form's context) and
// handed to opts.failed(err, text) if given (to say it beside the form too).
// Use with h('form', { novalidate: true, onsubmit: submitter(...) }).
export function submitter(build, send, done, opts = {}) {
  return async (event) => {
    event.preventDefault();
    const form = event.currentTarget || event.target;
    clearFieldErrors(form);
    const wrong = [...checkFields(form), ...(opts.check ? opts.check() : [])];
    if (wrong.length) { report(form, wrong); return; }
    const button = form.querySelector('[type=submit]');
    if (button) button.disabled = true;
    try {
      const result = await send(clean(build()));
      toast(opts.ok || t('a.f.created'), 'ok');
      if (done) await done(result);
    } catch (err) {
      // validation_error, or a code this form says names fields too (opts.fieldCodes).
      const named = err?.code === 'validation_error' || (opts.fieldCodes || []).includes(err?.code);
      const marked = named ? serverFieldErrors(form, err, opts.fields) : [];
      if (marked.length) report(form, marked);
      else {
        const text = errorText(err, opts.words || {});
        toast(text, 'bad');
        if (opts.failed) opts.failed(err, text);
      }
    } finally {
      if (button) button.disabled = false;
    }
  };
}

// --- tables and text --------------------------------------------------------------------

// A table with a header cell for every column. A header is a string or {text, num} (num:
// right-aligned, for figures: give their cells class "num"); an empty one becomes a visually
// hidden "Actions" (axe wants no empty headers). caption: a visually hidden caption, which
// also names the scroll box: a named region the keyboard can reach (a wide table scrolls).
export const table = (head, rows, { caption } = {}) => h('div.tablewrap', {
  tabindex: caption ? '0' : null, role: caption ? 'region' : null, 'aria-label': caption || null,
}, h('table', {},
  caption ? h('caption.visually-hidden', { text: caption }) : null,
  h('thead', {}, h('tr', {}, head.map((x) => {
    const { text, num: isNum } = typeof x === 'object' && x ? x : { text: x };
    return text
      ? h('th', { scope: 'col', text, class: isNum ? 'num' : null })
      : h('th', { scope: 'col' }, h('span.visually-hidden', { text: t('a.actions') }));
  }))),
  h('tbody', {}, rows)));

export const srOnly = (text) => h('span.visually-hidden', { text });

export function storeNames(all, ids) {
  return (ids || []).map((id) => all.find((s) => s.id === id)?.name || id).join(', ');
}

// --- the overview's range (kept while the operator moves between views) -------------------

export const range = { from: null, to: null, store: '', preset: 'last7' };
