// The Audit tab (#/t/{id} and #/t/{id}/audit): the summary cards, the flows at risk with their rule chips and
// fixes, and a fix applied from the page — checked afterwards in the server's data, not only on screen.
//
// The tenant of examples/small-business-m365.toml on 2024-06-03: 5 flows, 2 at risk (invoice-sync: bob holds no
// premium licence; stock-lookup: dana and erik press a premium button), cheapest fixes USD 45.00 a month
// (15 for bob + 30 for dana and erik). Tests that apply a fix use a tenant of their own (freshTenant).
import assert from 'node:assert/strict';
import { apiOk, freshTenant, signIn, tenantTab, textOf, uiTest, until } from './helpers.mjs';

const SHARED = 'fabrikam-bakery';

const row = (page, flow) => page.locator(`tr[data-flow="${flow}"]`);

/** Opens the plan of one fix (`action`) of a flow's row; answers its panel, Apply button and steps in words. */
async function openFix(page, flow, action) {
  const button = row(page, flow).locator(`button[data-fix="${action}"]`);
  await button.click();
  const panel = row(page, flow).locator('.fix').filter({ has: page.locator(`button[data-fix="${action}"]`) }).locator('.fix-panel');
  const apply = panel.locator(`button[data-apply="${action}"]`);
  await apply.waitFor();
  const steps = (await panel.locator('ol.steps li').allTextContents()).map((s) => s.replace(/\s+/g, ' ').trim());
  return { button, panel, apply, steps };
}
const cardValue = (page, label) =>
  page.locator('.cards .card').filter({ has: page.locator('.card-label', { hasText: new RegExp(`^${label}$`) }) }).locator('.card-value');

uiTest('the audit shows 5 flows, 2 at risk and USD 45.00 of cheapest fixes', async ({ page, problems }) => {
  await signIn(page);
  await page.locator(`a[data-tenant="${SHARED}"]`).click();
  // A tenant's link opens its overview (no tab in the hash); the audit is a tab.
  await page.waitForURL((url) => url.hash === `#/t/${SHARED}`);
  await page.locator(`section.tenant[data-tenant="${SHARED}"] a[data-tab="overview"][aria-current="page"]`).waitFor();
  await page.locator('a[data-tab="audit"]').click();
  await page.locator(`section.tenant[data-tenant="${SHARED}"] a[data-tab="audit"][aria-current="page"]`).waitFor();
  assert.equal(await textOf(page.locator('section.tenant h1')), SHARED);
  assert.match(await textOf(page.locator('.tenant-head .meta', { hasText: 'evaluated on' })), /evaluated on 2024-06-03/);

  assert.equal(await textOf(cardValue(page, 'flows')), '5');
  assert.equal(await textOf(page.locator('#at-risk .card-value')), '2');
  assert.match((await page.locator('#at-risk').getAttribute('class')) ?? '', /\bwarn\b/, '#at-risk is not marked warn');
  assert.equal(await textOf(cardValue(page, 'turned off')), '0');
  assert.equal(await textOf(cardValue(page, 'environments')), '1');
  assert.equal(await textOf(page.locator('#fix-cost .card-value')), 'USD 45.00');

  const flows = await page.locator('tbody tr[data-flow]').evaluateAll((rows) => rows.map((r) => r.dataset.flow));
  assert.deepEqual(flows.sort(), ['invoice-sync', 'stock-lookup'], 'the flows at risk');
  problems.assertNone();
});

uiTest('each flow at risk shows its owner, rule chips, reasons and fixes cheapest first', async ({ page, problems }) => {
  await signIn(page);
  await tenantTab(page, SHARED, 'audit');

  const invoice = row(page, 'invoice-sync');
  const chips = async (r) => r.locator('span.rules code.rule').allTextContents();
  assert.deepEqual(await chips(invoice), ['M365-1', 'FLOW-2', 'FLOW-6', 'FLOW-4', 'FLOW-14', 'ENF-1']);
  const invoiceText = await textOf(invoice);
  assert.match(invoiceText, /\bbob\b/, 'owner bob');
  assert.match(invoiceText, /automated/);
  // Not one of ENF-2's kinds: named by the rule it fails (the rulebook's title), kind and rule on hover.
  const kind = invoice.locator('span.enforcement');
  assert.equal(await kind.getAttribute('data-kind'), 'other');
  assert.equal(await textOf(kind), (await apiOk('GET', '/rules/FLOW-4')).title);
  assert.match(await kind.getAttribute('title'), /rule FLOW-4/);
  // The message's code span (`bob`) is a <code> element, not backticks.
  assert.match(invoiceText, /FLOW-4 bob holds no premium Power Automate licence/);
  assert.deepEqual(await invoice.locator('td li code:not(.rule)').allTextContents(), ['bob']);
  // The flow's name links to its page.
  assert.equal(await invoice.locator('a').first().getAttribute('href'), `#/t/${SHARED}/flows/invoice-sync`);

  const fixes = await invoice.locator('.fix > span').allTextContents();
  assert.equal(fixes.length, 2, `invoice-sync fixes: ${JSON.stringify(fixes)}`);
  assert.match(fixes[0], /^assign power-automate-premium × 1 → bob — USD 15\.00\/month ENF-6$/);
  assert.match(fixes[1], /^assign a process licence × 1 → invoice-sync \(allocates 1 to default\) — USD 150\.00\/month ENF-6$/);
  assert.equal(await invoice.locator('button[data-fix="assign-license"]').count(), 1);
  assert.equal(await invoice.locator('button[data-fix="assign-process-license"]').count(), 1);

  const stock = row(page, 'stock-lookup');
  const stockChips = await chips(stock);
  assert.ok(stockChips.includes('FLOW-3') && stockChips.includes('FLOW-4'), `stock-lookup chips: ${stockChips}`);
  const stockText = await textOf(stock);
  assert.match(stockText, /\bdana holds no premium/);
  assert.match(stockText, /\berik holds no premium/);
  const stockFixes = await stock.locator('.fix > span').allTextContents();
  assert.match(stockFixes[0], /^assign power-automate-premium × 2 → dana, erik — USD 30\.00\/month/);
  assert.match(stockFixes[1], /^assign a process licence × 1 → stock-lookup \(allocates 1 to default\) — USD 150\.00\/month/);
  problems.assertNone();
});

