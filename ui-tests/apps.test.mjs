// The Apps tab (every app, with portal logins / page views), an app's page (what a user may open, asked for any
// user and day, checked against the API's own decision) and the Environments tab (kind, Dataverse, default,
// storage, and the add-on units allocated to each). On a tenant of examples/customer-service-d365.toml.
import assert from 'node:assert/strict';
import { apiCall, apiOk, freshTenant, signIn, tenantTab, textOf, uiTest, until } from './helpers.mjs';

const EXAMPLE = 'examples/customer-service-d365.toml';

/** The verdict of the decision shown, and its rule chips in order. */
async function shownDecision(page) {
  await page.locator('#decision .verdict').waitFor();
  return {
    verdict: await textOf(page.locator('#decision .verdict .badge')),
    rules: await page.locator('#decision code.rule[title^="rule "]').allTextContents(),
  };
}

/** The API's decision in the same words: allowed/denied and its rules. */
async function apiDecision(tenant, app, user, at) {
  const d = await apiOk('GET', `/tenants/${tenant}/apps/${app}/decision?user=${user}${at ? `&at=${at}` : ''}`);
  assert.equal(d.user, user);
  return { verdict: d.allowed ? 'allowed' : 'denied', rules: d.rules };
}

/** Clicks Decide and answers the query of the decision request it sent, once its answer is shown. */
async function decide(page) {
  const [request] = await Promise.all([
    page.waitForRequest((r) => new URL(r.url()).pathname.endsWith('/decision')),
    page.locator('#decide').click(),
  ]);
  const response = await request.response();
  assert.ok(response, 'the decision request got no answer');
  assert.equal(response.status(), 200, `the decision request answered ${response.status()}`);
  // The answer replaces "Deciding…" with the verdict.
  await page.locator('#decision .verdict').waitFor();
  return new URL(request.url()).searchParams;
}

uiTest('the apps list: every app with its kind, environment, users and portal logins / page views', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-apps', EXAMPLE);
  const apps = await apiOk('GET', `/tenants/${tenant}/apps`);
  await signIn(page);
  await tenantTab(page, tenant, 'apps');
  assert.equal(await textOf(page.locator('h2').first()), `Apps (${apps.length})`);
  assert.equal(apps.length, 7);
  const ids = await page.locator('tbody tr[data-app]').evaluateAll((rows) => rows.map((r) => r.dataset.app));
  assert.deepEqual(ids, apps.map((a) => a.id));

  const cells = async (id) => (await page.locator(`tr[data-app="${id}"] td`).allTextContents()).map((c) => c.replace(/\s+/g, ' ').trim());
  for (const a of apps) {
    const [app, kind, environment, extendsDynamics, , portal] = await cells(a.id);
    assert.equal(app, a.id);
    assert.equal(kind, a.kind, `${a.id}: kind`);
    assert.equal(environment, a.environment, `${a.id}: environment`);
    assert.equal(extendsDynamics, a.extends_dynamics || '', `${a.id}: extends`);
    assert.deepEqual(await page.locator(`tr[data-app="${a.id}"] .chip`).allTextContents(), a.users || [], `${a.id}: users`);
    assert.equal(await page.locator(`tr[data-app="${a.id}"] a`).getAttribute('href'), `#/t/${tenant}/apps/${a.id}`);
    if (a.kind !== 'portal') assert.equal(portal, '', `${a.id}: a ${a.kind} app shows portal figures`);
  }
  // The example's own figures: kinds, and logins / page views of the three portals (none given = 0).
  assert.deepEqual(
    Object.fromEntries(await Promise.all(ids.map(async (id) => [id, (await cells(id))[1]]))),
    {
      'case-management': 'model-driven',
      'customer-portal': 'portal',
      'partner-portal': 'portal',
      'supplier-portal': 'portal',
      'agent-dashboard': 'canvas',
      'escalation-tracker': 'canvas',
      'survey-app': 'canvas',
    },
  );
  assert.equal((await cells('customer-portal'))[5], '120 / 60,000');
  assert.equal((await cells('partner-portal'))[5], '151 / 40,000');
  assert.equal((await cells('supplier-portal'))[5], '129 / 0');
  assert.deepEqual(await page.locator('tr[data-app="case-management"] .chip').allTextContents(), ['grace', 'henry', 'ivan']);

  // The link opens the app's page.
  await page.locator('tr[data-app="escalation-tracker"] a').click();
  await page.waitForURL((url) => url.hash === `#/t/${tenant}/apps/escalation-tracker`);
  // The hash changes before the app's page replaces the list: wait for the page, then read it.
  await page.locator('#decision .verdict').waitFor();
  assert.equal(await textOf(page.locator('h2').first()), 'App escalation-tracker');
  problems.assertNone();
});

