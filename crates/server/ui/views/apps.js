// Apps: every app of the tenant, and what a user may open (APP, ENT, D365 rules) with the reasons and fixes.

import { api, seg } from '../api.js';
import { h, table, rules, chips, verdict, notice, mount, number, licensedBy } from '../dom.js';
import { fixButton } from './fix.js';

export async function appsView({ tenant }) {
  const { data: apps } = await api('GET', `/tenants/${seg(tenant)}/apps`);
  return h('div', {},
    h('h2', {}, `Apps (${apps.length})`),
    table([
      ['App', (a) => h('a', { href: `#/t/${seg(tenant)}/apps/${seg(a.id)}` }, a.id)],
      ['Kind', (a) => a.kind],
      ['Environment', (a) => a.environment],
      ['Extends', (a) => a.extends_dynamics || ''],
      ['Users', (a) => chips(a.users)],
      ['Portal logins / page views', (a) => (a.kind === 'portal' ? `${number(a.logins || 0)} / ${number(a.page_views || 0)}` : '')],
    ], apps, { empty: 'No apps.', rowAttrs: (a) => ({ dataset: { app: a.id } }) }));
}

export async function appView(ctx, appId) {
  const { tenant, summary, refresh } = ctx;
  const [{ data: app }, { data: users }] = await Promise.all([
    api('GET', `/tenants/${seg(tenant)}/apps/${seg(appId)}`),
    api('GET', `/tenants/${seg(tenant)}/users`),
  ]);
  const out = h('div', { id: 'decision' });
  const first = (app.users && app.users[0]) || (users[0] && users[0].id) || '';
  const user = h('select', { id: 'user', name: 'user' }, users.map((u) => h('option', { value: u.id, selected: u.id === first }, u.id)));
  const at = h('input', { id: 'at', name: 'at', type: 'date', value: summary.at });
  const ask = async () => {
    mount(out, h('p', { class: 'loading' }, 'Deciding…'));
    try {
      const { data: d } = await api('GET', `/tenants/${seg(tenant)}/apps/${seg(appId)}/decision`, { query: { user: user.value, at: at.value } });
      const licensed = licensedBy(d.licensed_by);
      mount(out, h('div', { class: 'decision' },
        h('p', { class: 'verdict' }, verdict(d.allowed), d.premium ? ' premium' : ' standard', ' · licensed by ', licensed),
        h('p', {}, 'Rules applied, in order: ', rules(d.rules)),
        d.problems?.length ? [h('h3', {}, 'Why not'), h('ul', { class: 'problems' }, d.problems.map((p) => h('li', {}, h('code', { class: 'rule' }, p.rule), ' ', p.message)))] : null,
        d.warnings?.length ? [h('h3', {}, 'Warnings'), h('ul', {}, d.warnings.map((w) => h('li', {}, h('code', { class: 'rule' }, w.rule), ' ', w.message)))] : null,
        d.fixes?.length ? [h('h3', {}, 'Fixes, cheapest first'), d.fixes.map((fix) => fixButton(ctx, fix, null, app.environment, refresh))] : null));
    } catch (e) {
      mount(out, notice('error', e.message));
    }
  };
  if (first) await ask();
  return h('div', {},
    h('h2', {}, `App ${appId}`),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Kind'), h('dd', {}, app.kind),
      h('dt', {}, 'Environment'), h('dd', {}, app.environment),
      h('dt', {}, 'Extends'), h('dd', {}, app.extends_dynamics || '—'),
      h('dt', {}, 'Connectors'), h('dd', {}, chips(app.connectors)),
      h('dt', {}, 'Entities'), h('dd', {}, chips(app.entities))),
    h('form', { class: 'inline-form', onsubmit: (e) => { e.preventDefault(); ask(); } },
      h('label', { for: 'user' }, 'May'), user, h('span', {}, 'open it on'), at,
      h('button', { type: 'submit', id: 'decide' }, 'Decide')),
    out);
}
