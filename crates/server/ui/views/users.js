// Users: who holds which licence, and one user's licences (assign or remove, with a dry run of the decisions
// it turns first), request limits per 24 hours with their sources (REQ) and the last 24 hours of use.

import { api, seg } from '../api.js';
import { h, table, rules, ruleChip, chips, notice, mount, number, downloadButton, filtered, flash } from '../dom.js';
import { flipsText } from './fix.js';

export async function usersView({ tenant }) {
  const { data: users } = await api('GET', `/tenants/${seg(tenant)}/users`);
  return h('div', {},
    h('h2', {}, `Users (${users.length})`),
    filtered(users, ['id', 'kind'], (rows) => table([
      ['User', (u) => h('a', { href: `#/t/${seg(tenant)}/users/${seg(u.id)}` }, u.id)],
      ['Kind', (u) => u.kind],
      ['Account', (u) => u.account || ''],
      ['Licences', (u) => chips(u.licenses)],
      ['Admin roles', (u) => chips(u.roles)],
    ], rows, { empty: 'No users.', rowAttrs: (u) => ({ dataset: { user: u.id } }) })));
}

export async function userView(ctx, userId) {
  const { tenant, refresh } = ctx;
  const base = `/tenants/${seg(tenant)}`;
  const [{ data: user }, { data: skus }, { data: usage }] = await Promise.all([
    api('GET', `${base}/users/${seg(userId)}`),
    api('GET', `${base}/subscribedSkus`),
    api('GET', `${base}/usage`, { query: { user: userId } }),
  ]);
  const result = h('div', { id: 'licence-result' });

  /** Dry run first; the answer shows what the change turns, and an Apply button makes it. */
  const change = async (add, remove) => {
    const body = { addLicenses: add.map((skuId) => ({ skuId })), removeLicenses: remove };
    const path = `${base}/users/${seg(userId)}/assignLicense`;
    try {
      const { data } = await api('POST', path, { query: { dry_run: true }, body });
      const what = add.length ? `Assign ${add.join(', ')} to ${userId}` : `Remove ${remove.join(', ')} from ${userId}`;
      const apply = h('button', {
        type: 'button', class: 'primary', id: 'apply-licence',
        onclick: async () => {
          apply.disabled = true;
          try {
            await api('POST', path, { body });
            flash(`${what}: done.`);
            refresh();
          } catch (e) {
            mount(result, notice('error', e.message));
          }
        },
      }, 'Apply');
      mount(result, notice('info', `${what} ${flipsText(data.flips)}. `, apply));
    } catch (e) {
      mount(result, notice('error', e.message));
    }
  };

  // The API leaves an empty list out.
  const licenses = user.licenses || [];
  const available = skus.value.filter((s) => !licenses.includes(s.skuId));
  const pick = h('select', { id: 'sku', name: 'sku' },
    available.map((s) => h('option', { value: s.skuId }, `${s.skuId} (${s.available} free of ${s.prepaidUnits.enabled})`)));
  return h('div', {},
    h('h2', {}, `User ${userId}`),
    h('p', { class: 'meta' }, `${user.kind}${user.account ? `, ${user.account} account` : ''}${user.roles?.length ? `, roles: ${user.roles.join(', ')}` : ''}`),
    h('h3', {}, 'Licences'),
    table([
      ['Licence', (sku) => sku],
      ['', (sku) => h('button', { type: 'button', class: 'small', dataset: { remove: sku }, onclick: () => change([], [sku]) }, 'Remove…')],
    ], licenses, { empty: 'No licence.' }),
    available.length
      ? h('form', { class: 'inline-form', onsubmit: (e) => { e.preventDefault(); change([pick.value], []); } },
        h('label', { for: 'sku' }, 'Assign'), pick, h('button', { type: 'submit', id: 'assign' }, 'Preview'))
      : h('p', { class: 'meta' }, 'Every licence the tenant bought is assigned to this user already, or none is bought: buy units under Licences.'),
    result,
    h('h3', {}, 'Requests per 24 hours'),
    h('p', {}, `${number(usage.used)} used of ${number(usage.limit)} (${number(usage.remaining)} left; at most ${number(usage.per_5_minutes)} per 5 minutes) · budget `, h('code', {}, usage.budget), ' ', rules(usage.rules)),
    table([
      ['Source', (s) => s.source],
      ['Requests', (s) => number(s.requests)],
      ['Rule', (s) => ruleChip(s.rule)],
    ], usage.sources || [], { empty: 'No source.' }),
    hours(usage),
    downloadButton('usage-csv', 'Download usage as CSV', `${base}/usage`, `${tenant}-${userId}-usage.csv`, { user: userId }));
}

/** The last 24 hours, per hour, as bars against the 24-hour limit. */
function hours(usage) {
  if (!usage.hours?.length) return h('p', { class: 'meta' }, 'No requests in the last 24 hours.');
  const top = Math.max(...usage.hours.map((x) => x.requests), 1);
  return h('ul', { class: 'bars', 'aria-label': 'Requests per hour' }, usage.hours.map((x) => h('li', {},
    h('span', { class: 'bar-label' }, x.hour.slice(11, 16)),
    h('meter', { min: 0, max: top, value: x.requests }),
    h('span', {}, number(x.requests)))));
}
