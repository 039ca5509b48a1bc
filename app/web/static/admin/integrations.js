// Integrations (operators): what connects the chain's own systems (POS, ERP, CRM) to o2o.
//   #integrations                 API keys: the list (never the key), create (the key is shown
//                                 once, in a dialog with a copy button), revoke (asks first).
//   #integrations/webhooks        webhook endpoints: the list (status and why disabled), create
//                                 (all events or chosen types by family; the secret shown once).
//   #integrations/webhooks/<id>   one endpoint: edit (url, events, enabled), rotate the secret
//                                 (shown once; the old one signs 24 h more), delete, and its
//                                 delivery log (status filter, paging, Retry per delivery).
//   #integrations/import          member import from CSV (check first: counts or errors by
//                                 line; then import for real) and the members' CSV export.
// The contract is ../shared/API.md "Integrations"; every rule is the API's, the page words it.
// export async function integrationsView(el, ctx)
import { API_BASE, ApiError, listOf } from '/static/common/api.js';
import { addMessages, errorText, lang, t } from '/static/common/i18n.js';
import { confirmButton, fmtDateTime, h, mount, toast } from '/static/common/ui.js';
import { checkGroup, clearFieldErrors, field, showFieldError, storeNames, submitter, table } from './kit.js';

// This view's own styles (CSP: style-src 'self'), loaded once like members.js loads its own.
if (!document.querySelector('link[data-integrations-css]')) {
  document.head.append(h('link', { rel: 'stylesheet', href: '/static/admin/integrations.css', 'data-integrations-css': '1' }));
}

export const SCOPES = ['members:read', 'members:write', 'cards:read', 'cards:write', 'redeem',
  'bookings:read', 'bookings:write', 'stats:read', 'events:read'];

// The contract's 17 event types by family (the text before the dot).
export const EVENT_FAMILIES = [
  ['member', ['member.created', 'member.updated']],
  ['card', ['card.issued', 'card.updated', 'card.topped_up']],
  ['redemption', ['redemption.created', 'redemption.reversed']],
  ['voucher', ['voucher.issued', 'voucher.revoked']],
  ['booking', ['booking.created', 'booking.rescheduled', 'booking.cancelled', 'booking.checked_in',
    'booking.completed', 'booking.no_show']],
  ['top_up_order', ['top_up_order.paid', 'top_up_order.refunded']],
];

// The import's columns, in the order of the sample file.
const COLUMNS = ['external_id', 'name', 'phone', 'birthday', 'card_template_id',
  'opening_balance_cents', 'opening_points', 'opening_visits'];

