// The Keys tab (operators and global admins only): a new key's secret is shown once and works against the API
// with the role and scope chosen; Revoke makes it fail at once. And the header: who the key is (#who), the
// Export scenario button (a TOML the server reads back) and the audit's CSV download.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { apiCall, apiOk, freshTenant, signIn, tenantTab, textOf, uiTest, until } from './helpers.mjs';

const EXAMPLE = 'examples/customer-service-d365.toml';

const tab = (page, name) => page.locator(`section.tenant nav.tabs a[data-tab="${name}"]`);

/** Fills the New key form and answers the new key's secret (#new-key) and id (from the notice). */
async function createKey(page, { role, user, environments, name }) {
  await page.locator('#key-role').selectOption(role);
  if (user) {
    await page.locator('#key-user').selectOption(user);
  }
  if (environments) {
    await page.locator('#key-environments').selectOption(environments);
  }
  if (name !== undefined) await page.locator('#key-name').fill(name);
  // A key made before leaves its notice until the answer replaces it: wait for a different secret.
  const secret = page.locator('#key-result #new-key');
  const previous = (await secret.count()) ? await textOf(secret) : null;
  await page.locator('#create-key').click();
  await secret.waitFor();
  await until(async () => (await textOf(secret)) !== previous, 'no new secret is shown');
  const notice = await textOf(page.locator('#key-result .notice'));
  const id = notice.match(/^Key (key_[0-9a-f]+) \(([^)]+)\) created\./);
  assert.ok(id, `the notice does not name the new key: ${notice}`);
  assert.equal(id[2], role);
  return { id: id[1], key: await textOf(secret) };
}

/** GET /v1/me with a key: { status, data }. */
const whoIs = (key) => apiCall('GET', '/me', undefined, { key });

uiTest('the Keys tab is offered to the operator and a global admin, not to a reader', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-keys-tab', EXAMPLE);
  const reader = await apiOk('POST', `/tenants/${tenant}/keys`, { role: 'reader', name: 'ui-reader' });
  const admin = await apiOk('POST', `/tenants/${tenant}/keys`, { role: 'global-admin', name: 'ui-admin' });

  await signIn(page, reader.key);
  await tenantTab(page, tenant, 'apps');
  assert.equal(await tab(page, 'apps').count(), 1);
  assert.equal(await tab(page, 'keys').count(), 0, 'a reader is offered the Keys tab');
  assert.equal(await page.locator('section.tenant nav.tabs a[data-tab]').count(), 14);

  await page.locator('#sign-out').click();
  await page.locator('#key').waitFor();
  await signIn(page, admin.key);
  await tenantTab(page, tenant, 'apps');
  assert.equal(await tab(page, 'keys').count(), 1, 'a global admin is not offered the Keys tab');

  await page.locator('#sign-out').click();
  await page.locator('#key').waitFor();
  await signIn(page);
  await tenantTab(page, tenant, 'apps');
  assert.equal(await tab(page, 'keys').count(), 1, 'the operator is not offered the Keys tab');
  await tab(page, 'keys').click();
  await page.waitForURL((url) => url.hash === `#/t/${tenant}/keys`);
  await page.locator(`tr[data-key="${admin.id}"]`).waitFor();
  // The two keys made above are listed, active, with their names and roles.
  for (const k of [reader, admin]) {
    const cells = (await page.locator(`tr[data-key="${k.id}"] td`).allTextContents()).map((c) => c.trim());
    assert.deepEqual(cells.slice(0, 3), [k.id, k.name, k.role]);
    assert.equal(cells[5], 'active');
  }
  problems.assertNone();
});

uiTest('the operator creates a maker key: its secret is shown once, works as that user, and is listed', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-keys-maker', EXAMPLE);
  await signIn(page);
  await tenantTab(page, tenant, 'keys');
  assert.equal(await textOf(page.locator('#key-list')), 'No keys for this tenant yet.');
  // The user field is for makers only, the environments for environment admins only.
  assert.equal(await page.locator('#key-user').isVisible(), false);
  await page.locator('#key-role').selectOption('maker');
  assert.equal(await page.locator('#key-user').isVisible(), true);
  assert.equal(await page.locator('#key-environments').isVisible(), false);

  const made = await createKey(page, { role: 'maker', user: 'julia', name: 'julia\'s laptop' });
  assert.match(made.key, /^ent_[0-9a-f]{64}$/);
  const me = await whoIs(made.key);
  assert.equal(me.status, 200);
  assert.deepEqual(
    { role: me.data.role, user: me.data.user, tenant: me.data.tenant, key_id: me.data.key_id },
    { role: 'maker', user: 'julia', tenant, key_id: made.id },
  );
  // Listed, and the list never shows the secret.
  const row = page.locator(`tr[data-key="${made.id}"]`);
  await row.waitFor();
  const cells = (await row.locator('td').allTextContents()).map((c) => c.replace(/\s+/g, ' ').trim());
  assert.deepEqual(cells.slice(0, 4), [made.id, 'julia\'s laptop', 'maker', 'as julia']);
  assert.equal(cells[5], 'active');
  assert.ok(!(await textOf(page.locator('#key-list'))).includes(made.key), 'the list shows the secret');
  const listed = await apiOk('GET', `/tenants/${tenant}/keys`);
  assert.deepEqual(listed.map((k) => [k.id, k.role, k.user, k.name]), [[made.id, 'maker', 'julia', 'julia\'s laptop']]);

  // Shown once: the page read again does not show it.
  await tenantTab(page, tenant, 'apps');
  await tenantTab(page, tenant, 'keys');
  assert.equal(await page.locator('#new-key').count(), 0);
  assert.ok(!(await textOf(page.locator('#app'))).includes(made.key), 'the secret is shown again');
  problems.assertNone();
});

