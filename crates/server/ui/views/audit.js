// The audit (ENF-1, ENF-2): every flow at risk of suspension, its enforcement timeline and its cheapest fixes,
// with the tenant's totals first.

import { api, seg } from '../api.js';
import { h, serverTable, rules, card, money, notice, downloadButton, findings, number } from '../dom.js';
import { fixButton } from './fix.js';

/**
 * ENF-2's kinds of enforcement as seed 002's table names them; a flow that fits none of them (`other`) is named
 * by the rule it fails, with the rulebook's title.
 */
export const KINDS = {
  'owner-left': 'Premium flow whose owner left the organisation',
  'owner-without-premium': 'Premium flow whose owner no longer holds a premium licence',
  'outside-power-apps-context': 'Premium flow of a Power Apps licence, not in an app\'s context',
  'outside-d365-context': 'Premium flow of a Dynamics 365 licence, outside its app\'s context',
  'service-principal-without-process': 'Service principal\'s premium flow without a process licence',
};

/** The name an admin recognises for a flow's enforcement, with its kind and rule on hover. */
export function enforcementName(kind, rule, titles) {
  const name = KINDS[kind] || (rule && titles[rule]) || kind;
  return h('span', {
    class: 'enforcement', dataset: { kind },
    title: `${kind === 'other' ? 'not one of ENF-2\'s kinds' : `ENF-2 kind ${kind}`}${rule ? `; rule ${rule}` : ''}`,
  }, name);
}

/** The enforcement states a flow at risk is in (the audit's status filter). */
const STATES = [['pending', 'Pending'], ['admin-notified', 'Admins notified'], ['maker-notified', 'Makers notified'],
  ['turned-off', 'Turned off'], ['created-off', 'Created off'], ['undated', 'No dated enforcement']];

export async function auditView(ctx) {
  const { tenant, refresh } = ctx;
  const path = `/tenants/${seg(tenant)}/audit`;
  const { data: book } = await api('GET', '/rules');
  const titles = Object.fromEntries((book.rules || []).map((r) => [r.id, r.title]));
  // The flows at risk a page at a time (a big tenant has tens of thousands); the first answer carries the rest.
  let audit = null;
  const list = await serverTable([
    ['Flow', (f) => h('a', { href: `#/t/${seg(tenant)}/flows/${seg(f.flow)}` }, f.flow), { key: 'flow' }],
    ['Environment', (f) => f.environment, { key: 'environment' }],
    ['Owner', (f) => f.owner, { key: 'owner' }],
    ['Trigger', (f) => f.trigger, { key: 'trigger' }],
    ['Enforcement', (f) => [enforcementName(f.enforcement, f.rule, titles), f.state ? ` (${f.state})` : ''], { key: 'enforcement' }],
    ['Timeline', (f) => timeline(f), { key: 'turn_off' }],
    ['Why', (f) => findings(f.problems)],
    ['Fixes, cheapest first', (f) => f.fixes.map((fix) => fixButton(ctx, fix, f.flow, f.environment, refresh))],
    ['Rules', (f) => rules(f.rules)],
  ], async (st) => {
    const { data } = await api('GET', path, { query: { q: st.q, sort: st.sort, order: st.sort ? st.order : '', status: st.status, limit: st.limit, offset: st.offset || '' } });
    audit ??= data;
    return { rows: data.flows, total: data.flows_total };
  }, {
    id: 'audit', page: 50, statuses: STATES,
    empty: 'No flow is at risk: every flow has the licence it needs.',
    rowAttrs: (f) => ({ dataset: { flow: f.flow } }),
  });
  const s = audit.summary;
  const byKind = Object.entries(s.by_enforcement || {}).map(([k, n]) => `${KINDS[k] || (k === 'other' ? 'other reasons' : k)}: ${number(n)}`).join('; ');
  return h('div', { class: 'audit' },
    h('div', { class: 'cards' },
      card('flows', number(s.flows)),
      card('at risk', number(s.at_risk), { id: 'at-risk', class: s.at_risk ? 'card warn' : 'card' }),
      card('turned off', number(s.turned_off)),
      card('environments', number(s.environments)),
      card('cheapest fixes per month', money(s.cheapest_fixes_monthly), { id: 'fix-cost' })),
    byKind ? h('p', { class: 'meta' }, `By enforcement kind: ${byKind}`) : null,
    h('p', {}, downloadButton('audit-csv', 'Download as CSV', path, `${tenant}-audit.csv`)),
    h('h2', {}, 'Flows at risk'),
    list,
    audit.warnings?.length ? [h('h2', {}, 'Warnings'), findings(audit.warnings.slice(0, 200)),
      audit.warnings.length > 200 ? h('p', { class: 'meta' }, `The first 200 of ${number(audit.warnings.length)} warnings (the API's audit lists them all).`) : null] : null,
    audit.tenant_problems?.length ? [h('h2', {}, 'Tenant problems'), findings(audit.tenant_problems)] : null,
    audit.fixes?.length ? [h('h2', {}, 'Tenant fixes'), audit.fixes.map((fix) => fixButton(ctx, fix, null, null, refresh))] : null,
    s.at_risk ? null : notice('ok', 'Nothing to fix.'));
}

/** Notify, grace, suspend: the dates ENF-2 sets for this kind of enforcement. */
function timeline(f) {
  const steps = [
    ['admin notice', f.admin_notice],
    ['maker notice', f.maker_notice],
    ['turned off', f.turn_off],
  ].filter(([, d]) => d);
  if (!steps.length) return h('span', { class: 'meta' }, 'no dated enforcement');
  return h('ol', { class: 'timeline' }, steps.map(([what, d]) => h('li', {}, h('time', { datetime: d }, d), ` ${what}`)));
}
