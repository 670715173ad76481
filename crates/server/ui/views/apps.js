// Apps: every app of the tenant, and what a user may open (APP, ENT, D365 rules) with the reasons and fixes.

import { api, seg } from '../api.js';
import { h, chips, number, fact, serverTable, fromApi } from '../dom.js';
import { decider } from './decision.js';

export async function appsView({ tenant }) {
  const heading = h('h2', {}, 'Apps');
  const load = fromApi(`/tenants/${seg(tenant)}/apps`);
  let all = null;
  const list = await serverTable([
    ['App', (a) => h('a', { href: `#/t/${seg(tenant)}/apps/${seg(a.id)}` }, a.id), { key: 'id' }],
    ['Kind', (a) => a.kind, { key: 'kind' }],
    ['Environment', (a) => a.environment, { key: 'environment' }],
    ['Extends', (a) => a.extends_dynamics || ''],
    ['Users', (a) => chips(a.users)],
    ['Portal logins / page views', (a) => (a.kind === 'portal' ? `${number(a.logins || 0)} / ${number(a.page_views || 0)}` : ''), { num: true }],
  ], async (st) => {
    const page = await load(st);
    if (all === null && !st.q) {
      all = page.total;
      heading.textContent = `Apps (${number(all)})`;
    }
    return page;
  }, { id: 'apps', page: 100, empty: 'No apps.', rowAttrs: (a) => ({ dataset: { app: a.id } }) });
  return h('div', {}, heading, list);
}

export async function appView(ctx, appId) {
  const { tenant, summary } = ctx;
  const [{ data: app }, { data: users }] = await Promise.all([
    api('GET', `/tenants/${seg(tenant)}/apps/${seg(appId)}`),
    api('GET', `/tenants/${seg(tenant)}/users`),
  ]);
  const first = (app.users && app.users[0]) || (users[0] && users[0].id) || '';
  const user = h('select', { id: 'user', name: 'user' }, users.map((u) => h('option', { value: u.id, selected: u.id === first }, u.id)));
  const at = h('input', { id: 'at', name: 'at', type: 'date', value: summary.at });
  const { out, ask } = decider(ctx, `/tenants/${seg(tenant)}/apps/${seg(appId)}/decision`,
    () => ({ user: user.value, at: at.value }), null, app.environment);
  if (first) await ask();
  return h('div', {},
    h('h2', {}, `App ${appId}`),
    h('dl', { class: 'facts' },
      fact('Kind', app.kind), fact('Environment', app.environment), fact('Extends', app.extends_dynamics || '—'),
      fact('Connectors', chips(app.connectors)), fact('Entities', chips(app.entities))),
    h('form', { class: 'inline-form', onsubmit: (e) => { e.preventDefault(); ask(); } },
      h('label', { for: 'user' }, 'May'), user, h('span', {}, 'open it on'), at,
      h('button', { type: 'submit', id: 'decide' }, 'Decide')),
    out);
}
