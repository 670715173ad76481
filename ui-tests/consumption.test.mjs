// A tenant's consumption by the month (#/t/{tenant}/consumption[/{YYYY-MM}]): every figure is checked against
// GET …/consumption?month= and GET …/statement?month=, on copies of examples/portal-consumption.toml (two portals
// with May and June 2024 history, AI Builder credits allocated to `prod`, Dataverse storage over capacity). The
// server of scripts/ui-tests.sh runs with --today 2024-06-03: events posted here are dated 1 to 3 June 2024 (at
// most 7 days before its clock, never after it), in the example's evaluation month.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { KEY, apiCall, apiOk, freshTenant, go, signIn, submitKey, tenantTab, textOf, uiTest, until } from './helpers.mjs';

const PORTALS = 'examples/portal-consumption.toml';
const MONTH = '2024-06';
const fmt = (n) => Number(n).toLocaleString('en-US');
/** A decimal string with thousands separators, as the page writes amounts: "1234.50" → "1,234.50". */
const grouped = (s) => String(s).replace(/^(-?)(\d+)/, (_, sign, int) => `${sign}${int.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}`);
const RESOURCES = [['logins', 'Logins', 'logins'], ['page_views', 'Page views', 'page views']];
/** The meter a portal's purchase closes: page views (PORTAL-3) or logins (PORTAL-2). */
const closes = (f) => (f.rule === 'PORTAL-3' ? 'page_views' : 'logins');
const fixText = (f, unit) => `${f.rule} buy ${fmt(f.units)} × ${f.sku} (+${fmt(f.adds)} ${unit}) — ${f.monthly.currency} ${grouped(f.monthly.amount)} a month`;
const meterCells = (m) => [fmt(m.used), fmt(m.allocated), fmt(m.remaining), fmt(m.over), '', m.state];

const report = (tenant, month) => apiOk('GET', `/tenants/${tenant}/consumption?month=${month}`);
const hashOf = (tenant, month) => `#/t/${tenant}/consumption${month ? `/${month}` : ''}`;

/** A table's rows (by the table's data-table id) as their cells' text, whitespace collapsed. */
function rowsOf(page, id) {
  return page.locator(`[data-table="${id}"] tbody tr`).evaluateAll((rows) => rows.map((r) => [...r.cells].map((c) => c.textContent.replace(/\s+/g, ' ').trim())));
}

/** A chart's table alternative, opened with its button. */
async function chartTable(page, id) {
  const figure = page.locator(`figure#${id}`);
  await figure.locator('button.chart-toggle').click();
  await figure.locator('.chart-table table').waitFor();
  return figure.locator('.chart-table tbody tr').evaluateAll((rows) => rows.map((r) => [...r.cells].map((c) => c.textContent.trim())));
}

/** The page for `month` (none: the default), once its figures are drawn. */
async function openMonth(page, tenant, month) {
  await tenantTab(page, tenant, 'consumption', month);
  await page.locator(`.consumption[data-month="${month || MONTH}"]`).waitFor();
}

/** What the portals' table should say for a report. */
const portalRows = (r) => r.portals.flatMap((p) => RESOURCES.map(([key, label, unit]) => [
  p.portal, p.environment, label, ...meterCells(p[key]), p.fixes.filter((f) => closes(f) === key).map((f) => fixText(f, unit)).join(' '),
]));

