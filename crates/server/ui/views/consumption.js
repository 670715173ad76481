// Consumption by the month (GET …/consumption?month=, GET …/statement?month=): what the portals (PORTAL), AI
// Builder (AI) and Dataverse storage (CAP) used against what the tenant allocated, with the fix of each overage;
// each resource's last six months as a chart (one request per month, each chart with its figures as a table);
// and the month's statement: the licences, the cost of closing the overages and the change from the month
// before. The month is in the route (#/t/{tenant}/consumption/{YYYY-MM}), so a month deep-links; without one, the
// tenant's evaluation month. A month the API refuses (422) is said with the API's own words.

import { api, ApiError, seg } from '../api.js';
import { h, table, rules, ruleChip, number, card, notice, codeText, downloadButton } from '../dom.js';
import { barChart } from '../chart.js';

/** How many months the charts show, up to the chosen one. */
const CHARTED = 6;

const plural = (n, one, many = `${one}s`) => `${number(n)} ${n === 1 ? one : many}`;

/** The route of a month's page. */
const hashOf = (tenant, month) => `#/t/${seg(tenant)}/consumption/${seg(month)}`;

/** "2024-06" and a step in months → "2024-05"; null for a string that is not a month. */
function shift(month, by) {
  const m = /^(\d{4})-(\d{2})$/.exec(month || '');
  if (!m) return null;
  const index = Number(m[1]) * 12 + Number(m[2]) - 1 + by;
  // Years 0001 to 9999: what YYYY-MM can say.
  if (index < 12 || index >= 10000 * 12) return null;
  return `${String(Math.floor(index / 12)).padStart(4, '0')}-${String((index % 12) + 1).padStart(2, '0')}`;
}

/** A decimal string with thousands separators, its digits untouched: "1234567.50" → "1,234,567.50". */
export function grouped(amount) {
  const s = String(amount ?? '');
  const m = /^(-?)(\d+)(\.\d+)?$/.exec(s);
  if (!m) return s;
  return `${m[1]}${m[2].replace(/\B(?=(\d{3})+(?!\d))/g, ',')}${m[3] || ''}`;
}

/** An amount of money: "EUR 1,234.00"; '' for none. */
const price = (m) => (m ? `${m.currency} ${grouped(m.amount)}` : '');

/** Totals per currency, each on its own line: a bill in EUR and USD is two amounts, never one sum. */
function totals(byCurrency, id) {
  const entries = Object.entries(byCurrency || {}).sort(([a], [b]) => (a < b ? -1 : 1));
  if (!entries.length) return h('span', { class: 'totals', id }, 'nothing');
  return h('span', { class: 'totals', id }, entries.map(([cur, amount]) => h('span', { class: 'total', dataset: { currency: cur } }, `${cur} ${grouped(amount)}`)));
}

/** b − a of two decimal strings, exactly (no float), with the larger number of decimals: "3", "5" → "+2". */
function difference(before, now) {
  const parse = (s) => {
    const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(String(s ?? ''));
    return m ? { sign: m[1] ? -1n : 1n, int: m[2], frac: m[3] || '' } : null;
  };
  const a = parse(before);
  const b = parse(now);
  if (!a || !b) return '';
  const places = Math.max(a.frac.length, b.frac.length);
  const scaled = (p) => p.sign * BigInt(p.int + p.frac.padEnd(places, '0'));
  const d = scaled(b) - scaled(a);
  if (d === 0n) return 'no change';
  const digits = (d < 0n ? -d : d).toString().padStart(places + 1, '0');
  const text = places ? `${digits.slice(0, -places)}.${digits.slice(-places)}` : digits;
  return `${d < 0n ? '−' : '+'}${grouped(text)}`;
}

/** A state as a badge: within (green) or over (red). */
const state = (meter) => h('span', { class: `badge ${meter.state === 'over' ? 'bad' : 'ok'}`, dataset: { state: meter.state } }, meter.state);

/** Used against allocated, as a meter (full when over) with its words for a screen reader. */
function gauge(meter, name) {
  const max = Math.max(meter.allocated, 1);
  return h('meter', {
    min: 0, max, value: Math.min(meter.used, max), high: max * 0.9, optimum: 0,
    'aria-label': `${name}: ${number(meter.used)} of ${number(meter.allocated)} used`,
  });
}

