// A tenant at a glance (GET …/overview): the headline figures, then charts where people would rather look than
// read, each with its figures as a table and a one-sentence aria-label: the enforcement timeline (flows by the
// day they are turned off, per kind), units bought against assigned per SKU, the monthly bill per SKU in each
// currency (one chart per currency: amounts in different currencies are never added), Dataverse use per
// environment against the tenant's pools, and the busiest users' API requests against their limits.

import { api, seg } from '../api.js';
import { h, card, money, number, ruleChip } from '../dom.js';
import { barChart } from '../chart.js';
import { KINDS } from './audit.js';

const plural = (n, one, many = `${one}s`) => `${number(n)} ${n === 1 ? one : many}`;

export async function overviewView({ tenant }) {
  const { data: o } = await api('GET', `/tenants/${seg(tenant)}/overview`);
  const next = o.next_enforcement;
  return h('div', { class: 'overview' },
    h('div', { class: 'cards' },
      card('flows', number(o.flows), { id: 'ov-flows' }),
      card('at risk', number(o.at_risk), { id: 'at-risk', class: o.at_risk ? 'card warn' : 'card' }),
      card('turned off', number(o.turned_off), { id: 'ov-turned-off' }),
      card('next enforcement', next ? `${next.date} (${plural(next.flows, 'flow')})` : 'none dated', { id: 'ov-next' }),
      card('per month', money(o.monthly), { id: 'ov-monthly' })),
    h('div', { class: 'charts' },
      timelineChart(o),
      unitsChart(o),
      costCharts(o),
      dataverseChart(o),
      requestsChart(tenant, o)));
}

function timelineChart(o) {
  const dates = [...new Set(o.timeline.map((p) => p.date))];
  const kinds = [...new Set(o.timeline.map((p) => p.kind))];
  const count = (d, k) => o.timeline.filter((p) => p.date === d && p.kind === k).reduce((s, p) => s + p.flows, 0);
  const total = o.timeline.reduce((s, p) => s + p.flows, 0);
  const name = (k) => KINDS[k] || (k === 'other' ? 'Other reasons' : k);
  const summary = dates.length
    ? `Enforcement timeline: ${plural(total, 'flow')} turned off on ${plural(dates.length, 'date')} from ${dates[0]} to ${dates[dates.length - 1]}`
      + `${o.timeline_undated ? `; ${plural(o.timeline_undated, 'flow')} at risk without a date` : ''}.`
    : `Enforcement timeline: no flow has a turn-off date${o.timeline_undated ? ` (${plural(o.timeline_undated, 'flow')} at risk without one)` : ''}.`;
  return h('section', { class: 'chart-card' },
    h('h2', {}, 'Enforcement timeline'),
    h('p', { class: 'meta' }, 'Flows at risk by the day they are turned off, per kind of enforcement ', ruleChip('ENF-2'),
      o.timeline_undated ? `; ${plural(o.timeline_undated, 'flow')} at risk ${o.timeline_undated === 1 ? 'has' : 'have'} no dated enforcement.` : '.'),
    barChart({
      id: 'chart-timeline', title: 'Flows turned off, by date and kind', time: true, stacked: true, x: dates,
      series: kinds.map((k) => ({ label: name(k), values: dates.map((d) => count(d, k)) })),
      summary,
      tableColumns: [['Date', (p) => p.date, { sort: 'date' }], ['Kind', (p) => name(p.kind), { sort: 'kind' }], ['Flows', (p) => p.flows, { num: true, sort: 'flows' }]],
      tableRows: o.timeline,
      empty: 'No flow at risk has a turn-off date.',
    }));
}

function unitsChart(o) {
  const units = o.units;
  const bought = units.reduce((s, u) => s + u.purchased, 0);
  const assigned = units.reduce((s, u) => s + u.assigned + u.allocated, 0);
  return h('section', { class: 'chart-card' },
    h('h2', {}, 'Units bought and assigned'),
    barChart({
      id: 'chart-units', title: 'Units per SKU', x: units.map((u) => u.sku),
      series: [
        { label: 'Bought', values: units.map((u) => u.purchased) },
        { label: 'Assigned or allocated', values: units.map((u) => u.assigned + u.allocated) },
      ],
      summary: units.length ? `Units per SKU: ${plural(units.length, 'SKU')}, ${number(bought)} units bought, ${number(assigned)} assigned or allocated.` : 'Units per SKU: nothing bought.',
      tableColumns: [
        ['SKU', (u) => u.sku, { sort: 'sku' }],
        ['Bought', (u) => u.purchased, { num: true, sort: 'purchased' }],
        ['Assigned', (u) => u.assigned, { num: true, sort: 'assigned' }],
        ['Allocated', (u) => u.allocated, { num: true, sort: 'allocated' }],
        ['Free', (u) => u.available, { num: true, sort: 'available' }],
      ],
      tableRows: units,
      empty: 'Nothing bought.',
    }));
}

