// The tenant's time (issue 14): what its jobs will do day by day (GET …/timeline: ENF-3's notices, ENF-2's
// turn-offs with their fix, trials ending, subscriptions renewing or lapsing), what they and the tenant's changes
// did (GET …/events, paged), and for a tenant with a test clock, its day and a form that moves it
// (POST …/clock:advance).

import { api, seg } from '../api.js';
import { h, table, mount, notice, rules, fixText, flash, takeFlash, number } from '../dom.js';
import { KINDS } from './audit.js';

/** What each event type is called on the page. */
export const NAMES = {
  'enforcement.admin_notice': 'Admins told',
  'enforcement.maker_notice': 'Makers told',
  'flow.suspended': 'Turned off',
  'flow.resumed': 'Turned on again',
  'enforcement.cleared': 'Licensed again',
  'trial.expiring': 'Trial ends in 7 days',
  'trial.expired': 'Trial ended',
  'subscription.renewed': 'Subscription renewed',
  'subscription.lapsed': 'Subscription lapsed',
  'subscription.cancelled': 'Subscription cancelled',
  'subscription.taken_over': 'Subscription taken over',
  'license.assigned': 'Licence assigned',
  'license.removed': 'Licence removed',
  'requests.warning': '80 % of a request limit',
  'tenant.created': 'Tenant created',
};

const flowLink = (tenant, f) => h('a', { href: `#/t/${seg(tenant)}/flows/${seg(f)}` }, f);
const userLink = (tenant, u) => h('a', { href: `#/t/${seg(tenant)}/users/${seg(u)}` }, u);

/** The flows and users a happening is about, as links (the first 10 of each, then how many more). */
function concerned(tenant, p) {
  const flows = p.flows || (p.flow ? [p.flow] : []);
  const users = p.makers || p.users || p.holders || (p.user ? [p.user] : []);
  const some = (list, link) => [
    ...list.slice(0, 10).flatMap((x, i) => [i ? ', ' : '', link(tenant, x)]),
    list.length > 10 ? ` and ${number(list.length - 10)} more` : '',
  ];
  return h('span', {},
    flows.length ? h('span', { class: 'flows' }, 'flows: ', ...some(flows, flowLink)) : '',
    flows.length && users.length ? '; ' : '',
    users.length ? h('span', { class: 'users' }, 'told: ', ...some(users, userLink)) : '');
}

/** What else a happening says: the kind in words, the turn-off date, the fix, the SKU. */
export function detail(p) {
  const kind = p.kind ? h('span', { class: 'enforcement', title: `ENF-2 kind ${p.kind}` }, KINDS[p.kind] || p.kind) : '';
  const parts = [];
  if (p.turn_off) parts.push(`turned off on ${p.turn_off}`);
  if (p.fix) parts.push(`fix: ${fixText(p.fix)}`);
  if (p.sku) parts.push(`${p.quantity ? `${number(p.quantity)} × ` : ''}${p.sku}`);
  if (p.expires) parts.push(`ends on ${p.expires}`);
  if (p.until) parts.push(`until ${p.until}`);
  if (p.subscription) parts.push(`subscription ${p.subscription}`);
  return h('span', {}, kind, kind && parts.length ? ' — ' : '', parts.join('; '));
}

const columns = (tenant, day) => [
  ['Date', (r) => h('time', { datetime: day(r) }, day(r))],
  ['What', (r) => NAMES[r.type] || r.type],
  ['Concerned', (r) => concerned(tenant, r.payload || r)],
  ['Detail', (r) => detail(r.payload || r)],
  ['Rules', (r) => rules((r.payload || r).rules)],
];

/** The test clock's day and the form that moves it. */
function clockForm(tenant, data, refresh) {
  const to = h('input', { id: 'clock-to', name: 'to', type: 'date', min: data.today, 'aria-describedby': 'clock-result' });
  const result = h('div', { id: 'clock-result' });
  return h('form', {
    class: 'inline-form', id: 'clock',
    onsubmit: async (event) => {
      event.preventDefault();
      if (!to.value) {
        mount(result, notice('error', 'Give the day to move the clock to.'));
        return;
      }
      try {
        const { data: moved } = await api('POST', `/tenants/${seg(tenant)}/clock:advance`, { body: { to: to.value } });
        const happened = moved.days.reduce((n, d) => n + d.happenings.length, 0);
        flash(`The clock moved from ${moved.from} to ${moved.to}: ${number(happened)} thing(s) happened on ${number(moved.days.length)} day(s).`);
        refresh();
      } catch (e) {
        mount(result, notice('error', e.problem?.detail || e.message));
      }
    },
  },
  h('p', {}, 'Test clock: the tenant is on ', h('strong', { id: 'clock-today' }, data.today), '; it moves only when asked, and every job due on the way runs.'),
  h('label', { for: 'clock-to' }, 'Move to'), to,
  h('button', { type: 'submit', id: 'clock-advance', class: 'primary' }, 'Advance'),
  result);
}

export async function timelineView({ tenant, refresh }) {
  const { data } = await api('GET', `/tenants/${seg(tenant)}/timeline`);
  const coming = data.days.flatMap((d) => d.happenings.map((x) => ({ on: d.on, ...x })));
  const kinds = [...new Set(coming.map((r) => r.type))].sort();
  const only = h('select', { id: 'timeline-type', name: 'type' },
    h('option', { value: '' }, 'every kind'), ...kinds.map((k) => h('option', { value: k }, NAMES[k] || k)));
  const list = h('div', { id: 'timeline-coming' });
  const show = () => mount(list, table(columns(tenant, (r) => r.on), coming.filter((r) => !only.value || r.type === only.value),
    { empty: 'Nothing is due in this range.', rowAttrs: (r) => ({ dataset: { day: r.on, type: r.type } }) }));
  only.addEventListener('change', show);
  show();

  const past = h('div', { id: 'timeline-events' });
  const failed = (e) => mount(past, notice('error', e.message));
  const load = async (after, append) => {
    const { data: ev } = await api('GET', `/tenants/${seg(tenant)}/events`, { query: { after, limit: 50 } });
    const rows = table(columns(tenant, (e) => e.day), ev.events,
      { empty: 'Nothing has happened yet.', rowAttrs: (e) => ({ dataset: { seq: e.seq, type: e.type } }) });
    const more = ev.next != null
      ? h('button', { type: 'button', id: 'events-more', onclick: (e) => { e.target.remove(); load(ev.next, true).catch(failed); } }, 'More')
      : null;
    if (append) past.append(rows, more || '');
    else mount(past, rows, more);
  };
  await load(undefined, false);

  return h('div', { class: 'timeline', dataset: { today: data.today } },
    takeFlash(),
    h('h2', {}, 'Timeline'),
    data.test_clock ? clockForm(tenant, data, refresh)
      : data.pinned
        ? h('p', { id: 'clock-pinned' }, `The tenant's day is pinned to ${data.today} (tenant.at, without a test clock): its jobs do not run. Below is what they would do from that day.`)
        : h('p', {}, `The tenant follows the UTC date (${data.today}); its jobs ran through ${data.jobs_through || 'no day yet'}.`),
    h('h3', {}, `Coming: ${data.from} to ${data.to}`),
    h('p', { class: 'meta' }, 'What the jobs will do if nothing else changes: a fix made before a date means nothing happens then (ENF-6).'),
    h('div', { class: 'inline-form' }, h('label', { for: 'timeline-type' }, 'Show'), only),
    list,
    h('h3', {}, 'What happened'),
    past);
}
