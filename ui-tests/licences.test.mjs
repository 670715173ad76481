// The Licences tab (the monthly bill, units, subscriptions, a purchase previewed then made), the Capacity tab
// and the Changes tab (the tenant's audit log, filtered by kind and action).
import assert from 'node:assert/strict';
import { apiOk, freshTenant, signIn, tenantTab, textOf, uiTest, until } from './helpers.mjs';

const SHARED = 'fabrikam-bakery';

/** The cells of the units table's row for `sku`, by heading. */
async function unitsRow(page, sku) {
  const row = page.locator(`tr[data-sku="${sku}"]`);
  const heads = await page.locator('table').first().locator('thead th').allTextContents();
  const cells = (await row.locator('td').allTextContents()).map((c) => c.trim());
  return Object.fromEntries(heads.map((head, i) => [head, cells[i]]));
}

uiTest('the licences tab: USD 30.00 a month, units, the bill and the subscriptions', async ({ page, problems }) => {
  await signIn(page);
  await tenantTab(page, SHARED, 'licences');
  assert.equal(await textOf(page.locator('#monthly-total .card-value')), 'USD 30.00');
  assert.deepEqual(await unitsRow(page, 'power-automate-per-user'), {
    SKU: 'power-automate-per-user', Bought: '2', Assigned: '2', Allocated: '0', Free: '0', 'Held by': 'carolfrank',
  });
  assert.deepEqual(await page.locator('tr[data-sku="power-automate-per-user"] .chip').allTextContents(), ['carol', 'frank']);
  // The bill: one line per subscription; frank's own is billed to him (BUY-1).
  const bill = page.locator('h2:has-text("Monthly bill") + .table tbody tr');
  assert.equal(await bill.count(), 2);
  const billed = await bill.evaluateAll((rows) => rows.map((r) => [...r.cells].map((c) => c.textContent.trim())));
  assert.deepEqual(billed.map((r) => [r[0], r[3], r[4], r[5], r[6]]), [
    ['power-automate-per-user', 'USD 15.00', 'USD 15.00', 'admin', 'tenant'],
    ['power-automate-per-user', 'USD 15.00', 'USD 15.00', 'self-service', 'frank'],
  ]);
  const subs = page.locator('h2:has-text("Subscriptions") + .table tbody tr');
  assert.equal(await subs.count(), 2);
  // The purchase form starts with 1 unit and offers the SKUs it knows.
  assert.equal(await page.locator('#buy-quantity').inputValue(), '1');
  assert.ok((await page.locator('#known-skus option').count()) >= 4);
  problems.assertNone();
});

uiTest('buying 2 × power-automate-premium: USD 30.00 previewed, then bought', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-buy');
  await signIn(page);
  await tenantTab(page, tenant, 'licences');
  assert.equal(await page.locator('tr[data-sku="power-automate-premium"]').count(), 0);

  await page.locator('#buy-sku').fill('power-automate-premium');
  await page.locator('#buy-quantity').fill('2');
  await page.locator('#preview-buy').click();
  const apply = page.locator('#buy-result #apply-buy');
  await apply.waitFor();
  const preview = await textOf(page.locator('#buy-result .notice'));
  assert.match(preview, /^2 × power-automate-premium: USD 30\.00 per month, billed to the tenant\b/);
  assert.equal((await apiOk('GET', `/tenants/${tenant}/subscriptions`)).length, 2, 'the preview bought something');

  await apply.click();
  await page.locator('tr[data-sku="power-automate-premium"]').waitFor();
  assert.deepEqual(await unitsRow(page, 'power-automate-premium'), {
    SKU: 'power-automate-premium', Bought: '2', Assigned: '0', Allocated: '0', Free: '2', 'Held by': '',
  });
  assert.equal(await textOf(page.locator('#monthly-total .card-value')), 'USD 60.00');

  const subs = await apiOk('GET', `/tenants/${tenant}/subscriptions`);
  const bought = subs.filter((s) => s.sku === 'power-automate-premium');
  assert.equal(bought.length, 1, `subscriptions: ${JSON.stringify(subs)}`);
  assert.equal(bought[0].quantity, 2);
  assert.equal(bought[0].channel, 'admin');
  assert.equal(bought[0].start, '2024-06-03');
  assert.deepEqual((await apiOk('GET', `/tenants/${tenant}/cost`)).total, { USD: '60.00' });
  problems.assertNone();
});

