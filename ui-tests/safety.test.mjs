// What the page must never do: run or render markup from a tenant's data, keep working with a revoked key, show
// a tenant-scoped key other tenants; and what it must do with routes: keep a deep link through the sign-in,
// answer "Not found" for a route it does not know.
import assert from 'node:assert/strict';
import { apiOk, apiCall, freshTenant, go, KEY, open, signIn, submitKey, tenantTab, textOf, uiTest } from './helpers.mjs';

const SHARED = 'fabrikam-bakery';
// Ids cannot hold markup (the id grammar: letters, digits and . _ - @ : +); free text and connector names can.
const USER = 'mallory+x@evil.example';
const FLOW = 'mallory:flow';
const MARKUP_ID = '<img src=x onerror=alert(1)>';
const NOTE = '<img src=y onerror=alert(3)><script>alert(4)</script>';
const CONNECTOR = '<b id=injected>c</b>';

/** Elements that only markup from the data would have made. */
async function injected(page) {
  return page.evaluate(() => {
    const found = [...document.querySelectorAll('img, svg, script:not([src]), b, iframe, #injected')];
    return found.map((el) => el.outerHTML.slice(0, 80));
  });
}

uiTest('markup in a tenant\'s data is shown as text on every page, never run', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-markup');
  const refused = await apiCall('POST', `/tenants/${tenant}/users`, { id: MARKUP_ID });
  assert.equal(refused.status, 422, `a user id with markup answered ${refused.status}`);
  // With a licence: a user without any has a page of its own test (people.test.mjs).
  await apiOk('POST', `/tenants/${tenant}/users`, { id: USER, licenses: ['microsoft-365-business-basic'] });
  await apiOk('POST', `/tenants/${tenant}/flows`, {
    id: FLOW, environment: 'default', trigger: 'automated', owner: USER, connectors: ['shared_sql', CONNECTOR], created: '2024-01-01',
  });
  await apiOk('POST', `/tenants/${tenant}/license-requests`, { id: 'req-1', user: USER, sku: 'power-automate-premium', note: NOTE });
  const dialogs = [];
  page.on('dialog', async (dialog) => {
    dialogs.push(dialog.message());
    await dialog.dismiss();
  });

  await signIn(page);
  const check = async (where, ...texts) => {
    assert.deepEqual(await injected(page), [], `${where}: elements injected from the data`);
    const body = await page.locator('#app').textContent();
    for (const text of texts) assert.ok(body.includes(text), `${where}: the text ${text} is not shown as text`);
  };

  await tenantTab(page, tenant, 'audit');
  await check('audit', FLOW, USER);
  await tenantTab(page, tenant, 'flows');
  await check('flows', FLOW, USER, CONNECTOR);
  await page.locator(`tr[data-flow="${FLOW}"] a`).first().click();
  await page.locator('#decision .verdict').waitFor();
  assert.equal(await textOf(page.locator('h2').first()), `Flow ${FLOW}`);
  await check('the flow page', FLOW, USER, CONNECTOR);
  assert.equal(await page.locator(`#as option[value="${USER}"]`).textContent(), USER);
  await page.locator('#as').selectOption(USER);
  await page.locator('#decide').click();
  await page.locator('#decision .verdict').waitFor();
  await check('the flow page, as the user');

  await tenantTab(page, tenant, 'users');
  await check('users', USER);
  await page.locator(`tr[data-user="${USER}"] a`).click();
  await page.locator('#sku').waitFor();
  assert.equal(await textOf(page.locator('h2').first()), `User ${USER}`);
  await check('the user page', USER);
  assert.match(await textOf(page.locator('#crumbs')), /mallory\+x@evil\.example$/);

  await tenantTab(page, tenant, 'requests');
  await check('requests', USER, NOTE);
  await tenantTab(page, tenant, 'changes');
  for (const details of await page.locator('#log details').all()) await details.locator('summary').click();
  await check('changes', USER, FLOW);
  assert.ok((await page.locator('#log').textContent()).includes(JSON.stringify(NOTE).slice(1, -1)), 'the note is not in the log');

  assert.deepEqual(dialogs, [], 'a dialog opened');
  // An injected <img src=x> would have asked for /x (or /y) and got a 404, which assertNone would report too.
  problems.assertNone();
});

