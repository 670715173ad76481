// The tenant-wide plan (issue 16): the cheapest set of changes that turns every denied flow and app decision,
// worked out jointly by the server (`GET …/plan`), with the monthly cost before and after and the saving against
// the audit's per-flow sum. The plan is made as one write (`POST …/changes:batch`, all or nothing): a dry run
// first lists the decisions it turns, then Apply makes it.

import { api, seg } from '../api.js';
import { h, mount, table, rules, card, notice, codeText, flash, takeFlash } from '../dom.js';

/** A list of {amount, currency} as "USD 45.00" (several currencies joined, never added). */
function amounts(list) {
  const parts = (list || []).map((m) => `${m.currency} ${m.amount}`);
  return parts.length ? parts.join(' + ') : '0';
}

/** One change of the plan in words. */
export function changeText(c) {
  switch (c.action) {
    case 'buy': return `buy ${c.quantity} × ${c.sku}${c.records ? ` (records ${c.records} held without a subscription)` : ''}`;
    case 'assign': return `assign ${c.sku} to ${c.user}`;
    case 'reassign': return `move ${c.sku} from ${c.from} to ${c.user}`;
    case 'remove': return `remove ${c.sku} from ${c.user}`;
    case 'allocate': return `allocate ${c.quantity} × ${c.sku} to environment ${c.environment}`;
    case 'set-flow-license': return `set flow ${c.flow} to its ${c.license} licence`;
    case 'change-owner': return `make ${c.user} the owner of flow ${c.flow}`;
    case 'associate-app': return `associate flow ${c.flow} with app ${c.app}`;
    default: return c.action;
  }
}

export async function planView(ctx) {
  const { tenant, refresh } = ctx;
  const path = `/tenants/${seg(tenant)}/plan`;
  const { data: plan } = await api('GET', path);
  const t = plan.targets;
  const b = plan.bound;
  const cards = h('div', { class: 'cards' },
    card('denied decisions', String(t.denied), { id: 'plan-denied' }),
    card('turned by the plan', String(t.turned), { id: 'plan-turned' }),
    card('monthly cost now', amounts(plan.cost_before), { id: 'plan-before' }),
    card('monthly cost after', amounts(plan.cost_after), { id: 'plan-after' }),
    card('per-flow sum (audit)', amounts(plan.per_flow_sum), { id: 'plan-per-flow' }),
    card('saving', amounts(plan.saving), { id: 'plan-saving' }));
  const solver = h('p', { class: 'meta', id: 'plan-solver' },
    `Solver: ${b.method}${b.optimal ? ' (optimal)' : `, gap ${b.gap_percent} % to a lower bound of ${b.lower_bound}`}; `,
    `${t.denied} denied decision(s), ${b.atoms} candidate change(s).`,
    t.unfixable.length ? ` No change turns: ${t.unfixable.join(', ')}.` : '');
  const changes = table([
    ['#', (c) => String(plan.changes.indexOf(c) + 1), { num: true }],
    ['Change', (c) => changeText(c), { sort: 'action' }],
    ['Monthly cost', (c) => (c.monthly_cost ? `${c.monthly_cost.currency} ${c.monthly_cost.amount}` : ''), { num: true }],
    ['Rules', (c) => rules(c.rules)],
    ['Turns', (c) => (c.turns || []).join(', ')],
  ], plan.changes, {
    id: 'plan', empty: 'Nothing to change: every decision the plan looks at is allowed (or no change turns it).',
    rowAttrs: (c) => ({ dataset: { action: c.action } }),
  });
  const status = h('div', { id: 'plan-status' });
  const flips = h('div', { id: 'plan-flips' });
  const batch = (dry) => api('POST', `/tenants/${seg(tenant)}/changes:batch`, { body: plan.batch, query: { dry_run: dry ? 'true' : '' } });
  const dryButton = h('button', {
    type: 'button', id: 'plan-dry-run',
    onclick: async () => {
      dryButton.disabled = true;
      try {
        const { data } = await batch(true);
        const turned = (data.flips || []).filter((f) => f.allowed_after && !f.allowed_before);
        mount(status, notice('info', `Dry run: nothing written; ${turned.length} decision(s) would turn to allowed.`));
        mount(flips, table([
          ['Kind', (f) => f.kind],
          ['Id', (f) => f.id],
          ['User', (f) => f.user || ''],
          ['After', (f) => (f.allowed_after ? 'allowed' : 'denied')],
        ], data.flips || [], { id: 'plan-flips', rowAttrs: (f) => ({ dataset: { flip: f.id } }) }));
        applyButton.disabled = false;
      } catch (e) {
        mount(status, notice('error', codeText(e.message)));
      } finally {
        dryButton.disabled = false;
      }
    },
  }, 'Dry run');
  const applyButton = h('button', {
    type: 'button', class: 'primary', id: 'plan-apply', disabled: true,
    title: 'Run the dry run first',
    onclick: async () => {
      applyButton.disabled = true;
      try {
        await batch(false);
        flash(`Plan applied: ${plan.changes.length} change(s) made.`);
        await refresh();
      } catch (e) {
        mount(status, notice('error', codeText(e.message)));
        applyButton.disabled = false;
      }
    },
  }, 'Apply plan');
  const actions = plan.changes.length ? h('p', { class: 'actions' }, dryButton, ' ', applyButton) : null;
  return h('div', { class: 'plan', dataset: { tenant } },
    takeFlash(),
    h('h2', {}, 'Plan: the cheapest joint fix'),
    cards, solver, changes, actions, status, flips);
}