uiTest('the month\'s figures are the API\'s: portals, AI Builder credits, storage, with a fix and its cost for each overage', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-cons', PORTALS);
  const r = await report(tenant, MONTH);
  await signIn(page);
  // Without a month in the route: the tenant's evaluation month (2024-06-20).
  await openMonth(page, tenant);
  assert.equal(await page.locator('#consumption-month').inputValue(), MONTH);
  assert.equal(await textOf(page.locator('#cons-month .card-value')), MONTH);

  assert.deepEqual(await rowsOf(page, 'portals'), portalRows(r));
  // Meters: used against allocated (full when over).
  const views = page.locator('[data-table="portals"] tr[data-portal="buyers"][data-resource="page_views"] meter');
  assert.equal(Number(await views.getAttribute('max')), r.portals[0].page_views.allocated);
  assert.equal(Number(await views.getAttribute('value')), Math.min(r.portals[0].page_views.used, r.portals[0].page_views.allocated));
  assert.equal(await views.getAttribute('aria-label'), `buyers page views: ${fmt(r.portals[0].page_views.used)} of ${fmt(r.portals[0].page_views.allocated)} used`);

  // The example's overages: buyers' page views (PORTAL-3) and the database (CAP-4), each with what closes it.
  const buyersViews = r.portals.find((p) => p.portal === 'buyers').page_views;
  assert.deepEqual([buyersViews.state, buyersViews.over], ['over', 10000]);
  const over = page.locator('tr[data-portal="buyers"][data-resource="page_views"]');
  assert.equal(await textOf(over.locator('.badge')), 'over');
  assert.equal(await textOf(over.locator('.purchase')), 'PORTAL-3 buy 1 × portal-page-views (+100,000 page views) — EUR 100.00 a month');
  assert.equal(await over.locator('.purchase code.rule').getAttribute('data-rule'), 'PORTAL-3');
  assert.equal(await textOf(page.locator('#cons-over .card-value')), '2');
  assert.equal(await textOf(page.locator('#cons-over .card-label')), 'over allocation: buyers page views, database storage');

  // AI Builder: the pool, then the credits per environment with their source.
  for (const k of ['purchased', 'trial', 'seeded', 'total', 'allocated', 'unallocated']) {
    assert.equal(await textOf(page.locator(`#ai-${k} .card-value`)), fmt(r.ai_pool[k]), `the pool's ${k}`);
  }
  assert.match(await textOf(page.locator('#ai-pool-used')), new RegExp(`${fmt(r.ai_pool_used.used)} of ${fmt(r.ai_pool_used.allocated)} credits`));
  const sources = { allocation: 'its own allocation', pool: 'the unallocated credits', none: 'none: it may not consume' };
  assert.deepEqual(await rowsOf(page, 'ai-environments'), r.environments.map((e) => [e.environment, sources[e.source], ...meterCells(e.credits)]));
  assert.deepEqual(await rowsOf(page, 'ai-environments'), [['prod', 'its own allocation', '650', '1,000', '350', '0', '', 'within']]);

  // Dataverse storage, with the database's fix.
  assert.deepEqual(await rowsOf(page, 'storage'), r.storage.map((s) => [s.pool, ...meterCells(s.mb), s.fix ? fixText(s.fix, 'MB') : '']));
  assert.equal(await textOf(page.locator('[data-table="storage"] tr[data-pool="database"] .purchase')), 'CAP-4 buy 2 × dataverse-database-capacity (+2,000 MB) — USD 80.00 a month');
  // Numbers are right-aligned.
  assert.equal(await page.locator('[data-table="storage"] tr[data-pool="database"] td').nth(1).getAttribute('class'), 'num');
  // Every rule the report names, as chips that open the rulebook.
  const chips = await page.locator('.consumption > p.meta .rules code.rule').allTextContents();
  assert.deepEqual(chips, r.rules);
  problems.assertNone();
});

uiTest('the month picker and the months either side change the month and the hash; a month deep-links', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-cons-month', PORTALS);
  const may = await report(tenant, '2024-05');
  await signIn(page);
  await openMonth(page, tenant);
  await page.locator('#consumption-month').fill('2024-05');
  await page.locator('#consumption-show').click();
  await page.waitForURL((u) => u.hash === hashOf(tenant, '2024-05'));
  await page.locator('.consumption[data-month="2024-05"]').waitFor();
  assert.equal(await page.locator('#consumption-month').inputValue(), '2024-05');
  assert.deepEqual(await rowsOf(page, 'portals'), portalRows(may));
  // May: three passes on buyers (ana twice, more than 24 hours apart, and ben).
  assert.equal((await rowsOf(page, 'portals'))[0][3], '3');

  await page.locator('#month-prev').click();
  await page.waitForURL((u) => u.hash === hashOf(tenant, '2024-04'));
  await page.locator('.consumption[data-month="2024-04"]').waitFor();
  await page.locator('#month-next').click();
  await page.locator('.consumption[data-month="2024-05"]').waitFor();

  // The link alone, in a new tab (signed in there: the key stays in its own tab): the same month.
  const other = await page.context().newPage();
  await other.goto(`/${hashOf(tenant, '2024-05')}`);
  await submitKey(other, KEY);
  await other.locator('.consumption[data-month="2024-05"]').waitFor();
  assert.equal(await other.locator('#consumption-month').inputValue(), '2024-05');
  assert.deepEqual(await rowsOf(other, 'portals'), portalRows(may));
  await other.close();
  problems.assertNone();
});