uiTest('an unknown SKU is refused with the reason and buys nothing', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-buy-unknown');
  await signIn(page);
  await tenantTab(page, tenant, 'licences');
  await page.locator('#buy-sku').fill('no-such-sku');
  await page.locator('#preview-buy').click();
  const error = page.locator('#buy-result .notice.error');
  await error.waitFor();
  const text = await textOf(error);
  assert.match(text, /422/);
  assert.match(text, /unknown SKU `no-such-sku`/);
  assert.equal(await page.locator('#apply-buy').count(), 0, 'a Buy button is offered for an unknown SKU');
  assert.equal((await apiOk('GET', `/tenants/${tenant}/subscriptions`)).length, 2);
  assert.equal(await textOf(page.locator('#monthly-total .card-value')), 'USD 30.00');
  problems.assertNone({ allow: [/HTTP 422: POST .*\/purchases:preview$/, /status of 422/] });
});

uiTest('a SKU bought elsewhere (CAT-9) is refused in the preview with the rule, and nothing is bought', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-buy-refused');
  await signIn(page);
  await tenantTab(page, tenant, 'licences');
  await page.locator('#buy-sku').fill('microsoft-365-business-basic');
  await page.locator('#buy-quantity').fill('3');
  await page.locator('#preview-buy').click();
  const error = page.locator('#buy-result .notice.error');
  await error.waitFor();
  assert.match(await textOf(error), /^Refused: CAT-9 `microsoft-365-business-basic` is bought with Microsoft 365/);
  assert.equal(await page.locator('#apply-buy').count(), 0, 'a Buy button is offered for a refused purchase');
  assert.equal((await apiOk('GET', `/tenants/${tenant}/subscriptions`)).length, 2);
  problems.assertNone();
});

uiTest('the capacity tab shows database, file and log with their sources', async ({ page, problems }) => {
  await signIn(page);
  await tenantTab(page, SHARED, 'capacity');
  const rows = page.locator('.capacity-row');
  assert.equal(await rows.count(), 3);
  const texts = await rows.evaluateAll((rs) => rs.map((r) => r.textContent.replace(/\s+/g, ' ').trim()));
  assert.deepEqual(texts, [
    'Database0 of 10,100 MB used, 10,100 MB free',
    'File0 of 20,400 MB used, 20,400 MB free',
    'Log0 of 2,000 MB used, 2,000 MB free',
  ]);
  const meters = await rows.locator('meter').evaluateAll((ms) => ms.map((m) => [m.max, m.value]));
  assert.deepEqual(meters, [[10100, 0], [20400, 0], [2000, 0]]);
  assert.match(await textOf(page.locator('p:has-text("New environments")')), /may be created/);
  const sources = await page.locator('tbody tr').evaluateAll((rs) => rs.map((r) => [...r.cells].map((c) => c.textContent.trim())));
  assert.deepEqual(sources, [
    ['tenant default', '1', '10,000', '20,000', '2,000', 'CAP-2'],
    ['power-automate-per-user', '2', '100', '400', '0', 'CAP-3'],
  ]);
  problems.assertNone();
});

