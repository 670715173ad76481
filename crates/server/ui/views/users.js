// Users: who holds which licence, and one user's licences (assign or remove, with a dry run of the decisions
// it turns first), request limits per 24 hours with their sources (REQ) and the last 24 hours of use.

import { api, seg } from '../api.js';
import { h, table, serverTable, fromApi, rules, ruleChip, chips, notice, mount, number, downloadButton, flash } from '../dom.js';
import { flipsText } from './fix.js';

export async function usersView({ tenant }) {
  const heading = h('h2', {}, 'Users');
  const load = fromApi(`/tenants/${seg(tenant)}/users`);
  let all = null;
  const list = await serverTable([
    ['User', (u) => h('a', { href: `#/t/${seg(tenant)}/users/${seg(u.id)}` }, u.id), { key: 'id' }],
    ['Kind', (u) => u.kind, { key: 'kind' }],
    ['Account', (u) => u.account || '', { key: 'account' }],
    ['Licences', (u) => chips(u.licenses)],
    ['Admin roles', (u) => chips(u.roles)],
  ], async (st) => {
    const page = await load(st);
    if (all === null && !st.q) {
      all = page.total;
      heading.textContent = `Users (${number(all)})`;
    }
    return page;
  }, { id: 'users', page: 100, empty: 'No users.', rowAttrs: (u) => ({ dataset: { user: u.id } }) });
  return h('div', {}, heading, list);
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
      ['Requests', (s) => s.requests, { num: true }],
      ['Rule', (s) => ruleChip(s.rule)],
    ], usage.sources || [], { empty: 'No source.' }),
    hours(usage),
    downloadButton('usage-csv', 'Download usage as CSV', `${base}/usage`, `${tenant}-${userId}-usage.csv`, { user: userId }));
}

/**
 * The last 24 hours, per hour, as bars against the 24-hour limit: a bar's full length is the limit, so an hour
 * that used a tenth of it fills a tenth (scaled to the busiest hour, a quiet day would look full).
 */
function hours(usage) {
  if (!usage.hours?.length) return h('p', { class: 'meta' }, 'No requests in the last 24 hours.');
  const max = Math.max(usage.limit || 0, 1);
  return h('ul', { class: 'bars', id: 'usage-hours', 'aria-label': `Requests per hour, against the 24-hour limit of ${number(usage.limit)}` }, usage.hours.map((x) => h('li', {},
    h('span', { class: 'bar-label' }, x.hour.slice(11, 16)),
    h('meter', { min: 0, max, value: Math.min(x.requests, max), 'aria-label': `${x.hour.slice(11, 16)}: ${number(x.requests)} of ${number(usage.limit)}` }),
    h('span', { class: 'num' }, number(x.requests)))));
}
