// The Plan tab (#/t/{id}/plan, issue 16): the cheapest joint set of changes for the tenant, a dry run of it
// (nothing written, the decisions it would turn listed) and Apply, checked afterwards in the server's data.
//
// The tenant of examples/small-business-m365.toml on 2024-06-03: 2 flows at risk (invoice-sync: bob holds no
// premium licence; stock-lookup: dana and erik press a premium button): the plan buys 3 Power Automate Premium
// (USD 45.00 a month) and assigns them to bob, dana and erik. The test uses a tenant of its own (freshTenant).
import assert from 'node:assert/strict';
import { apiOk, freshTenant, signIn, tenantTab, textOf, uiTest, until } from './helpers.mjs';

const cardValue = (page, id) => page.locator(`#${id} .card-value`);

uiTest('the plan is shown, dry-run and applied: every decision it targets turns to allowed', async ({ page, problems }) => {
  const tenant = await freshTenant('plan');
  await signIn(page);
  await tenantTab(page, tenant, 'plan');
  await page.locator('.plan table').waitFor();

  assert.equal(await textOf(cardValue(page, 'plan-denied')), '2');
  assert.equal(await textOf(cardValue(page, 'plan-before')), 'USD 30.00');
  assert.equal(await textOf(cardValue(page, 'plan-after')), 'USD 75.00');
  assert.equal(await textOf(cardValue(page, 'plan-per-flow')), 'USD 45.00');
  assert.match(await textOf(page.locator('#plan-solver')), /exact \(optimal\)/);
  const actions = await page.locator('.plan tbody tr[data-action]').evaluateAll((rows) => rows.map((r) => r.dataset.action));
  assert.deepEqual(actions, ['buy', 'assign', 'assign', 'assign']);
  const first = await textOf(page.locator('.plan tbody tr[data-action="buy"]'));
  assert.match(first, /buy 3 × power-automate-premium/);
  assert.match(first, /USD 45\.00/);
  assert.match(first, /BUY-6/);

  // Apply waits for a dry run.
  assert.equal(await page.locator('#plan-apply').isDisabled(), true);
  const before = await apiOk('GET', `/tenants/${tenant}/audit-log`);
  await page.locator('#plan-dry-run').click();
  await page.locator('#plan-status .notice', { hasText: 'Dry run' }).waitFor();
  assert.match(await textOf(page.locator('#plan-status')), /2 decision\(s\) would turn to allowed/);
  const flipped = await page.locator('#plan-flips tbody tr[data-flip]').evaluateAll((rows) => rows.map((r) => r.dataset.flip));
  assert.deepEqual(flipped.sort(), ['invoice-sync', 'stock-lookup']);
  const still = await apiOk('GET', `/tenants/${tenant}/audit-log`);
  assert.equal((still.entries || still).length, (before.entries || before).length, 'the dry run wrote nothing');
  const denied = await apiOk('GET', `/tenants/${tenant}/flows/invoice-sync/decision`);
  assert.equal(denied.allowed, false);

  await page.locator('#plan-apply').click();
  await page.locator('.notice', { hasText: 'Plan applied' }).waitFor();
  await page.locator('.plan p.empty', { hasText: 'Nothing to change' }).waitFor();
  for (const flow of ['invoice-sync', 'stock-lookup']) {
    const d = await apiOk('GET', `/tenants/${tenant}/flows/${flow}/decision`);
    assert.equal(d.allowed, true, `${flow} after the plan: ${JSON.stringify(d.problems)}`);
  }
  const again = await apiOk('GET', `/tenants/${tenant}/plan`);
  assert.deepEqual(again.changes, []);
  await until(async () => (await textOf(cardValue(page, 'plan-denied'))) === '0', 'the plan page reads the tenant again');
  problems.assertNone();
});
