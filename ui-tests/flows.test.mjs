// The Flows tab: every flow with whether it may run today, and one flow's decision asked for an invoking user
// (#as) and a day (#at), with the rules in the order the engine applied them. Read-only: the shared tenant.
import assert from 'node:assert/strict';
import { signIn, tenantTab, textOf, uiTest } from './helpers.mjs';

const TENANT = 'fabrikam-bakery';
const row = (page, flow) => page.locator(`tr[data-flow="${flow}"]`);

/** The verdict of the decision shown (#decision .verdict .badge). */
const verdictOf = (page) => textOf(page.locator('#decision .verdict .badge'));

/** Waits for the next decision request and the verdict it brings; answers the request's query. */
async function decide(page, click) {
  const [request] = await Promise.all([
    page.waitForRequest((r) => new URL(r.url()).pathname.endsWith('/decision')),
    click(),
  ]);
  const response = await request.response();
  assert.ok(response, 'the decision request got no answer');
  // The verdict is mounted right after the answer; wait for "Deciding…" to go.
  await page.locator('#decision .verdict').waitFor();
  return new URL(request.url()).searchParams;
}

uiTest('the flows list marks invoice-sync at risk and expense-button licensed', async ({ page, problems }) => {
  await signIn(page);
  await tenantTab(page, TENANT, 'flows');
  assert.equal(await textOf(page.locator('h2').first()), 'Flows (5)');
  const ids = await page.locator('tbody tr[data-flow]').evaluateAll((rows) => rows.map((r) => r.dataset.flow));
  assert.deepEqual(ids.sort(), ['expense-button', 'invoice-reminder', 'invoice-sync', 'stock-lookup', 'supplier-price-watch']);

  const badge = (flow) => row(page, flow).locator('td').last().locator('.badge');
  assert.equal(await textOf(badge('invoice-sync')), 'at risk (FLOW-4)');
  assert.match((await badge('invoice-sync').getAttribute('class')) ?? '', /\bbad\b/);
  assert.match((await badge('invoice-sync').getAttribute('title')) ?? '', /`bob` holds no premium Power Automate licence/);
  assert.equal(await textOf(badge('stock-lookup')), 'at risk (FLOW-4)');
  for (const flow of ['expense-button', 'invoice-reminder', 'supplier-price-watch']) {
    assert.equal(await textOf(badge(flow)), 'licensed', `${flow}`);
    assert.match((await badge(flow).getAttribute('class')) ?? '', /\bok\b/, `${flow}`);
  }
  // Connectors as chips, the licence kind, and a link to the flow's page.
  assert.deepEqual(await row(page, 'invoice-sync').locator('.chip').allTextContents(), ['shared_sharepointonline', 'shared_sql']);
  await row(page, 'stock-lookup').locator('a').first().click();
  await page.waitForURL((url) => url.hash === `#/t/${TENANT}/flows/stock-lookup`);
  await page.locator('#decision .verdict').waitFor();
  problems.assertNone();
});

