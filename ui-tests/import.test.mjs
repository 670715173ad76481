// A new tenant from admin exports (#/tenants, operators): the files chosen in the page are previewed first (the
// import's summary: counts, and every unknown by name and count), and only then created.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiCall, apiOk, signIn, textOf, uiTest } from './helpers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.join(here, '..', 'crates', 'cli', 'tests', 'fixtures', 'import');
const file = (rel) => ({ name: path.basename(rel), mimeType: 'application/octet-stream', buffer: readFileSync(path.join(fixtures, rel)) });
const CONTOSO = ['tenant/flows.json', 'tenant/flows-thin.csv', 'tenant/apps.json', 'tenant/environments.csv',
  'tenant/users.json', 'tenant/skus.json', 'tenant/allocations.json', 'tenant/capacity.json', 'tenant/at-risk.csv'];

uiTest('admin exports are previewed with every unknown named, then create the tenant', async ({ page, problems }) => {
  const id = `ui-import-${process.pid}-${Date.now().toString(36)}`;
  await signIn(page);
  await page.locator('#import-files').setInputFiles(CONTOSO.map(file));
  await page.locator('#import-tenant').fill(id);
  await page.locator('#import-preview-button').click();
  // The preview: counts, and the unknowns in the table component, by name and count.
  await page.locator('#import-counts').waitFor();
  assert.match(await textOf(page.locator('#import-counts')), new RegExp(`^Tenant ${id}: 7 users, 3 environments, 1 apps, 8 flows, 5 subscriptions`));
  const row = (name) => page.locator('#import-preview tr', { hasText: name });
  await row('shared_acmeweather').waitFor();
  assert.match(await textOf(row('shared_acmeweather')), /Connector not in the connector table.*shared_acmeweather.*1/);
  assert.match(await textOf(row('flows-thin.csv')), /thin Get-AdminFlow list.*flows-thin\.csv.*1/);
  assert.match(await textOf(row('SKU not in the catalog')), /c5928f49-12ba-48f7-ada3-0d743a3601d5 \(VISIOCLIENT\)/);
  // Nothing is created by the preview.
  assert.equal((await apiCall('GET', `/tenants/${id}`)).status, 404);
  await page.locator('#import-create').click();
  await page.locator(`section.tenant[data-tenant="${id}"] a[data-tab="overview"][aria-current="page"]`).waitFor();
  const created = await apiOk('GET', `/tenants/${id}`);
  assert.equal(created.counts.flows, 8);
  problems.assertNone();
});

uiTest('a malformed export is refused in the preview with file, line and field', async ({ page, problems }) => {
  await signIn(page);
  await page.locator('#import-files').setInputFiles([file('malformed/flows-bad-guid.csv')]);
  await page.locator('#import-preview-button').click();
  const error = page.locator('#import-preview .notice.error');
  await error.waitFor();
  assert.match(await textOf(error), /flows-bad-guid\.csv:3: FlowName: `Invoice approvals` is not a GUID/);
  assert.equal(await page.locator('#import-create').isHidden(), true);
  problems.assertNone({ allow: [/HTTP 4\d\d: POST .*\/v1\/tenants:import/, /status of 4\d\d/] });
});