/** One purchase that closes an overage: "buy 1 × portal-page-views (+100,000 page views) — EUR 100.00 a month". */
function purchase(p, unit) {
  return h('span', { class: 'purchase', dataset: { sku: p.sku } },
    ruleChip(p.rule), ' ',
    `buy ${number(p.units)} × ${p.sku} (+${number(p.adds)} ${unit})`,
    p.monthly ? h('span', { class: 'cost' }, ` — ${price(p.monthly)} a month`) : h('span', { class: 'meta' }, ' — no price in the catalog'),
    p.purchasable ? null : h('span', { class: 'badge bad spaced' }, 'not purchasable now'));
}

/** The columns of a meter: used, allocated (or what it is called), remaining, over, the gauge and the state. */
const meterColumns = (pick, allocatedLabel, name) => [
  ['Used', (r) => pick(r).used, { num: true, sort: (r) => pick(r).used }],
  [allocatedLabel, (r) => pick(r).allocated, { num: true, sort: (r) => pick(r).allocated }],
  ['Remaining', (r) => pick(r).remaining, { num: true, sort: (r) => pick(r).remaining }],
  ['Over', (r) => pick(r).over, { num: true, sort: (r) => pick(r).over }],
  ['Use', (r) => gauge(pick(r), name(r))],
  ['State', (r) => state(pick(r)), { sort: (r) => pick(r).state }],
];

export async function consumptionView({ tenant, summary }, wanted) {
  const base = `/tenants/${seg(tenant)}`;
  const evaluated = String(summary.at).slice(0, 7);
  const month = wanted || evaluated;
  let report;
  let statement;
  try {
    [{ data: report }, { data: statement }] = await Promise.all([
      api('GET', `${base}/consumption`, { query: { month } }),
      api('GET', `${base}/statement`, { query: { month } }),
    ]);
  } catch (e) {
    // A month the API does not take: its words, and the picker to choose another.
    if (e instanceof ApiError && e.status === 422) {
      return h('div', { class: 'consumption' }, toolbar(tenant, base, evaluated, false), h('div', { id: 'consumption-error' }, notice('error', codeText(e.message))));
    }
    throw e;
  }
  const months = Array.from({ length: CHARTED }, (_, i) => shift(report.month, i - CHARTED + 1)).filter(Boolean);
  const history = await Promise.all(months.map((m) => (m === report.month
    ? report
    : api('GET', `${base}/consumption`, { query: { month: m } }).then((r) => r.data))));
  const over = overages(report);
  return h('div', { class: 'consumption', dataset: { month: report.month } },
    toolbar(tenant, base, report.month, true),
    h('div', { class: 'cards' },
      card('month', report.month, { id: 'cons-month' }),
      h('div', { class: over.length ? 'card warn' : 'card', id: 'cons-over' },
        h('div', { class: 'card-value' }, number(over.length)),
        h('div', { class: 'card-label' }, over.length ? `over allocation: ${over.join(', ')}` : 'over allocation')),
      card('licences per month', totals(statement.licence_total), { id: 'cons-licences' }),
      card('closing the overages, per month', totals(statement.overage_total), { id: 'cons-overage-cost' })),
    portalsSection(tenant, report, history),
    aiSection(report, history),
    storageSection(report, history),
    statementSection(statement),
    h('p', { class: 'meta' }, 'Rules: ', rules(report.rules)));
}

/**
 * The month picker, the months either side, and the month's CSV (the admin center's columns). Not `valid`: the
 * route's month was refused, and the picker offers `month` (the evaluation month) alone.
 */
function toolbar(tenant, base, month, valid) {
  const input = h('input', { type: 'month', id: 'consumption-month', name: 'month', value: month, required: true, min: '0001-01', max: '9999-12' });
  const prev = valid ? shift(month, -1) : null;
  const next = valid ? shift(month, 1) : null;
  return h('div', { class: 'month-bar' },
    h('form', {
      class: 'month-pick',
      onsubmit: (event) => {
        event.preventDefault();
        if (input.value) window.location.hash = hashOf(tenant, input.value);
      },
    },
    h('label', { for: 'consumption-month' }, 'Month'),
    input,
    h('button', { type: 'submit', id: 'consumption-show' }, 'Show')),
    h('span', { class: 'month-steps' },
      prev ? h('a', { href: hashOf(tenant, prev), id: 'month-prev', 'aria-label': `Previous month, ${prev}` }, `← ${prev}`) : null,
      next ? h('a', { href: hashOf(tenant, next), id: 'month-next', 'aria-label': `Next month, ${next}` }, `${next} →`) : null),
    valid ? downloadButton('consumption-csv', 'Download CSV', `${base}/consumption`, `${tenant}-consumption-${month}.csv`, { month }) : null);
}

