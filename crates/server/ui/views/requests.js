// Licence requests: makers ask, an admin approves (which assigns the licence) or denies.

import { api, seg } from '../api.js';
import { h, table, notice, mount, flash, codeText } from '../dom.js';

export async function requestsView({ tenant, refresh }) {
  const base = `/tenants/${seg(tenant)}`;
  const { data: requests } = await api('GET', `${base}/license-requests`);
  const result = h('div', { id: 'request-result' });
  const decide = async (r, decision) => {
    try {
      await api('POST', `${base}/license-requests/${seg(r.id)}/${decision}`);
      flash(`Request ${r.id} ${decision === 'approve' ? 'approved: ' + r.sku + ' assigned to ' + r.user : 'denied'}.`);
      refresh();
    } catch (e) {
      mount(result, notice('error', `${r.id}: ${e.message}`));
    }
  };
  const pending = requests.filter((r) => r.state === 'pending');
  return h('div', {},
    h('h2', {}, `Licence requests (${pending.length} pending)`),
    result,
    table([
      ['Request', (r) => r.id, { sort: 'id' }],
      ['User', (r) => h('a', { href: `#/t/${seg(tenant)}/users/${seg(r.user)}` }, r.user), { sort: 'user' }],
      ['Licence', (r) => r.sku, { sort: 'sku' }],
      ['Asked on', (r) => r.on || '', { sort: 'on' }],
      ['Note', (r) => codeText(r.note || '')],
      ['State', (r) => h('span', { class: `badge ${r.state === 'approved' ? 'ok' : r.state === 'denied' ? 'bad' : ''}` }, r.state), { sort: 'state' }],
      ['', (r) => (r.state === 'pending' ? [
        h('button', { type: 'button', class: 'small primary', dataset: { approve: r.id }, onclick: () => decide(r, 'approve') }, 'Approve'),
        ' ',
        h('button', { type: 'button', class: 'small', dataset: { deny: r.id }, onclick: () => decide(r, 'deny') }, 'Deny'),
      ] : '')],
    ], requests, { id: 'requests', search: ['id', 'user', 'sku', 'note'], statuses: [['pending', 'Pending'], ['approved', 'Approved'], ['denied', 'Denied']], statusOf: (r) => r.state, empty: 'No licence requests.', rowAttrs: (r) => ({ dataset: { request: r.id } }) }));
}
