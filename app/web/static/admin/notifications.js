// The notification log: what was sent to members, what failed and why.
// export async function notificationsView(el, ctx)
import { listOf } from '/static/common/api.js';
import { t } from '/static/common/i18n.js';
import { fmtDateTime, h, mount } from '/static/common/ui.js';
import { field, table } from './kit.js';

const EVENTS = ['card_issued', 'voucher_issued', 'booking_confirmed', 'booking_cancelled', 'booking_reminder', 'redeemed', 'balance_changed'];
const logFilter = { status: '', event: '' };
export async function notificationsView(el, ctx) {
  const { api } = ctx;
  const list = listOf(await api.get('/notifications', logFilter), 'notifications');
  const [status] = field('n-status', t('a.n.status'), {
    options: [['', t('a.any')], ...['pending', 'sent', 'failed', 'cancelled'].map((s) => [s, t(`status.${s}`)])], value: logFilter.status,
  });
  const [event] = field('n-event', t('a.n.event'), { options: [['', t('a.any')], ...EVENTS.map((e) => [e, e])], value: logFilter.event });
  const apply = () => { Object.assign(logFilter, { status: status.value, event: event.value }); notificationsView(el, ctx); };
  status.addEventListener('change', apply);
  event.addEventListener('change', apply);
  mount(el,
    h('div.panel.row', {}, h('div.grow', {}, h('label', { for: 'n-status', text: t('a.n.status') }), status),
      h('div.grow', {}, h('label', { for: 'n-event', text: t('a.n.event') }), event)),
    h('div.panel', {}, list.length ? table(
      [t('a.n.created'), t('a.n.event'), t('a.n.member'), t('a.n.status'), t('a.n.attempts'), t('a.n.sent'), t('a.n.error')],
      list.map((n) => h('tr', {},
        h('td', { text: fmtDateTime(n.created_at) }), h('td', { text: n.event }),
        h('td', { text: `…${String(n.member_id || '').slice(-8)}` }),
        h('td', {}, h('span.pill', { class: n.status, text: t(`status.${n.status}`) })),
        h('td', { text: n.attempts }), h('td', { text: n.sent_at ? fmtDateTime(n.sent_at) : '—' }),
        h('td', { text: n.last_error || '' }))))
      : h('p.muted', { text: t('app.none') })));
}