uiTest('the cheapest fix of invoice-sync: plan with its cost, Apply, and bob holds the licence', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-audit-fix');
  await signIn(page);
  await tenantTab(page, tenant, 'audit');

  const { panel, apply, steps } = await openFix(page, 'invoice-sync', 'assign-license');
  assert.equal(steps.length, 2, `the plan: ${JSON.stringify(steps)}`);
  assert.match(steps[0], /^Buy 1 × power-automate-premium \(admin purchase, from 2024-06-03\) \(USD 15\.00\/month\)$/);
  assert.match(steps[1], /^Assign power-automate-premium to bob\b/);

  // Nothing has changed before Apply.
  assert.deepEqual((await apiOk('GET', `/tenants/${tenant}/users/bob`)).licenses, ['microsoft-365-business-standard']);
  assert.equal((await apiOk('GET', `/tenants/${tenant}/subscriptions`)).length, 2);

  await apply.click();
  await until(
    async () => (await page.locator('#at-risk .card-value').textContent()) === '1',
    'the at-risk card did not become 1 after applying the fix',
  );
  await row(page, 'invoice-sync').waitFor({ state: 'detached' });
  assert.equal(await row(page, 'stock-lookup').count(), 1, 'stock-lookup is still at risk');
  assert.equal(await textOf(page.locator('#fix-cost .card-value')), 'USD 30.00');

  // In the server's data.
  const bob = await apiOk('GET', `/tenants/${tenant}/users/bob`);
  assert.ok(bob.licenses.includes('power-automate-premium'), `bob holds ${bob.licenses}`);
  const subs = await apiOk('GET', `/tenants/${tenant}/subscriptions`);
  const bought = subs.filter((s) => s.sku === 'power-automate-premium');
  assert.equal(bought.length, 1, `subscriptions: ${JSON.stringify(subs)}`);
  assert.equal(bought[0].quantity, 1);
  assert.equal(bought[0].channel, 'admin');
  assert.equal(bought[0].start, '2024-06-03');
  const decision = await apiOk('GET', `/tenants/${tenant}/flows/invoice-sync/decision`);
  assert.equal(decision.allowed, true, `invoice-sync decision: ${JSON.stringify(decision)}`);
  const audit = await apiOk('GET', `/tenants/${tenant}/audit`);
  assert.equal(audit.summary.at_risk, 1);
  problems.assertNone();
});

uiTest('the process-licence fix of stock-lookup buys, allocates to default and sets the flow licence', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-audit-process');
  await signIn(page);
  await tenantTab(page, tenant, 'audit');

  const { panel, apply, steps } = await openFix(page, 'stock-lookup', 'assign-process-license');
  assert.equal(steps.length, 3, `the plan: ${JSON.stringify(steps)}`);
  assert.match(steps[0], /^Buy 1 × power-automate-process .*\(USD 150\.00\/month\)$/);
  assert.match(steps[1], /^Allocate 1 more power-automate-process to environment default/);
  assert.match(steps[2], /^Set flow stock-lookup to its process licence/);

  await apply.click();
  await until(
    async () => (await page.locator('#at-risk .card-value').textContent()) === '1',
    'the at-risk card did not become 1 after applying the process licence',
  );
  await row(page, 'stock-lookup').waitFor({ state: 'detached' });
  assert.equal(await row(page, 'invoice-sync').count(), 1, 'invoice-sync is still at risk');

  const flow = await apiOk('GET', `/tenants/${tenant}/flows/stock-lookup`);
  assert.equal(flow.license, 'process');
  const allocations = await apiOk('GET', `/tenants/${tenant}/environments/default/allocations`);
  assert.deepEqual(
    allocations.currencyAllocations.filter((a) => a.currencyType === 'power-automate-process').map((a) => a.allocated),
    [1],
    `allocations on default: ${JSON.stringify(allocations)}`,
  );
  const subs = await apiOk('GET', `/tenants/${tenant}/subscriptions`);
  assert.equal(subs.filter((s) => s.sku === 'power-automate-process').length, 1, `subscriptions: ${JSON.stringify(subs)}`);
  for (const as of ['', 'dana', 'erik', 'carol']) {
    const decision = await apiOk('GET', `/tenants/${tenant}/flows/stock-lookup/decision${as ? `?as=${as}` : ''}`);
    assert.equal(decision.allowed, true, `stock-lookup as ${as || 'everyone'}: ${JSON.stringify(decision)}`);
    assert.equal(decision.licensed_by.kind, 'process');
  }
  problems.assertNone();
});

