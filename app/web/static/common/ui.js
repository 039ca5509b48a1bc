// Small DOM helpers. Views are built with h() (never innerHTML), so no API text can
// become markup.
import { locale } from './i18n.js';

export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      el.className = [el.className, value].filter(Boolean).join(' ');
    } else if (key === 'text') {
      el.textContent = value;
    } else if (['value', 'checked', 'disabled', 'selected', 'hidden'].includes(key)) {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// Money is integer fen everywhere; shown as yuan with thousands separators (¥4,200.00),
// the way both zh-CN and English readers write it. Integer arithmetic: no float rounding.
const GROUPED = new Intl.NumberFormat('en-US');
export function money(cents) {
  if (cents === null || cents === undefined) return '—';
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(Math.trunc(cents));
  const fen = String(abs % 100).padStart(2, '0');
  return `${sign}¥${GROUPED.format(Math.floor(abs / 100))}.${fen}`;
}

// "12.5" -> 1250; blank -> null; anything else -> NaN (the caller says so).
export function parseYuan(text) {
  const value = String(text ?? '').trim();
  if (!value) return null;
  if (!/^\d{1,7}(\.\d{1,2})?$/.test(value)) return NaN;
  const [whole, frac = ''] = value.split('.');
  return Number(whole) * 100 + Number(frac.padEnd(2, '0'));
}

export function fmtDateTime(iso, timeZone) {
  if (!iso) return '—';
  return new Intl.DateTimeFormat(locale(), {
    timeZone, year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', hour12: false,
  }).format(new Date(iso));
}

export function fmtDate(iso, timeZone) {
  if (!iso) return '—';
  return new Intl.DateTimeFormat(locale(), {
    timeZone, year: 'numeric', month: '2-digit', day: '2-digit',
  }).format(new Date(iso));
}

export function fmtTime(iso, timeZone) {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone, hour: '2-digit', minute: '2-digit', hour12: false,
  }).format(new Date(iso));
}

// YYYY-MM-DD of an instant in a zone (the API's dates are the store's local dates).
export function localDate(instant, timeZone) {
  return new Intl.DateTimeFormat('en-CA', {
    timeZone, year: 'numeric', month: '2-digit', day: '2-digit',
  }).format(instant);
}

export function addDays(isoDate, days) {
  const d = new Date(`${isoDate}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

export function weekdayLabel(isoDate) {
  return new Intl.DateTimeFormat(locale(), { weekday: 'short', timeZone: 'UTC' })
    .format(new Date(`${isoDate}T12:00:00Z`));
}

let toastTimer = null;
export function toast(message, kind = 'info') {
  let el = document.getElementById('toast');
  if (!el) {
    el = h('div', { id: 'toast', role: 'status', 'aria-live': 'polite' });
    document.body.append(el);
  }
  el.className = `toast ${kind} show`;
  el.textContent = message;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.className = `toast ${kind}`; }, 3500);
}

// A button that asks "sure?" on the first tap and acts on the second (no window.confirm:
// WeChat's browser and kiosk browsers handle dialogs badly).
export function confirmButton(label, sureLabel, action, cls = 'btn danger') {
  let armed = false;
  const btn = h('button', { class: cls, type: 'button', text: label });
  btn.addEventListener('click', async () => {
    if (!armed) {
      armed = true;
      btn.textContent = sureLabel;
      setTimeout(() => { armed = false; btn.textContent = label; }, 4000);
      return;
    }
    btn.disabled = true;
    try { await action(); } finally { btn.disabled = false; }
  });
  return btn;
}

// Groups of four digits for reading a short code aloud.
export function groupDigits(code) {
  return String(code).replace(/(\d{4})(?=\d)/g, '$1 ');
}
