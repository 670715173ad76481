// Flows: every flow with its status today (licensed, at risk, off), paged, sorted and filtered by the server
// (GET …/flows:status), and one flow's decision with its reasons (the rule IDs in the order the engine applied
// them), asked for any invoking user and date.

import { api, seg } from '../api.js';
import { h, chips, verdict, fact, serverTable, fromApi, number } from '../dom.js';
import { decider } from './decision.js';

export const FLOW_STATUSES = [['at-risk', 'At risk'], ['off', 'Off'], ['licensed', 'Licensed']];

export async function flowsView({ tenant }) {
  const path = `/tenants/${seg(tenant)}/flows:status`;
  const heading = h('h2', {}, 'Flows');
  let all = null;
  const load = fromApi(path, (d) => d.flows);
  const list = await serverTable([
    ['Flow', (f) => h('a', { href: `#/t/${seg(tenant)}/flows/${seg(f.id)}` }, f.id), { key: 'id' }],
    ['Environment', (f) => f.environment, { key: 'environment' }],
    ['Owner', (f) => f.owner, { key: 'owner' }],
    ['Trigger', (f) => f.trigger, { key: 'trigger' }],
    ['Licence', (f) => f.license, { key: 'license' }],
    ['Connectors', (f) => chips(f.connectors)],
    ['Today', (f) => (f.status === 'off' ? h('span', { class: 'badge' }, 'off')
      : f.status === 'at-risk' ? h('span', { class: 'badge bad', title: f.why || f.enforcement }, `at risk (${f.rule})`)
        : verdict(true, 'licensed')), { key: 'status' }],
  ], async (st) => {
    const page = await load(st);
    // The heading counts every flow: the first answer without a filter says how many.
    if (all === null && !st.q && !st.status) {
      all = page.total;
      heading.textContent = `Flows (${number(all)})`;
    }
    return page;
  }, { id: 'flows', page: 100, statuses: FLOW_STATUSES, empty: 'No flows.', rowAttrs: (f) => ({ dataset: { flow: f.id } }) });
  return h('div', {}, heading, list);
}

export async function flowView(ctx, flowId) {
  const { tenant, summary } = ctx;
  const [{ data: flow }, { data: users }] = await Promise.all([
    api('GET', `/tenants/${seg(tenant)}/flows/${seg(flowId)}`),
    api('GET', `/tenants/${seg(tenant)}/users`),
  ]);
  const asUser = h('select', { id: 'as', name: 'as' },
    h('option', { value: '' }, flow.trigger === 'instant' ? '(everyone who runs it)' : '(its owner)'),
    users.map((u) => h('option', { value: u.id }, u.id)));
  const at = h('input', { id: 'at', name: 'at', type: 'date', value: summary.at });
  const { out, ask } = decider(ctx, `/tenants/${seg(tenant)}/flows/${seg(flowId)}/decision`,
    () => ({ as: asUser.value, at: at.value }), flow.id, flow.environment);
  await ask();
  return h('div', {},
    h('h2', {}, `Flow ${flowId}`),
    h('dl', { class: 'facts' },
      fact('Environment', flow.environment), fact('Owner', flow.owner), fact('Co-owners', (flow.co_owners || []).join(', ') || '—'),
      fact('Trigger', flow.trigger), fact('Licence', flow.license), fact('Created', flow.created || '—'),
      fact('Run by', (flow.run_by || []).join(', ') || '—'), fact('Connectors', chips(flow.connectors))),
    h('form', { class: 'inline-form', onsubmit: (e) => { e.preventDefault(); ask(); } },
      h('label', { for: 'as' }, 'Run by'), asUser,
      h('label', { for: 'at' }, 'On'), at,
      h('button', { type: 'submit', id: 'decide' }, 'Decide')),
    out);
}