uiTest('stock-lookup is denied with FLOW-3/FLOW-4; as carol it is allowed', async ({ page, problems }) => {
  await signIn(page);
  await tenantTab(page, TENANT, 'flows', 'stock-lookup');
  assert.equal(await textOf(page.locator('h2').first()), 'Flow stock-lookup');
  assert.match(await textOf(page.locator('#crumbs')), /^Tenants\s*\/\s*fabrikam-bakery\s*\/\s*Flows\s*\/\s*stock-lookup$/);
  const facts = await textOf(page.locator('dl.facts'));
  assert.match(facts, /Owner\s*carol/);
  assert.match(facts, /Trigger\s*instant/);
  assert.match(facts, /Run by\s*carol, dana, erik/);

  assert.equal(await verdictOf(page), 'denied');
  const chips = await page.locator('#decision p').nth(1).locator('code.rule').allTextContents();
  assert.deepEqual(chips, ['M365-1', 'FLOW-3', 'FLOW-4', 'FLOW-14']);
  const why = await page.locator('#decision ul.problems li').allTextContents();
  assert.equal(why.length, 2, `why not: ${JSON.stringify(why)}`);
  assert.match(why[0], /FLOW-4.*\bdana holds no premium/);
  assert.match(why[1], /FLOW-4.*\berik holds no premium/);
  // Code spans are <code>, never backticks shown as they are.
  assert.deepEqual(await page.locator('#decision ul.problems li code:not(.rule)').allTextContents(), ['dana', 'erik']);
  assert.ok(why.every((w) => !w.includes('`')), `backticks shown: ${why}`);
  assert.equal(await page.locator('#decision button[data-fix="assign-license"]').count(), 1);

  // The options: everyone who runs it, then each user.
  const options = await page.locator('#as option').evaluateAll((os) => os.map((o) => [o.value, o.textContent]));
  assert.deepEqual(options[0], ['', '(everyone who runs it)']);
  assert.deepEqual(options.slice(1).map(([v]) => v), ['alice', 'bob', 'carol', 'dana', 'erik', 'frank']);

  await page.locator('#as').selectOption('carol');
  const query = await decide(page, () => page.locator('#decide').click());
  assert.equal(query.get('as'), 'carol');
  assert.equal(query.get('at'), '2024-06-03');
  assert.equal(await verdictOf(page), 'allowed');
  // The licence that allows it: carol's own Power Automate per user (its wording is the page's).
  const verdictText = await textOf(page.locator('#decision .verdict'));
  assert.match(verdictText, /premium · licensed by .*power-automate-per-user/);
  assert.match(verdictText, /\bcarol\b/);
  assert.equal(await page.locator('#decision ul.problems').count(), 0, 'problems still show for an allowed decision');

  // Back to dana: denied again, with only dana's problem.
  await page.locator('#as').selectOption('dana');
  await decide(page, () => page.locator('#decide').click());
  assert.equal(await verdictOf(page), 'denied');
  const danaWhy = await page.locator('#decision ul.problems li').allTextContents();
  assert.equal(danaWhy.length, 1, `why not, as dana: ${JSON.stringify(danaWhy)}`);
  assert.match(danaWhy[0], /\bdana\b/);
  problems.assertNone();
});

uiTest('choosing a day in #at asks again for that day', async ({ page, problems }) => {
  await signIn(page);
  await tenantTab(page, TENANT, 'flows', 'invoice-sync');
  assert.equal(await page.locator('#at').inputValue(), '2024-06-03', '#at starts on the tenant\'s day');
  assert.equal(await verdictOf(page), 'denied');

  // Before 2019-10-01 SQL Server was a standard connector (M365-1): Microsoft 365 covered the flow then.
  await page.locator('#at').fill('2019-06-01');
  const query = await decide(page, () => page.locator('#decide').click());
  assert.equal(query.get('at'), '2019-06-01', `the decision was asked with ${query}`);
  assert.equal(query.has('as'), false, 'an empty #as should not be sent');
  assert.equal(await verdictOf(page), 'allowed');
  assert.match(await textOf(page.locator('#decision .verdict')), /standard/);

  // And Enter in the date field submits too.
  await page.locator('#at').fill('2024-06-03');
  await decide(page, () => page.locator('#at').press('Enter'));
  assert.equal(await verdictOf(page), 'denied');
  problems.assertNone();
});

uiTest('an unknown flow shows the API\'s 404 in the page', async ({ page, problems }) => {
  await signIn(page);
  await page.evaluate(() => {
    window.location.hash = '#/t/fabrikam-bakery/flows/no-such-flow';
  });
  const error = page.locator('#app .notice.error');
  await error.waitFor();
  assert.match(await textOf(error), /404/);
  assert.match(await textOf(error), /no-such-flow/);
  problems.assertNone({ allow: [/HTTP 404: GET .*\/flows\/no-such-flow\b/, /status of 404/] });
});