uiTest('a login and page views posted through the API appear after a reload, and a new overage shows its fix', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-cons-live', PORTALS);
  await signIn(page);
  await openMonth(page, tenant, MONTH);
  const before = await report(tenant, MONTH);
  const sellers = () => rowsOf(page, 'portals').then((rows) => rows.filter((c) => c[0] === 'sellers'));
  assert.deepEqual((await sellers()).map((c) => c[3]), [fmt(before.portals[1].logins.used), fmt(before.portals[1].page_views.used)]);

  // A new external user on sellers: a new pass (PORTAL-2), charged.
  const login = await apiOk('POST', `/tenants/${tenant}/portals/sellers/logins`, { user: 'contact-zoe', at: '2024-06-02T10:00:00Z' });
  assert.equal(login.charged, true);
  assert.equal(login.month, MONTH);
  assert.equal(login.used, before.portals[1].logins.used + 1);
  // More anonymous page views than sellers has: over by one.
  await apiOk('POST', `/tenants/${tenant}/portals/sellers/page-views`, { count: before.portals[1].page_views.allocated + 1, at: '2024-06-03T08:00:00Z' });
  const after = await report(tenant, MONTH);
  assert.equal(after.portals[1].page_views.over, 1);

  await page.reload();
  await page.locator(`.consumption[data-month="${MONTH}"]`).waitFor();
  assert.deepEqual(await rowsOf(page, 'portals'), portalRows(after));
  const [logins, views] = await sellers();
  assert.equal(logins[3], fmt(before.portals[1].logins.used + 1));
  assert.equal(views[9], 'PORTAL-3 buy 1 × portal-page-views (+100,000 page views) — EUR 100.00 a month');
  assert.equal(views[8], 'over');
  assert.equal(await textOf(page.locator('#cons-over .card-value')), '3');
  // The statement's cost of closing the overages: a second page-views pack, in EUR; the database, in USD.
  const statement = await apiOk('GET', `/tenants/${tenant}/statement?month=${MONTH}`);
  assert.deepEqual(statement.overage_total, { EUR: '200.00', USD: '80.00' });
  assert.deepEqual(await page.locator('#overage-total .total').allTextContents(), ['EUR 200.00', 'USD 80.00']);
  problems.assertNone();
});

uiTest('each resource\'s last six months are charted, with the API\'s per-month figures as the chart\'s table', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-cons-charts', PORTALS);
  const months = ['2024-01', '2024-02', '2024-03', '2024-04', '2024-05', '2024-06'];
  const reports = await Promise.all(months.map((m) => report(tenant, m)));
  await signIn(page);
  await openMonth(page, tenant, MONTH);
  const charts = {
    'chart-logins-buyers': (r) => r.portals.find((p) => p.portal === 'buyers').logins,
    'chart-views-buyers': (r) => r.portals.find((p) => p.portal === 'buyers').page_views,
    'chart-logins-sellers': (r) => r.portals.find((p) => p.portal === 'sellers').logins,
    'chart-views-sellers': (r) => r.portals.find((p) => p.portal === 'sellers').page_views,
    'chart-credits-prod': (r) => r.environments.find((e) => e.environment === 'prod').credits,
    'chart-storage-database': (r) => r.storage.find((s) => s.pool === 'database').mb,
    'chart-storage-file': (r) => r.storage.find((s) => s.pool === 'file').mb,
    'chart-storage-log': (r) => r.storage.find((s) => s.pool === 'log').mb,
  };
  assert.deepEqual((await page.locator('figure.chart').evaluateAll((fs) => fs.map((f) => f.id))).sort(), Object.keys(charts).sort());
  for (const [id, pick] of Object.entries(charts)) {
    // Drawn: uPlot's canvas.
    await page.locator(`figure#${id} .chart-plot canvas`).first().waitFor();
    const extra = id === 'chart-credits-prod' ? (r) => [r.environments.find((e) => e.environment === 'prod')?.source ?? 'none'] : () => [];
    assert.deepEqual(await chartTable(page, id), reports.map((r, i) => {
      const m = pick(r);
      return [months[i], ...extra(r), fmt(m.used), fmt(m.allocated), fmt(m.remaining), fmt(m.over), m.state];
    }), id);
  }
  // The legend says what the bars and the line are; the aria-label sums the chart up.
  assert.deepEqual(await page.locator('figure#chart-views-buyers ul.legend li').allTextContents(), ['Used (page views)', 'Allocated (page views)']);
  assert.equal(await page.locator('figure#chart-views-buyers .chart-plot').getAttribute('aria-label'),
    'buyers: page views, 2024-01 to 2024-06: 60,000 of 50,000 page views in 2024-06; over in 1 month (2024-06).');
  assert.match(await page.locator('figure#chart-logins-buyers .chart-plot').getAttribute('aria-label'), /: 5 of 100 logins in 2024-06; never over\.$/);
  problems.assertNone();
});