/** What is over its allocation this month, in words: "buyers page views", "database storage". */
function overages(r) {
  const out = [];
  for (const p of r.portals) {
    if (p.logins.state === 'over') out.push(`${p.portal} logins`);
    if (p.page_views.state === 'over') out.push(`${p.portal} page views`);
  }
  for (const e of r.environments) if (e.credits.state === 'over') out.push(`${e.environment} AI credits`);
  if (r.ai_pool_used.state === 'over') out.push('the unallocated AI credits');
  for (const s of r.storage) if (s.mb.state === 'over') out.push(`${s.pool} storage`);
  return out;
}

/** A chart of one resource over the months: bars for what was used, a stepped line for what was allocated. */
function monthsChart({ id, title, months, history, pick, allocatedLabel, unit, extra = [] }) {
  const meters = history.map((r) => pick(r));
  const rows = months.map((m, i) => ({ month: m, report: history[i], meter: meters[i] ?? { allocated: 0, used: 0, remaining: 0, over: 0, state: 'within' } }));
  const overMonths = rows.filter((r) => r.meter.state === 'over');
  const last = rows[rows.length - 1].meter;
  return barChart({
    id, title, x: months, tick,
    series: [{ label: `Used (${unit})`, values: rows.map((r) => r.meter.used) }],
    levels: [{ label: `${allocatedLabel} (${unit})`, values: rows.map((r) => r.meter.allocated) }],
    summary: `${title}, ${months[0]} to ${months[months.length - 1]}: ${number(last.used)} of ${number(last.allocated)} ${unit} in ${months[months.length - 1]}; `
      + `${overMonths.length ? `over in ${plural(overMonths.length, 'month')} (${overMonths.map((r) => r.month).join(', ')})` : 'never over'}.`,
    tableColumns: [
      ['Month', (r) => r.month, { sort: 'month', nowrap: true }],
      ...extra,
      ['Used', (r) => r.meter.used, { num: true, sort: (r) => r.meter.used }],
      [allocatedLabel, (r) => r.meter.allocated, { num: true, sort: (r) => r.meter.allocated }],
      ['Remaining', (r) => r.meter.remaining, { num: true }],
      ['Over', (r) => r.meter.over, { num: true }],
      ['State', (r) => r.meter.state],
    ],
    tableRows: rows,
  });
}

const NAMES = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** A month on a chart's axis, on two short lines: "Jun" over "2024" (the table says 2024-06). */
const tick = (m) => `${NAMES[Number(m.slice(5, 7)) - 1] ?? m.slice(5, 7)}\n${m.slice(0, 4)}`;

/** A CSS-safe id from a resource's id (unique among `taken`). */
function chartId(prefix, name, taken) {
  let id = `${prefix}-${String(name).toLowerCase().replace(/[^a-z0-9_-]+/g, '-')}`;
  while (taken.has(id)) id += '-x';
  taken.add(id);
  return id;
}

/** Which of a portal's meters a purchase closes: logins (PORTAL-2) or page views (PORTAL-3). */
const closes = (p) => (p.rule === 'PORTAL-3' || /page/.test(p.sku) ? 'page_views' : 'logins');

