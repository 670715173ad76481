// The Users tab (a user's licences: assign or remove, with a dry run of the decisions it turns first) and the
// Requests tab (approve, which assigns, or deny). Every change is checked in the server's data afterwards; each
// test that changes data has a tenant of its own.
import assert from 'node:assert/strict';
import { apiOk, freshTenant, signIn, tenantTab, textOf, uiTest, until } from './helpers.mjs';

const SHARED = 'fabrikam-bakery';

const licencesOf = async (tenant, user) => (await apiOk('GET', `/tenants/${tenant}/users/${user}`)).licenses;
/** The licences in the user page's table (first column). */
const shownLicences = (page) => page.locator('table').first().locator('tbody tr td:first-child').allTextContents();

async function buy(tenant, sku, quantity) {
  return apiOk('POST', `/tenants/${tenant}/subscriptions`, { sku, quantity, channel: 'admin', start: '2024-06-03' });
}

uiTest('the users list and bob\'s page: licences, what is left to assign, requests per day', async ({ page, problems }) => {
  await signIn(page);
  await tenantTab(page, SHARED, 'users');
  assert.equal(await textOf(page.locator('h2').first()), 'Users (6)');
  const ids = await page.locator('tbody tr[data-user]').evaluateAll((rows) => rows.map((r) => r.dataset.user));
  assert.deepEqual(ids, ['alice', 'bob', 'carol', 'dana', 'erik', 'frank']);
  assert.deepEqual(await page.locator('tr[data-user="carol"] .chip').allTextContents(), ['microsoft-365-business-standard', 'power-automate-per-user']);
  assert.deepEqual(await page.locator('tr[data-user="alice"] .chips').nth(1).locator('.chip').allTextContents(), ['global-admin']);

  await page.locator('tr[data-user="bob"] a').click();
  await page.waitForURL((url) => url.hash === `#/t/${SHARED}/users/bob`);
  await page.locator('#sku').waitFor();
  assert.equal(await textOf(page.locator('h2').first()), 'User bob');
  assert.equal(await textOf(page.locator('h2 + p.meta')), 'member, work account');
  assert.deepEqual(await shownLicences(page), ['microsoft-365-business-standard']);
  assert.equal(await page.locator('button[data-remove="microsoft-365-business-standard"]').count(), 1);
  // Only what bob does not hold already, with its free units.
  const options = await page.locator('#sku option').evaluateAll((os) => os.map((o) => [o.value, o.textContent]));
  assert.ok(!options.some(([v]) => v === 'microsoft-365-business-standard'), `bob is offered a licence he holds: ${options}`);
  assert.deepEqual(options.find(([v]) => v === 'power-automate-per-user'), ['power-automate-per-user', 'power-automate-per-user (0 free of 2)']);
  // Requests per 24 hours: Microsoft 365 Business Standard gives 6,000 (REQ).
  assert.match(await textOf(page.locator('h3:has-text("Requests per 24 hours") + p')), /0 used of 6,000 \(6,000 left;/);
  problems.assertNone();
});

uiTest('a user without any licence has a page, and a licence can be assigned to them', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-users-none');
  // The API leaves `licenses` out of a user who holds none.
  const created = await apiOk('POST', `/tenants/${tenant}/users`, { id: 'newbie' });
  assert.equal(created.id, 'newbie');
  await buy(tenant, 'power-automate-premium', 1);
  await signIn(page);
  await tenantTab(page, tenant, 'users');
  assert.equal(await page.locator('tr[data-user="newbie"] .chip').count(), 0);
  await tenantTab(page, tenant, 'users', 'newbie');
  const error = page.locator('#app .notice.error');
  assert.equal(await error.count(), 0, `the user page shows an error: ${await error.allTextContents()}`);
  assert.equal(await textOf(page.locator('h2').first()), 'User newbie');
  assert.equal(await textOf(page.locator('h3:has-text("Licences") + p.empty')), 'No licence.');
  await page.locator('#sku').selectOption('power-automate-premium');
  await page.locator('#assign').click();
  await page.locator('#apply-licence').click();
  await page.locator('h3:has-text("Licences") + .table tbody tr td:first-child', { hasText: 'power-automate-premium' }).waitFor();
  assert.deepEqual(await licencesOf(tenant, 'newbie'), ['power-automate-premium']);
  problems.assertNone();
});

