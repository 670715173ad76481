// Long lists: a synthetic tenant of 600 flows and 300 users (`entitle generate`). The Flows and Users tabs are
// paged, sorted and filtered by the server (GET …/flows:status, GET …/users with q, sort, order, status, limit,
// offset): 100 rows a page with Previous / Next, a click on a heading sorts by it (again: the other way), the
// filter box and the status filter narrow the rows. Each page shown is checked against the API's answer to the
// same question, and against the data itself (every row shown contains the text, has the status, is in order).
// The Flows tab's render time is printed.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { apiCall, apiOk, signIn, tenantTab, textOf, uiTest, until } from './helpers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const bin = path.resolve(process.env.CARGO_TARGET_DIR || path.join(here, '..', 'target'), 'debug', 'entitle');
const PAGE = 100;
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
const count = (page, id) => textOf(page.locator(`[data-table="${id}"] .table-count`));
const rowsOf = (data) => (Array.isArray(data) ? data : data.flows);

/** Waits until the rows shown are `expected` (ids), in order. */
async function shows(page, what, expected, message) {
  await until(async () => JSON.stringify(await ids(page, what)) === JSON.stringify(expected),
    async () => `${message}: shown ${JSON.stringify((await ids(page, what)).slice(0, 5))}…, expected ${JSON.stringify(expected.slice(0, 5))}…`);
}

uiTest('the flows of a big tenant: 100 rows a page from the server, Next and Previous', async ({ page, problems }) => {
  const flows = await apiOk('GET', `/tenants/${tenant}/flows`);
  assert.equal(flows.length, FLOWS);
  await signIn(page);
  const start = performance.now();
  await tenantTab(page, tenant, 'flows');
  await page.locator('tbody tr[data-flow]').nth(PAGE - 1).waitFor();
  const ms = performance.now() - start;
  console.log(`Flows tab of ${FLOWS} flows rendered (first ${PAGE} rows) in ${Math.round(ms)} ms`);
  assert.equal(await textOf(page.locator('h2').first()), `Flows (${FLOWS})`);
  // The first rows are the API's first flows, in order; the page says which rows it shows.
  assert.deepEqual(await ids(page, 'flow'), flows.slice(0, PAGE).map((f) => f.id));
  assert.equal(await count(page, 'flows'), `Rows 1–${PAGE} of ${FLOWS}`);
  for (let p = 1; p * PAGE < FLOWS; p += 1) {
    await page.locator('[data-table="flows"] button[data-page="next"]').click();
    await shows(page, 'flow', flows.slice(p * PAGE, (p + 1) * PAGE).map((f) => f.id), `page ${p + 1}`);
  }
  assert.equal(await page.locator('[data-table="flows"] button[data-page="next"]').isDisabled(), true);
  await page.locator('[data-table="flows"] button[data-page="prev"]').click();
  const last = Math.floor((FLOWS - 1) / PAGE) * PAGE;
  await shows(page, 'flow', flows.slice(last - PAGE, last).map((f) => f.id), 'Previous');
  problems.assertNone();
});