addMessages({
  zh: {
    'a.nav.integrations': '系统对接',
    'a.ig.sections': '系统对接的内容', 'a.ig.tab.keys': 'API 密钥', 'a.ig.tab.webhooks': 'Webhook', 'a.ig.tab.import': '导入与导出',
    'a.ig.never': '从未使用', 'a.ig.allStores': '全部门店', 'a.ig.created': '创建时间', 'a.ig.status': '状态',
    'a.ig.copy': '复制', 'a.ig.copied': '已复制到剪贴板', 'a.ig.copyFailed': '无法自动复制：请选中后手动复制',
    'a.ig.once': '请现在复制并妥善保存：关闭后将无法再次查看。', 'a.ig.savedIt': '我已保存，关闭',
    // keys
    'a.ig.k.intro': 'API 密钥供收银系统、ERP 等机器调用接口使用。每个密钥只能做所选权限内的事；限定门店后只能在这些门店操作。',
    'a.ig.k.list': 'API 密钥列表', 'a.ig.k.name': '名称', 'a.ig.k.prefix': '密钥开头', 'a.ig.k.scopes': '权限',
    'a.ig.k.stores': '门店', 'a.ig.k.lastUsed': '最近使用', 'a.ig.k.revoke': '吊销', 'a.ig.k.revokeSure': '再点一次确认吊销',
    'a.ig.k.revoked': '密钥已吊销：立即失效', 'a.ig.k.revokedAt': '已吊销（{when}）', 'a.ig.k.active': '有效',
    'a.ig.k.new': '新建 API 密钥', 'a.ig.k.scopesLegend': '权限（至少选一项）',
    'a.ig.k.storesLegend': '限定门店（都不选 = 全部门店）', 'a.ig.k.pickScope': '至少选择一项权限',
    'a.ig.k.nameHint': '写明给谁用，如“静安店收银机”', 'a.ig.k.shownTitle': '新的 API 密钥：{name}', 'a.ig.k.keyLabel': 'API 密钥',
    'a.ig.k.use': '调用接口时放在请求头：Authorization: Bearer <密钥>',
    'a.ig.scope.members:read': '查看会员资料，导出会员', 'a.ig.scope.members:write': '新增和修改会员',
    'a.ig.scope.cards:read': '查看会员卡、余额和流水，以及线上充值订单和需人工处理的款项（仅限全连锁的密钥）', 'a.ig.scope.cards:write': '开卡、充值',
    'a.ig.scope.redeem': '核销（预览、核销、离线同步），相当于店员扫码',
    'a.ig.scope.bookings:read': '查看预约', 'a.ig.scope.bookings:write': '新建、改约、取消预约',
    'a.ig.scope.stats:read': '查看经营数据', 'a.ig.scope.events:read': '读取事件流（按顺序同步所有变更）',
    // webhooks
    'a.ig.w.intro': '发生变更时，o2o 会把事件 POST 到这些地址，并按 Standard Webhooks 规范签名。失败会在 3 天内逐渐拉长间隔重试；连续失败 5 天的地址会被停用。',
    'a.ig.w.list': 'Webhook 地址', 'a.ig.w.url': '接收地址（URL）', 'a.ig.w.events': '事件', 'a.ig.w.description': '说明（可选）', 'a.ig.w.desc': '说明',
    'a.ig.w.allEvents': '全部事件', 'a.ig.w.chosen': '选择的事件', 'a.ig.w.nChosen': '{n} 种事件',
    'a.ig.w.pickEvent': '至少选择一种事件', 'a.ig.w.new': '新增 Webhook 地址', 'a.ig.w.open': '详情与投递记录',
    'a.ig.w.openLabel': '{url} 的详情与投递记录',
    'a.ig.w.enabled': '已启用', 'a.ig.w.disabled': '已停用', 'a.ig.w.why': '停用原因：{reason}',
    'a.ig.w.whyFailing': '连续 5 天投递失败，已自动停用', 'a.ig.w.whyManual': '由运营人员停用',
    'a.ig.w.urlRule': '以 https:// 开头的公网地址', 'a.ig.w.badUrl': '地址无效或不允许：须为 https，且不能指向内网、本机等非公网地址',
    'a.ig.w.secretTitle': 'Webhook 签名密钥', 'a.ig.w.secretLabel': '签名密钥',
    'a.ig.w.secretUse': '用它在接收端验证签名（webhook-signature 请求头）。',
    'a.ig.w.back': '返回 Webhook 列表', 'a.ig.w.edit': '修改', 'a.ig.w.statusLabel': '状态',
    'a.ig.w.saved': '已保存', 'a.ig.w.rotate': '更换签名密钥', 'a.ig.w.rotateSure': '再点一次确认更换',
    'a.ig.w.rotated': '签名密钥已更换', 'a.ig.w.rotateNote': '接下来 24 小时内，每次投递同时用旧密钥和新密钥签名，请在这段时间内把接收端换成新密钥。',
    'a.ig.w.delete': '删除此地址', 'a.ig.w.deleteSure': '再点一次确认删除', 'a.ig.w.deleted': '已删除',
    'a.ig.w.danger': '签名密钥与删除', 'a.ig.w.eventsMode': '发送哪些事件',
    // deliveries
    'a.ig.d.title': '投递记录', 'a.ig.d.filter': '投递状态', 'a.ig.d.event': '事件', 'a.ig.d.attempts': '尝试次数',
    'a.ig.d.code': '最后响应码', 'a.ig.d.error': '最后错误', 'a.ig.d.next': '下次尝试', 'a.ig.d.deliveredAt': '送达时间',
    'a.ig.d.retry': '重试', 'a.ig.d.retryLabel': '重试 {type}（{id}）', 'a.ig.d.retried': '已加入重试队列',
    'a.ig.d.pending': '待投递', 'a.ig.d.delivered': '已送达', 'a.ig.d.failed': '失败',
    'a.ig.d.page': '第 {n} 页', 'a.ig.d.prev': '上一页', 'a.ig.d.next2': '下一页', 'a.ig.d.shown': '第 {from}–{to} 条',
    'a.ig.d.refresh': '刷新', 'a.ig.d.enableFirst': '此地址已停用：请先启用再重试',
    // families and events
    'a.ig.f.member': '会员', 'a.ig.f.card': '会员卡', 'a.ig.f.redemption': '核销', 'a.ig.f.voucher': '优惠券',
    'a.ig.f.booking': '预约', 'a.ig.f.top_up_order': '线上充值',
    'a.ig.e.member.created': '新会员', 'a.ig.e.member.updated': '会员资料修改',
    'a.ig.e.card.issued': '开卡', 'a.ig.e.card.updated': '卡状态、等级变化（冻结、注销…）', 'a.ig.e.card.topped_up': '充值',
    'a.ig.e.redemption.created': '核销', 'a.ig.e.redemption.reversed': '撤销核销',
    'a.ig.e.voucher.issued': '发券', 'a.ig.e.voucher.revoked': '作废券',
    'a.ig.e.booking.created': '新预约', 'a.ig.e.booking.rescheduled': '改约', 'a.ig.e.booking.cancelled': '取消预约',
    'a.ig.e.booking.checked_in': '到店', 'a.ig.e.booking.completed': '完成服务', 'a.ig.e.booking.no_show': '未到店',
    'a.ig.e.top_up_order.paid': '线上充值到账', 'a.ig.e.top_up_order.refunded': '线上充值退款',
    // import and export
    'a.ig.i.title': '导入会员', 'a.ig.i.intro': '从 CSV 文件（UTF-8，第一行是列名）导入会员，可带一张卡及其期初余额、积分、次数。先检查，没有问题再导入；只要有一行有误就一行都不写。会员按 external_id 对应，同一文件再导入一次不会重复。',
    'a.ig.i.file': 'CSV 文件', 'a.ig.i.check': '检查（不写入）', 'a.ig.i.import': '导入', 'a.ig.i.pickFile': '请先选择一个 CSV 文件',
    'a.ig.i.checkFirst': '先检查文件，没有问题后才能导入。',
    'a.ig.i.columns': '列说明', 'a.ig.i.column': '列名', 'a.ig.i.required': '必填', 'a.ig.i.meaning': '说明',
    'a.ig.i.yes': '是', 'a.ig.i.no': '否', 'a.ig.i.sample': '下载示例文件',
    'a.ig.i.c.external_id': '会员在你们系统中的编号（最多 64 个字符，同一文件不能重复）',
    'a.ig.i.c.name': '姓名', 'a.ig.i.c.phone': '手机号', 'a.ig.i.c.birthday': '生日，格式 YYYY-MM-DD，如 1990-05-01',
    'a.ig.i.c.card_template_id': '开哪种卡：会员卡模板的 ID（见下方列表；留空 = 不开卡）',
    'a.ig.i.c.opening_balance_cents': '期初余额，单位为分（如 ¥120.50 写 12050），储值卡',
    'a.ig.i.c.opening_points': '期初积分（整数）', 'a.ig.i.c.opening_visits': '期初剩余次数（整数），次卡',
    'a.ig.i.templates': '会员卡模板 ID', 'a.ig.i.checked': '检查通过：共 {rows} 行，将新增会员 {created} 位、更新 {updated} 位、开卡 {cards} 张。尚未写入，确认后点“导入”。',
    'a.ig.i.done': '导入完成：共 {rows} 行，新增会员 {created} 位、更新 {updated} 位、开卡 {cards} 张。',
    'a.ig.i.invalid': '文件中有 {n} 处问题，未写入任何数据。请修改后重新检查。',
    'a.ig.i.line': '行号', 'a.ig.i.field': '列', 'a.ig.i.problem': '问题', 'a.ig.i.wholeFile': '（整个文件）',
    'a.ig.i.errorsCaption': '导入文件的问题（按行）', 'a.ig.i.errPage': '第 {from}–{to} 处，共 {n} 处',
    'a.ig.i.r.external_id': 'external_id 必填，最多 64 个字符，同一文件中不能重复',
    'a.ig.i.r.name': '姓名最多 120 个字符，且不能含控制字符', 'a.ig.i.r.phone': '手机号格式不对（只能有数字、空格、短横线和开头的 +），或与另一行、另一位会员的手机号相同',
    'a.ig.i.r.birthday': '生日须为 YYYY-MM-DD 格式的有效日期，且不能晚于今天',
    'a.ig.i.r.card_template_id': '不是本连锁的会员卡模板 ID',
    'a.ig.i.r.opening_balance_cents': '期初余额须为不小于 0 的整数（单位：分，不超过上限），同一行须填 card_template_id，且为储值卡',
    'a.ig.i.r.opening_points': '期初积分须为不小于 0 的整数（不超过上限），同一行须填 card_template_id',
    'a.ig.i.r.opening_visits': '期初次数须为不小于 0 的整数（不超过上限），同一行须填 card_template_id，且为次卡',
    'a.ig.i.r.header': '第一行须是列名：包含 external_id，只用上面列出的列名，每列只出现一次', 'a.ig.i.r.file': '文件须为 UTF-8 编码的 CSV',
    'a.ig.i.r.line': '这一行无法读取：请检查逗号（列数须与第一行相同）和引号，文件须为 UTF-8 编码，最多 20 万行',
    'a.ig.i.firstShown': '下表列出前 {shown} 处。',
    'a.ig.i.tooBig': '文件太大（最多 32 MB）：请拆成几个文件分别导入',
    'a.ig.i.conflict': '检查之后有人同时修改了其中的会员或卡：请重新检查后再导入',
    'a.ig.i.r.other': '这一项的值不符合要求',
    'a.ig.x.title': '导出会员', 'a.ig.x.intro': '下载本连锁所有会员及其会员卡数据（CSV）。', 'a.ig.x.button': '下载会员 CSV',
    'a.ig.x.ready': '会员 CSV 已下载',
  },
  en: {
    'a.nav.integrations': 'Integrations',
    'a.ig.sections': 'Integration sections', 'a.ig.tab.keys': 'API keys', 'a.ig.tab.webhooks': 'Webhooks', 'a.ig.tab.import': 'Import & export',
    'a.ig.never': 'never', 'a.ig.allStores': 'All stores', 'a.ig.created': 'Created', 'a.ig.status': 'Status',
    'a.ig.copy': 'Copy', 'a.ig.copied': 'Copied to the clipboard', 'a.ig.copyFailed': 'Could not copy: select it and copy by hand',
    'a.ig.once': 'Copy it now and keep it safe: you will not see it again once this is closed.', 'a.ig.savedIt': 'I have saved it, close',
    // keys
    'a.ig.k.intro': 'API keys are for machines (a till, an ERP) calling the API. A key can only do what its scopes allow; limited to stores, only at those stores.',
    'a.ig.k.list': 'API keys', 'a.ig.k.name': 'Name', 'a.ig.k.prefix': 'Starts with', 'a.ig.k.scopes': 'Scopes',
    'a.ig.k.stores': 'Stores', 'a.ig.k.lastUsed': 'Last used', 'a.ig.k.revoke': 'Revoke', 'a.ig.k.revokeSure': 'Click again to revoke',
    'a.ig.k.revoked': 'Key revoked: it stops working at once', 'a.ig.k.revokedAt': 'Revoked ({when})', 'a.ig.k.active': 'Active',
    'a.ig.k.new': 'New API key', 'a.ig.k.scopesLegend': 'Scopes (one at least)',
    'a.ig.k.storesLegend': 'Only at these stores (none ticked = every store)', 'a.ig.k.pickScope': 'tick one scope at least',
    'a.ig.k.nameHint': 'Say who uses it, such as "Jing\'an till"', 'a.ig.k.shownTitle': 'New API key: {name}', 'a.ig.k.keyLabel': 'API key',
    'a.ig.k.use': 'Send it with every call as the header Authorization: Bearer <key>',
    'a.ig.scope.members:read': 'read members, export them', 'a.ig.scope.members:write': 'create and edit members',
    'a.ig.scope.cards:read': 'read cards, balances and ledgers; online top-up orders and payments needing a person (chain-wide keys only)', 'a.ig.scope.cards:write': 'issue cards, top up',
    'a.ig.scope.redeem': 'redeem (preview, redeem, offline sync), as a clerk scanning',
    'a.ig.scope.bookings:read': 'read bookings', 'a.ig.scope.bookings:write': 'book, reschedule and cancel',
    'a.ig.scope.stats:read': 'read the figures', 'a.ig.scope.events:read': 'read the event feed (every change, in order)',
    // webhooks
    'a.ig.w.intro': 'On every change o2o POSTs the event to these addresses, signed the Standard Webhooks way. A failure is retried at growing intervals for 3 days; an address failing for 5 days is disabled.',
    'a.ig.w.list': 'Webhook endpoints', 'a.ig.w.url': 'Endpoint URL', 'a.ig.w.events': 'Events', 'a.ig.w.description': 'Description (optional)', 'a.ig.w.desc': 'Description',
    'a.ig.w.allEvents': 'All events', 'a.ig.w.chosen': 'Chosen events', 'a.ig.w.nChosen': '{n} event types',
    'a.ig.w.pickEvent': 'tick one event at least', 'a.ig.w.new': 'New webhook endpoint', 'a.ig.w.open': 'Details & deliveries',
    'a.ig.w.openLabel': 'Details and deliveries of {url}',
    'a.ig.w.enabled': 'Enabled', 'a.ig.w.disabled': 'Disabled', 'a.ig.w.why': 'Disabled because: {reason}',
    'a.ig.w.whyFailing': 'every delivery failed for 5 days', 'a.ig.w.whyManual': 'an operator disabled it',
    'a.ig.w.urlRule': 'a public address starting with https://', 'a.ig.w.badUrl': 'This address is not allowed: it must be https and reach a public address (not a private network or this machine)',
    'a.ig.w.secretTitle': 'Webhook signing secret', 'a.ig.w.secretLabel': 'Signing secret',
    'a.ig.w.secretUse': 'Your receiver checks the webhook-signature header with it.',
    'a.ig.w.back': 'Back to the webhook endpoints', 'a.ig.w.edit': 'Edit', 'a.ig.w.statusLabel': 'Status',
    'a.ig.w.saved': 'Saved', 'a.ig.w.rotate': 'Rotate the secret', 'a.ig.w.rotateSure': 'Click again to rotate',
    'a.ig.w.rotated': 'Secret rotated', 'a.ig.w.rotateNote': 'For the next 24 hours every delivery is signed with both the old and the new secret: switch your receiver to the new one within that time.',
    'a.ig.w.delete': 'Delete this endpoint', 'a.ig.w.deleteSure': 'Click again to delete', 'a.ig.w.deleted': 'Deleted',
    'a.ig.w.danger': 'Secret and deletion', 'a.ig.w.eventsMode': 'Which events to send',
    // deliveries
    'a.ig.d.title': 'Deliveries', 'a.ig.d.filter': 'Delivery status', 'a.ig.d.event': 'Event', 'a.ig.d.attempts': 'Attempts',
    'a.ig.d.code': 'Last status code', 'a.ig.d.error': 'Last error', 'a.ig.d.next': 'Next attempt', 'a.ig.d.deliveredAt': 'Delivered at',
    'a.ig.d.retry': 'Retry', 'a.ig.d.retryLabel': 'Retry {type} ({id})', 'a.ig.d.retried': 'Queued for another attempt',
    'a.ig.d.pending': 'Pending', 'a.ig.d.delivered': 'Delivered', 'a.ig.d.failed': 'Failed',
    'a.ig.d.page': 'Page {n}', 'a.ig.d.prev': 'Previous', 'a.ig.d.next2': 'Next', 'a.ig.d.shown': 'Deliveries {from}–{to}',
    'a.ig.d.refresh': 'Refresh', 'a.ig.d.enableFirst': 'This endpoint is disabled: enable it, then retry',
    // families and events
    'a.ig.f.member': 'Members', 'a.ig.f.card': 'Cards', 'a.ig.f.redemption': 'Redemptions', 'a.ig.f.voucher': 'Vouchers',
    'a.ig.f.booking': 'Bookings', 'a.ig.f.top_up_order': 'Online top-ups',
    'a.ig.e.member.created': 'Member joined', 'a.ig.e.member.updated': 'Member edited',
    'a.ig.e.card.issued': 'Card issued', 'a.ig.e.card.updated': 'Card status or tier changed (frozen, cancelled…)', 'a.ig.e.card.topped_up': 'Card topped up',
    'a.ig.e.redemption.created': 'Redeemed', 'a.ig.e.redemption.reversed': 'Redemption reversed',
    'a.ig.e.voucher.issued': 'Voucher issued', 'a.ig.e.voucher.revoked': 'Voucher revoked',
    'a.ig.e.booking.created': 'Booked', 'a.ig.e.booking.rescheduled': 'Rescheduled', 'a.ig.e.booking.cancelled': 'Booking cancelled',
    'a.ig.e.booking.checked_in': 'Checked in', 'a.ig.e.booking.completed': 'Booking completed', 'a.ig.e.booking.no_show': 'No-show',
    'a.ig.e.top_up_order.paid': 'Online top-up paid', 'a.ig.e.top_up_order.refunded': 'Online top-up refunded',
    // import and export
    'a.ig.i.title': 'Import members', 'a.ig.i.intro': 'Import members from a CSV file (UTF-8, column names on the first line), each with one card and its opening balance, points and visits if you like. Check first, then import: if any line is wrong, nothing is written. Members are matched by external_id, so importing the same file again changes nothing.',
    'a.ig.i.file': 'CSV file', 'a.ig.i.check': 'Check (dry run)', 'a.ig.i.import': 'Import', 'a.ig.i.pickFile': 'Choose a CSV file first',
    'a.ig.i.checkFirst': 'Check the file first: Import opens once the check finds nothing wrong.',
    'a.ig.i.columns': 'The columns', 'a.ig.i.column': 'Column', 'a.ig.i.required': 'Required', 'a.ig.i.meaning': 'What it holds',
    'a.ig.i.yes': 'yes', 'a.ig.i.no': 'no', 'a.ig.i.sample': 'Download a sample file',
    'a.ig.i.c.external_id': 'the member\'s id in your system (up to 64 characters, once per file)',
    'a.ig.i.c.name': 'name', 'a.ig.i.c.phone': 'mobile number', 'a.ig.i.c.birthday': 'birthday as YYYY-MM-DD, such as 1990-05-01',
    'a.ig.i.c.card_template_id': 'which card to issue: a card template id (listed below; blank: no card)',
    'a.ig.i.c.opening_balance_cents': 'opening balance in fen (¥120.50 is 12050), for a prepaid card',
    'a.ig.i.c.opening_points': 'opening points (a whole number)', 'a.ig.i.c.opening_visits': 'opening visits left (a whole number), for a visits card',
    'a.ig.i.templates': 'Card template ids', 'a.ig.i.checked': 'Nothing wrong ({rows} lines). An import would write: members created {created}, updated {updated}, cards issued {cards}. Nothing is written yet: press Import to do it.',
    'a.ig.i.done': 'Imported ({rows} lines): members created {created}, updated {updated}, cards issued {cards}.',
    'a.ig.i.invalid': 'Problems in the file: {n}. Nothing was written: fix them and check again.',
    'a.ig.i.line': 'Line', 'a.ig.i.field': 'Column', 'a.ig.i.problem': 'Problem', 'a.ig.i.wholeFile': '(the whole file)',
    'a.ig.i.errorsCaption': 'Problems in the import file, by line', 'a.ig.i.errPage': 'Problems {from}–{to} of {n}',
    'a.ig.i.r.external_id': 'external_id is required, up to 64 characters, and once per file',
    'a.ig.i.r.name': 'the name takes up to 120 characters and no control characters', 'a.ig.i.r.phone': 'not a phone number (digits, spaces, dashes, a leading +), or the same phone is on another line or is another member\'s',
    'a.ig.i.r.birthday': 'the birthday must be a real date written YYYY-MM-DD, not after today',
    'a.ig.i.r.card_template_id': 'not a card template id of this chain',
    'a.ig.i.r.opening_balance_cents': 'the opening balance must be a whole number of fen, 0 or more (within the limit), with a card_template_id on the line, for a prepaid card',
    'a.ig.i.r.opening_points': 'opening points must be a whole number, 0 or more (within the limit), with a card_template_id on the line',
    'a.ig.i.r.opening_visits': 'opening visits must be a whole number, 0 or more (within the limit), with a card_template_id on the line, for a visits card',
    'a.ig.i.r.header': 'the first line names the columns: external_id among them, only the columns listed above, each once', 'a.ig.i.r.file': 'the file must be a CSV saved as UTF-8',
    'a.ig.i.r.line': 'this line cannot be read: check its commas (as many fields as the first line) and quotes; the file must be UTF-8, 200,000 lines at most',
    'a.ig.i.firstShown': 'The first {shown} are listed below.',
    'a.ig.i.tooBig': 'The file is too large (32 MB at most): split it and import the parts',
    'a.ig.i.conflict': 'Someone changed one of these members or cards meanwhile: check the file again, then import',
    'a.ig.i.r.other': 'this value is not accepted',
    'a.ig.x.title': 'Export members', 'a.ig.x.intro': 'Download every member of the chain with their cards\' figures (CSV).', 'a.ig.x.button': 'Download members (CSV)',
    'a.ig.x.ready': 'Members CSV downloaded',
  },
});

