// API usage (REQ-1..7): every user's Power Platform requests in the last 24 hours against their own limit, the
// busiest first, and who is throttled now. Licence requests (what makers ask an admin for) are another tab.

import { api, seg } from '../api.js';
import { h, table, number, ruleChip } from '../dom.js';

export async function usageView({ tenant }) {
  const { data: r } = await api('GET', `/tenants/${seg(tenant)}/usage/users`, { query: { limit: 100 } });
  const share = (u) => (u.limit ? h('meter', {
    min: 0, max: u.limit, value: Math.min(u.used, u.limit), high: u.limit * 0.9,
    'aria-label': `${u.user}: ${number(u.used)} of ${number(u.limit)} requests`,
  }) : h('span', { class: 'muted' }, 'tenant pool'));
  const shown = r.users.length < r.total ? ` (the ${r.users.length} busiest shown)` : '';
  return h('div', {},
    h('h2', {}, `API usage: ${number(r.total)} users, ${number(r.throttled)} throttled now${shown}`),
    h('p', {}, 'Requests in the last 24 hours against each user\'s own limit ', ruleChip('REQ-1'),
      '; throttled: at the 24-hour limit, or over the 5-minute window ', ruleChip('REQ-7'), '.'),
    table([
      ['User', (u) => h('a', { href: `#/t/${seg(tenant)}/users/${seg(u.user)}` }, u.user)],
      ['Used (24 h)', (u) => number(u.used)],
      ['Limit (24 h)', (u) => (u.limit == null ? '' : number(u.limit))],
      ['Use of the limit', share],
      ['Now', (u) => h('span', { class: `badge ${u.throttled ? 'bad' : 'ok'}` }, u.throttled ? 'throttled' : 'within limits')],
    ], r.users, { empty: 'No users.', rowAttrs: (u) => ({ dataset: { usageUser: u.user } }) }));
}
