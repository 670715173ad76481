// Long lists: a synthetic tenant of 600 flows and 300 users (`entitle generate`). The Flows and Users tabs show
// 250 rows first and a "Show more (N left)" button for the next ones; the filter box narrows the list to the rows
// that contain the text typed, and clearing it restores them. The Flows tab's render time is printed.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { apiCall, apiOk, signIn, tenantTab, textOf, uiTest, until } from './helpers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const bin = path.resolve(process.env.CARGO_TARGET_DIR || path.join(here, '..', 'target'), 'debug', 'entitle');
const PAGE = 250;
const FLOWS = 600;
const USERS = 300;

let tenant;
before(async () => {
  const text = execFileSync(bin, ['generate', '--flows', String(FLOWS), '--users', String(USERS), '--environments', '3', '--json'], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const scenario = JSON.parse(text);
  tenant = `ui-lists-${process.pid}-${Date.now().toString(36)}`;
  scenario.tenant.id = tenant;
  const created = await apiCall('POST', '/tenants', scenario);
  assert.equal(created.status, 201, `creating the synthetic tenant: HTTP ${created.status} ${JSON.stringify(created.data)}`);
  assert.equal(created.data.counts.flows, FLOWS);
  assert.equal(created.data.counts.users, USERS);
});

const ids = (page, what) => page.locator(`tbody tr[data-${what}]`).evaluateAll((rows, w) => rows.map((r) => r.dataset[w]), what);
const more = (page) => page.locator('button.more');

/** Clicks Show more until it is gone; checks the rows and the count left at each step. */
async function showAll(page, what, total) {
  let shown = PAGE;
  assert.equal((await ids(page, what)).length, shown);
  while (shown < total) {
    assert.equal(await more(page).isVisible(), true, `no Show more with ${shown} of ${total} rows shown`);
    assert.equal(await textOf(more(page)), `Show more (${total - shown} left)`);
    await more(page).click();
    shown = Math.min(shown + PAGE, total);
    await until(async () => (await ids(page, what)).length === shown, `Show more did not add rows up to ${shown}`);
  }
  assert.equal(await more(page).isVisible(), false, 'Show more is offered with every row shown');
}

/** The rows a filter should keep: those where one of `fields` contains `q` (case-insensitively). */
const matching = (rows, fields, q) => rows.filter((r) => fields.some((f) => String(r[f] ?? '').toLowerCase().includes(q.toLowerCase())));

uiTest('the flows of a big tenant: 250 rows first, Show more until none are left', async ({ page, problems }) => {
  const flows = await apiOk('GET', `/tenants/${tenant}/flows`);
  assert.equal(flows.length, FLOWS);
  await signIn(page);
  const start = performance.now();
  await tenantTab(page, tenant, 'flows');
  await page.locator(`tbody tr[data-flow]`).nth(PAGE - 1).waitFor();
  const ms = performance.now() - start;
  console.log(`Flows tab of ${FLOWS} flows rendered (first ${PAGE} rows) in ${Math.round(ms)} ms`);
  assert.equal(await textOf(page.locator('h2').first()), `Flows (${FLOWS})`);
  // The first rows are the API's first flows, in order.
  assert.deepEqual(await ids(page, 'flow'), flows.slice(0, PAGE).map((f) => f.id));
  await showAll(page, 'flow', FLOWS);
  const all = await ids(page, 'flow');
  assert.deepEqual(all, flows.map((f) => f.id), 'the rows are not every flow once, in order');
  problems.assertNone();
});

uiTest('the flows filter keeps the flows that contain the text (an owner, a flow id); clearing it restores them', async ({ page, problems }) => {
  const flows = await apiOk('GET', `/tenants/${tenant}/flows`);
  const fields = ['id', 'owner', 'environment', 'trigger'];
  // The owner of the most flows, and a flow id that is also the start of others (flow-12: flow-120…).
  const counts = new Map();
  for (const f of flows) counts.set(f.owner, (counts.get(f.owner) || 0) + 1);
  const [owner] = [...counts].sort((a, b) => b[1] - a[1])[0];
  await signIn(page);
  await tenantTab(page, tenant, 'flows');
  const box = page.locator('#filter');

  for (const q of [owner, 'flow-12', owner.toUpperCase()]) {
    const expected = matching(flows, fields, q).map((f) => f.id);
    assert.ok(expected.length > 1 && expected.length < PAGE, `${q} matches ${expected.length} flows`);
    await box.fill(q);
    await until(async () => (await ids(page, 'flow')).length === expected.length,
      `the filter "${q}" does not show ${expected.length} flows`);
    assert.deepEqual(await ids(page, 'flow'), expected, `the filter "${q}"`);
    assert.equal(await more(page).isVisible(), false);
    if (q === owner) {
      const owners = await page.locator('tbody tr[data-flow] td:nth-child(3)').allTextContents();
      assert.ok(owners.every((o) => o.trim() === owner), `a flow of another owner is kept: ${owners}`);
    }
  }
  // Nothing matches: the empty notice.
  await box.fill('no-such-flow-anywhere');
  await page.locator('p.empty', { hasText: 'No flows.' }).waitFor();
  assert.equal((await ids(page, 'flow')).length, 0);

  await box.fill('');
  await until(async () => (await ids(page, 'flow')).length === PAGE, 'clearing the filter does not restore the first 250 flows');
  assert.deepEqual(await ids(page, 'flow'), flows.slice(0, PAGE).map((f) => f.id));
  assert.equal(await textOf(more(page)), `Show more (${FLOWS - PAGE} left)`);
  await showAll(page, 'flow', FLOWS);
  problems.assertNone();
});

uiTest('the users of a big tenant: Show more, and the filter narrows them and clearing restores them', async ({ page, problems }) => {
  const users = await apiOk('GET', `/tenants/${tenant}/users`);
  assert.equal(users.length, USERS);
  await signIn(page);
  await tenantTab(page, tenant, 'users');
  assert.equal(await textOf(page.locator('h2').first()), `Users (${USERS})`);
  assert.deepEqual(await ids(page, 'user'), users.slice(0, PAGE).map((u) => u.id));
  await showAll(page, 'user', USERS);
  assert.deepEqual(await ids(page, 'user'), users.map((u) => u.id));

  const box = page.locator('#filter');
  const q = 'user-12';
  const expected = matching(users, ['id', 'kind'], q).map((u) => u.id);
  assert.ok(expected.length > 1, `${q} matches ${expected.length} users`);
  await box.fill(q);
  await until(async () => (await ids(page, 'user')).length === expected.length, `the filter "${q}" does not show ${expected.length} users`);
  assert.deepEqual(await ids(page, 'user'), expected);
  assert.ok(expected.every((id) => id.includes(q)));

  // By kind: every service principal, and no one else.
  const principals = users.filter((u) => u.kind === 'service-principal').map((u) => u.id);
  assert.ok(principals.length > 0 && principals.length < PAGE, `${principals.length} service principals`);
  await box.fill('service-principal');
  await until(async () => (await ids(page, 'user')).length === principals.length, 'the filter by kind');
  assert.deepEqual(await ids(page, 'user'), principals);

  await box.fill('');
  await until(async () => (await ids(page, 'user')).length === PAGE, 'clearing the filter does not restore the users');
  assert.equal(await textOf(more(page)), `Show more (${USERS - PAGE} left)`);
  problems.assertNone();
});