const eventName = (type) => {
  const key = `a.ig.e.${type}`;
  return t(key) === key ? type : t(key);
};
const sep = () => (lang() === 'zh' ? '、' : ', ');

// A call the shared client does not make (DELETE, a CSV body, an empty 202): same token,
// same problem+json errors (ApiError), in the page's words through errorText.
async function call(api, method, path, { query, body, type } = {}) {
  const url = new URL(API_BASE + path, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== null && value !== undefined && value !== '') url.searchParams.set(key, value);
  }
  const headers = { Accept: 'application/json' };
  if (api.token) headers.Authorization = `Bearer ${api.token}`;
  if (type) headers['Content-Type'] = type;
  let response;
  try {
    response = await fetch(url, { method, headers, body, cache: 'no-store' });
  } catch (err) {
    throw new ApiError(0, { code: 'network', detail: String(err) });
  }
  const text = await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (response.status === 401 && api.token) {
    // The session ended (as the shared client's onUnauthorized does): back to the login.
    api.setToken('');
    location.reload();
  }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

// --- the view and its sections -------------------------------------------------------------

const TABS = [['', 'a.ig.tab.keys'], ['webhooks', 'a.ig.tab.webhooks'], ['import', 'a.ig.tab.import']];

export async function integrationsView(el, ctx) {
  const [section = '', id] = ctx.params;
  const current = TABS.some(([key]) => key === section) ? section : '';
  const body = h('div', { id: 'ig-body' });
  mount(el,
    h('nav.subnav', { 'aria-label': t('a.ig.sections') }, TABS.map(([key, label]) => h('a', {
      href: key ? `#integrations/${key}` : '#integrations', text: t(label), 'data-tab': key || 'keys',
      class: key === current ? 'on' : null, 'aria-current': key === current ? 'page' : null,
    }))),
    body);
  if (current === 'webhooks' && id) return endpointView(body, ctx, id);
  if (current === 'webhooks') return webhooksView(body, ctx);
  if (current === 'import') return importView(body, ctx);
  return keysView(body, ctx);
}

