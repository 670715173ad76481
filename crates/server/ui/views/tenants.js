// The tenants this key sees, and (for an operator) a new tenant from a scenario file.

import { api, seg } from '../api.js';
import { h, table, notice, number, money } from '../dom.js';

export async function tenantsView({ me }) {
  const { data: tenants } = await api('GET', '/tenants');
  // Each tenant's headline (flows at risk, turned off, monthly cost, next enforcement), read side by side; a
  // tenant whose overview fails shows its counts without it.
  const overviews = new Map(await Promise.all(tenants.map((t) => api('GET', `/tenants/${seg(t.id)}/overview`)
    .then(({ data }) => [t.id, data], () => [t.id, null]))));
  const ov = (t) => overviews.get(t.id);
  const status = h('div', { id: 'create-status' });
  return h('section', {},
    h('h1', { tabindex: '-1' }, 'Tenants'),
    // The headline first: on a phone it is what shows without scrolling the table.
    table([
      ['Tenant', (t) => h('a', { href: `#/t/${seg(t.id)}`, dataset: { tenant: t.id } }, t.id), { sort: 'id' }],
      ['At risk', (t) => ov(t)?.at_risk ?? '', { num: true, sort: (t) => ov(t)?.at_risk }],
      ['Turned off', (t) => ov(t)?.turned_off ?? '', { num: true, sort: (t) => ov(t)?.turned_off }],
      // Sorted by currency, then amount: amounts in two currencies are not compared.
      ['Per month', (t) => (ov(t) ? money(ov(t).monthly) : ''), { num: true, sort: (t) => sortableMoney(ov(t)?.monthly) }],
      ['Next enforcement', (t) => ov(t)?.next_enforcement?.date ?? '—', { sort: (t) => ov(t)?.next_enforcement?.date, nowrap: true }],
      ['Evaluated on', (t) => t.at, { sort: 'at', nowrap: true }],
      ['Catalog', (t) => t.catalog, { sort: 'catalog' }],
      ['Users', (t) => t.counts.users, { num: true, sort: (t) => t.counts.users }],
      ['Environments', (t) => t.counts.environments, { num: true, sort: (t) => t.counts.environments }],
      ['Apps', (t) => t.counts.apps, { num: true, sort: (t) => t.counts.apps }],
      ['Flows', (t) => t.counts.flows, { num: true, sort: (t) => t.counts.flows }],
      ['Subscriptions', (t) => t.counts.subscriptions, { num: true, sort: (t) => t.counts.subscriptions }],
      ['Version', (t) => t.version, { num: true, sort: 'version' }],
    ], tenants, { id: 'tenants', search: ['id', 'catalog'], empty: 'No tenant yet: create one from a scenario file below.', rowAttrs: (t) => ({ dataset: { tenantRow: t.id } }) }),
    // Only an operator creates tenants (a tenant's key sees its own tenant only).
    me?.role === 'operator' ? [createForm(status), status, importForm()] : null);
}

/**
 * POST /v1/tenants:import with admin exports (PowerShell, Graph, admin center, CoE, licensing API; JSON or CSV),
 * one part per file, each file's kind told from its content. "Preview" asks with dry_run=true and shows the
 * summary (what was read, guessed and not known, by name and count); only then is "Create" offered.
 */
function importForm() {
  const files = h('input', { id: 'import-files', type: 'file', accept: '.json,.csv', multiple: true, required: true });
  const tenant = h('input', { id: 'import-tenant', type: 'text', placeholder: 'from the exports' });
  const out = h('div', { id: 'import-preview' });
  const send = (dryRun) => {
    const form = new FormData();
    for (const f of files.files) form.append('file', f, f.name);
    return api('POST', '/tenants:import', { body: form, query: { dry_run: dryRun ? 'true' : '', tenant: tenant.value.trim() } });
  };
  const create = h('button', { type: 'button', id: 'import-create', hidden: true, onclick: async () => {
    try {
      const { data } = await send(false);
      window.location.hash = `#/t/${seg(data.id)}`;
    } catch (e) {
      out.replaceChildren(notice('error', e.message));
    }
  } }, 'Create');
  return h('form', {
    class: 'inline-form',
    id: 'import-form',
    onsubmit: async (event) => {
      event.preventDefault();
      create.hidden = true;
      if (!files.files.length) return;
      try {
        const { data } = await send(true);
        out.replaceChildren(...preview(data));
        create.hidden = false;
      } catch (e) {
        out.replaceChildren(notice('error', e.message));
      }
    },
  },
  h('h2', {}, 'New tenant from admin exports'),
  h('label', { for: 'import-files' }, 'Export files (JSON or CSV: Get-AdminFlow, Graph users and subscribedSkus, …)'),
  files,
  h('label', { for: 'import-tenant' }, 'Tenant id'),
  tenant,
  h('button', { type: 'submit', id: 'import-preview-button' }, 'Preview'),
  create,
  out);
}

/** The import's summary: counts, then every unknown by name and count, then the lists. */
function preview(data) {
  const s = data.summary;
  const c = data.tenant.counts;
  const rows = [];
  const maps = [
    ['SKU not in the catalog', s.unknown_skus],
    ['Product name not mapped', s.unknown_product_names],
    ['Connector not in the connector table (treated as premium)', s.unknown_connectors],
    ['Custom connector', s.custom_connectors],
    ['Owner missing from the user export', s.missing_owners],
    ['Environment missing from the environment export', s.missing_environments],
    ['Flows with unknown connectors (thin Get-AdminFlow list)', s.flows_without_connectors],
    ['Allocation currency not known', s.unknown_currencies],
  ];
  for (const [what, map] of maps) for (const [name, n] of Object.entries(map || {})) rows.push({ what, name, n });
  const lists = [
    ['Licence with its Power Platform plans disabled', s.plans_disabled],
    ['Not modelled', s.not_modelled],
    ['At-risk disagreement with Microsoft', s.at_risk_disagreements],
    ['Warning', s.warnings],
  ];
  for (const [what, list] of lists) for (const name of list || []) rows.push({ what, name, n: '' });
  return [
    h('p', { id: 'import-counts' }, `Tenant ${data.tenant.id}: ${number(c.users)} users, ${number(c.environments)} environments, `
      + `${number(c.apps)} apps, ${number(c.flows)} flows, ${number(c.subscriptions)} subscriptions; ${number(data.guessed)} guessed values.`),
    table([
      ['What', (r) => r.what, { sort: 'what' }],
      ['Name', (r) => r.name, { sort: 'name' }],
      ['Count', (r) => r.n, { num: true, sort: 'n' }],
    ], rows, { id: 'import-unknowns', search: ['what', 'name'], empty: 'Nothing unknown: every item was placed.' }),
  ];
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

/** A monthly bill as a sort key: its first currency, then the amount in it (zero-padded, so text order is number order). */
function sortableMoney(totals) {
  const [cur, amount] = Object.entries(totals || {})[0] || [];
  return cur ? `${cur} ${Number(amount).toFixed(2).padStart(16, '0')}` : null;
}
