// Environments: kind, Dataverse, Dynamics 365 apps, storage in use, and the add-on units allocated to each
// (Power Platform's currencyAllocations: process licences, per-app passes, capacity add-ons).

import { api, seg } from '../api.js';
import { h, table, chips, number } from '../dom.js';

export async function environmentsView({ tenant }) {
  const base = `/tenants/${seg(tenant)}`;
  const { data: envs } = await api('GET', `${base}/environments`);
  const allocations = await Promise.all(envs.map((e) => api('GET', `${base}/environments/${seg(e.id)}/allocations`)
    .then(({ data }) => data.currencyAllocations || [])));
  const held = new Map(envs.map((e, i) => [e.id, allocations[i]]));
  return h('div', {},
    h('h2', {}, `Environments (${envs.length})`),
    table([
      ['Environment', (e) => [e.id, e.default ? h('span', { class: 'badge' }, 'default') : '']],
      ['Kind', (e) => e.kind],
      ['Dataverse', (e) => (e.dataverse ? 'yes' : 'no')],
      ['Dynamics 365', (e) => chips(e.dynamics_apps)],
      ['Storage (DB / file / log MB)', (e) => (e.storage ? `${number(e.storage.database_mb || 0)} / ${number(e.storage.file_mb || 0)} / ${number(e.storage.log_mb || 0)}` : '—')],
      ['Allocated', (e) => chips(held.get(e.id).map((a) => `${a.currencyType} × ${a.allocated}`))],
    ], envs, { empty: 'No environments.', rowAttrs: (e) => ({ dataset: { environment: e.id } }) }));
}