// Shows a secret (a new API key, a webhook secret) once: a modal dialog with the value in a
// read-only field, a copy button, and "you will not see it again". Escape or the button
// closes it; then `after` runs (to put the focus back somewhere sensible).
export function showSecret(host, { title, label, value, notes = [], after }) {
  const input = h('input.secret', {
    id: 'secret-value', readonly: true, value, spellcheck: 'false', autocomplete: 'off', 'aria-describedby': 'secret-once',
  });
  const said = h('p', { id: 'secret-copied', role: 'status' });
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      said.textContent = t('a.ig.copied');
    } catch {
      input.select();
      said.textContent = document.execCommand && document.execCommand('copy') ? t('a.ig.copied') : t('a.ig.copyFailed');
    }
  };
  const dialog = h('dialog.secret', { id: 'secret-dialog', 'aria-labelledby': 'secret-title' },
    h('h2', { id: 'secret-title', text: title }),
    h('p.once', { id: 'secret-once' }, h('strong', { text: t('a.ig.once') })),
    notes.map((text) => h('p', { text })),
    h('label', { for: 'secret-value', text: label }),
    h('div.row.secretrow', {}, input, h('button.btn', { type: 'button', id: 'secret-copy', text: t('a.ig.copy'), onclick: copy })),
    said,
    h('div.row', {}, h('button.btn.secondary', { type: 'button', id: 'secret-close', text: t('a.ig.savedIt'), onclick: () => dialog.close() })));
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (after) after();
  });
  host.append(dialog);
  dialog.showModal();
  input.focus();
  input.select();
  return dialog;
}