function portalsSection(tenant, r, history) {
  const months = history.map((x) => x.month);
  const rows = r.portals.flatMap((p) => [['logins', 'Logins', 'logins'], ['page_views', 'Page views', 'page views']].map(([key, label, unit]) => ({
    portal: p.portal, environment: p.environment, key, label, unit, meter: p[key], fixes: p.fixes.filter((f) => closes(f) === key),
  })));
  const taken = new Set();
  return h('section', { class: 'cons-section', id: 'cons-portals' },
    h('h2', {}, 'Portals'),
    h('p', { class: 'meta' }, 'A login is a 24-hour pass for one user on one portal ', ruleChip('PORTAL-2'), '; anonymous use counts per page view ',
      ruleChip('PORTAL-3'), '; the allocation is monthly and nothing carries over ', ruleChip('PORTAL-6'), '.'),
    table([
      ['Portal', (x) => x.portal, { sort: 'portal' }],
      ['Environment', (x) => x.environment, { sort: 'environment' }],
      ['Resource', (x) => x.label, { sort: 'label', nowrap: true }],
      ...meterColumns((x) => x.meter, 'Allocated', (x) => `${x.portal} ${x.unit}`),
      ['Fix', (x) => (x.fixes.length ? x.fixes.map((f) => purchase(f, x.unit)) : '')],
    ], rows, { id: 'portals', caption: `Portal use in ${r.month}`, empty: 'No portal in this tenant.', rowAttrs: (x) => ({ dataset: { portal: x.portal, resource: x.key } }) }),
    r.portals.length ? h('div', { class: 'charts' }, r.portals.map((p) => h('section', { class: 'chart-card', dataset: { portal: p.portal } },
      h('h3', {}, `${p.portal}, by month`),
      monthsChart({ id: chartId('chart-logins', p.portal, taken), title: `${p.portal}: logins`, months, history, pick: (x) => x.portals.find((q) => q.portal === p.portal)?.logins, allocatedLabel: 'Allocated', unit: 'logins' }),
      monthsChart({ id: chartId('chart-views', p.portal, taken), title: `${p.portal}: page views`, months, history, pick: (x) => x.portals.find((q) => q.portal === p.portal)?.page_views, allocatedLabel: 'Allocated', unit: 'page views' })))) : null);
}

const SOURCES = { allocation: 'its own allocation', pool: 'the unallocated credits', none: 'none: it may not consume' };

function aiSection(r, history) {
  const pool = r.ai_pool;
  const months = history.map((x) => x.month);
  // Every environment that had credits in one of the months charted, this month's first.
  const envs = [...new Set([...r.environments.map((e) => e.environment), ...history.flatMap((x) => x.environments.map((e) => e.environment))])];
  const taken = new Set();
  return h('section', { class: 'cons-section', id: 'cons-ai' },
    h('h2', {}, 'AI Builder credits'),
    h('p', { class: 'meta' }, 'Credits are bought per tenant and allocated to environments ', ruleChip('AI-1'), '; preview models are free ', ruleChip('AI-2'), '.'),
    h('div', { class: 'cards', id: 'ai-pool' },
      card('purchased', number(pool.purchased), { id: 'ai-purchased' }),
      card('trial', number(pool.trial), { id: 'ai-trial' }),
      card('seeded', number(pool.seeded), { id: 'ai-seeded' }),
      card('total', number(pool.total), { id: 'ai-total' }),
      card('allocated', number(pool.allocated), { id: 'ai-allocated' }),
      card('unallocated', number(pool.unallocated), { id: 'ai-unallocated' })),
    h('div', { class: 'capacity-row', id: 'ai-pool-used' },
      h('span', { class: 'bar-label' }, 'Unallocated'),
      gauge(r.ai_pool_used, 'unallocated credits'),
      h('span', {}, `${number(r.ai_pool_used.used)} of ${number(r.ai_pool_used.allocated)} credits used by environments without an allocation`,
        pool.unallocated_use ? '' : ' (they may not use them)'), ' ', state(r.ai_pool_used)),
    table([
      ['Environment', (e) => e.environment, { sort: 'environment' }],
      ['Source', (e) => SOURCES[e.source] || e.source, { sort: 'source', nowrap: true }],
      ...meterColumns((e) => e.credits, 'Available', (e) => `${e.environment} credits`),
    ], r.environments, { id: 'ai-environments', caption: `AI Builder credits per environment in ${r.month}`, empty: 'No environment has or uses AI Builder credits this month.', rowAttrs: (e) => ({ dataset: { environment: e.environment } }) }),
    r.ai_fixes.length ? h('ul', { class: 'plain fixes', id: 'ai-fixes' }, r.ai_fixes.map((f) => h('li', {}, purchase(f, 'credits')))) : null,
    envs.length ? h('div', { class: 'charts' }, envs.map((env) => h('section', { class: 'chart-card', dataset: { environment: env } },
      monthsChart({
        id: chartId('chart-credits', env, taken), title: `${env}: AI Builder credits`, months, history,
        pick: (x) => x.environments.find((e) => e.environment === env)?.credits, allocatedLabel: 'Available', unit: 'credits',
        extra: [['Source', (row) => row.report.environments.find((e) => e.environment === env)?.source ?? 'none']],
      })))) : null);
}

