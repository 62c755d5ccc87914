// The login page: an API token is pasted once and exchanged for the session cookie; the
// page keeps neither (the field is cleared, nothing is stored).
import * as api from './api.js';
import { h } from './dom.js';

export function mount(root, { onLogin }) {
  const input = h('input', {
    id: 'token',
    type: 'password',
    autocomplete: 'off',
    placeholder: 'oph_…',
    required: true,
  });
  const error = h('p', { class: 'error', id: 'login-error' });
  const form = h(
    'form',
    {
      id: 'login',
      onsubmit: async (ev) => {
        ev.preventDefault();
        error.textContent = '';
        try {
          await api.login(input.value);
          input.value = '';
          onLogin();
        } catch (err) {
          error.textContent = `${err.code ?? 'ERROR'}: ${err.message}`;
        }
      },
    },
    h('label', { for: 'token' }, 'API token (admin or read-only)'),
    input,
    h('button', { class: 'primary', type: 'submit' }, 'Log in'),
    error,
  );
  root.append(
    h(
      'section',
      { class: 'login' },
      h('h1', null, 'Log in to Outpost'),
      h(
        'p',
        { class: 'muted' },
        'Create a token with `outpost-hub apitoken create --name NAME --scope read-only` (or admin). The browser keeps only a session cookie, which ends when you log out, after 12 hours, or when the token is revoked.',
      ),
      form,
    ),
  );
  input.focus();
  return () => {};
}