// --- API keys ------------------------------------------------------------------------------

async function keysView(el, ctx) {
  const { api } = ctx;
  const [keys, all] = await Promise.all([api.get('/api-keys').then((x) => listOf(x)), ctx.stores()]);
  const redraw = async (focusId) => {
    await ctx.rerender();
    if (focusId) document.getElementById(focusId)?.focus();
  };
  const revoked = (k) => k.revoked_at || k.revoked === true;
  const revoke = (k) => async () => {
    try {
      await api.post(`/api-keys/${k.id}/revoke`, {});
      toast(t('a.ig.k.revoked'), 'ok');
      await redraw('ig-keys-h');
    } catch (err) { toast(errorText(err), 'bad'); }
  };
  const rows = keys.map((k) => h('tr', { 'data-key': k.id, class: revoked(k) ? 'gone' : null },
    h('th', { scope: 'row', text: k.name }),
    h('td', {}, h('code', { text: `${k.prefix}…` })),
    h('td', { text: (k.scopes || []).join(' ') }),
    h('td', { text: k.store_ids && k.store_ids.length ? storeNames(all, k.store_ids) : t('a.ig.allStores') }),
    h('td', { text: fmtDateTime(k.created_at) }),
    h('td', { text: k.last_used_at ? fmtDateTime(k.last_used_at) : t('a.ig.never') }),
    h('td', {}, revoked(k)
      ? h('span.pill.revoked', { text: k.revoked_at ? t('a.ig.k.revokedAt', { when: fmtDateTime(k.revoked_at) }) : t('status.revoked') })
      : h('span.pill.active', { text: t('a.ig.k.active') })),
    h('td', {}, revoked(k) ? null : (() => {
      const b = confirmButton(t('a.ig.k.revoke'), t('a.ig.k.revokeSure'), revoke(k), 'btn small danger');
      b.dataset.revoke = k.id;
      return b;
    })())));

  const [name, nameBox] = field('k-name', t('a.ig.k.name'), {
    required: true, maxlength: 100, autocomplete: 'off', api: 'name', placeholder: t('a.ig.k.nameHint'),
  });
  const [scopes, scopesBox] = checkGroup('k-scopes', t('a.ig.k.scopesLegend'), SCOPES.map((s) => [s,
    h('span.scope', {}, h('code', { text: s }), h('span.muted', { text: t(`a.ig.scope.${s}`) }))]), { api: 'scopes' });
  const [stores, storesBox] = checkGroup('k-stores', t('a.ig.k.storesLegend'), all.map((s) => [s.id, s.name]), { api: 'store_ids' });
  const form = h('form.panel', {
    id: 'key-new', novalidate: true, 'aria-labelledby': 'key-new-h',
    onsubmit: submitter(() => ({
      name: name.value.trim(), scopes: scopes(), store_ids: stores().length ? stores() : null,
    }), (body) => api.post('/api-keys', body), async (created) => {
      await redraw();
      showSecret(document.getElementById('view') || document.body, {
        title: t('a.ig.k.shownTitle', { name: created.name }), label: t('a.ig.k.keyLabel'), value: created.key,
        notes: [t('a.ig.k.use')],
        after: () => document.getElementById('ig-keys-h')?.focus(),
      });
    }, { check: () => (scopes().length ? [] : [[scopesBox, t('a.ig.k.pickScope')]]) }),
  },
  h('h2', { id: 'key-new-h', text: t('a.ig.k.new') }),
  h('div.inline-fields', {}, nameBox),
  scopesBox, storesBox,
  h('button.btn', { type: 'submit', text: t('a.f.create') }));

  mount(el,
    h('div.panel', {},
      h('h2', { id: 'ig-keys-h', tabindex: '-1', text: t('a.ig.k.list') }),
      h('p.muted', { text: t('a.ig.k.intro') }),
      keys.length ? table([t('a.ig.k.name'), t('a.ig.k.prefix'), t('a.ig.k.scopes'), t('a.ig.k.stores'), t('a.ig.created'),
        t('a.ig.k.lastUsed'), t('a.ig.status'), ''], rows, { caption: t('a.ig.k.list') }) : h('p.muted', { text: t('app.none') })),
    form);
}

// --- webhook endpoints -------------------------------------------------------------------

// "All events" or chosen types, grouped by family. -> {box, value() -> ['*'] | [types], check()}
function eventsChooser(idp, chosen = ['*']) {
  const all = chosen.includes('*');
  const radio = (value, text, checked) => h('label.check', { for: `${idp}-mode-${value}` },
    h('input', { type: 'radio', name: `${idp}-mode`, id: `${idp}-mode-${value}`, value, checked }), text);
  const families = h('div.families', { id: `${idp}-families`, hidden: all },
    EVENT_FAMILIES.map(([family, types]) => h('fieldset.checks.family', { 'data-family': family },
      h('legend', { text: t(`a.ig.f.${family}`) }),
      types.map((type) => h('label.check', { for: `${idp}-${type}` },
        h('input', { type: 'checkbox', id: `${idp}-${type}`, value: type, checked: chosen.includes(type) }),
        h('span', {}, eventName(type), ' ', h('code.muted', { text: type })))))));
  const box = h('fieldset.field.checks', { id: `${idp}-events`, 'data-label': t('a.ig.w.events'), 'data-api': 'events' },
    h('legend', { text: t('a.ig.w.eventsMode') }),
    h('div.row', {}, radio('all', t('a.ig.w.allEvents'), all), radio('some', t('a.ig.w.chosen'), !all)),
    families,
    h('p.field-error', { id: `${idp}-events-error`, hidden: true }));
  const mode = () => box.querySelector(`input[name='${idp}-mode']:checked`)?.value || 'all';
  for (const input of box.querySelectorAll(`input[name='${idp}-mode']`)) {
    input.addEventListener('change', () => { families.hidden = mode() === 'all'; });
  }
  const picked = () => [...families.querySelectorAll('input:checked')].map((x) => x.value);
  return {
    box,
    value: () => (mode() === 'all' ? ['*'] : picked()),
    check: () => (mode() === 'some' && !picked().length ? [[box, t('a.ig.w.pickEvent')]] : []),
  };
}

const eventsText = (events) => ((events || []).includes('*') ? t('a.ig.w.allEvents')
  : (events || []).map(eventName).join(sep()));
