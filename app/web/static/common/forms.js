// A form field's error, said where the person types: the input gets aria-invalid and is
// described by its error line (the element with id "<input id>-error", class field-error,
// styled in base.css). The pages word the message; this only shows and clears it.
import { h } from './ui.js';

// The error line for the input with this id (empty and hidden until the input is wrong).
// attrs: e.g. {role: 'alert'} where the line should be announced the moment it is said.
export const errorLine = (id, attrs = {}) => h('p.field-error', { id: `${id}-error`, hidden: true, ...attrs });

const describedBy = (input) => (input.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);

// Marks an input (or a fieldset of checkboxes) wrong and says why on its error line.
export function showFieldError(input, message) {
  const error = document.getElementById(`${input.id}-error`);
  input.setAttribute('aria-invalid', 'true');
  if (!error) return;
  error.textContent = message;
  error.hidden = false;
  input.setAttribute('aria-describedby', [error.id, ...describedBy(input).filter((x) => x !== error.id)].join(' '));
}

// The input is no longer wrong: its mark, its error line and the description go.
export function clearFieldError(input) {
  const id = `${input.id}-error`;
  input.removeAttribute('aria-invalid');
  const ids = describedBy(input).filter((x) => x !== id);
  if (ids.length) input.setAttribute('aria-describedby', ids.join(' '));
  else input.removeAttribute('aria-describedby');
  const error = document.getElementById(id);
  if (error) { error.hidden = true; error.textContent = ''; }
}

// Every field of a form (or any box) no longer wrong.
export function clearFieldErrors(root) {
  for (const input of root.querySelectorAll('[aria-invalid]')) clearFieldError(input);
  for (const error of root.querySelectorAll('.field-error')) { error.hidden = true; error.textContent = ''; }
}