uiTest('an app\'s page: the preselected user\'s decision is the API\'s; another user, allowed or denied, on Decide', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-apps', EXAMPLE);
  await signIn(page);
  await tenantTab(page, tenant, 'apps', 'case-management');
  assert.equal(await textOf(page.locator('h2').first()), 'App case-management');
  const facts = await textOf(page.locator('dl.facts'));
  assert.match(facts, /Kind\s*model-driven/);
  assert.match(facts, /Environment\s*cs-prod/);
  assert.match(facts, /Extends\s*customer-service/);
  assert.match(facts, /Entities\s*incident/);

  // The app's first user is preselected, with today's date of the tenant, and decided at once.
  assert.equal(await page.locator('#user').inputValue(), 'grace');
  assert.equal(await page.locator('#at').inputValue(), '2024-06-03');
  const grace = await apiDecision(tenant, 'case-management', 'grace');
  assert.equal(grace.verdict, 'allowed', 'the example changed: grace should open case-management');
  assert.deepEqual(await shownDecision(page), grace);
  assert.match(await textOf(page.locator('#decision .verdict')), /licensed by user licence dynamics-365-customer-service-enterprise, held by grace/);

  // ivan (Team Members) is denied: Plan 2 rights are needed (ENT-4).
  const ivan = await apiDecision(tenant, 'case-management', 'ivan');
  assert.equal(ivan.verdict, 'denied', 'the example changed: ivan should not open case-management');
  await page.locator('#user').selectOption('ivan');
  const query = await decide(page);
  assert.equal(query.get('user'), 'ivan');
  assert.deepEqual(await shownDecision(page), ivan);
  assert.match(await textOf(page.locator('#decision .verdict .badge')), /^denied$/);
  assert.match((await page.locator('#decision .verdict .badge').getAttribute('class')) ?? '', /\bbad\b/);
  assert.ok(await page.locator('#decision h3:has-text("Why not") + ul li').count() > 0, 'a denied decision shows no reason');

  // henry, allowed again: the page follows the user chosen, not the first answer.
  const henry = await apiDecision(tenant, 'case-management', 'henry');
  assert.equal(henry.verdict, 'allowed');
  await page.locator('#user').selectOption('henry');
  assert.equal((await decide(page)).get('user'), 'henry');
  assert.deepEqual(await shownDecision(page), henry);
  assert.equal(await page.locator('#decision h3:has-text("Why not")').count(), 0);
  problems.assertNone();
});

uiTest('an app\'s page sends the date chosen as at=, and the decision is that day\'s', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-apps', EXAMPLE);
  await signIn(page);
  await tenantTab(page, tenant, 'apps', 'escalation-tracker');
  // julia's Power Apps per user licence starts on 2023-01-01: allowed today, denied the year before.
  assert.equal(await page.locator('#user').inputValue(), 'julia');
  const today = await apiDecision(tenant, 'escalation-tracker', 'julia', '2024-06-03');
  const before = await apiDecision(tenant, 'escalation-tracker', 'julia', '2022-06-01');
  assert.equal(today.verdict, 'allowed');
  assert.equal(before.verdict, 'denied');
  assert.notDeepEqual(today.rules, before.rules);
  assert.deepEqual(await shownDecision(page), today);

  await page.locator('#at').fill('2022-06-01');
  const query = await decide(page);
  assert.equal(query.get('at'), '2022-06-01');
  assert.equal(query.get('user'), 'julia');
  assert.deepEqual(await shownDecision(page), before);

  // kim (Office 365 only) on that day and today: denied both times, as the API says.
  await page.locator('#user').selectOption('kim');
  await page.locator('#at').fill('2024-06-03');
  const again = await decide(page);
  assert.deepEqual([again.get('user'), again.get('at')], ['kim', '2024-06-03']);
  assert.deepEqual(await shownDecision(page), await apiDecision(tenant, 'escalation-tracker', 'kim', '2024-06-03'));
  assert.equal(await textOf(page.locator('#decision .verdict .badge')), 'denied');
  problems.assertNone();
});