// Why an endpoint is disabled, in the page's words: by an operator, or after 5 days of
// failures. The API's reason (English, with the last error) is shown beside it as technical
// detail for whoever runs the receiver, like the notification log's last error.
const BY_OPERATOR = /^(operator|manual|disabled by an operator)/i;
const reasonText = (ep) => {
  if (ep.status !== 'disabled') return null;
  const reason = ep.disabled_reason || '';
  return t('a.ig.w.why', { reason: BY_OPERATOR.test(reason) ? t('a.ig.w.whyManual') : t('a.ig.w.whyFailing') });
};
const reasonDetail = (ep) => (ep.status === 'disabled' && ep.disabled_reason && !BY_OPERATOR.test(ep.disabled_reason)
  ? h('span.techdetail.block', { lang: 'en', 'data-reason': '1', text: ep.disabled_reason }) : null);
const urlWords = { validation_error: t('a.ig.w.badUrl') };

function statusCell(ep) {
  const why = reasonText(ep);
  return h('td', {},
    h('span.pill', { class: ep.status === 'enabled' ? 'active' : 'cancelled', text: t(`a.ig.w.${ep.status}`) === `a.ig.w.${ep.status}` ? ep.status : t(`a.ig.w.${ep.status}`) }),
    why ? h('p.why', { 'data-why': '1', text: why }) : null, reasonDetail(ep));
}

async function webhooksView(el, ctx) {
  const { api } = ctx;
  const list = listOf(await api.get('/webhook-endpoints'));
  const [url, urlBox] = field('w-url', t('a.ig.w.url'), {
    type: 'url', required: true, maxlength: 2000, autocomplete: 'off', api: 'url', placeholder: 'https://', 'data-rule': t('a.ig.w.urlRule'),
  });
  const [description, descBox] = field('w-desc', t('a.ig.w.description'), { maxlength: 500, api: 'description' });
  const events = eventsChooser('w');
  const form = h('form.panel', {
    id: 'webhook-new', novalidate: true, 'aria-labelledby': 'webhook-new-h',
    onsubmit: submitter(() => ({
      url: url.value.trim(), events: events.value(), description: description.value.trim(),
    }), (body) => api.post('/webhook-endpoints', body), async (created) => {
      await ctx.rerender();
      showSecret(document.getElementById('view') || document.body, {
        title: t('a.ig.w.secretTitle'), label: t('a.ig.w.secretLabel'), value: created.secret,
        notes: [created.url, t('a.ig.w.secretUse')],
        after: () => document.getElementById('ig-webhooks-h')?.focus(),
      });
    }, { check: events.check, words: urlWords, fields: { events: events.box } }),
  },
  h('h2', { id: 'webhook-new-h', text: t('a.ig.w.new') }),
  h('div.inline-fields', {}, urlBox, descBox),
  events.box,
  h('button.btn', { type: 'submit', text: t('a.f.create') }));

  mount(el,
    h('div.panel', {},
      h('h2', { id: 'ig-webhooks-h', tabindex: '-1', text: t('a.ig.w.list') }),
      h('p.muted', { text: t('a.ig.w.intro') }),
      list.length ? table([t('a.ig.w.url'), t('a.ig.w.events'), t('a.ig.status'), t('a.ig.created'), ''],
        list.map((ep) => h('tr', { 'data-endpoint': ep.id },
          h('th', { scope: 'row' }, h('span.url', { text: ep.url }),
            ep.description ? h('span.muted.desc', { text: ep.description }) : null),
          h('td', { text: eventsText(ep.events) }),
          statusCell(ep),
          h('td', { text: fmtDateTime(ep.created_at) }),
          h('td', {}, h('a.btn.small.secondary', {
            href: `#integrations/webhooks/${ep.id}`, text: t('a.ig.w.open'), 'data-open': ep.id,
            'aria-label': t('a.ig.w.openLabel', { url: ep.url }),
          })))), { caption: t('a.ig.w.list') }) : h('p.muted', { text: t('app.none') })),
    form);
}

const deliveryFilter = { endpoint: null, status: '', offset: 0 };
const PAGE = 20;

async function endpointView(el, ctx, id) {
  const { api } = ctx;
  const ep = await api.get(`/webhook-endpoints/${id}`);
  if (deliveryFilter.endpoint !== id) Object.assign(deliveryFilter, { endpoint: id, status: '', offset: 0 });
  const redraw = async (focusId) => {
    await ctx.rerender();
    if (focusId) document.getElementById(focusId)?.focus();
  };

  // --- edit
  const [url, urlBox] = field('we-url', t('a.ig.w.url'), {
    type: 'url', required: true, maxlength: 2000, value: ep.url, api: 'url', 'data-rule': t('a.ig.w.urlRule'),
  });
  const [status, statusBox] = field('we-status', t('a.ig.w.statusLabel'), {
    options: [['enabled', t('a.ig.w.enabled')], ['disabled', t('a.ig.w.disabled')]], value: ep.status, api: 'status',
  });
  const events = eventsChooser('we', ep.events || ['*']);
  const edit = h('form', {
    id: 'webhook-edit', novalidate: true, 'aria-labelledby': 'webhook-edit-h',
    onsubmit: submitter(() => ({ url: url.value.trim(), events: events.value(), status: status.value }),
      (body) => api.patch(`/webhook-endpoints/${id}`, body), () => redraw('webhook-h'),
      { ok: t('a.ig.w.saved'), check: events.check, words: urlWords, fields: { events: events.box } }),
  },
  h('h2', { id: 'webhook-edit-h', text: t('a.ig.w.edit') }),
  h('div.inline-fields', {}, urlBox, statusBox),
  events.box,
  h('button.btn', { type: 'submit', text: t('app.save') }));

  const rotate = async () => {
    try {
      const res = await api.post(`/webhook-endpoints/${id}/rotate-secret`, {});
      toast(t('a.ig.w.rotated'), 'ok');
      showSecret(document.getElementById('view') || document.body, {
        title: t('a.ig.w.secretTitle'), label: t('a.ig.w.secretLabel'), value: res.secret,
        notes: [t('a.ig.w.rotateNote'), t('a.ig.w.secretUse')],
        after: () => document.getElementById('webhook-rotate')?.focus(),
      });
    } catch (err) { toast(errorText(err), 'bad'); }
  };
  const remove = async () => {
    try {
      await call(api, 'DELETE', `/webhook-endpoints/${id}`);
      toast(t('a.ig.w.deleted'), 'ok');
      location.hash = '#integrations/webhooks';
    } catch (err) { toast(errorText(err), 'bad'); }
  };
  const rotateButton = confirmButton(t('a.ig.w.rotate'), t('a.ig.w.rotateSure'), rotate, 'btn small secondary');
  rotateButton.id = 'webhook-rotate';
  const deleteButton = confirmButton(t('a.ig.w.delete'), t('a.ig.w.deleteSure'), remove, 'btn small danger');
  deleteButton.id = 'webhook-delete';

  const deliveries = h('div', { id: 'deliveries' }, h('p.muted', { text: t('app.loading') }));
  const [filter, filterBox] = field('d-status', t('a.ig.d.filter'), {
    options: [['', t('a.any')], ...['pending', 'delivered', 'failed'].map((s) => [s, t(`a.ig.d.${s}`)])], value: deliveryFilter.status,
  });
  filter.addEventListener('change', async () => {
    Object.assign(deliveryFilter, { status: filter.value, offset: 0 });
    await loadDeliveries(ctx, id, deliveries);
    filter.focus();
  });
  mount(el,
    h('section.panel', { id: 'webhook', 'data-endpoint': ep.id, 'aria-labelledby': 'webhook-h' },
      h('div.row.between', {},
        h('h2.url', { id: 'webhook-h', tabindex: '-1', text: ep.url }),
        h('a.btn.small.secondary', { href: '#integrations/webhooks', text: t('a.ig.w.back') })),
      h('dl.facts', {},
        h('dt', { text: t('a.ig.status') }), h('dd', { id: 'webhook-status' }, ...statusCell(ep).childNodes),
        ep.description ? [h('dt', { text: t('a.ig.w.desc') }), h('dd', { text: ep.description })] : null,
        h('dt', { text: t('a.ig.w.events') }), h('dd', { text: eventsText(ep.events) }),
        h('dt', { text: t('a.ig.created') }), h('dd', { text: fmtDateTime(ep.created_at) }))),
    // The log first (what an operator comes here for), then the changes.
    h('section.panel', { 'aria-labelledby': 'deliveries-h' },
      h('div.row.between', {},
        h('h2', { id: 'deliveries-h', tabindex: '-1', text: t('a.ig.d.title') }),
        h('button.btn.small.secondary', {
          type: 'button', id: 'd-refresh', text: t('a.ig.d.refresh'),
          onclick: async () => { await loadDeliveries(ctx, id, deliveries); },
        })),
      h('div.row', { role: 'group', 'aria-label': t('a.ig.d.filter') }, h('div.grow', {}, filterBox)),
      deliveries),
    h('section.panel', { 'aria-labelledby': 'webhook-edit-h' },
      edit,
      h('h3', { text: t('a.ig.w.danger') }),
      h('div.row', {}, rotateButton, deleteButton)));
  await loadDeliveries(ctx, id, deliveries);
}

