// Webhook management (issue 14): endpoints added, changed, rotated and deleted from the Webhooks tab, each change
// checked against the API; the events a test clock's jobs make reach a receiver started by the test, signed with
// the secret the page showed once; the delivery log, one delivery's history and a replay, as the API and the
// receiver saw them. Roles that may not manage webhooks get no tab, and the API's 403 on the page.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { apiCall, apiOk, freshTenant, go, signIn, tenantTab, textOf, uiTest, until, open, submitKey } from './helpers.mjs';

/** A receiver on 127.0.0.1 answering 204, keeping every request's headers and body. */
async function receiver() {
  const got = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      got.push({ id: req.headers['webhook-id'], ts: req.headers['webhook-timestamp'], sig: req.headers['webhook-signature'], body });
      res.writeHead(204).end();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}/hook`, got, close: () => server.close() };
}

/** Standard Webhooks: `v1,` base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` under the secret's bytes. */
function signedBy(secret, r) {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${r.id}.${r.ts}.${r.body}`).digest('base64');
  return r.sig.split(' ').some((s) => s === `v1,${expected}`);
}

uiTest('webhook endpoints are managed from the page; events arrive signed; the log, history and replay agree with the receiver', async ({ page, problems }) => {
  const tenant = await freshTenant('hooks', 'examples/enforcement-timeline.toml');
  const rx = await receiver();
  try {
    await signIn(page);
    await tenantTab(page, tenant, 'webhooks');
    assert.match(await textOf(page.locator('#hooks-list')), /No webhook endpoint yet/);
    // An empty URL is said on the page; a URL the API refuses, with where.
    await page.locator('#new-hook-save').click();
    assert.match(await textOf(page.locator('#new-hook-error')), /Give the URL/);
    await page.fill('#new-hook-url', 'ftp://example.com/x');
    await page.locator('#new-hook-save').click();
    await page.locator('#new-hook-error .notice.error').waitFor();
    assert.match(await textOf(page.locator('#new-hook-error')), /\/url/);
    assert.deepEqual((await apiOk('GET', `/tenants/${tenant}/webhooks`)).endpoints, []);

    // Added, subscribed to two types: the secret is shown once.
    await page.fill('#new-hook-url', rx.url);
    await page.fill('#new-hook-description', 'ui test');
    await page.locator('#new-hook-types summary').click();
    for (const t of ['flow.suspended', 'enforcement.maker_notice']) await page.locator(`#new-hook-types input[value="${t}"]`).check();
    assert.match(await textOf(page.locator('#new-hook-types summary')), /2 chosen/);
    await page.locator('#new-hook-save').click();
    const secret = await textOf(page.locator('#new-secret'));
    assert.match(secret, /^whsec_[A-Za-z0-9+/=]+$/);
    const [made] = (await apiOk('GET', `/tenants/${tenant}/webhooks`)).endpoints;
    assert.deepEqual([made.url, made.types.sort(), made.description, made.status], [rx.url, ['enforcement.maker_notice', 'flow.suspended'], 'ui test', 'active']);
    assert.ok(!JSON.stringify(made).includes(secret), 'the API never shows the secret again');
    const row = page.locator(`#hooks-list tr[data-endpoint="${made.id}"]`);
    const rowText = await textOf(row);
    for (const part of [rx.url, 'flow.suspended', 'enforcement.maker_notice', 'active', 'ui test']) assert.ok(rowText.includes(part), `${part} in ${rowText}`);

    // The jobs' events of two and a half months: the subscribed ones reach the receiver, signed.
    await apiOk('POST', `/tenants/${tenant}/clock:advance`, { to: '2022-10-16' });
    const events = (await apiOk('GET', `/tenants/${tenant}/events?limit=1000`)).events
      .filter((e) => ['flow.suspended', 'enforcement.maker_notice'].includes(e.type));
    assert.equal(events.length, 4, 'two maker notices, two turn-offs');
    await until(() => rx.got.length >= events.length, () => `the receiver got ${rx.got.length} of ${events.length}`, 15_000);
    assert.deepEqual(rx.got.map((r) => r.id).sort(), events.map((e) => e.id).sort());
    assert.ok(rx.got.every((r) => signedBy(secret, r)), 'every delivery signed with the secret the page showed');

    // The endpoint's page: its log as the API has it, delivered.
    await until(async () => (await apiOk('GET', `/tenants/${tenant}/webhooks/${made.id}/deliveries`)).deliveries.every((d) => d.state === 'delivered'), 'deliveries recorded');
    await row.locator('a').click();
    await page.locator('#deliveries tbody tr').first().waitFor();
    const log = (await apiOk('GET', `/tenants/${tenant}/webhooks/${made.id}/deliveries`)).deliveries;
    const shown = await page.locator('#deliveries tbody tr[data-delivery]').evaluateAll((trs) => trs.map((tr) => [tr.dataset.delivery, tr.dataset.state, tr.dataset.type]));
    assert.deepEqual(shown, log.map((d) => [d.id, d.state, d.type]));
    // One delivery's history: one attempt, answered 204.
    const first = page.locator(`#deliveries tr[data-delivery="${log[0].id}"]`);
    await first.locator('button[data-history]').click();
    await page.locator(`tr[data-history-of="${log[0].id}"] li`).waitFor();
    assert.match(await textOf(page.locator(`tr[data-history-of="${log[0].id}"]`)), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC: HTTP 204 in \d+ ms$/);
    // Replayed: sent again with the same webhook-id.
    await first.locator('button[data-replay]').click();
    await page.locator('#hook-result .notice.ok').waitFor();
    await until(() => rx.got.filter((r) => r.id === log[0].event_id).length === 2, 'the replay reached the receiver');

    // Changed: every type, a new description, turned off.
    await page.locator('#edit-hook-types summary').click();
    assert.equal(await page.locator('#edit-hook-types input:checked').count(), 2, 'the form starts from the endpoint as it is');
    for (const t of ['flow.suspended', 'enforcement.maker_notice']) await page.locator(`#edit-hook-types input[value="${t}"]`).uncheck();
    await page.fill('#edit-hook-description', 'every type, off');
    await page.locator('#edit-hook-disabled').check();
    await page.locator('#edit-hook-save').click();
    await page.locator('#flash .notice.ok', { hasText: 'Endpoint saved' }).waitFor();
    const changed = await apiOk('GET', `/tenants/${tenant}/webhooks/${made.id}`);
    assert.deepEqual([changed.types, changed.description, changed.status], [[], 'every type, off', 'disabled']);
    assert.match(await textOf(page.locator('.webhook dl.facts')), /disabled.*every type/);

    // Rotated: a new secret, shown once; the old one still signs beside it.
    await page.locator('#rotate-secret').click();
    const rotated = await textOf(page.locator('#new-secret'));
    assert.match(rotated, /^whsec_/);
    assert.notEqual(rotated, secret);
    assert.match(await textOf(page.locator('#hook-result')), /old one keeps signing beside it until/);
    assert.equal((await apiOk('GET', `/tenants/${tenant}/webhooks/${made.id}`)).secrets_in_force, 2);

    // Deleted, after a confirmation (a cancel changes nothing).
    await page.locator('#delete-hook').click();
    await page.locator('#delete-cancel').click();
    assert.equal((await apiCall('GET', `/tenants/${tenant}/webhooks/${made.id}`)).status, 200);
    await page.locator('#delete-hook').click();
    await page.locator('#delete-confirm').click();
    await page.waitForURL((url) => url.hash === `#/t/${tenant}/webhooks`);
    await page.locator('#flash .notice.ok', { hasText: 'deleted' }).waitFor();
    assert.equal((await apiCall('GET', `/tenants/${tenant}/webhooks/${made.id}`)).status, 404);
    problems.assertNone({ allow: [/422/] });
  } finally {
    rx.close();
  }
});

uiTest('a billing admin gets no Webhooks tab, and the API\'s 403 at its address', async ({ page, problems }) => {
  const tenant = await freshTenant('hooks-billing');
  const { key } = await apiOk('POST', `/tenants/${tenant}/keys`, { role: 'billing-admin', name: 'ui-billing' });
  await open(page, '/');
  await submitKey(page, key);
  await page.waitForURL((url) => url.hash === '#/tenants');
  await tenantTab(page, tenant, 'overview');
  assert.equal(await page.locator('nav.tabs a[data-tab="webhooks"]').count(), 0);
  await go(page, `#/t/${tenant}/webhooks`);
  await page.locator('.error-page .notice.error').waitFor();
  assert.match(await textOf(page.locator('.error-page')), /403/);
  problems.assertNone({ allow: [/403/] });
});
