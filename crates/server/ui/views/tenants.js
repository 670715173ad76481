// The tenants this key sees, and (for an operator) a new tenant from a scenario file.

import { api, seg } from '../api.js';
import { h, table, notice, number } from '../dom.js';

export async function tenantsView({ me }) {
  const { data: tenants } = await api('GET', '/tenants');
  const status = h('div', { id: 'create-status' });
  return h('section', {},
    h('h1', { tabindex: '-1' }, 'Tenants'),
    table([
      ['Tenant', (t) => h('a', { href: `#/t/${seg(t.id)}`, dataset: { tenant: t.id } }, t.id)],
      ['Evaluated on', (t) => t.at],
      ['Catalog', (t) => t.catalog],
      ['Users', (t) => number(t.counts.users)],
      ['Environments', (t) => number(t.counts.environments)],
      ['Apps', (t) => number(t.counts.apps)],
      ['Flows', (t) => number(t.counts.flows)],
      ['Subscriptions', (t) => number(t.counts.subscriptions)],
      ['Version', (t) => t.version],
    ], tenants, { empty: 'No tenant yet: create one from a scenario file below.' }),
    // Only an operator creates tenants (a tenant's key sees its own tenant only).
    me?.role === 'operator' ? [createForm(status), status] : null);
}

/** POST /v1/tenants with a scenario file (TOML, or JSON by its extension), as `entitle` reads it. */
function createForm(status) {
  const file = h('input', { id: 'scenario-file', type: 'file', accept: '.toml,.json', required: true });
  return h('form', {
    class: 'inline-form',
    onsubmit: async (event) => {
      event.preventDefault();
      const chosen = file.files[0];
      if (!chosen) return;
      const text = await chosen.text();
      const type = chosen.name.toLowerCase().endsWith('.json') ? 'application/json' : 'application/toml';
      try {
        const { data } = await api('POST', '/tenants', { body: text, type });
        window.location.hash = `#/t/${seg(data.id)}`;
      } catch (e) {
        status.replaceChildren(notice('error', `${chosen.name}: ${e.message}`));
      }
    },
  },
  h('h2', {}, 'New tenant'),
  h('label', { for: 'scenario-file' }, 'Scenario file (TOML or JSON, the CLI\'s format)'),
  file,
  h('button', { type: 'submit', id: 'create-tenant' }, 'Create'));
}
