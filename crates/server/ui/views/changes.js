// The audit log: every change to the tenant, who made it (key id) and what it was before and after; filtered
// and paged by the server.

import { api, seg } from '../api.js';
import { h, table, mount, notice } from '../dom.js';

export async function changesView({ tenant }) {
  const out = h('div', { id: 'log' });
  const kind = h('input', { id: 'log-kind', name: 'kind', placeholder: 'user, flow, tenant…', size: 12 });
  const action = h('input', { id: 'log-action', name: 'action', placeholder: 'create, assign-license…', size: 16 });
  // A failed reload (a revoked key, the server gone) says so where the list was.
  const failed = (e) => mount(out, notice('error', e.message));
  const load = async (after, append) => {
    const { data } = await api('GET', `/tenants/${seg(tenant)}/audit-log`, { query: { kind: kind.value.trim(), action: action.value.trim(), after, limit: 50 } });
    const rows = table([
      ['#', (e) => e.seq, { num: true }],
      ['When (UTC)', (e) => h('time', { datetime: e.at }, e.at.replace('T', ' ').replace('Z', ''))],
      ['Who', (e) => h('code', {}, e.actor)],
      ['Action', (e) => e.action],
      ['Kind', (e) => e.kind],
      ['Item', (e) => e.item || ''],
      ['Change', (e) => (e.before || e.after ? h('details', {}, h('summary', {}, 'before / after'),
        h('pre', {}, JSON.stringify({ before: e.before, after: e.after }, null, 2))) : '')],
    ], data.entries, { empty: 'No change matches.', rowAttrs: (e) => ({ dataset: { seq: e.seq } }) });
    const more = data.next != null
      ? h('button', { type: 'button', id: 'log-more', onclick: (ev) => { ev.target.remove(); load(data.next, true).catch(failed); } }, 'More')
      : null;
    if (append) out.append(rows, more || '');
    else mount(out, rows, more);
  };
  await load(undefined, false);
  return h('div', {},
    h('h2', {}, 'Changes'),
    h('form', { class: 'inline-form', onsubmit: (e) => { e.preventDefault(); load(undefined, false).catch(failed); } },
      h('label', { for: 'log-kind' }, 'Kind'), kind,
      h('label', { for: 'log-action' }, 'Action'), action,
      h('button', { type: 'submit', id: 'log-filter' }, 'Filter')),
    out);
}