uiTest('assigning a licence: Preview shows the flips, Apply assigns it in the server', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-users-assign');
  await buy(tenant, 'power-automate-premium', 1);
  await signIn(page);
  await tenantTab(page, tenant, 'users', 'bob');

  await page.locator('#sku').selectOption('power-automate-premium');
  assert.match(await textOf(page.locator('#sku option:checked')), /power-automate-premium \(1 free of 1\)/);
  await page.locator('#assign').click();
  const apply = page.locator('#licence-result #apply-licence');
  await apply.waitFor();
  assert.equal(
    await textOf(page.locator('#licence-result .notice')),
    'Assign power-automate-premium to bob (turns invoice-sync (flow) allowed). Apply',
  );
  assert.deepEqual(await licencesOf(tenant, 'bob'), ['microsoft-365-business-standard'], 'the preview assigned the licence');

  await apply.click();
  await until(async () => (await shownLicences(page)).includes('power-automate-premium'), 'the page does not show the new licence');
  assert.deepEqual((await licencesOf(tenant, 'bob')).sort(), ['microsoft-365-business-standard', 'power-automate-premium']);
  assert.equal((await apiOk('GET', `/tenants/${tenant}/flows/invoice-sync/decision`)).allowed, true);
  // Nothing left to assign to bob of that SKU; the log has the assignment.
  assert.equal(await page.locator('#sku option[value="power-automate-premium"]').count(), 0);
  const log = await apiOk('GET', `/tenants/${tenant}/audit-log?kind=user&action=assign-license`);
  assert.deepEqual(log.entries.map((e) => e.item), ['bob']);
  problems.assertNone();
});

uiTest('removing a licence: Preview shows the flow it denies, Apply removes it in the server', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-users-remove');
  await signIn(page);
  await tenantTab(page, tenant, 'users', 'frank');
  assert.deepEqual(await shownLicences(page), ['microsoft-365-business-standard', 'power-automate-per-user']);

  await page.locator('button[data-remove="power-automate-per-user"]').click();
  const apply = page.locator('#licence-result #apply-licence');
  await apply.waitFor();
  assert.equal(
    await textOf(page.locator('#licence-result .notice')),
    'Remove power-automate-per-user from frank (turns supplier-price-watch (flow) denied). Apply',
  );
  assert.ok((await licencesOf(tenant, 'frank')).includes('power-automate-per-user'), 'the preview removed the licence');

  await apply.click();
  await until(async () => !(await shownLicences(page)).includes('power-automate-per-user'), 'the page still shows the licence');
  assert.deepEqual(await licencesOf(tenant, 'frank'), ['microsoft-365-business-standard']);
  assert.equal((await apiOk('GET', `/tenants/${tenant}/flows/supplier-price-watch/decision`)).allowed, false);
  // The freed unit can be assigned again: it is offered, 1 free of 2.
  assert.match(await textOf(page.locator('#sku option[value="power-automate-per-user"]')), /\(1 free of 2\)/);
  problems.assertNone();
});

uiTest('assigning beyond the units bought is refused with the reason, and nothing changes', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-users-beyond');
  await signIn(page);
  await tenantTab(page, tenant, 'users', 'bob');
  await page.locator('#sku').selectOption('power-automate-per-user');
  await page.locator('#assign').click();
  const error = page.locator('#licence-result .notice.error');
  await error.waitFor();
  const text = await textOf(error);
  assert.match(text, /409/);
  assert.match(text, /no available `power-automate-per-user` licences/);
  assert.match(text, /beyond the units bought/);
  assert.equal(await page.locator('#apply-licence').count(), 0, 'an Apply button is offered for a refused change');
  assert.deepEqual(await licencesOf(tenant, 'bob'), ['microsoft-365-business-standard']);
  assert.deepEqual(await shownLicences(page), ['microsoft-365-business-standard']);
  problems.assertNone({ allow: [/HTTP 409: POST .*\/users\/bob\/assignLicense\?dry_run=true$/, /status of 409/] });
});

uiTest('a unit taken between Preview and Apply: Apply shows the refusal and changes nothing', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-users-race');
  await buy(tenant, 'power-automate-premium', 1);
  await signIn(page);
  await tenantTab(page, tenant, 'users', 'bob');
  await page.locator('#sku').selectOption('power-automate-premium');
  await page.locator('#assign').click();
  await page.locator('#apply-licence').waitFor();
  // Meanwhile someone else assigns the only unit to dana.
  await apiOk('POST', `/tenants/${tenant}/users/dana/assignLicense`, { addLicenses: [{ skuId: 'power-automate-premium' }], removeLicenses: [] });
  await page.locator('#apply-licence').click();
  const error = page.locator('#licence-result .notice.error');
  await error.waitFor();
  assert.match(await textOf(error), /409.*no available `power-automate-premium` licences/);
  assert.deepEqual(await licencesOf(tenant, 'bob'), ['microsoft-365-business-standard']);
  problems.assertNone({ allow: [/HTTP 409: POST .*\/users\/bob\/assignLicense$/, /status of 409/] });
});

