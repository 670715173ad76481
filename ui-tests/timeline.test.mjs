// The Timeline tab (issue 14): what the jobs will do day by day, drawn from GET …/timeline and checked against it;
// what happened (GET …/events); and a test clock moved from the page, after which the tenant's day, the events and
// what is still coming change as the API says.
import assert from 'node:assert/strict';
import { apiCall, freshTenant, signIn, tenantTab, uiTest } from './helpers.mjs';

uiTest('the timeline shows what is coming, as the API says, and a test clock moves from the page', async ({ page, problems }) => {
  const tenant = await freshTenant('clock', 'examples/enforcement-timeline.toml');
  const api = (await apiCall('GET', `/tenants/${tenant}/timeline`)).data;
  const coming = api.days.flatMap((d) => d.happenings.map((x) => [d.on, x.type]));
  assert.ok(coming.length >= 10, `the example has things coming: ${coming.length}`);
  await signIn(page);
  await tenantTab(page, tenant, 'timeline');
  await page.locator('#timeline-coming tbody tr').first().waitFor();
  const rows = await page.locator('#timeline-coming tbody tr').evaluateAll((trs) => trs.map((tr) => [tr.dataset.day, tr.dataset.type]));
  assert.deepEqual(rows, coming, 'one row per happening, in order, with its day and type');
  assert.equal(await page.locator('#clock-today').textContent(), '2022-08-01');
  // The kind in words and the flows as links.
  const first = page.locator('#timeline-coming tbody tr[data-type="enforcement.admin_notice"]').first();
  assert.match(await first.textContent(), /owner left the organisation/);
  assert.equal(await first.locator('a[href*="/flows/orders"]').count(), 1);
  // Filter by kind.
  await page.selectOption('#timeline-type', 'flow.suspended');
  const offs = await page.locator('#timeline-coming tbody tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.type));
  assert.ok(offs.length > 0 && offs.every((t) => t === 'flow.suspended'), offs.join(','));
  // Nothing happened yet but the tenant's creation.
  assert.deepEqual(await page.locator('#timeline-events tbody tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.type)), ['tenant.created']);

  // An empty date says what is missing; then the clock moves to 2022-10-16.
  await page.locator('#clock-advance').click();
  await page.locator('#clock-result .notice').waitFor();
  assert.match(await page.locator('#clock-result').textContent(), /Give the day/);
  await page.fill('#clock-to', '2022-10-16');
  await page.locator('#clock-advance').click();
  await page.locator('#clock-today', { hasText: '2022-10-16' }).waitFor();
  assert.match(await page.locator('.notice.ok').textContent(), /from 2022-08-01 to 2022-10-16: 6 thing/);
  const happened = await page.locator('#timeline-events tbody tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.type));
  const events = (await apiCall('GET', `/tenants/${tenant}/events`)).data.events.map((e) => e.type);
  assert.deepEqual(happened, events);
  assert.deepEqual(events.filter((t) => t === 'flow.suspended').length, 2);
  // What is coming starts after the day the jobs ran through.
  const days = await page.locator('#timeline-coming tbody tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.day));
  assert.ok(days.every((d) => d > '2022-10-16'), days[0]);
  // The clock only moves forward: the API's refusal, next to the field.
  await page.fill('#clock-to', '2022-09-01');
  await page.evaluate(() => document.getElementById('clock-to').removeAttribute('min'));
  await page.locator('#clock-advance').click();
  await page.locator('#clock-result .notice.error').waitFor();
  assert.match(await page.locator('#clock-result').textContent(), /moves forward only/);
  problems.assertNone({ allow: [/422/] });
});

uiTest('a tenant without a test clock says so and offers no clock', async ({ page, problems }) => {
  // The example pins its day (tenant.at) without a test clock: its jobs do not run.
  const tenant = await freshTenant('noclock');
  await signIn(page);
  await tenantTab(page, tenant, 'timeline');
  await page.locator('.timeline').waitFor();
  assert.equal(await page.locator('#clock').count(), 0);
  assert.match(await page.locator('#clock-pinned').textContent(), /pinned to 2024-06-03.*jobs do not run/);
  problems.assertNone();
});