uiTest('an environment-admin key gets exactly the environments chosen', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-keys-env', EXAMPLE);
  await signIn(page);
  await tenantTab(page, tenant, 'keys');
  await page.locator('#key-role').selectOption('environment-admin');
  assert.equal(await page.locator('#key-environments').isVisible(), true);
  assert.equal(await page.locator('#key-user').isVisible(), false);
  const options = await page.locator('#key-environments option').evaluateAll((os) => os.map((o) => o.value));
  assert.deepEqual(options, ['default', 'cs-prod', 'cs-test', 'ops']);

  const made = await createKey(page, { role: 'environment-admin', environments: ['cs-test', 'ops'] });
  const me = await whoIs(made.key);
  assert.equal(me.status, 200);
  assert.equal(me.data.role, 'environment-admin');
  assert.equal(me.data.tenant, tenant);
  assert.deepEqual([...me.data.environments].sort(), ['cs-test', 'ops']);
  const listed = (await apiOk('GET', `/tenants/${tenant}/keys`)).find((k) => k.id === made.id);
  assert.deepEqual([...listed.environments].sort(), ['cs-test', 'ops']);
  assert.equal(listed.user, undefined);
  const row = page.locator(`tr[data-key="${made.id}"]`);
  await row.waitFor();
  assert.deepEqual((await row.locator('.chip').allTextContents()).sort(), ['cs-test', 'ops']);
  // The scope works: the key may set the licence of a flow in ops (weekly-kpi), not in cs-prod (case-routing).
  const set = (flow) => apiCall('PUT', `/tenants/${tenant}/flows/${flow}/license`, { license: 'user' }, { key: made.key });
  assert.equal((await set('weekly-kpi')).status, 200);
  assert.equal((await set('case-routing')).status, 403);
  problems.assertNone();
});

uiTest('Revoke: the list shows the key revoked and its secret gets 401 at once', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-keys-revoke', EXAMPLE);
  await signIn(page);
  await tenantTab(page, tenant, 'keys');
  const kept = await createKey(page, { role: 'reader', name: 'kept' });
  const gone = await createKey(page, { role: 'maker', user: 'kim', name: 'gone' });
  assert.equal((await whoIs(gone.key)).status, 200);

  await page.locator(`button[data-revoke="${gone.id}"]`).click();
  await until(async () => (await textOf(page.locator(`tr[data-key="${gone.id}"] td`).nth(5))) === 'revoked', 'the key is not shown revoked');
  assert.equal(await textOf(page.locator('#key-result .notice')), `Key ${gone.id} revoked.`);
  assert.equal(await page.locator(`button[data-revoke="${gone.id}"]`).count(), 0, 'a revoked key can be revoked again');
  assert.equal(await textOf(page.locator(`tr[data-key="${kept.id}"] td`).nth(5)), 'active');

  const refused = await whoIs(gone.key);
  assert.equal(refused.status, 401, `the revoked key answered ${refused.status}: ${JSON.stringify(refused.data)}`);
  assert.equal((await apiCall('GET', `/tenants/${tenant}/apps`, undefined, { key: gone.key })).status, 401);
  assert.equal((await whoIs(kept.key)).status, 200, 'revoking one key revoked another');
  const listed = Object.fromEntries((await apiOk('GET', `/tenants/${tenant}/keys`)).map((k) => [k.id, k.revoked]));
  assert.deepEqual(listed, { [kept.id]: false, [gone.id]: true });
  problems.assertNone();
});

