// A tenant's overview (#/t/{tenant}/overview) and the tenants list's headline columns: every figure and every
// chart is drawn from the tenant's data, and checked here against GET …/overview and the API's own answers
// (audit, cost, capacity, usage/users): the charts' aria-labels and their table alternatives.
import assert from 'node:assert/strict';
import { apiOk, freshTenant, signIn, tenantTab, textOf, uiTest, until } from './helpers.mjs';

const D365 = 'examples/customer-service-d365.toml';
const fmt = (n) => Number(n).toLocaleString('en-US');
const money = (totals) => Object.entries(totals).map(([c, a]) => `${c} ${a}`).join(' + ') || '0';

/** A chart's table alternative, opened with its button: the rows' cells as text. */
async function chartTable(page, id) {
  const figure = page.locator(`figure#${id}`);
  await figure.locator('button.chart-toggle').click();
  const table = figure.locator('.chart-table');
  await table.locator('table').waitFor();
  return table.locator('tbody tr').evaluateAll((rows) => rows.map((r) => [...r.cells].map((c) => c.textContent.trim())));
}

const ariaOf = (page, id) => page.locator(`figure#${id} .chart-plot`).getAttribute('aria-label');

uiTest('the overview: the headline cards are the API\'s figures, and each chart is drawn with its data as a table', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-overview', D365);
  // Someone used the API: the busiest user is bob... whoever the example has; use its first user.
  const users = await apiOk('GET', `/tenants/${tenant}/users`);
  const busy = users.find((u) => u.kind !== 'service-principal').id;
  await apiOk('POST', `/tenants/${tenant}/usage`, { user: busy, requests: 37 });
  const o = await apiOk('GET', `/tenants/${tenant}/overview`);
  const audit = await apiOk('GET', `/tenants/${tenant}/audit`);
  const cost = await apiOk('GET', `/tenants/${tenant}/cost`);
  const capacity = await apiOk('GET', `/tenants/${tenant}/capacity`);
  // The overview agrees with the answers it summarises.
  assert.equal(o.at_risk, audit.summary.at_risk);
  assert.equal(o.turned_off, audit.summary.turned_off);
  assert.deepEqual(o.monthly, cost.total);
  assert.equal(o.dataverse.pool.database_mb, capacity.database_mb);
  assert.ok(Object.keys(o.monthly).length >= 2, 'the example bills in two currencies');
  assert.ok(o.timeline.length >= 2, 'the example has dated enforcement');

  await signIn(page);
  await tenantTab(page, tenant, 'overview');
  assert.equal(await textOf(page.locator('#at-risk .card-value')), fmt(o.at_risk));
  assert.equal(await textOf(page.locator('#ov-turned-off .card-value')), fmt(o.turned_off));
  assert.equal(await textOf(page.locator('#ov-flows .card-value')), fmt(o.flows));
  // Two currencies are two amounts, never one sum.
  assert.equal(await textOf(page.locator('#ov-monthly .card-value')), money(o.monthly));
  assert.equal(await textOf(page.locator('#ov-next .card-value')), `${o.next_enforcement.date} (${o.next_enforcement.flows} flow${o.next_enforcement.flows === 1 ? '' : 's'})`);

  // Every chart is drawn (uPlot's canvas), from the vendored library.
  for (const id of ['chart-timeline', 'chart-units', 'chart-dataverse', 'chart-requests', ...Object.keys(o.monthly).map((c) => `chart-cost-${c.toLowerCase()}`)]) {
    await page.locator(`figure#${id} .chart-plot canvas`).first().waitFor();
  }

  // The timeline: flows by date and kind, as the audit dates them.
  const byDay = new Map();
  for (const f of audit.flows.filter((x) => x.turn_off)) {
    const k = `${f.turn_off}|${f.enforcement}`;
    byDay.set(k, (byDay.get(k) || 0) + 1);
  }
  const timeline = await chartTable(page, 'chart-timeline');
  assert.deepEqual(timeline.map(([d, , n]) => [d, Number(n.replace(/,/g, ''))]), o.timeline.map((p) => [p.date, p.flows]));
  assert.deepEqual(o.timeline.map((p) => [`${p.date}|${p.kind}`, p.flows]), [...byDay].sort(([a], [b]) => (a < b ? -1 : 1)));
  const dated = o.timeline.reduce((s, p) => s + p.flows, 0);
  assert.match(await ariaOf(page, 'chart-timeline'), new RegExp(`^Enforcement timeline: ${dated} flows turned off on ${new Set(o.timeline.map((p) => p.date)).size} dates from ${o.timeline[0].date} to `));

  // Units bought against assigned, per SKU: the cost report's usage lines.
  const units = await chartTable(page, 'chart-units');
  assert.deepEqual(units, cost.usage.map((u) => [u.sku, fmt(u.purchased), fmt(u.assigned), fmt(u.allocated), fmt(u.available)]));
  const bought = cost.usage.reduce((s, u) => s + u.purchased, 0);
  assert.match(await ariaOf(page, 'chart-units'), new RegExp(`${cost.usage.length} SKUs, ${fmt(bought)} units bought`));

  // Monthly cost per SKU, one chart per currency: each chart's lines add up to that currency's total.
  for (const [cur, total] of Object.entries(o.monthly)) {
    const rows = await chartTable(page, `chart-cost-${cur.toLowerCase()}`);
    const lines = cost.lines.filter((l) => l.monthly.currency === cur);
    assert.deepEqual(rows.map((r) => r[0]).sort(), [...new Set(lines.map((l) => l.sku))].sort(), `${cur}: the SKUs`);
    const sum = rows.reduce((s, r) => s + Number(r[2].replace(/,/g, '')), 0);
    assert.equal(sum.toFixed(2), Number(total).toFixed(2), `${cur}: the lines add up to the total`);
    assert.equal(await ariaOf(page, `chart-cost-${cur.toLowerCase()}`), `Monthly cost in ${cur}: ${cur} ${total} over ${rows.length} SKU${rows.length === 1 ? '' : 's'}.`);
  }

  // Dataverse per environment: the environments' storage, the busiest first, against the pool.
  const scenario = await apiOk('GET', `/tenants/${tenant}/environments`);
  const stored = scenario.filter((e) => e.storage).sort((a, b) => b.storage.database_mb - a.storage.database_mb || (a.id < b.id ? -1 : 1));
  const dv = await chartTable(page, 'chart-dataverse');
  assert.deepEqual(dv, stored.map((e) => [e.id, fmt(e.storage.database_mb || 0), fmt(e.storage.file_mb || 0), fmt(e.storage.log_mb || 0)]));
  assert.match(await ariaOf(page, 'chart-dataverse'), new RegExp(`of ${fmt(capacity.database_mb)} MB of database; the busiest is ${stored[0].id}`));

  // API requests: the busiest user first, with the requests counted and their limit.
  const report = await apiOk('GET', `/tenants/${tenant}/usage/users`);
  const req = await chartTable(page, 'chart-requests');
  assert.equal(req[0][0], busy);
  assert.deepEqual(req.map((r) => [r[0], r[1]]), report.users.slice(0, req.length).map((u) => [u.user, fmt(u.used)]));
  assert.equal(req[0][1], '37');
  assert.match(await ariaOf(page, 'chart-requests'), new RegExp(`the busiest user is ${busy} with 37 requests of ${fmt(report.users[0].limit)}`));
  assert.equal(await textOf(page.locator('#throttled-now')), 'Nobody.');
  problems.assertNone();
});