uiTest('a key revoked while signed in sends the page back to the sign-in form on the next navigation', async ({ page, problems }) => {
  const created = await apiOk('POST', '/keys', { role: 'operator', name: 'ui-revoked' });
  assert.ok(created.key && created.id, `POST /v1/keys answered ${JSON.stringify(created)}`);
  await signIn(page, created.key);
  await page.locator(`a[data-tenant="${SHARED}"]`).waitFor();

  const revoked = await apiCall('DELETE', `/keys/${created.id}`);
  assert.equal(revoked.status, 204, `revoking answered ${revoked.status}`);

  await page.locator(`a[data-tenant="${SHARED}"]`).click();
  const error = page.locator('#error');
  await error.waitFor();
  assert.match(await textOf(error), /^Signed out: .*401.*revoked/);
  assert.ok(await page.locator('#key').isVisible(), 'no sign-in form');
  assert.equal(await page.locator('#sign-out').isHidden(), true, '#sign-out still shows');
  assert.equal(await page.locator('section.tenant').count(), 0, 'the tenant shows with a revoked key');
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'the revoked key is still kept');

  // Signing in again (another key) goes on to where the navigation was going.
  await submitKey(page, KEY);
  await page.locator(`section.tenant[data-tenant="${SHARED}"] a[data-tab="overview"][aria-current="page"]`).waitFor();
  problems.assertNone({ allow: [/HTTP 401: GET .*\/v1\/tenants\/fabrikam-bakery$/, /status of 401/] });
});

uiTest('a tenant\'s admin key sees its tenant only', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-scoped');
  const created = await apiOk('POST', `/tenants/${tenant}/keys`, { role: 'global-admin', name: 'ui-scoped-admin' });
  assert.equal(created.tenant, tenant);
  await signIn(page, created.key);
  await page.locator(`a[data-tenant="${tenant}"]`).waitFor();
  const listed = await page.locator('a[data-tenant]').evaluateAll((as) => as.map((a) => a.dataset.tenant));
  assert.deepEqual(listed, [tenant]);
  assert.equal(await page.locator('#scenario-file').count(), 0, 'a tenant\'s key is offered to create tenants');
  assert.match(await textOf(page.locator('#who')), new RegExp(`global-admin.*${tenant}`));
  // The operator sees more than that.
  assert.ok((await apiOk('GET', '/tenants')).length > 1);

  // Its own tenant works; another one is not found, exactly like one that does not exist.
  await tenantTab(page, tenant, 'audit');
  assert.equal(await textOf(page.locator('#at-risk .card-value')), '2');
  await go(page, `#/t/${SHARED}`);
  const error = page.locator('#app .notice.error');
  await error.waitFor();
  assert.match(await textOf(error), /404/);
  assert.equal(await page.locator('section.tenant').count(), 0);
  problems.assertNone({ allow: [/HTTP 404: GET .*\/v1\/tenants\/fabrikam-bakery$/, /status of 404/] });
});

uiTest('a reader key is refused a purchase with 403 and nothing is bought', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-reader');
  const created = await apiOk('POST', `/tenants/${tenant}/keys`, { role: 'reader', name: 'ui-reader' });
  await signIn(page, created.key);
  await tenantTab(page, tenant, 'licences');
  await page.locator('#buy-sku').fill('power-automate-premium');
  await page.locator('#preview-buy').click();
  // Either the preview or the purchase is refused; whichever it is, it says 403.
  const error = page.locator('#buy-result .notice.error');
  const buy = page.locator('#apply-buy');
  await Promise.race([error.waitFor(), buy.waitFor()]);
  if (await buy.count()) await buy.click();
  await error.waitFor();
  assert.match(await textOf(error), /403/);
  assert.equal((await apiOk('GET', `/tenants/${tenant}/subscriptions`)).length, 2);
  problems.assertNone({ allow: [/HTTP 403: POST .*\/v1\/tenants\/[^/]+\/(purchases:preview|subscriptions)$/, /status of 403/] });
});

uiTest('a deep link opened signed out shows the sign-in form, then that page', async ({ page, problems }) => {
  await open(page, `/#/t/${SHARED}/flows`);
  await page.locator('#key').waitFor();
  assert.equal(await page.locator('section.tenant').count(), 0, 'the tenant shows before signing in');
  assert.equal(await page.locator('#sign-out').isHidden(), true);
  await submitKey(page, KEY);
  await page.locator(`section.tenant[data-tenant="${SHARED}"] a[data-tab="flows"][aria-current="page"]`).waitFor();
  assert.equal(new URL(page.url()).hash, `#/t/${SHARED}/flows`);
  assert.equal(await page.locator('tr[data-flow]').count(), 5);
  assert.equal(await page.locator('#sign-out').isVisible(), true);
  problems.assertNone();
});