uiTest('the environments list: kind, Dataverse, default, storage and the allocations the API holds', async ({ page, problems }) => {
  const tenant = await freshTenant('ui-envs', EXAMPLE);
  // Portal capacity is environment-scoped (CAT-13): allocate the 4 packs bought, 3 and 1 (no more than bought:
  // a fifth is 409, like an assignment beyond the units).
  await apiOk('PATCH', `/tenants/${tenant}/environments/cs-prod/allocations`, {
    currencyAllocations: [{ currencyType: 'portal-logins-tier-1', allocated: 3 }, { currencyType: 'portal-page-views', allocated: 1 }],
  });
  await apiOk('PATCH', `/tenants/${tenant}/environments/cs-test/allocations`, {
    currencyAllocations: [{ currencyType: 'portal-logins-tier-1', allocated: 1 }],
  });
  const over = await apiCall('PATCH', `/tenants/${tenant}/environments/cs-test/allocations`, {
    currencyAllocations: [{ currencyType: 'portal-logins-tier-1', allocated: 2 }],
  });
  assert.equal(over.status, 409, 'allocations beyond the units bought');
  const envs = await apiOk('GET', `/tenants/${tenant}/environments`);
  assert.deepEqual(envs.map((e) => e.id), ['default', 'cs-prod', 'cs-test', 'ops']);

  await signIn(page);
  await tenantTab(page, tenant, 'environments');
  assert.equal(await textOf(page.locator('h2').first()), 'Environments (4)');
  const ids = await page.locator('tbody tr[data-environment]').evaluateAll((rows) => rows.map((r) => r.dataset.environment));
  assert.deepEqual(ids, envs.map((e) => e.id));

  const fmt = (n) => (n || 0).toLocaleString('en-US');
  for (const e of envs) {
    const row = page.locator(`tr[data-environment="${e.id}"]`);
    const cells = (await row.locator('td').allTextContents()).map((c) => c.replace(/\s+/g, ' ').trim());
    assert.equal(cells[0], e.default ? `${e.id}default` : e.id, `${e.id}: name and default badge`);
    assert.equal(await row.locator('td').first().locator('.badge').count(), e.default ? 1 : 0, `${e.id}: default badge`);
    assert.equal(cells[1], e.kind, `${e.id}: kind`);
    assert.equal(cells[2], e.dataverse ? 'yes' : 'no', `${e.id}: Dataverse`);
    assert.deepEqual(await row.locator('td').nth(3).locator('.chip').allTextContents(), e.dynamics_apps || [], `${e.id}: D365 apps`);
    assert.equal(cells[4], e.storage ? `${fmt(e.storage.database_mb)} / ${fmt(e.storage.file_mb)} / ${fmt(e.storage.log_mb)}` : '—', `${e.id}: storage`);
    const held = (await apiOk('GET', `/tenants/${tenant}/environments/${e.id}/allocations`)).currencyAllocations;
    assert.deepEqual(await row.locator('td').nth(5).locator('.chip').allTextContents(), held.map((a) => `${a.currencyType} × ${a.allocated}`), `${e.id}: allocations`);
  }
  // The example's figures, in words.
  const cellsOf = async (id) => (await page.locator(`tr[data-environment="${id}"] td`).allTextContents()).map((c) => c.replace(/\s+/g, ' ').trim());
  assert.deepEqual((await cellsOf('default')).slice(1, 3), ['production', 'no']);
  assert.deepEqual((await cellsOf('cs-test')).slice(1, 3), ['sandbox', 'yes']);
  assert.equal((await cellsOf('cs-prod'))[4], '9,500 / 14,000 / 900');
  assert.deepEqual(
    await page.locator('tr[data-environment="cs-prod"] td').nth(5).locator('.chip').allTextContents(),
    ['portal-logins-tier-1 × 3', 'portal-page-views × 1'],
  );
  assert.deepEqual(await page.locator('tr[data-environment="cs-test"] td').nth(5).locator('.chip').allTextContents(), ['portal-logins-tier-1 × 1']);
  assert.equal(await page.locator('tr[data-environment="ops"] td').nth(5).locator('.chip').count(), 0);
  problems.assertNone();
});

