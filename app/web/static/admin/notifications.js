// The notification log: what was sent to members, what failed and why.
// export async function notificationsView(el, ctx)
import { listOf } from '/static/common/api.js';
import { addMessages, t } from '/static/common/i18n.js';
import { fmtDateTime, h, mount } from '/static/common/ui.js';
import { field, table } from './kit.js';

addMessages({
  zh: {
    'a.ev.card_issued': '开卡', 'a.ev.voucher_issued': '发券', 'a.ev.booking_confirmed': '预约确认',
    'a.ev.booking_cancelled': '预约取消', 'a.ev.booking_reminder': '预约提醒', 'a.ev.redeemed': '核销',
    'a.ev.balance_changed': '余额变动', 'a.n.filters': '筛选',
  },
  en: {
    'a.ev.card_issued': 'Card issued', 'a.ev.voucher_issued': 'Voucher issued', 'a.ev.booking_confirmed': 'Booking confirmed',
    'a.ev.booking_cancelled': 'Booking cancelled', 'a.ev.booking_reminder': 'Booking reminder', 'a.ev.redeemed': 'Redeemed',
    'a.ev.balance_changed': 'Balance changed', 'a.n.filters': 'Filters',
  },
});
const eventName = (e) => (t(`a.ev.${e}`) === `a.ev.${e}` ? e : t(`a.ev.${e}`));

const EVENTS = ['card_issued', 'voucher_issued', 'booking_confirmed', 'booking_cancelled', 'booking_reminder', 'redeemed', 'balance_changed'];
const logFilter = { status: '', event: '' };
export async function notificationsView(el, ctx) {
  const { api } = ctx;
  const list = listOf(await api.get('/notifications', logFilter), 'notifications');
  const [status] = field('n-status', t('a.n.status'), {
    options: [['', t('a.any')], ...['pending', 'sent', 'failed', 'cancelled'].map((s) => [s, t(`status.${s}`)])], value: logFilter.status,
  });
  const [event] = field('n-event', t('a.n.event'), { options: [['', t('a.any')], ...EVENTS.map((e) => [e, eventName(e)])], value: logFilter.event });
  // Redrawn on a change; the focus stays on the filter the reader changed (keyboard use).
  const apply = (id) => async () => {
    Object.assign(logFilter, { status: status.value, event: event.value });
    await notificationsView(el, ctx);
    document.getElementById(id)?.focus();
  };
  status.addEventListener('change', apply('n-status'));
  event.addEventListener('change', apply('n-event'));
  mount(el,
    h('div.panel.row', { role: 'group', 'aria-label': t('a.n.filters') }, h('div.grow', {}, h('label', { for: 'n-status', text: t('a.n.status') }), status),
      h('div.grow', {}, h('label', { for: 'n-event', text: t('a.n.event') }), event)),
    h('div.panel', {}, list.length ? table(
      [t('a.n.created'), t('a.n.event'), t('a.n.member'), t('a.n.status'), t('a.n.attempts'), t('a.n.sent'), t('a.n.error')],
      list.map((n) => h('tr', {},
        h('td', { text: fmtDateTime(n.created_at) }), h('td', { text: eventName(n.event) }),
        h('td', { text: `…${String(n.member_id || '').slice(-8)}` }),
        h('td', {}, h('span.pill', { class: n.status, text: t(`status.${n.status}`) })),
        h('td', { text: n.attempts }), h('td', { text: n.sent_at ? fmtDateTime(n.sent_at) : '—' }),
        // the delivery channel's own words (WeChat's errcode...), for whoever fixes the channel
        h('td', { text: n.last_error || '', lang: n.last_error ? 'en' : null, class: 'techdetail' }))))
      : h('p.muted', { text: t('app.none') })));
}
