// Environments: kind, Dataverse, Dynamics 365 apps, storage in use, and the add-on units allocated to each
// (Power Platform's currencyAllocations: process licences, per-app passes, capacity add-ons), paged by the server.

import { seg } from '../api.js';
import { h, chips, number, serverTable, fromApi } from '../dom.js';

export async function environmentsView({ tenant }) {
  const heading = h('h2', {}, 'Environments');
  const load = fromApi(`/tenants/${seg(tenant)}/environments`);
  let all = null;
  const list = await serverTable([
    ['Environment', (e) => [e.id, e.default ? h('span', { class: 'badge spaced' }, 'default') : ''], { key: 'id' }],
    ['Kind', (e) => e.kind, { key: 'kind' }],
    ['Dataverse', (e) => (e.dataverse ? 'yes' : 'no'), { key: 'dataverse' }],
    ['Dynamics 365', (e) => chips(e.dynamics_apps)],
    ['Storage (DB / file / log MB)', (e) => (e.storage ? `${number(e.storage.database_mb || 0)} / ${number(e.storage.file_mb || 0)} / ${number(e.storage.log_mb || 0)}` : '—'), { num: true }],
    // The environment's own allocations (what GET …/environments/{e}/allocations answers as currencyAllocations).
    ['Allocated', (e) => chips(Object.entries(e.allocations || {}).map(([sku, n]) => `${sku} × ${n}`))],
  ], async (st) => {
    const page = await load(st);
    if (all === null && !st.q) {
      all = page.total;
      heading.textContent = `Environments (${number(all)})`;
    }
    return page;
  }, { id: 'environments', page: 100, empty: 'No environments.', rowAttrs: (e) => ({ dataset: { environment: e.id } }) });
  return h('div', {}, heading, list);
}