uiTest('licence requests: approve one (assigns it), deny the other', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-requests');
  await buy(tenant, 'power-automate-premium', 2);
  await apiOk('POST', `/tenants/${tenant}/license-requests`, { id: 'req-dana', user: 'dana', sku: 'power-automate-premium', note: 'stock lookups' });
  await apiOk('POST', `/tenants/${tenant}/license-requests`, { id: 'req-erik', user: 'erik', sku: 'power-automate-premium', note: 'me too' });
  await signIn(page);
  await tenantTab(page, tenant, 'requests');
  assert.equal(await textOf(page.locator('h2').first()), 'Licence requests (2 pending)');
  const dana = page.locator('tr[data-request="req-dana"]');
  const cells = (await dana.locator('td').allTextContents()).map((c) => c.trim());
  assert.deepEqual(cells.slice(0, 3), ['req-dana', 'dana', 'power-automate-premium']);
  assert.deepEqual(cells.slice(4, 6), ['stock lookups', 'pending']);
  assert.equal(await dana.locator('a').getAttribute('href'), `#/t/${tenant}/users/dana`);

  await page.locator('button[data-approve="req-dana"]').click();
  await until(async () => (await textOf(page.locator('tr[data-request="req-dana"] .badge'))) === 'approved', 'req-dana is not shown approved');
  assert.equal(await textOf(page.locator('h2').first()), 'Licence requests (1 pending)');
  assert.equal(await page.locator('button[data-approve="req-dana"]').count(), 0, 'a decided request can be approved again');

  await page.locator('button[data-deny="req-erik"]').click();
  await until(async () => (await textOf(page.locator('tr[data-request="req-erik"] .badge'))) === 'denied', 'req-erik is not shown denied');
  assert.equal(await textOf(page.locator('h2').first()), 'Licence requests (0 pending)');
  assert.equal(await page.locator('button[data-approve], button[data-deny]').count(), 0);

  const requests = await apiOk('GET', `/tenants/${tenant}/license-requests`);
  assert.deepEqual(
    Object.fromEntries(requests.map((r) => [r.id, r.state])),
    { 'req-dana': 'approved', 'req-erik': 'denied' },
  );
  assert.ok((await licencesOf(tenant, 'dana')).includes('power-automate-premium'), 'approving did not assign the licence');
  assert.ok(!(await licencesOf(tenant, 'erik')).includes('power-automate-premium'), 'denying assigned the licence');
  problems.assertNone();
});

uiTest('approving a request the units cannot cover shows why and leaves it pending', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-requests-refused');
  await apiOk('POST', `/tenants/${tenant}/license-requests`, { id: 'req-bob', user: 'bob', sku: 'power-automate-per-user' });
  await signIn(page);
  await tenantTab(page, tenant, 'requests');
  await page.locator('button[data-approve="req-bob"]').click();
  const error = page.locator('#request-result .notice.error');
  await error.waitFor();
  assert.match(await textOf(error), /^req-bob: .*409.*no available `power-automate-per-user` licences/);
  assert.equal((await apiOk('GET', `/tenants/${tenant}/license-requests/req-bob`)).state, 'pending');
  assert.ok(!(await licencesOf(tenant, 'bob')).includes('power-automate-per-user'));
  assert.equal(await textOf(page.locator('tr[data-request="req-bob"] .badge')), 'pending');
  problems.assertNone({ allow: [/HTTP 409: POST .*\/license-requests\/req-bob\/approve$/, /status of 409/] });
});

uiTest('the API usage tab lists users against their own limits, the busiest first, and who is throttled', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-usage');
  const carol = await apiOk('GET', `/tenants/${tenant}/limits?user=carol`);
  await apiOk('POST', `/tenants/${tenant}/usage`, { user: 'carol', requests: carol.per_5_minutes });
  await apiOk('POST', `/tenants/${tenant}/usage`, { user: 'bob', requests: 12 });
  const report = await apiOk('GET', `/tenants/${tenant}/usage/users`);
  await signIn(page);
  await tenantTab(page, tenant, 'usage');
  assert.match(await textOf(page.locator('h2').first()), new RegExp(`${report.total} users, 1 throttled now`));
  const rows = await page.locator('tbody tr[data-usage-user]').evaluateAll((rs) => rs.map((r) => r.dataset.usageUser));
  assert.deepEqual(rows.slice(0, 2), ['carol', 'bob']);
  assert.match(await textOf(page.locator('tr[data-usage-user="carol"]')), /throttled/);
  assert.match(await textOf(page.locator('tr[data-usage-user="bob"]')), /within limits/);
  // The bar is scaled to the user's limit, not to the busiest user.
  const meter = page.locator('tr[data-usage-user="bob"] meter');
  assert.equal(Number(await meter.getAttribute('max')), report.users.find((u) => u.user === 'bob').limit);
  assert.equal(Number(await meter.getAttribute('value')), 12);
  // Licence requests are a tab of their own, named so.
  assert.equal(await textOf(page.locator('nav.tabs a[data-tab="requests"]')), 'Licence requests');
  problems.assertNone();
});