async function loadDeliveries(ctx, id, box) {
  const { api } = ctx;
  let list;
  try {
    list = listOf(await api.get(`/webhook-endpoints/${id}/deliveries`, {
      status: deliveryFilter.status, limit: PAGE + 1, offset: deliveryFilter.offset,
    }));
  } catch (err) {
    mount(box, h('p.error', { role: 'alert', text: errorText(err) }));
    return;
  }
  const more = list.length > PAGE;
  list = list.slice(0, PAGE);
  const retry = (d) => async (event) => {
    const button = event.currentTarget;
    button.disabled = true;
    try {
      await call(api, 'POST', `/webhook-endpoints/${id}/deliveries/${d.id}/retry`, { body: '{}', type: 'application/json' });
      toast(t('a.ig.d.retried'), 'ok');
      await loadDeliveries(ctx, id, box);
      document.querySelector(`tr[data-delivery='${CSS.escape(d.id)}'] button[data-retry]`)?.focus();
    } catch (err) {
      toast(errorText(err, { conflict: t('a.ig.d.enableFirst') }), 'bad');
      button.disabled = false;
    }
  };
  const go = (delta) => async () => {
    deliveryFilter.offset = Math.max(0, deliveryFilter.offset + delta * PAGE);
    await loadDeliveries(ctx, id, box);
    const [same, other] = delta > 0 ? ['d-next', 'd-prev'] : ['d-prev', 'd-next'];
    const button = document.getElementById(same);
    (button && !button.disabled ? button : document.getElementById(other))?.focus();
  };
  const page = Math.floor(deliveryFilter.offset / PAGE) + 1;
  const pill = (s) => ({ delivered: 'active', failed: 'failed', pending: 'pending' }[s] || '');
  mount(box,
    list.length ? table([t('a.ig.d.event'), t('a.ig.status'), { text: t('a.ig.d.attempts'), num: true }, { text: t('a.ig.d.code'), num: true },
      t('a.ig.d.error'), t('a.ig.d.next'), t('a.ig.d.deliveredAt'), ''],
    list.map((d) => h('tr', { 'data-delivery': d.id, 'data-status': d.status },
      h('th', { scope: 'row' }, eventName(d.type), h('code.muted.block', { text: d.type })),
      h('td', {}, h('span.pill', { class: pill(d.status), text: t(`a.ig.d.${d.status}`) === `a.ig.d.${d.status}` ? d.status : t(`a.ig.d.${d.status}`) })),
      h('td.num', { text: String(d.attempts ?? 0) }),
      h('td.num', { text: d.last_status_code ? String(d.last_status_code) : '—' }),
      // the receiver's or the network's own words, for whoever runs the receiver
      h('td', { text: d.last_error || '—', lang: d.last_error ? 'en' : null, class: d.last_error ? 'techdetail' : null }),
      h('td', { text: d.status === 'pending' && d.next_attempt_at ? fmtDateTime(d.next_attempt_at) : '—' }),
      h('td', { text: d.delivered_at ? fmtDateTime(d.delivered_at) : '—' }),
      h('td', {}, h('button.btn.small.secondary', {
        type: 'button', text: t('a.ig.d.retry'), 'data-retry': d.id, onclick: retry(d),
        'aria-label': t('a.ig.d.retryLabel', { type: eventName(d.type), id: String(d.id).slice(-6) }),
      })))), { caption: t('a.ig.d.title') }) : h('p.muted', { text: t('app.none') }),
    h('nav.row.pager', { 'aria-label': t('a.ig.d.page', { n: page }) },
      h('button.btn.small.secondary', { type: 'button', id: 'd-prev', text: t('a.ig.d.prev'), disabled: deliveryFilter.offset === 0, onclick: go(-1) }),
      h('span.muted', { id: 'd-shown', text: list.length ? t('a.ig.d.shown', { from: deliveryFilter.offset + 1, to: deliveryFilter.offset + list.length }) : t('a.ig.d.page', { n: page }) }),
      h('button.btn.small.secondary', { type: 'button', id: 'd-next', text: t('a.ig.d.next2'), disabled: !more, onclick: go(1) })));
}

// --- import and export -------------------------------------------------------------------

const ERR_PAGE = 50;

// One line's problem in the page's words: a code the page knows (when the API gives one),
// else what the column must hold. The API's message is for developers and is not shown.
export function importProblem(e) {
  const code = e.code ? `a.ig.i.r.${e.code}` : null;
  if (code && t(code) !== code) return t(code);
  const column = String(e.field || '');
  if (e.line === 1) return t('a.ig.i.r.header');
  if (!column) return t('a.ig.i.r.line');
  const key = `a.ig.i.r.${column}`;
  return t(key) === key ? t('a.ig.i.r.other') : t(key);
}

