// Stores with their services and resources (stylists, tables, rooms).
// export async function storesView(el, ctx)
import { listOf } from '/static/common/api.js';
import { addMessages, t } from '/static/common/i18n.js';
import { weekdayName } from '/static/common/terms.js';
import { h, money, mount } from '/static/common/ui.js';
import { checkGroup, field, num, submitter, table, yuan } from './kit.js';

addMessages({
  zh: { 'a.st.tzRule': 'IANA 时区名，如 Asia/Shanghai', 'a.st.hours': '营业时间', 'a.st.open': '查看服务与资源' },
  en: { 'a.st.tzRule': 'an IANA zone name such as Asia/Shanghai', 'a.st.hours': 'Opening hours', 'a.st.open': 'Services and resources' },
});

let openStore = null;
export async function storesView(el, ctx) {
  const { session } = ctx;
  const all = await ctx.stores(true);
  openStore ||= all[0]?.id;
  const current = all.find((s) => s.id === openStore);
  const detail = h('div');
  mount(el,
    h('div.panel', {}, table([t('a.f.name'), t('a.f.address'), t('a.f.timezone'), ''],
      all.map((s) => h('tr', { 'data-store': s.id, class: s.id === openStore ? 'on' : '' },
        h('th', { scope: 'row', text: s.name }), h('td', { text: s.address }), h('td', { text: s.timezone }),
        h('td', {}, h('button.btn.small.secondary', {
          type: 'button', text: t('a.st.services'), 'aria-label': `${t('a.st.services')}: ${s.name}`,
          'aria-pressed': String(s.id === openStore), 'data-open-store': s.id,
          onclick: async () => {
            openStore = s.id;
            await storesView(el, ctx);
            document.getElementById('store-detail-h')?.focus();
          },
        })))))),
    detail,
    session.staff.role === 'operator' ? storeForm(ctx, () => storesView(el, ctx)) : null);
  if (current) await storeDetail(ctx, detail, current, () => storesView(el, ctx));
}

async function storeDetail(ctx, el, store, done) {
  const { api, session } = ctx;
  const [services, resources] = await Promise.all([
    api.get(`/stores/${store.id}/services`).then((x) => listOf(x)),
    api.get(`/stores/${store.id}/resources`).then((x) => listOf(x)),
  ]);
  const serviceName = (id) => services.find((s) => s.id === id)?.name || id;
  const [sName, sNameBox] = field('s-name', t('a.f.name'), { required: true, maxlength: 120, api: 'name' });
  const [sDur, sDurBox] = field('s-dur', t('a.f.duration'), { type: 'number', min: 5, max: 1440, value: '45', required: true, api: 'duration_minutes' });
  const [sPrice, sPriceBox] = field('s-price', t('a.f.price'), { money: true, api: 'price_cents' });
  const [sBuf, sBufBox] = field('s-buf', t('a.f.buffer'), { type: 'number', min: 0, value: '0', api: 'buffer_minutes' });
  const [rName, rNameBox] = field('r-name', t('a.f.name'), { required: true, maxlength: 120, api: 'name' });
  const [rKind, rKindBox] = field('r-kind', t('a.f.kind'), { options: ['staff', 'table', 'room'].map((k) => [k, t(`a.res.${k}`)]) });
  const [rCap, rCapBox] = field('r-cap', t('a.f.capacity'), { type: 'number', min: 1, value: '1', api: 'capacity' });
  const [servicePicked, serviceGroup] = checkGroup('r-services', t('a.f.services'), services.map((s) => [s.id, s.name]),
    { checked: services.map((s) => s.id), api: 'service_ids' });
  const manager = session.staff.role !== 'clerk';
  mount(el, h('div.panel', { 'data-store-detail': store.id },
    h('h2', { id: 'store-detail-h', tabindex: '-1', text: store.name }),
    h('p.muted', { text: hoursText(store.opening_hours || []) }),
    h('h3', { text: t('a.st.services') }),
    table([t('a.f.name'), t('a.f.duration'), t('a.f.price'), t('a.f.buffer')], services.map((s) => h('tr', {},
      h('td', { text: s.name }), h('td', { text: s.duration_minutes }), h('td', { text: money(s.price_cents) }), h('td', { text: s.buffer_minutes })))),
    manager ? h('form', {
      novalidate: true,
      onsubmit: submitter(() => ({
        name: sName.value.trim(), duration_minutes: num(sDur), price_cents: yuan(sPrice) ?? 0, buffer_minutes: num(sBuf) ?? 0,
      }), (body) => api.post(`/stores/${store.id}/services`, body), done),
    }, h('h3', { text: t('a.st.newService') }), h('div.inline-fields', {}, sNameBox, sDurBox, sPriceBox, sBufBox),
    h('button.btn.small', { type: 'submit', text: t('a.f.create') })) : null,
    h('h3', { text: t('a.st.resources') }),
    table([t('a.f.name'), t('a.f.kind'), t('a.f.capacity'), t('a.f.services')], resources.map((r) => h('tr', {},
      h('td', { text: r.name }), h('td', { text: t(`a.res.${r.kind}`) }), h('td', { text: r.capacity }),
      h('td', { text: (r.service_ids || []).map(serviceName).join(', ') })))),
    manager ? h('form', {
      novalidate: true,
      onsubmit: submitter(() => ({
        name: rName.value.trim(), kind: rKind.value, capacity: num(rCap) ?? 1,
        service_ids: servicePicked(),
      }), (body) => api.post(`/stores/${store.id}/resources`, body), done),
    }, h('h3', { text: t('a.st.newResource') }), h('div.inline-fields', {}, rNameBox, rKindBox, rCapBox),
    serviceGroup,
    h('button.btn.small', { type: 'submit', text: t('a.f.create') })) : null));
}

// 0 = Monday, as in the API; 2024-01-01 was a Monday.
function hoursText(hours) {
  const same = hours.length === 7 && hours.every((x) => x.open === hours[0].open && x.close === hours[0].close);
  if (same) return `${t('a.daily')} ${hours[0].open}–${hours[0].close}`;
  return hours.map((x) => `${weekdayName(x.weekday)} ${x.open}–${x.close}`).join(' · ');
}

function storeForm(ctx, done) {
  const { api } = ctx;
  const [name, nameBox] = field('st-name', t('a.f.name'), { required: true, maxlength: 120, api: 'name' });
  const [address, addressBox] = field('st-address', t('a.f.address'), { maxlength: 300, api: 'address' });
  const [zone, zoneBox] = field('st-tz', t('a.f.timezone'), { value: 'Asia/Shanghai', required: true, api: 'timezone', 'data-rule': t('a.st.tzRule') });
  const [open, openBox] = field('st-open', t('a.f.open'), { type: 'time', value: '10:00', required: true, api: 'opening_hours' });
  const [close, closeBox] = field('st-close', t('a.f.close'), { type: 'time', value: '21:00', required: true });
  return h('form.panel', {
    novalidate: true,
    onsubmit: submitter(() => ({
      name: name.value.trim(), address: address.value.trim(), timezone: zone.value.trim(),
      opening_hours: Array.from({ length: 7 }, (_, weekday) => ({ weekday, open: open.value, close: close.value })),
    }), (body) => api.post('/stores', body), done),
  },
  h('h2', { text: t('a.st.new') }),
  h('div.inline-fields', {}, nameBox, addressBox, zoneBox, openBox, closeBox),
  h('button.btn', { type: 'submit', text: t('a.f.create') }));
}

