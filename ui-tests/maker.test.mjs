// A maker's own page (issue 14, ENF-3): a maker key signs in to its notices, shown as banners newest first,
// exactly those GET /v1/me/notices gives that key; before the jobs run there is nothing, after a test clock moves
// past the turn-off there is the maker notice and the turn-off with its fix. A maker reaches no admin page, and
// an admin key gets no maker page.
import assert from 'node:assert/strict';
import { apiCall, apiOk, freshTenant, go, open, signIn, submitKey, textOf, uiTest } from './helpers.mjs';

uiTest('a maker signs in to its own notices, as banners that match the API, and reaches no admin page', async ({ page, problems }) => {
  const tenant = await freshTenant('maker', 'examples/enforcement-timeline.toml');
  // ann owns `sync`, whose licence lapsed before the rollout (ENF-2 kind b).
  const { key } = await apiOk('POST', `/tenants/${tenant}/keys`, { role: 'maker', user: 'ann', name: 'ui-maker' });
  await open(page, '/');
  await submitKey(page, key);
  await page.waitForURL((url) => url.hash === '#/me');
  await page.locator('#no-notices').waitFor();
  assert.match(await textOf(page.locator('h1')), /Your notices, ann/);
  assert.match(await textOf(page.locator('#who')), /maker ann of /);
  assert.equal(await page.locator('nav.tabs').count(), 0);

  // The jobs run to the day after the turn-off: ann is told, then her flow is turned off.
  await apiOk('POST', `/tenants/${tenant}/clock:advance`, { to: '2022-10-16' });
  await page.reload();
  await page.locator('#notices article.banner').first().waitFor();
  const api = (await apiOk('GET', '/me/notices', undefined, { key })).notices;
  assert.ok(api.length >= 2, `ann has notices: ${api.map((n) => n.type)}`);
  const banners = await page.locator('#notices article.banner').evaluateAll((as) => as.map((a) => [Number(a.dataset.seq), a.dataset.type]));
  assert.deepEqual(banners, api.map((n) => [n.seq, n.type]).reverse(), 'one banner per notice, newest first');
  const off = page.locator('#notices article[data-type="flow.suspended"]');
  assert.match(await textOf(off), /2022-10-15 Your flow sync was turned off\./);
  assert.match(await textOf(off), /The fix: /);
  assert.equal(await off.locator('.chip, [data-rule]').first().count(), 1, 'the rule IDs as chips');
  const told = page.locator('#notices article[data-type="enforcement.maker_notice"]');
  assert.match(await textOf(told), /2022-10-01 Your flow sync will be turned off on 2022-10-15 unless it is licensed\./);

  // No admin page: any other address comes back here.
  await go(page, `#/t/${tenant}/users`);
  await page.waitForURL((url) => url.hash === '#/me');
  await page.locator('#notices').waitFor();
  assert.equal(await page.locator('section.tenant').count(), 0);
  problems.assertNone();
});

uiTest('an admin key gets no maker page at #/me', async ({ page, problems }) => {
  await signIn(page);
  await go(page, '#/me');
  await page.locator('h1', { hasText: 'Not found' }).waitFor();
  assert.match(await textOf(page.locator('#app')), /maker's own/);
  // And a maker key's notices are a maker's: the operator key is refused by the API.
  assert.equal((await apiCall('GET', '/me/notices')).status, 422);
  problems.assertNone();
});