/** One chart per currency: a bill in USD and EUR is two bills, never one sum without a stated rate. */
function costCharts(o) {
  const currencies = [...new Set(o.cost_by_sku.map((l) => l.currency))];
  return h('section', { class: 'chart-card' },
    h('h2', {}, 'Monthly cost by SKU'),
    currencies.length > 1 ? h('p', { class: 'meta' }, `In ${currencies.length} currencies, each on its own: no rate is stated to add them.`) : null,
    currencies.length ? currencies.map((cur) => {
      const lines = o.cost_by_sku.filter((l) => l.currency === cur);
      return barChart({
        id: `chart-cost-${cur.toLowerCase()}`, title: `Per month in ${cur}`, x: lines.map((l) => l.sku),
        series: [{ label: `${cur} per month`, values: lines.map((l) => Number(l.monthly)) }],
        summary: `Monthly cost in ${cur}: ${cur} ${o.monthly[cur]} over ${plural(lines.length, 'SKU')}.`,
        unit: '',
        tableColumns: [
          ['SKU', (l) => l.sku, { sort: 'sku' }],
          ['Units', (l) => l.quantity, { num: true, sort: 'quantity' }],
          [`Per month (${cur})`, (l) => l.monthly, { num: true, sort: (l) => Number(l.monthly) }],
        ],
        tableRows: lines,
      });
    }) : h('p', { class: 'empty' }, 'Nothing to pay this month.'));
}

function dataverseChart(o) {
  const d = o.dataverse;
  const rows = [...d.environments];
  if (d.others.environments) rows.push({ environment: `${number(d.others.environments)} others`, database_mb: d.others.database_mb, file_mb: d.others.file_mb, log_mb: d.others.log_mb, others: true });
  const usedDb = d.pool.used_database_mb;
  return h('section', { class: 'chart-card' },
    h('h2', {}, 'Dataverse use per environment'),
    h('p', { class: 'meta' }, `Database ${number(usedDb)} of ${number(d.pool.database_mb)} MB in the tenant's pool, file ${number(d.pool.used_file_mb)} of ${number(d.pool.file_mb)} MB, log ${number(d.pool.used_log_mb)} of ${number(d.pool.log_mb)} MB `, ruleChip('CAP-6'), '.'),
    barChart({
      id: 'chart-dataverse', title: 'Database MB per environment, and the pool', x: rows.map((r) => r.environment),
      series: [{ label: 'Database MB', values: rows.map((r) => r.database_mb) }],
      lines: rows.length ? [{ label: `Database pool: ${number(d.pool.database_mb)} MB`, value: d.pool.database_mb }] : [],
      summary: rows.length
        ? `Dataverse use: ${plural(d.with_storage, 'environment')} with storage use ${number(usedDb)} of ${number(d.pool.database_mb)} MB of database; the busiest is ${rows[0].environment} with ${number(rows[0].database_mb)} MB.`
        : `Dataverse use: no environment uses storage; the database pool is ${number(d.pool.database_mb)} MB.`,
      tableColumns: [
        ['Environment', (r) => r.environment, { sort: 'environment' }],
        ['Database MB', (r) => r.database_mb, { num: true, sort: 'database_mb' }],
        ['File MB', (r) => r.file_mb, { num: true, sort: 'file_mb' }],
        ['Log MB', (r) => r.log_mb, { num: true, sort: 'log_mb' }],
      ],
      tableRows: rows,
      empty: 'No environment uses Dataverse storage.',
    }));
}

function requestsChart(tenant, o) {
  const r = o.requests;
  const busiest = r.busiest;
  return h('section', { class: 'chart-card' },
    h('h2', {}, 'API requests, the busiest users'),
    h('p', { class: 'meta' }, `Requests in the last 24 hours against each user's own limit `, ruleChip('REQ-1'), `; ${plural(r.throttled, 'user')} of ${number(r.users)} throttled now `, ruleChip('REQ-7'), '.'),
    barChart({
      id: 'chart-requests', title: 'Requests in 24 hours and the limit', x: busiest.map((u) => u.user),
      series: [
        { label: 'Used (24 h)', values: busiest.map((u) => u.used) },
        { label: 'Limit (24 h)', values: busiest.map((u) => u.limit ?? 0) },
      ],
      summary: busiest.length
        ? `API requests: the busiest user is ${busiest[0].user} with ${number(busiest[0].used)} requests${busiest[0].limit != null ? ` of ${number(busiest[0].limit)}` : ' (tenant pool)'}; ${plural(r.throttled, 'user')} throttled now.`
        : 'API requests: no users.',
      tableColumns: [
        ['User', (u) => h('a', { href: `#/t/${seg(tenant)}/users/${seg(u.user)}` }, u.user), { sort: 'user' }],
        ['Used (24 h)', (u) => u.used, { num: true, sort: 'used' }],
        ['Limit (24 h)', (u) => (u.limit == null ? 'tenant pool' : u.limit), { num: true, sort: 'limit' }],
        ['Now', (u) => h('span', { class: `badge ${u.throttled ? 'bad' : 'ok'}` }, u.throttled ? 'throttled' : 'within limits')],
      ],
      tableRows: busiest,
      empty: 'No users.',
    }),
    h('h3', {}, 'Throttled now'),
    r.throttled_users.length
      ? h('ul', { class: 'chips', id: 'throttled-now' }, r.throttled_users.map((u) => h('li', { class: 'chip' }, h('a', { href: `#/t/${seg(tenant)}/users/${seg(u)}` }, u))))
      : h('p', { class: 'meta', id: 'throttled-now' }, 'Nobody.'));
}
