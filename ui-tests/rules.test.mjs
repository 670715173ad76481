// Rule chips open the rule's text: every chip (the Rules column's, and the one before each reason in the findings
// lists) is a button that shows the rule's title, reading and seed sentences in a dialog, read from
// GET /v1/rules/{id} — by click and by keyboard, closed by Escape or its Close button, focus back on the chip.
//
// The tenant of examples/small-business-m365.toml on 2024-06-03: invoice-sync is at risk under FLOW-4 (bob holds
// no premium licence), so its row carries a FLOW-4 chip in both places.
import assert from 'node:assert/strict';
import { apiOk, signIn, tenantTab, textOf, uiTest } from './helpers.mjs';

const SHARED = 'fabrikam-bakery';
const row = (page) => page.locator('tr[data-flow="invoice-sync"]');
const dialog = (page) => page.locator('dialog#rule-dialog');

uiTest('a rule chip opens the rule: title, reading and seed sentence from the rulebook', async ({ page, problems }) => {
  const rule = await apiOk('GET', '/v1/rules/FLOW-4');
  await signIn(page);
  await tenantTab(page, SHARED, 'audit');
  const chip = row(page).locator('span.rules code.rule[data-rule="FLOW-4"]');
  assert.equal(await chip.getAttribute('role'), 'button');
  assert.equal(await textOf(chip), 'FLOW-4', 'the chip still reads as the ID alone');
  await chip.click();

  await dialog(page).waitFor({ state: 'visible' });
  await page.locator('dialog#rule-dialog[data-rule="FLOW-4"]').waitFor();
  assert.equal(await textOf(dialog(page).locator('h2')), `FLOW-4 — ${rule.title}`);
  const reading = await textOf(dialog(page).locator('.reading'));
  assert.match(reading, /an instant one needs every invoking user to hold one/);
  const quote = dialog(page).locator('figure.seed-quote').first();
  assert.equal(await quote.locator('blockquote').getAttribute('lang'), 'ro');
  assert.equal(await textOf(quote.locator('blockquote')), rule.seed_quotes[0].original);
  assert.equal(await textOf(quote.locator('.gloss')), rule.seed_quotes[0].gloss);
  assert.match(await textOf(quote.locator('figcaption')), /\(seed 002\)/);
  assert.match(await textOf(dialog(page).locator('.rule-tests summary')), /^Checked by \d+ tests?$/);

  // Escape closes it, and the focus is back on the chip that opened it.
  await page.keyboard.press('Escape');
  await dialog(page).waitFor({ state: 'hidden' });
  assert.equal(await chip.evaluate((el) => el === document.activeElement), true, 'focus returns to the chip');
  problems.assertNone();
});

uiTest('a chip of the findings list opens its rule from the keyboard', async ({ page, problems }) => {
  await signIn(page);
  await tenantTab(page, SHARED, 'audit');
  // The reason "FLOW-4 `bob` holds no premium…" starts with a chip too.
  const chip = row(page).locator('ul code.rule[data-rule="FLOW-4"]').first();
  await chip.focus();
  await page.keyboard.press('Enter');
  await page.locator('dialog#rule-dialog[data-rule="FLOW-4"]').waitFor({ state: 'visible' });
  assert.match(await textOf(dialog(page).locator('h2')), /^FLOW-4 — /);
  await dialog(page).locator('button.close').click();
  await dialog(page).waitFor({ state: 'hidden' });

  // Space opens another rule in the same dialog: ENF-1 (every flow at risk names it).
  const enf = row(page).locator('span.rules code.rule[data-rule="ENF-1"]');
  await enf.focus();
  await page.keyboard.press(' ');
  await page.locator('dialog#rule-dialog[data-rule="ENF-1"]').waitFor({ state: 'visible' });
  assert.match(await textOf(dialog(page).locator('h2')), /^ENF-1 — /);
  assert.equal(await page.locator('dialog').count(), 1, 'one dialog, reused');
  problems.assertNone();
});