uiTest('an unknown route shows "Not found"', async ({ page, problems }) => {
  await signIn(page);
  for (const hash of ['#/nowhere', `#/t/${SHARED}/no-such-tab`, `#/t/${SHARED}/audit/x`, '#/tenants/extra']) {
    await go(page, hash);
    await page.locator('#app h1', { hasText: 'Not found' }).waitFor();
    assert.equal(await page.locator('section.tenant').count(), 0, `${hash} shows a tenant`);
    assert.equal(await page.locator('#app a[href="#/tenants"]').count(), 1, `${hash}: no way back to the tenants`);
    // Leave the page between two routes, so the next "Not found" is a new one.
    await go(page, '#/tenants');
    await page.locator(`a[data-tenant="${SHARED}"]`).waitFor();
  }
  problems.assertNone();
});

uiTest('an unknown tenant shows the API\'s 404', async ({ page, problems }) => {
  await signIn(page);
  await go(page, '#/t/no-such-tenant/users');
  const error = page.locator('#app .notice.error');
  await error.waitFor();
  assert.match(await textOf(error), /404/);
  problems.assertNone({ allow: [/HTTP 404: GET .*\/v1\/tenants\/no-such-tenant$/, /status of 404/] });
});

uiTest('a fix applied with a reader key stops at the refused step and says so; nothing changes', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-reader-fix');
  const created = await apiOk('POST', `/tenants/${tenant}/keys`, { role: 'reader', name: 'ui-reader-fix' });
  await signIn(page, created.key);
  await tenantTab(page, tenant, 'audit');
  const invoice = page.locator('tr[data-flow="invoice-sync"]');
  await invoice.locator('button[data-fix="assign-license"]').click();
  const apply = invoice.locator('button[data-apply="assign-license"]');
  await apply.waitFor();
  await apply.click();
  const error = invoice.locator('.fix-result .notice.error');
  await error.waitFor();
  assert.match(await textOf(error), /^Stopped at step 1: .*403/);
  assert.match((await invoice.locator('ol.steps li').first().getAttribute('class')) ?? '', /\bfailed\b/);
  assert.equal(await apply.isDisabled(), true, 'Apply can be pressed again after a failure');
  assert.equal((await apiOk('GET', `/tenants/${tenant}/subscriptions`)).length, 2);
  assert.deepEqual((await apiOk('GET', `/tenants/${tenant}/users/bob`)).licenses, ['microsoft-365-business-standard']);
  problems.assertNone({ allow: [/HTTP 403: POST .*\/v1\/tenants\/[^/]+\/(purchases:preview|subscriptions)$/, /status of 403/] });
});

uiTest('the Changes filter with a key revoked meanwhile says so instead of failing silently', async ({ page, problems }) => {
  const created = await apiOk('POST', '/keys', { role: 'operator', name: 'ui-revoked-filter' });
  await signIn(page, created.key);
  await tenantTab(page, SHARED, 'changes');
  assert.equal((await apiCall('DELETE', `/keys/${created.id}`)).status, 204);
  await page.locator('#log-kind').fill('tenant');
  await page.locator('#log-filter').click();
  // Either back to the sign-in form with a message, or an error notice in the page: not nothing.
  const shown = page.locator('#error:not([hidden]), #app .notice.error');
  await shown.first().waitFor();
  assert.match(await textOf(shown.first()), /401/);
  // (The tenants list's overviews may still be on their way when the key goes: refused too.)
  problems.assertNone({ allow: [/HTTP 401: GET .*\/audit-log\?/, /HTTP 401: GET .*\/overview$/, /status of 401/] });
});

uiTest('an unknown flow keeps the tenant\'s tabs and offers the way back', async ({ page, problems }) => {
  await signIn(page);
  await go(page, `#/t/${SHARED}/flows/no-such-flow`);
  const error = page.locator('#app .notice.error');
  await error.waitFor();
  assert.match(await textOf(error), /404/);
  assert.equal(await page.locator('section.tenant nav.tabs a').count() > 3, true, 'the tabs are kept');
  const back = page.locator('#app a.back');
  assert.equal(await back.getAttribute('href'), `#/t/${SHARED}/flows`);
  await back.click();
  await page.locator('tbody tr[data-flow]').first().waitFor();
  problems.assertNone({ allow: [/HTTP 404: GET .*no-such-flow/, /status of 404/] });
});

uiTest('an unknown tenant offers the way back to the tenants', async ({ page, problems }) => {
  await signIn(page);
  await go(page, '#/t/no-such-tenant/audit');
  await page.locator('#app .notice.error').waitFor();
  assert.equal(await page.locator('#app a.back[href="#/tenants"]').count(), 1);
  problems.assertNone({ allow: [/HTTP 404: GET .*\/v1\/tenants\/no-such-tenant$/, /status of 404/] });
});

uiTest('an empty key on sign-in says what is missing', async ({ page, problems }) => {
  await open(page);
  await page.locator('#sign-in').click();
  const error = page.locator('#error');
  await error.waitFor();
  assert.match(await textOf(error), /Enter an API key/);
  problems.assertNone();
});