// A fix no single licence makes (ENF-6): ida uses two apps in two environments, one of them on an entity with
// synchronous logic (ENT-1). The decision names only ENT-1; a per-app pass gives her the Plan 2 rights, but then
// she needs a second pass for the second environment (APP-1). The engine lists the two as one combined fix,
// checked in a dry run, 2 × 10 USD; the page plans and applies both.
const COMBINED = `
[tenant]
id = "TENANT"
at = "2024-06-03"

[[users]]
id = "ida"

[[environments]]
id = "default"
default = true
dataverse = true

[[environments]]
id = "sales"
dataverse = true

[[apps]]
id = "case-desk"
environment = "default"
connectors = ["shared_sql"]
entities = ["custom"]
users = ["ida"]

[[apps]]
id = "quotes"
environment = "sales"
connectors = ["shared_sql"]
users = ["ida"]

[[entities]]
id = "custom"
complex_logic = ["sync-plugin"]
`;

uiTest('a combined fix: shown with its steps and total, planned step by step, applied, and the app opens', async ({ page, problems }) => {
  const tenant = `ui-apps-combined-${process.pid}-${Date.now().toString(36)}`;
  const created = await apiCall('POST', '/tenants', COMBINED.replace('TENANT', tenant), { type: 'application/toml' });
  assert.equal(created.status, 201, `creating ${tenant}: ${JSON.stringify(created.data)}`);
  await signIn(page);
  await tenantTab(page, tenant, 'apps', 'case-desk');
  await page.locator('#decision .verdict').waitFor();
  assert.equal(await textOf(page.locator('#decision .verdict .badge')), 'denied');

  const fix = page.locator('#decision .fix').filter({ has: page.locator('button[data-fix="combined"]') });
  assert.equal(
    await textOf(fix.locator('> span')),
    'all of: assign power-apps-per-app × 1 → ida; then assign power-apps-per-app × 1 → ida — USD 20.00/month ENF-6',
  );
  await fix.locator('button[data-fix="combined"]').click();
  const panel = fix.locator('.fix-panel');
  await panel.locator('button[data-apply="combined"]').waitFor();
  const steps = (await panel.locator('ol.steps li').allTextContents()).map((s) => s.replace(/\s+/g, ' ').trim());
  assert.equal(steps.length, 4, `the plan: ${JSON.stringify(steps)}`);
  assert.match(steps[0], /^Buy 1 × power-apps-per-app .*\(USD 10\.00\/month\)$/);
  assert.match(steps[1], /^Assign power-apps-per-app to ida/);
  assert.match(steps[2], /^Buy 1 × power-apps-per-app .*\(USD 10\.00\/month\)$/);
  assert.match(steps[3], /^Assign power-apps-per-app to ida/);
  assert.match(await textOf(panel.locator('.fix-turns')), /turn the decision allowed/);

  await panel.locator('button[data-apply="combined"]').click();
  // Once applied, the page asks again: the decision shown turns allowed, with no fix left.
  await until(
    async () => (await page.locator('#decision .verdict .badge').textContent()) === 'allowed',
    'case-desk did not turn allowed for ida after the combined fix',
  );
  assert.equal(await page.locator('#decision .fix').count(), 0);
  const decision = await apiOk('GET', `/tenants/${tenant}/apps/case-desk/decision?user=ida`);
  assert.equal(decision.allowed, true, `case-desk for ida: ${JSON.stringify(decision)}`);
  assert.deepEqual((await apiOk('GET', `/tenants/${tenant}/users/ida`)).licenses, ['power-apps-per-app', 'power-apps-per-app']);
  const subs = await apiOk('GET', `/tenants/${tenant}/subscriptions`);
  assert.deepEqual(subs.map((s) => `${s.sku} ${s.quantity}`), ['power-apps-per-app 1', 'power-apps-per-app 1']);
  problems.assertNone();
});