uiTest('the statement: licences and their totals per currency, the overages with the cost of closing each, the change from May', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-cons-statement', PORTALS);
  const s = await apiOk('GET', `/tenants/${tenant}/statement?month=${MONTH}`);
  await signIn(page);
  await openMonth(page, tenant, MONTH);
  const money = (m) => `${m.currency} ${grouped(m.amount)}`;
  assert.deepEqual(await rowsOf(page, 'statement-licences'),
    s.licences.map((l) => [l.sku, l.name, fmt(l.quantity), money(l.unit_price), money(l.monthly), l.channel, l.billed_to]));
  // Two currencies are two totals, never one sum.
  const perCurrency = (t) => Object.entries(t).sort(([a], [b]) => (a < b ? -1 : 1)).map(([c, a]) => `${c} ${grouped(a)}`);
  assert.deepEqual(perCurrency(s.licence_total), ['EUR 500.00', 'USD 580.00']);
  assert.deepEqual(await page.locator('#licence-total .total').allTextContents(), perCurrency(s.licence_total));
  assert.deepEqual(await page.locator('#cons-licences .total').allTextContents(), perCurrency(s.licence_total));

  assert.deepEqual(await rowsOf(page, 'statement-overages'),
    s.overage_fixes.map((f) => [f.rule, f.sku, f.name, fmt(f.units), fmt(f.adds), money(f.monthly), f.purchasable ? 'purchasable' : 'not purchasable']));
  assert.deepEqual(await page.locator('#overage-total .total').allTextContents(), perCurrency(s.overage_total));
  assert.deepEqual(await page.locator('#cons-overage-cost .total').allTextContents(), ['EUR 100.00', 'USD 80.00']);

  // The change from the month before, as the API counts it, with the difference.
  assert.equal(s.previous_month, '2024-05');
  assert.equal(await textOf(page.locator('#statement h3').last()), 'Change from 2024-05');
  const labels = { licences: 'Licences per month', 'portal-logins': 'Portal logins', 'page-views': 'Page views', 'ai-credits': 'AI Builder credits' };
  const changes = await rowsOf(page, 'statement-changes');
  assert.deepEqual(changes.map((c) => c.slice(0, 4)), s.changes.map((c) => [labels[c.what], c.of, grouped(c.before), grouped(c.now)]));
  const line = (what, of) => changes.find((c) => c[0] === labels[what] && c[1] === of);
  assert.deepEqual(line('portal-logins', 'buyers').slice(2), ['3', '5', '+2']);
  assert.deepEqual(line('page-views', 'buyers').slice(2), ['0', '60,000', '+60,000']);
  assert.deepEqual(line('ai-credits', 'prod').slice(2), ['300', '650', '+350']);
  assert.deepEqual(line('licences', 'EUR').slice(2), ['500.00', '500.00', 'no change']);
  assert.deepEqual(await page.locator('[data-table="statement-changes"] thead th').allTextContents(), ['What', 'Of', '2024-05', '2024-06', 'Change']);
  problems.assertNone();
});

uiTest('the CSV link downloads the API\'s CSV of the month shown', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-cons-csv', PORTALS);
  await signIn(page);
  for (const month of [MONTH, '2024-05']) {
    await openMonth(page, tenant, month);
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#consumption-csv').click()]);
    assert.equal(download.suggestedFilename(), `${tenant}-consumption-${month}.csv`);
    const text = readFileSync(await download.path(), 'utf8');
    const api = await apiCall('GET', `/tenants/${tenant}/consumption?month=${month}&format=csv`);
    assert.equal(api.status, 200);
    assert.equal(text, api.data);
    assert.match(text, /^Month,Environment ID,Resource Type,Resource ID,Unit,Entitled Quantity,Consumed Quantity,Remaining Quantity,Overage Quantity,State\r?\n/);
    assert.ok(text.includes(`${month},prod,Portal,buyers,logins,100,`), `${month}: the buyers' logins`);
  }
  problems.assertNone();
});

uiTest('a month the API refuses in the hash shows the API\'s 422, and the picker leads back', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-cons-bad', PORTALS);
  const refused = await apiCall('GET', `/tenants/${tenant}/consumption?month=2024-13`);
  assert.equal(refused.status, 422);
  assert.equal(refused.data.pointer, 'query:month');
  await signIn(page);
  await tenantTab(page, tenant, 'consumption', '2024-13');
  const error = page.locator('#consumption-error .notice.error');
  await error.waitFor();
  assert.equal(await textOf(error), `${refused.data.title} (422): ${refused.data.detail.replace(/`/g, '')} (at query:month)`);
  // The tabs stay, and the picker offers the evaluation month.
  assert.equal(await page.locator('#consumption-month').inputValue(), MONTH);
  await page.locator('#consumption-show').click();
  await page.locator(`.consumption[data-month="${MONTH}"]`).waitFor();
  await until(async () => (await page.locator('#consumption-error').count()) === 0, 'the error stayed');
  await go(page, hashOf(tenant, 'banana'));
  await page.locator('#consumption-error .notice.error').waitFor();
  assert.match(await textOf(page.locator('#consumption-error')), /banana is not a month/);
  problems.assertNone({ allow: [/HTTP 422: GET .*\/(consumption|statement)\?month=(2024-13|banana)$/, /status of 422/] });
});
