// Flows: every flow with whether it may run today, and one flow's decision with its reasons (the rule IDs in
// the order the engine applied them), asked for any invoking user and date.

import { api, seg } from '../api.js';
import { h, table, chips, verdict, fact, filtered } from '../dom.js';
import { decider } from './decision.js';

export async function flowsView({ tenant }) {
  const [{ data: flows }, { data: audit }] = await Promise.all([
    api('GET', `/tenants/${seg(tenant)}/flows`),
    api('GET', `/tenants/${seg(tenant)}/audit`),
  ]);
  const atRisk = new Map(audit.flows.map((f) => [f.flow, f]));
  return h('div', {},
    h('h2', {}, `Flows (${flows.length})`),
    filtered(flows, ['id', 'owner', 'environment', 'trigger'], (rows) => table([
      ['Flow', (f) => h('a', { href: `#/t/${seg(tenant)}/flows/${seg(f.id)}` }, f.id)],
      ['Environment', (f) => f.environment],
      ['Owner', (f) => f.owner],
      ['Trigger', (f) => f.trigger],
      ['Licence', (f) => f.license],
      ['Connectors', (f) => chips(f.connectors)],
      ['Today', (f) => (f.enabled === false ? h('span', { class: 'badge' }, 'off')
        : atRisk.has(f.id) ? h('span', { class: 'badge bad', title: atRisk.get(f.id).problems.map((p) => p.message).join('; ') }, `at risk (${atRisk.get(f.id).rule})`)
          : verdict(true, 'licensed'))],
    ], rows, { empty: 'No flows.', rowAttrs: (f) => ({ dataset: { flow: f.id } }) })));
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