uiTest('a fix panel opened twice closes; the plan changes nothing until Apply', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-audit-toggle');
  await signIn(page);
  await tenantTab(page, tenant, 'audit');
  const { button, panel, steps } = await openFix(page, 'stock-lookup', 'assign-license');
  // dana and erik: 2 units to buy (none free), then one assignment each.
  assert.equal(steps.length, 3, `the plan: ${JSON.stringify(steps)}`);
  assert.match(steps[0], /^Buy 2 × power-automate-premium .*\(USD 30\.00\/month\)$/);
  assert.match(steps[1], /^Assign power-automate-premium to dana/);
  assert.match(steps[2], /^Assign power-automate-premium to erik/);
  await button.click();
  assert.equal(await panel.isHidden(), true, 'the panel stays open after a second click');

  assert.equal((await apiOk('GET', `/tenants/${tenant}/subscriptions`)).length, 2, 'planning bought something');
  assert.equal((await apiOk('GET', `/tenants/${tenant}/audit`)).summary.at_risk, 2);
  const log = await apiOk('GET', `/tenants/${tenant}/audit-log`);
  assert.deepEqual(log.entries.map((e) => `${e.action} ${e.kind}`), ['create tenant'], 'planning wrote to the audit log');
  problems.assertNone();
});

// examples/rpa-back-office.toml: the tenant pays for 6 process units and has allocated 5, so one is spare. Every
// flow's process-licence fix alone costs nothing — it allocates that unit — but the headline counts it once: the
// service principal's erp-sync (a process licence is its only fix) gets it, and the owners noah, olivia and pat
// take a Premium licence each for their flows: USD 45.00.
uiTest('a process licence from a spare unit: allocated to the environment, then set; the headline counts it once', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-audit-spare', 'examples/rpa-back-office.toml');
  await signIn(page);
  await tenantTab(page, tenant, 'audit');
  assert.equal(await textOf(page.locator('#at-risk .card-value')), '6');
  assert.equal(await textOf(page.locator('#fix-cost .card-value')), 'USD 45.00');

  const fixes = await row(page, 'erp-sync').locator('.fix > span').allTextContents();
  assert.deepEqual(fixes, ['assign a process licence × 1 → erp-sync (allocates 1 to finance-prod) — USD 0.00/month FLOW-20']);
  const { panel, apply, steps } = await openFix(page, 'erp-sync', 'assign-process-license');
  assert.equal(steps.length, 2, `the plan: ${JSON.stringify(steps)}`);
  assert.match(steps[0], /^Allocate 1 more power-automate-process to environment finance-prod$/);
  assert.match(steps[1], /^Set flow erp-sync to its process licence/);
  assert.match(await textOf(panel.locator('.fix-turns')), /turn erp-sync allowed/);

  await apply.click();
  await until(
    async () => (await page.locator('#at-risk .card-value').textContent()) === '5',
    'the at-risk card did not become 5 after the process licence',
  );
  await row(page, 'erp-sync').waitFor({ state: 'detached' });
  const decision = await apiOk('GET', `/tenants/${tenant}/flows/erp-sync/decision`);
  assert.equal(decision.allowed, true, `erp-sync decision: ${JSON.stringify(decision)}`);
  assert.equal(decision.licensed_by.kind, 'process');
  const allocations = await apiOk('GET', `/tenants/${tenant}/environments/finance-prod/allocations`);
  assert.deepEqual(
    allocations.currencyAllocations.filter((a) => a.currencyType === 'power-automate-process').map((a) => a.allocated),
    [4],
    `allocations on finance-prod: ${JSON.stringify(allocations)}`,
  );
  const subs = await apiOk('GET', `/tenants/${tenant}/subscriptions`);
  assert.equal(subs.length, 3, `nothing was bought: ${JSON.stringify(subs)}`);
  // The spare unit is gone: the other flows' process licences now cost a unit each, and the headline still adds
  // up to the three Premium licences.
  const audit = await apiOk('GET', `/tenants/${tenant}/audit`);
  const archive = audit.flows.find((f) => f.flow === 'close-child-archive');
  const process = archive.fixes.find((f) => f.action === 'assign-process-license');
  assert.equal(process.monthly_cost, '150.00', `close-child-archive: ${JSON.stringify(archive.fixes)}`);
  assert.equal(audit.summary.cheapest_fixes_monthly.USD, '45.00');
  problems.assertNone();
});