uiTest('the flows table sorts by a column (both ways) and filters by status and by text, as the server answers', async ({ page, problems }) => {
  const all = (await apiOk('GET', `/tenants/${tenant}/flows:status`)).flows;
  await signIn(page);
  await tenantTab(page, tenant, 'flows');
  const owner = page.locator('[data-table="flows"] th', { hasText: 'Owner' });

  // Owner, ascending: the rows are in owner order (ties in the tenant's order), as the API sorts them.
  await owner.locator('button').click();
  const asc = [...all].map((f, i) => [f, i]).sort(([a, i], [b, j]) => (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : i - j)).map(([f]) => f.id);
  await shows(page, 'flow', asc.slice(0, PAGE), 'sorted by owner');
  assert.equal(await owner.getAttribute('aria-sort'), 'ascending');
  const api = rowsOf(await apiOk('GET', `/tenants/${tenant}/flows:status?sort=owner&order=asc&limit=${PAGE}`)).map((f) => f.id);
  assert.deepEqual(await ids(page, 'flow'), api);
  // Descending.
  await owner.locator('button').click();
  const desc = [...all].map((f, i) => [f, i]).sort(([a, i], [b, j]) => (a.owner < b.owner ? 1 : a.owner > b.owner ? -1 : i - j)).map(([f]) => f.id);
  await shows(page, 'flow', desc.slice(0, PAGE), 'sorted by owner, descending');
  assert.equal(await owner.getAttribute('aria-sort'), 'descending');

  // Each status: the first page is the first flows with it (still sorted by owner, descending), each row says so,
  // and the count is every flow with it.
  let tried = 0;
  for (const [status, badge] of [['off', (b) => b === 'off'], ['at-risk', (b) => b.startsWith('at risk (')], ['licensed', (b) => b === 'licensed']]) {
    const having = desc.map((id) => all.find((f) => f.id === id)).filter((f) => f.status === status);
    // (`entitle generate` writes every flow turned off by its owner: none is licensed.)
    if (!having.length) continue;
    tried += 1;
    await page.locator('#flows-status').selectOption(status);
    await shows(page, 'flow', having.slice(0, PAGE).map((f) => f.id), `the status ${status}`);
    const badges = await page.locator('tbody tr[data-flow] td:last-child .badge').allTextContents();
    assert.ok(badges.every(badge), `a row not ${status}: ${badges}`);
    assert.equal(await count(page, 'flows'), having.length > PAGE ? `Rows 1–${PAGE} of ${having.length}` : `${having.length} row${having.length === 1 ? '' : 's'}`);
  }
  assert.ok(tried >= 2, `only ${tried} status has flows`);

  // Text: the rows of one owner (any string field matches; the server answers the same).
  await page.locator('#flows-status').selectOption('');
  const [top] = [...all.reduce((m, f) => m.set(f.owner, (m.get(f.owner) || 0) + 1), new Map())].sort((a, b) => b[1] - a[1])[0];
  await page.locator('#flows-q').fill(top);
  const q = rowsOf(await apiOk('GET', `/tenants/${tenant}/flows:status?q=${encodeURIComponent(top)}&sort=owner&order=desc&limit=${PAGE}`)).map((f) => f.id);
  await shows(page, 'flow', q, `the filter "${top}"`);
  const texts = await page.locator('tbody tr[data-flow]').allTextContents();
  assert.ok(texts.every((t) => t.toLowerCase().includes(top.toLowerCase())), 'a row without the text');
  // Nothing matches: said so; clearing the box restores the sorted rows.
  await page.locator('#flows-q').fill('no-such-flow-anywhere');
  await page.locator('[data-table="flows"] p.empty', { hasText: 'No row matches.' }).waitFor();
  await page.locator('#flows-q').fill('');
  await shows(page, 'flow', desc.slice(0, PAGE), 'the filter cleared');
  problems.assertNone();
});

uiTest('the users of a big tenant: paged by the server, sorted by kind, and filtered by text', async ({ page, problems }) => {
  const users = await apiOk('GET', `/tenants/${tenant}/users`);
  assert.equal(users.length, USERS);
  await signIn(page);
  await tenantTab(page, tenant, 'users');
  assert.equal(await textOf(page.locator('h2').first()), `Users (${USERS})`);
  assert.deepEqual(await ids(page, 'user'), users.slice(0, PAGE).map((u) => u.id));
  await page.locator('[data-table="users"] button[data-page="next"]').click();
  await shows(page, 'user', users.slice(PAGE, 2 * PAGE).map((u) => u.id), 'page 2');

  await page.locator('[data-table="users"] th', { hasText: 'Kind' }).locator('button').click();
  const byKind = users.map((u, i) => [u, i]).sort(([a, i], [b, j]) => (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : i - j)).map(([u]) => u.id);
  // Sorting starts again at the first page.
  await shows(page, 'user', byKind.slice(0, PAGE), 'sorted by kind');

  const principals = users.filter((u) => u.kind === 'service-principal').map((u) => u.id);
  assert.ok(principals.length > 0 && principals.length < PAGE, `${principals.length} service principals`);
  await page.locator('#users-q').fill('service-principal');
  await shows(page, 'user', principals, 'the filter by kind');
  const q = 'user-12';
  await page.locator('#users-q').fill(q);
  const expected = rowsOf(await apiOk('GET', `/tenants/${tenant}/users?q=${q}&sort=kind&limit=${PAGE}`)).map((u) => u.id);
  assert.ok(expected.length > 1 && expected.every((id) => users.find((u) => u.id === id)), `${q}: ${expected.length} users`);
  await shows(page, 'user', expected, `the filter "${q}"`);
  problems.assertNone();
});

uiTest('a bad paging parameter is refused with 422 and names the parameter', async () => {
  for (const [query, name] of [['sort=nope', 'query:sort'], ['order=up', 'query:order'], ['limit=0', 'query:limit'], ['status=gone', 'query:status']]) {
    const r = await apiCall('GET', `/tenants/${tenant}/flows:status?${query}`);
    assert.equal(r.status, 422, `${query}: ${r.status}`);
    assert.equal(r.data.pointer, name);
  }
  const r = await apiCall('GET', `/tenants/${tenant}/users?status=pending`);
  assert.equal(r.status, 422);
  assert.equal(r.data.pointer, 'query:status');
  const total = await apiCall('GET', `/tenants/${tenant}/users?q=user-1&limit=1`);
  assert.equal(total.status, 200);
  assert.equal(total.data.length, 1);
  // X-Total-Count counts every match, not the page.
  const every = await apiOk('GET', `/tenants/${tenant}/users?q=user-1`);
  assert.ok(every.length > 1 && every.every((u) => u.id.includes('user-1')));
  assert.equal(Number(total.headers.get('x-total-count')), every.length);
});
