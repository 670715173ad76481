// The tenants list (#/tenants) and a new tenant made from a scenario file chosen in the page.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiCall, apiOk, signIn, textOf, uiTest } from './helpers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const example = readFileSync(path.join(here, '..', 'examples', 'small-business-m365.toml'), 'utf8');

uiTest('the tenants list shows each tenant with its counts', async ({ page, problems }) => {
  await signIn(page);
  const row = page.locator('tr', { has: page.locator('a[data-tenant="fabrikam-bakery"]') });
  await row.waitFor();
  const cells = (await row.locator('td').allTextContents()).map((c) => c.trim());
  // Tenant, its headline (at risk, turned off, per month, next enforcement), evaluated on, catalog, users,
  // environments, apps, flows, subscriptions (version changes with writes).
  assert.deepEqual([cells[0], ...cells.slice(5, 12)], ['fabrikam-bakery', '2024-06-03', 'seed', '6', '1', '0', '5', '2']);
  assert.equal(await page.locator('a[data-tenant="fabrikam-bakery"]').getAttribute('href'), '#/t/fabrikam-bakery');
  problems.assertNone();
});

uiTest('a scenario file chosen in the page creates the tenant', async ({ page, problems }) => {
  const id = `ui-created-${process.pid}-${Date.now().toString(36)}`;
  const toml = example.replace(/^id = "fabrikam-bakery"/m, `id = "${id}"`);
  assert.notEqual(toml, example);
  await signIn(page);
  await page.locator('#scenario-file').setInputFiles({ name: 'bakery.toml', mimeType: 'application/toml', buffer: Buffer.from(toml) });
  await page.locator('#create-tenant').click();
  // The page goes on to the new tenant's overview.
  await page.locator(`section.tenant[data-tenant="${id}"] a[data-tab="overview"][aria-current="page"]`).waitFor();
  assert.equal(new URL(page.url()).hash, `#/t/${id}`);
  assert.equal(await textOf(page.locator('#at-risk .card-value')), '2');
  const created = await apiOk('GET', `/tenants/${id}`);
  assert.equal(created.counts.flows, 5);
  assert.equal(created.counts.users, 6);
  // And the list has it.
  await page.locator('#crumbs a[href="#/tenants"]').click();
  await page.locator(`a[data-tenant="${id}"]`).waitFor();
  problems.assertNone();
});

uiTest('the sign-in says who the key is; only an operator is offered to create a tenant', async ({ page, problems }) => {
  await signIn(page);
  await page.locator('#scenario-file').waitFor();
  assert.match(await textOf(page.locator('#who')), /operator/);
  problems.assertNone();
});

uiTest('a broken scenario file is refused with the reason and creates nothing', async ({ page, problems }) => {
  const before = (await apiOk('GET', '/tenants')).length;
  await signIn(page);
  await page.locator('#scenario-file').setInputFiles({ name: 'broken.toml', mimeType: 'application/toml', buffer: Buffer.from('[tenant]\nid = \n') });
  await page.locator('#create-tenant').click();
  const error = page.locator('#create-status .notice.error');
  await error.waitFor();
  assert.match(await textOf(error), /^broken\.toml: .*\b4\d\d\b/);
  assert.equal((await apiOk('GET', '/tenants')).length, before);
  problems.assertNone({ allow: [/HTTP 4\d\d: POST .*\/v1\/tenants$/, /status of 4\d\d/] });
});

uiTest('a JSON scenario file is sent as JSON', async ({ page, problems }) => {
  const id = `ui-json-${process.pid}-${Date.now().toString(36)}`;
  // The export of a tenant is a scenario the server reads back.
  const exported = await apiCall('GET', '/tenants/fabrikam-bakery/export', undefined, { headers: { Accept: 'application/json' } });
  assert.equal(exported.status, 200, `export: ${exported.status} ${JSON.stringify(exported.data).slice(0, 200)}`);
  const scenario = typeof exported.data === 'string' ? JSON.parse(exported.data) : exported.data;
  scenario.tenant.id = id;
  await signIn(page);
  const [request] = await Promise.all([
    page.waitForRequest((r) => r.method() === 'POST' && new URL(r.url()).pathname === '/v1/tenants'),
    (async () => {
      await page.locator('#scenario-file').setInputFiles({ name: 'bakery.JSON', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(scenario)) });
      await page.locator('#create-tenant').click();
    })(),
  ]);
  assert.equal(request.headers()['content-type'], 'application/json');
  await page.locator(`section.tenant[data-tenant="${id}"]`).waitFor();
  assert.equal((await apiOk('GET', `/tenants/${id}`)).counts.flows, 5);
  problems.assertNone();
});
