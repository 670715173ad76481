// API usage (REQ-1..7): every user's Power Platform requests in the last 24 hours against their own limit, the
// busiest first, and who is throttled now. Licence requests (what makers ask an admin for) are another tab.

import { api, seg } from '../api.js';
import { h, serverTable, number, ruleChip } from '../dom.js';

export async function usageView({ tenant }) {
  const path = `/tenants/${seg(tenant)}/usage/users`;
  let r = null;
  const share = (u) => (u.limit ? h('meter', {
    min: 0, max: u.limit, value: Math.min(u.used, u.limit), high: u.limit * 0.9,
    'aria-label': `${u.user}: ${number(u.used)} of ${number(u.limit)} requests`,
  }) : h('span', { class: 'muted' }, 'tenant pool'));
  // The server sorts by use (the busiest first) or by id, and pages.
  const list = await serverTable([
    ['User', (u) => h('a', { href: `#/t/${seg(tenant)}/users/${seg(u.user)}` }, u.user), { key: 'id' }],
    ['Used (24 h)', (u) => u.used, { num: true, key: 'used' }],
    ['Limit (24 h)', (u) => (u.limit == null ? '' : u.limit), { num: true }],
    ['Use of the limit', share],
    ['Now', (u) => h('span', { class: `badge ${u.throttled ? 'bad' : 'ok'}` }, u.throttled ? 'throttled' : 'within limits')],
  ], async (st) => {
    const { data } = await api('GET', path, { query: { sort: st.sort || 'used', order: st.order, limit: st.limit, offset: st.offset || '' } });
    r ??= data;
    return { rows: data.users, total: data.total };
  }, { id: 'usage', page: 100, search: false, sort: 'used', order: 'desc', empty: 'No users.', rowAttrs: (u) => ({ dataset: { usageUser: u.user } }) });
  return h('div', {},
    h('h2', {}, `API usage: ${number(r.total)} users, ${number(r.throttled)} throttled now`),
    h('p', {}, 'Requests in the last 24 hours against each user\'s own limit ', ruleChip('REQ-1'),
      '; throttled: at the 24-hour limit, or over the 5-minute window ', ruleChip('REQ-7'), '.'),
    list);
}