uiTest('a global admin signed in creates and revokes keys of its tenant', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-keys-ga', EXAMPLE);
  const admin = await apiOk('POST', `/tenants/${tenant}/keys`, { role: 'global-admin', name: 'ui-admin' });
  await signIn(page, admin.key);
  await tenantTab(page, tenant, 'keys');
  await page.locator(`tr[data-key="${admin.id}"]`).waitFor();

  const made = await createKey(page, { role: 'maker', user: 'liam', name: 'by the admin' });
  const me = await whoIs(made.key);
  assert.deepEqual([me.status, me.data.role, me.data.user, me.data.tenant], [200, 'maker', 'liam', tenant]);
  await page.locator(`tr[data-key="${made.id}"]`).waitFor();

  await page.locator(`button[data-revoke="${made.id}"]`).click();
  await until(async () => (await textOf(page.locator(`tr[data-key="${made.id}"] td`).nth(5))) === 'revoked', 'the key is not shown revoked');
  assert.equal((await whoIs(made.key)).status, 401);
  // The admin's own key still works.
  assert.equal((await whoIs(admin.key)).status, 200);
  assert.equal(await textOf(page.locator(`tr[data-key="${admin.id}"] td`).nth(5)), 'active');
  problems.assertNone();
});

uiTest('the header says who the key is: operator, global admin, environment admin', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-who', EXAMPLE);
  const admin = await apiOk('POST', `/tenants/${tenant}/keys`, { role: 'global-admin' });
  // (A maker key does not sign in to the admin pages: safety.test.mjs.)
  const envAdmin = await apiOk('POST', `/tenants/${tenant}/keys`, { role: 'environment-admin', environments: ['ops'] });
  const operator = (await apiOk('GET', '/me')).key_id;

  await signIn(page);
  await until(async () => (await textOf(page.locator('#who'))) !== '', '#who stays empty');
  assert.equal(await textOf(page.locator('#who')), `operator · ${operator}`);

  for (const [k, words] of [[admin, `global-admin of ${tenant} · ${admin.id}`], [envAdmin, `environment-admin (ops) of ${tenant} · ${envAdmin.id}`]]) {
    await page.locator('#sign-out').click();
    await page.locator('#key').waitFor();
    assert.equal(await textOf(page.locator('#who')), '', 'signing out leaves #who');
    await signIn(page, k.key);
    await until(async () => (await textOf(page.locator('#who'))) === words && words, () => `#who does not say "${words}"`).catch(async (error) => {
      assert.equal(await textOf(page.locator('#who')), words);
      throw error;
    });
  }
  problems.assertNone();
});

uiTest('Export scenario downloads <tenant>.toml, which the server reads back as a new tenant', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-export', EXAMPLE);
  await signIn(page);
  await tenantTab(page, tenant, 'apps');
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#export').click()]);
  assert.equal(download.suggestedFilename(), `${tenant}.toml`);
  const text = readFileSync(await download.path(), 'utf8');
  assert.match(text, /^\[tenant\]\s*\nid = "/m);
  assert.ok(text.includes(`id = "${tenant}"`), 'the export does not name its tenant');
  // The same as the API's export.
  const exported = await apiCall('GET', `/tenants/${tenant}/export?format=toml`, undefined, { headers: { Accept: 'application/toml' } });
  assert.equal(exported.status, 200);
  assert.equal(text, exported.data);

  const copy = `${tenant}-copy`;
  const renamed = text.replace(`id = "${tenant}"`, `id = "${copy}"`);
  const created = await apiCall('POST', '/tenants', renamed, { type: 'application/toml' });
  assert.equal(created.status, 201, `the exported scenario was refused: ${JSON.stringify(created.data)}`);
  assert.equal(created.data.id, copy);
  const original = await apiOk('GET', `/tenants/${tenant}`);
  assert.deepEqual(created.data.counts, original.counts);
  assert.deepEqual((await apiOk('GET', `/tenants/${copy}/apps`)), await apiOk('GET', `/tenants/${tenant}/apps`));
  problems.assertNone();
});

uiTest('the audit\'s Download as CSV saves the API\'s CSV', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-audit-csv', EXAMPLE);
  await signIn(page);
  await tenantTab(page, tenant, 'audit');
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#audit-csv').click()]);
  assert.equal(download.suggestedFilename(), `${tenant}-audit.csv`);
  const text = readFileSync(await download.path(), 'utf8');
  const api = await apiCall('GET', `/tenants/${tenant}/audit`, undefined, { headers: { Accept: 'text/csv' } });
  assert.equal(api.status, 200);
  assert.equal(typeof api.data, 'string');
  const header = (s) => s.split(/\r?\n/)[0];
  assert.match(header(text), /^flow,environment,owner,/);
  assert.equal(header(text), header(api.data));
  // The rows too: one per flow at risk, as the JSON audit has them.
  const lines = text.trim().split(/\r?\n/);
  assert.deepEqual(lines, api.data.trim().split(/\r?\n/));
  const atRisk = (await apiOk('GET', `/tenants/${tenant}/audit`)).flows.map((f) => f.flow);
  assert.ok(atRisk.length >= 2, `the example has ${atRisk.length} flows at risk`);
  assert.deepEqual(lines.slice(1).map((l) => l.split(',')[0]).sort(), [...atRisk].sort());
  problems.assertNone();
});