uiTest('the overview names who is throttled now', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-overview-throttled');
  const carol = await apiOk('GET', `/tenants/${tenant}/limits?user=carol`);
  await apiOk('POST', `/tenants/${tenant}/usage`, { user: 'carol', requests: carol.per_5_minutes });
  await signIn(page);
  await tenantTab(page, tenant, 'overview');
  assert.deepEqual(await page.locator('#throttled-now li').allTextContents(), ['carol']);
  assert.match(await page.locator('figure#chart-requests .chart-plot').getAttribute('aria-label'), /1 user throttled now/);
  problems.assertNone();
});

uiTest('a user\'s hourly requests are bars scaled to the 24-hour limit, not to the busiest hour', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-hours');
  await apiOk('POST', `/tenants/${tenant}/usage`, { user: 'bob', requests: 12 });
  const usage = await apiOk('GET', `/tenants/${tenant}/usage?user=bob`);
  await signIn(page);
  await tenantTab(page, tenant, 'users', 'bob');
  const meter = page.locator('#usage-hours meter').last();
  await meter.waitFor();
  assert.equal(Number(await meter.getAttribute('max')), usage.limit);
  assert.equal(Number(await meter.getAttribute('value')), 12);
  problems.assertNone();
});

uiTest('the tenants list: flows at risk, turned off, monthly cost and next enforcement, each sortable', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-tenants-ov', D365);
  const o = await apiOk('GET', `/tenants/${tenant}/overview`);
  await signIn(page);
  const row = page.locator(`tr[data-tenant-row="${tenant}"]`);
  await row.waitFor();
  const cells = (await row.locator('td').allTextContents()).map((c) => c.trim());
  // Tenant, then the headline.
  assert.deepEqual(cells.slice(1, 5), [fmt(o.at_risk), fmt(o.turned_off), money(o.monthly), o.next_enforcement.date]);
  assert.equal(await row.locator('td').nth(1).getAttribute('class'), 'num');

  const all = await apiOk('GET', '/tenants');
  const overviews = Object.fromEntries(await Promise.all(all.map(async (t) => [t.id, await apiOk('GET', `/tenants/${t.id}/overview`)])));
  const shown = () => page.locator('tbody tr[data-tenant-row]').evaluateAll((rs) => rs.map((r) => r.dataset.tenantRow));
  const byRisk = (dir) => all.map((t, i) => [t.id, overviews[t.id].at_risk, i]).sort((a, b) => dir * (a[1] - b[1]) || a[2] - b[2]).map(([id]) => id);
  const head = page.locator('th', { hasText: 'At risk' });
  await head.locator('button').click();
  assert.equal(await head.getAttribute('aria-sort'), 'ascending');
  assert.deepEqual(await shown(), byRisk(1));
  await head.locator('button').click();
  assert.equal(await head.getAttribute('aria-sort'), 'descending');
  assert.deepEqual(await shown(), byRisk(-1));
  // By the next enforcement date: tenants without one last.
  await page.locator('th', { hasText: 'Next enforcement' }).locator('button').click();
  const dates = await page.locator('tbody tr[data-tenant-row] td:nth-child(5)').allTextContents();
  const known = dates.filter((d) => d !== '—');
  assert.deepEqual(known, [...known].sort());
  assert.deepEqual(dates.slice(known.length), dates.filter((d) => d === '—'));
  problems.assertNone();
});