function storageSection(r, history) {
  const months = history.map((x) => x.month);
  const taken = new Set();
  return h('section', { class: 'cons-section', id: 'cons-storage' },
    h('h2', {}, 'Dataverse storage'),
    h('p', { class: 'meta' }, 'Three tenant-wide pools ', ruleChip('CAP-1'), ', grown by capacity add-ons ', ruleChip('CAP-4'), '; in MB (1 GB = 1,000 MB).'),
    table([
      ['Pool', (s) => s.pool, { sort: 'pool' }],
      ...meterColumns((s) => s.mb, 'Capacity', (s) => `${s.pool} MB`),
      ['Fix', (s) => (s.fix ? purchase(s.fix, 'MB') : '')],
    ], r.storage, { id: 'storage', caption: `Dataverse storage in ${r.month} (MB)`, rowAttrs: (s) => ({ dataset: { pool: s.pool } }) }),
    h('div', { class: 'charts' }, r.storage.map((s) => h('section', { class: 'chart-card', dataset: { pool: s.pool } },
      monthsChart({ id: chartId('chart-storage', s.pool, taken), title: `${s.pool[0].toUpperCase()}${s.pool.slice(1)} storage`, months, history, pick: (x) => x.storage.find((q) => q.pool === s.pool)?.mb, allocatedLabel: 'Capacity', unit: 'MB' })))));
}

const CHANGES = { licences: 'Licences per month', 'portal-logins': 'Portal logins', 'page-views': 'Page views', 'ai-credits': 'AI Builder credits' };

function statementSection(s) {
  return h('section', { class: 'cons-section', id: 'statement' },
    h('h2', {}, `Statement for ${s.month}`),
    h('p', { class: 'meta' }, 'Amounts in different currencies are each on their own: no rate is stated to add them.'),
    h('h3', {}, 'Licences and add-ons'),
    table([
      ['SKU', (l) => l.sku, { sort: 'sku', nowrap: true }],
      ['Name', (l) => h('span', { class: 'name' }, l.name), { sort: 'name' }],
      ['Units', (l) => l.quantity, { num: true, sort: 'quantity' }],
      ['Unit price', (l) => price(l.unit_price), { num: true }],
      ['Per month', (l) => price(l.monthly), { num: true, sort: (l) => `${l.monthly.currency} ${Number(l.monthly.amount).toFixed(2).padStart(16, '0')}` }],
      ['Channel', (l) => l.channel, { sort: 'channel' }],
      ['Billed to', (l) => l.billed_to, { sort: 'billed_to' }],
    ], s.licences, { id: 'statement-licences', caption: `Licences in ${s.month}`, empty: 'No licence this month.', rowAttrs: (l) => ({ dataset: { sku: l.sku } }) }),
    h('p', { class: 'statement-total' }, 'Licences per month: ', totals(s.licence_total, 'licence-total')),
    h('h3', {}, 'Overages and the cost of closing each'),
    table([
      ['Rule', (p) => ruleChip(p.rule)],
      ['Buy', (p) => p.sku, { sort: 'sku', nowrap: true }],
      ['Name', (p) => h('span', { class: 'name' }, p.name), { sort: 'name' }],
      ['Units', (p) => p.units, { num: true, sort: 'units' }],
      ['Adds', (p) => p.adds, { num: true, sort: 'adds' }],
      ['Per month', (p) => (p.monthly ? price(p.monthly) : 'no price'), { num: true }],
      ['Now', (p) => (p.purchasable ? 'purchasable' : h('span', { class: 'badge bad' }, 'not purchasable'))],
    ], s.overage_fixes, { id: 'statement-overages', caption: `Overages in ${s.month}`, empty: 'Nothing is over its allocation.', rowAttrs: (p) => ({ dataset: { sku: p.sku } }) }),
    s.overage_fixes.length ? h('p', { class: 'statement-total' }, 'Closing every overage, per month: ', totals(s.overage_total, 'overage-total')) : null,
    h('h3', {}, `Change from ${s.previous_month}`),
    table([
      ['What', (c) => CHANGES[c.what] || c.what, { sort: 'what', nowrap: true }],
      ['Of', (c) => c.of, { sort: 'of' }],
      [s.previous_month, (c) => grouped(c.before), { num: true }],
      [s.month, (c) => grouped(c.now), { num: true }],
      ['Change', (c) => difference(c.before, c.now), { num: true }],
    ], s.changes, { id: 'statement-changes', caption: `Change from ${s.previous_month} to ${s.month}`, empty: 'Nothing to compare.', rowAttrs: (c) => ({ dataset: { what: c.what, of: c.of } }) }));
}
