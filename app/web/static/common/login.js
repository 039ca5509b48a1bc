// The one login view of the pages, and the staff session the clerk's scanner and the
// dashboard keep. A page says what its form asks and what a login does; the form, its
// error line (the API's problem+json detail) and the session's storage live here.
import { errorText, langToggle, t } from './i18n.js';
import { h, mount } from './ui.js';

// A login form in `root`. `fields`: [{ id, label, attrs?, fieldAttrs? }] (attrs go to the
// input, fieldAttrs to its labelled box); `hint`: a line under them; `submit(values)` logs
// in with the inputs' values by id, and whatever it throws is shown under the form.
export function loginForm(root, { title, fields, hint, submit }) {
  const inputs = fields.map(({ id, attrs }) => h('input', { id, ...attrs }));
  const message = h('p.error');
  const onsubmit = async (event) => {
    event.preventDefault();
    message.textContent = '';
    try {
      await submit(Object.fromEntries(inputs.map((input) => [input.id, input.value])));
    } catch (err) {
      message.textContent = errorText(err);
    }
  };
  mount(root, h('main.login', {}, h('form.panel', { onsubmit },
    h('div.row.between', {}, h('h1', { text: title }), langToggle()),
    fields.map(({ id, label, fieldAttrs }, i) => h('div.field', fieldAttrs || {},
      h('label', { for: id, text: label }), inputs[i])),
    hint ? h('p.muted', { text: hint }) : null,
    message,
    h('button.btn.block', { type: 'submit', text: t('app.login') }))));
}

// The signed-in staff member of a page (`ns`: its storage name), kept beside the API's
// token: a page is signed in while it has both (a 401 drops the token, not the record).
export function staffSession(api, ns) {
  const key = `o2o.${ns}.staff`;
  let staff = null;
  try { staff = JSON.parse(localStorage.getItem(key)); } catch { /* a stale value: none */ }
  return {
    get staff() { return staff; },
    async login(username, password) {
      const session = await api.post('/auth/staff/login', { username: username.trim(), password });
      api.setToken(session.token);
      staff = session.staff;
      localStorage.setItem(key, JSON.stringify(staff));
    },
    logout() {
      api.setToken('');
      staff = null;
      localStorage.removeItem(key);
    },
  };
}

// The staff login: username and password; `then` runs once the session is open.
export function staffLoginView(root, session, title, then) {
  loginForm(root, {
    title,
    fields: [
      { id: 'username', label: t('app.username'), attrs: { autocomplete: 'username' } },
      { id: 'password', label: t('app.password'), attrs: { type: 'password', autocomplete: 'current-password' } },
    ],
    submit: async ({ username, password }) => {
      await session.login(username, password);
      await then();
    },
  });
}
