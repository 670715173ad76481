// Keys of a tenant (global admins and operators): who may do what, new keys (the secret is shown once, here
// only), and revocation, which takes effect at once on every node.

import { api, seg } from '../api.js';
import { h, table, chips, notice, mount } from '../dom.js';

const ROLES = ['global-admin', 'billing-admin', 'environment-admin', 'maker', 'reader'];

export async function keysView({ tenant }) {
  const base = `/tenants/${seg(tenant)}`;
  const [{ data: users }, { data: envs }] = await Promise.all([
    api('GET', `${base}/users`),
    api('GET', `${base}/environments`),
  ]);
  const result = h('div', { id: 'key-result' });
  const list = h('div', { id: 'key-list' });
  // The list is read again after each change, and the notice (a new key's secret) stays where it is.
  const reload = async () => {
    const { data: keys } = await api('GET', `${base}/keys`);
    mount(list, table([
      ['Key', (k) => h('code', {}, k.id)],
      ['Name', (k) => k.name || ''],
      ['Role', (k) => k.role],
      ['Scope', (k) => [k.user ? `as ${k.user} ` : '', chips(k.environments)]],
      ['Created', (k) => k.created_at],
      ['State', (k) => (k.revoked ? h('span', { class: 'badge bad' }, 'revoked') : h('span', { class: 'badge ok' }, 'active'))],
      ['', (k) => (k.revoked ? '' : h('button', { type: 'button', class: 'small', dataset: { revoke: k.id }, onclick: () => revoke(k) }, 'Revoke'))],
    ], keys, { empty: 'No keys for this tenant yet.', rowAttrs: (k) => ({ dataset: { key: k.id } }) }));
  };
  const revoke = async (k) => {
    try {
      await api('DELETE', `${base}/keys/${seg(k.id)}`);
      mount(result, notice('ok', `Key ${k.id} revoked.`));
      await reload();
    } catch (e) {
      mount(result, notice('error', `${k.id}: ${e.message}`));
    }
  };
  await reload();
  return h('div', {}, h('h2', {}, 'Keys'), result, list, createForm(base, users, envs, result, reload));
}

/** POST …/keys: a maker acts as one user, an environment admin over chosen environments. */
function createForm(base, users, envs, result, reload) {
  const role = h('select', { id: 'key-role', name: 'role' }, ROLES.map((r) => h('option', { value: r }, r)));
  const name = h('input', { id: 'key-name', name: 'name', placeholder: 'who or what uses it', size: 24 });
  const user = h('select', { id: 'key-user', name: 'user' }, users.map((u) => h('option', { value: u.id }, u.id)));
  const env = h('select', { id: 'key-environments', name: 'environments', multiple: true, size: Math.min(4, envs.length) },
    envs.map((e) => h('option', { value: e.id }, e.id)));
  const userField = h('span', { hidden: true }, h('label', { for: 'key-user' }, 'as'), ' ', user);
  const envField = h('span', { hidden: true }, h('label', { for: 'key-environments' }, 'over'), ' ', env);
  const scope = () => {
    userField.hidden = role.value !== 'maker';
    envField.hidden = role.value !== 'environment-admin';
  };
  role.addEventListener('change', scope);
  return h('form', {
    class: 'inline-form',
    onsubmit: async (event) => {
      event.preventDefault();
      const spec = { role: role.value, name: name.value.trim() || undefined };
      if (role.value === 'maker') spec.user = user.value;
      if (role.value === 'environment-admin') spec.environments = [...env.selectedOptions].map((o) => o.value);
      try {
        const { data } = await api('POST', `${base}/keys`, { body: spec });
        mount(result, notice('ok', `Key ${data.id} (${data.role}) created. Copy it now: it is not shown again. `,
          h('code', { id: 'new-key', class: 'secret' }, data.key)));
        await reload();
      } catch (e) {
        mount(result, notice('error', e.message));
      }
    },
  },
  h('h2', {}, 'New key'),
  h('label', { for: 'key-role' }, 'Role'), role, userField, envField,
  h('label', { for: 'key-name' }, 'Name'), name,
  h('button', { type: 'submit', id: 'create-key' }, 'Create'));
}