uiTest('the changes tab lists the tenant\'s creation, then a change made in the page; Kind filters', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-changes');
  await signIn(page);
  await tenantTab(page, tenant, 'changes');
  const entries = () =>
    page.locator('#log tbody tr[data-seq]').evaluateAll((rows) =>
      rows.map((r) => {
        const c = [...r.cells].map((x) => x.textContent.trim());
        return `${c[3]} ${c[4]} ${c[5]}`;
      }));
  assert.deepEqual(await entries(), [`create tenant ${tenant}`]);
  const operator = await apiOk('GET', `/tenants/${tenant}/audit-log`);
  assert.equal(await textOf(page.locator('#log tbody tr td:nth-child(3)')), operator.entries[0].actor);

  // A change made in the page: buy 1 × power-automate-premium under Licences.
  await tenantTab(page, tenant, 'licences');
  await page.locator('#buy-sku').fill('power-automate-premium');
  await page.locator('#preview-buy').click();
  await page.locator('#apply-buy').click();
  await page.locator('tr[data-sku="power-automate-premium"]').waitFor();
  const sub = (await apiOk('GET', `/tenants/${tenant}/subscriptions`)).find((s) => s.sku === 'power-automate-premium');
  assert.ok(sub?.id, 'the purchase is not in the subscriptions');

  await tenantTab(page, tenant, 'changes');
  assert.deepEqual(await entries(), [`create tenant ${tenant}`, `create subscription ${sub.id}`]);
  // Its before/after is there to open.
  const change = page.locator('#log tbody tr[data-seq]').nth(1).locator('details');
  await change.locator('summary').click();
  const json = JSON.parse(await change.locator('pre').textContent());
  assert.equal(json.before, null);
  assert.equal(json.after.sku, 'power-automate-premium');

  await page.locator('#log-kind').fill('subscription');
  await page.locator('#log-filter').click();
  await until(async () => (await entries()).length === 1, 'the Kind filter did not narrow the list');
  assert.deepEqual(await entries(), [`create subscription ${sub.id}`]);
  await page.locator('#log-kind').fill('tenant');
  await page.locator('#log-kind').press('Enter');
  await until(async () => (await entries())[0] === `create tenant ${tenant}`, 'the Kind filter "tenant" did not apply');
  assert.deepEqual(await entries(), [`create tenant ${tenant}`]);
  await page.locator('#log-kind').fill('flow');
  await page.locator('#log-filter').click();
  await page.locator('#log p.empty').waitFor();
  assert.equal(await textOf(page.locator('#log p.empty')), 'No change matches.');
  problems.assertNone();
});

uiTest('the changes tab pages with More beyond 50 entries', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-changes-more');
  // 55 more changes: licence requests.
  for (let i = 0; i < 55; i += 1) {
    await apiOk('POST', `/tenants/${tenant}/license-requests`, { id: `r${i}`, user: 'bob', sku: 'power-automate-premium' });
  }
  await signIn(page);
  await tenantTab(page, tenant, 'changes');
  const rows = page.locator('#log tbody tr[data-seq]');
  assert.equal(await rows.count(), 50);
  await page.locator('#log-more').click();
  await until(async () => (await rows.count()) === 56, () => 'More did not add the remaining 6 entries');
  const seqs = await rows.evaluateAll((rs) => rs.map((r) => Number(r.dataset.seq)));
  assert.equal(new Set(seqs).size, 56, 'an entry shows twice');
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'the entries are not in order');
  assert.equal(await page.locator('#log-more').count(), 0, 'More is offered at the end');
  problems.assertNone();
});

uiTest('every tab of a tenant renders without an error', async ({ page, problems }) => {
  await signIn(page);
  await tenantTab(page, SHARED, 'audit');
  const tabs = await page.locator('nav.tabs a[data-tab]').evaluateAll((as) => as.map((a) => a.dataset.tab));
  for (const tab of ['audit', 'flows', 'users', 'licences', 'requests', 'usage', 'capacity', 'changes']) {
    assert.ok(tabs.includes(tab), `no ${tab} tab in ${tabs}`);
  }
  for (const tab of tabs) {
    await tenantTab(page, SHARED, tab);
    assert.equal(await page.locator('#app .notice.error').count(), 0, `the ${tab} tab shows an error`);
    assert.equal(await page.locator('nav.tabs a[aria-current="page"]').count(), 1, `${tab}: not exactly one current tab`);
  }
  problems.assertNone();
});