async function importView(el, ctx) {
  const { api } = ctx;
  const templates = await api.get('/card-templates').then((x) => listOf(x)).catch(() => []);
  const fileInput = h('input', { type: 'file', id: 'im-file', accept: '.csv,text/csv', 'aria-describedby': 'im-first' });
  const fileBox = h('div.field', {}, h('label', { for: 'im-file', text: t('a.ig.i.file') }), fileInput,
    h('p.field-error', { id: 'im-file-error', hidden: true }));
  fileInput.dataset.label = t('a.ig.i.file');
  const outcome = h('div', { id: 'im-result', role: 'status', 'aria-live': 'polite' });
  const problems = h('div', { id: 'im-errors' });
  let checkedFile = null; // the file the last clean check was of: Import opens for it only
  const checkButton = h('button.btn.secondary', { type: 'submit', id: 'im-check', text: t('a.ig.i.check') });
  const importButton = h('button.btn', { type: 'button', id: 'im-import', text: t('a.ig.i.import'), disabled: true });
  fileInput.addEventListener('change', () => {
    checkedFile = null;
    importButton.disabled = true;
    mount(outcome);
    mount(problems);
    clearFieldErrors(fileBox);
  });
  const counts = (r) => ({ rows: r.rows, created: r.members_created, updated: r.members_updated, cards: r.cards_created });
  const run = async (dryRun) => {
    clearFieldErrors(fileBox);
    const file = fileInput.files && fileInput.files[0];
    if (!file) {
      showFieldError(fileInput, t('a.ig.i.pickFile'));
      fileInput.focus();
      return;
    }
    mount(outcome, h('p.muted', { text: t('app.loading') }));
    mount(problems);
    checkButton.disabled = true;
    importButton.disabled = true;
    try {
      const r = await call(api, 'POST', '/imports/members', {
        query: { dry_run: dryRun ? 'true' : 'false' }, body: file, type: 'text/csv; charset=utf-8',
      });
      if (dryRun) {
        checkedFile = file;
        mount(outcome, h('p.ok', { 'data-outcome': 'checked', text: t('a.ig.i.checked', counts(r)) }));
      } else {
        checkedFile = null;
        mount(outcome, h('p.ok', { 'data-outcome': 'imported', text: t('a.ig.i.done', counts(r)) }));
        toast(t('a.ig.i.done', counts(r)), 'ok');
      }
    } catch (err) {
      checkedFile = null;
      const errors = err.code === 'import_invalid' && Array.isArray(err.problem?.errors) ? err.problem.errors : null;
      if (errors) {
        const total = Math.max(Number(err.problem.error_count) || 0, errors.length);
        mount(outcome, h('p.error', { 'data-outcome': 'invalid', 'data-count': String(total) },
          t('a.ig.i.invalid', { n: total }), total > errors.length ? ` ${t('a.ig.i.firstShown', { shown: errors.length })}` : null));
        showErrors(problems, errors, 0);
      } else {
        const text = err.status === 413 ? t('a.ig.i.tooBig') : errorText(err, {
          conflict: t('a.ig.i.conflict'), unsupported_media_type: t('a.ig.i.r.file'),
        });
        mount(outcome, h('p.error', { 'data-outcome': 'error', text }));
      }
    } finally {
      checkButton.disabled = false;
      importButton.disabled = !(checkedFile && fileInput.files && fileInput.files[0] === checkedFile);
    }
  };
  importButton.addEventListener('click', () => run(false));

  const sample = () => {
    const tpl = templates.find((x) => x.kind === 'stored_value') || templates[0];
    const lines = [COLUMNS.join(','),
      `M-0001,王小明,13800000001,1990-05-01,${tpl ? tpl.id : ''},${tpl ? '12050' : ''},${tpl ? '300' : ''},`,
      'M-0002,Li Na,13800000002,,,,,'];
    const url = URL.createObjectURL(new Blob([`${lines.join('\r\n')}\r\n`], { type: 'text/csv;charset=utf-8' }));
    const a = h('a', { href: url, download: 'o2o-members-sample.csv' });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  };
  const exportCsv = async (event) => {
    const button = event.currentTarget;
    button.disabled = true;
    try {
      const response = await api.raw('/members/export.csv');
      const url = URL.createObjectURL(await response.blob());
      const a = h('a', { href: url, download: `o2o-members-${new Date().toISOString().slice(0, 10)}.csv` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      toast(t('a.ig.x.ready'), 'ok');
    } catch (err) { toast(errorText(err), 'bad'); } finally { button.disabled = false; }
  };

  mount(el,
    h('section.panel', { id: 'import', 'aria-labelledby': 'import-h' },
      h('h2', { id: 'import-h', tabindex: '-1', text: t('a.ig.i.title') }),
      h('p.muted', { text: t('a.ig.i.intro') }),
      h('details.columns', { id: 'im-columns' },
        h('summary', { text: t('a.ig.i.columns') }),
        table([t('a.ig.i.column'), t('a.ig.i.required'), t('a.ig.i.meaning')], COLUMNS.map((c) => h('tr', {},
          h('th', { scope: 'row' }, h('code', { text: c })),
          h('td', { text: c === 'external_id' ? t('a.ig.i.yes') : t('a.ig.i.no') }),
          h('td', { text: t(`a.ig.i.c.${c}`) }))), { caption: t('a.ig.i.columns') }),
        templates.length ? [h('h3', { text: t('a.ig.i.templates') }),
          table([t('a.f.name'), t('a.f.kind'), 'card_template_id'], templates.map((tp) => h('tr', {},
            h('th', { scope: 'row', text: tp.name }), h('td', { text: t(`kind.${tp.kind}`) }),
            h('td', {}, h('code', { text: tp.id })))), { caption: t('a.ig.i.templates') })] : null),
      h('p', {}, h('button.btn.small.secondary', { type: 'button', id: 'im-sample', text: t('a.ig.i.sample'), onclick: sample })),
      h('form', {
        id: 'im-form', novalidate: true,
        onsubmit: (event) => { event.preventDefault(); run(true); },
      },
      fileBox,
      h('p.muted', { id: 'im-first', text: t('a.ig.i.checkFirst') }),
      h('div.row', {}, checkButton, importButton)),
      outcome,
      problems),
    h('section.panel', { id: 'export', 'aria-labelledby': 'export-h' },
      h('h2', { id: 'export-h', text: t('a.ig.x.title') }),
      h('p.muted', { text: t('a.ig.x.intro') }),
      h('button.btn.secondary', { type: 'button', id: 'export-csv', text: t('a.ig.x.button'), onclick: exportCsv })));
}

function showErrors(box, errors, offset) {
  const shown = errors.slice(offset, offset + ERR_PAGE);
  const go = (delta) => () => {
    showErrors(box, errors, Math.max(0, offset + delta * ERR_PAGE));
    const [same, other] = delta > 0 ? ['ie-next', 'ie-prev'] : ['ie-prev', 'ie-next'];
    const button = document.getElementById(same);
    (button && !button.disabled ? button : document.getElementById(other))?.focus();
  };
  mount(box,
    table([{ text: t('a.ig.i.line'), num: true }, t('a.ig.i.field'), t('a.ig.i.problem')], shown.map((e) => h('tr', { 'data-line': String(e.line ?? '') },
      h('td.num', { text: e.line ? String(e.line) : '—' }),
      h('td', {}, e.field ? h('code', { text: e.field }) : t('a.ig.i.wholeFile')),
      h('td', { text: importProblem(e) }))), { caption: t('a.ig.i.errorsCaption') }),
    errors.length > ERR_PAGE ? h('nav.row.pager', { 'aria-label': t('a.ig.i.errorsCaption') },
      h('button.btn.small.secondary', { type: 'button', id: 'ie-prev', text: t('a.ig.d.prev'), disabled: offset === 0, onclick: go(-1) }),
      h('span.muted', { id: 'ie-shown', text: t('a.ig.i.errPage', { from: offset + 1, to: offset + shown.length, n: errors.length }) }),
      h('button.btn.small.secondary', { type: 'button', id: 'ie-next', text: t('a.ig.d.next2'), disabled: offset + ERR_PAGE >= errors.length, onclick: go(1) }))
      : null);
}
