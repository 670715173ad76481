// Every view at a phone's width (390×844) and a desktop's (1440×900): the page never scrolls sideways (a wide
// table scrolls inside its own box), and axe-core finds no serious or critical accessibility violation.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { apiOk, freshTenant, go, signIn, tenantTab, uiTest } from './helpers.mjs';

const require = createRequire(import.meta.url);
const AXE = require.resolve('axe-core/axe.min.js');
const TABS = ['overview', 'audit', 'timeline', 'flows', 'apps', 'environments', 'users', 'licences', 'requests', 'usage', 'capacity', 'consumption', 'changes', 'keys', 'webhooks'];
const SIZES = [[390, 844], [1440, 900]];

/**
 * Every view of a tenant (and the tenants list, a flow, a user, an error page), each once drawn; and the
 * consumption of a tenant with portals, AI Builder credits and overages (`portals`), a month with its charts and one
 * the API refuses.
 */
async function* views(page, tenant, portals, maker) {
  await go(page, '#/tenants');
  await page.locator('tbody tr[data-tenant-row]').first().waitFor();
  yield 'tenants';
  for (const tab of TABS) {
    await tenantTab(page, tenant, tab);
    // The overview's charts are drawn once their box has a width.
    if (tab === 'overview' || tab === 'consumption') await page.locator('figure.chart .chart-plot canvas').first().waitFor();
    yield tab;
  }
  await tenantTab(page, portals, 'consumption', '2024-06');
  await page.locator('.consumption[data-month="2024-06"] figure.chart .chart-plot canvas').first().waitFor();
  yield 'consumption of a tenant with portals';
  await tenantTab(page, portals, 'consumption', '2024-13');
  await page.locator('#consumption-error').waitFor();
  yield 'consumption of a refused month';
  for (const [tab, item] of [['flows', 'invoice-sync'], ['users', 'bob']]) {
    await tenantTab(page, tenant, tab, item);
    await page.locator('#decision .verdict, #usage-hours, h3').first().waitFor();
    yield `${tab}/${item}`;
  }
  await go(page, `#/t/${tenant}/users/no-such-user`);
  await page.locator('.error-page').waitFor();
  yield 'error page';
  const [hook] = (await apiOk('GET', `/tenants/${tenant}/webhooks`)).endpoints;
  await tenantTab(page, tenant, 'webhooks', hook.id);
  await page.locator('#deliveries').waitFor();
  yield 'a webhook endpoint';
  // Last: the maker's own page, signed in with its key (the page is loaded again to forget the operator).
  await page.evaluate((k) => sessionStorage.setItem('entitle.key', k), maker);
  await page.reload();
  // (Any address sends a maker to its page.)
  await page.waitForURL((url) => url.hash === '#/me');
  await page.locator('#notices article.banner').first().waitFor();
  yield 'a maker\'s notices';
}

// The error page's own requests: the unknown user is 404, and its usage 400; the refused month is 422.
const UNKNOWN_USER = [/HTTP 40[04]: GET .*no-such-user$/, /status of 40[04] .*no-such-user/,
  /HTTP 422: GET .*\/(consumption|statement)\?month=2024-13$/, /status of 422/];

let shared;
let sharedPortals;
let sharedMaker;
// The layout tenant has a webhook endpoint (its page is drawn; nothing is sent to it: its tenant does not change).
const tenant = async () => (shared ??= await freshTenant('ui-layout').then(async (id) => {
  await apiOk('POST', `/tenants/${id}/webhooks`, { url: 'https://hooks.example.com/entitle', types: ['flow.suspended'], description: 'layout' });
  return id;
}));
// A maker key with notices: ann's, after the example's jobs ran past its first turn-off.
const makerKey = async () => (sharedMaker ??= await freshTenant('ui-layout-maker', 'examples/enforcement-timeline.toml').then(async (id) => {
  await apiOk('POST', `/tenants/${id}/clock:advance`, { to: '2022-10-16' });
  return (await apiOk('POST', `/tenants/${id}/keys`, { role: 'maker', user: 'ann', name: 'layout' })).key;
}));
const portalTenant = async () => (sharedPortals ??= await freshTenant('ui-layout-portals', 'examples/portal-consumption.toml'));

for (const [width, height] of SIZES) {
  uiTest(`no view scrolls sideways at ${width}×${height}`, async ({ page, problems }) => {
    const id = await tenant();
    await signIn(page);
    const wide = [];
    for await (const view of views(page, id, await portalTenant(), await makerKey())) {
      const sw = await page.evaluate(() => document.documentElement.scrollWidth);
      if (sw > width) wide.push(`${view}: ${sw} px`);
    }
    assert.deepEqual(wide, [], `views wider than ${width} px`);
    problems.assertNone({ allow: UNKNOWN_USER });
  }, { context: { viewport: { width, height } }, timeout: 120_000 });

  // axe-core is injected as a script tag, which the page's CSP (script-src 'self') refuses: this test alone
  // bypasses the CSP (every other test runs under it).
  uiTest(`axe-core finds no serious or critical violation on any view at ${width}×${height}`, async ({ page, problems }) => {
    const id = await tenant();
    await signIn(page);
    const found = [];
    for await (const view of views(page, id, await portalTenant(), await makerKey())) {
      if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.addScriptTag({ path: AXE });
      const violations = await page.evaluate(async () => {
        const r = await window.axe.run(document, { resultTypes: ['violations'] });
        return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
          .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
      });
      for (const v of violations) found.push(`${view}: ${v}`);
    }
    assert.deepEqual(found, [], 'serious or critical violations');
    problems.assertNone({ allow: UNKNOWN_USER });
  }, { context: { viewport: { width, height }, bypassCSP: true }, timeout: 180_000 });
}
