// Screenshots of every view at a desktop and a phone width, for people to look at (scripts/ui-shots.sh runs it).
//
//   ENTITLE_URL, ENTITLE_KEY   the server and its operator key (as for the tests)
//   SHOTS_DIR                  where the PNGs go (default $CARGO_TARGET_DIR/ui-shots, else target/ui-shots)
//   SHOTS_TENANTS              the tenants shot, comma-separated (default fabrikam-bakery,northwind-care,fabrikam-homes)
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const BASE = process.env.ENTITLE_URL.replace(/\/+$/, '');
const KEY = process.env.ENTITLE_KEY;
const dir = path.resolve(process.env.SHOTS_DIR || path.join(process.env.CARGO_TARGET_DIR || path.join(here, '..', 'target'), 'ui-shots'));
const tenants = (process.env.SHOTS_TENANTS || 'fabrikam-bakery,northwind-care,fabrikam-homes').split(',').filter(Boolean);
export const TABS = ['overview', 'audit', 'timeline', 'plan', 'flows', 'apps', 'environments', 'users', 'licences', 'requests', 'usage', 'capacity', 'consumption', 'changes', 'keys', 'webhooks'];
const SIZES = [['desktop', 1440, 900], ['phone', 390, 844]];

mkdirSync(dir, { recursive: true });
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
let wide = 0;
try {
  for (const [label, width, height] of SIZES) {
    const context = await browser.newContext({ viewport: { width, height } });
    const page = await context.newPage();
    await page.goto(`${BASE}/`);
    await page.locator('#key').fill(KEY);
    await page.locator('#sign-in').click();
    await page.waitForURL((u) => u.hash === '#/tenants');
    await page.locator('table').first().waitFor();
    const shoot = async (name) => {
      await page.waitForTimeout(150);
      const file = path.join(dir, `${label}-${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      const sw = await page.evaluate(() => document.documentElement.scrollWidth);
      if (sw > width) wide += 1;
      console.log(`${file}${sw > width ? `  (scrolls sideways: ${sw} px)` : ''}`);
    };
    await shoot('tenants');
    for (const tenant of tenants) {
      for (const tab of TABS) {
        await page.evaluate((h) => { window.location.hash = h; }, `#/t/${tenant}/${tab}`);
        await page.locator(`section.tenant a[data-tab="${tab}"][aria-current="page"]`).waitFor();
        await page.locator('#app .loading').waitFor({ state: 'detached' }).catch(() => {});
        // Charts are drawn once their box has a width.
        if (tab === 'overview' || tab === 'consumption') await page.locator('figure.chart .chart-plot canvas').first().waitFor().catch(() => {});
        await shoot(`${tenant}-${tab}`);
      }
      await page.evaluate((h) => { window.location.hash = h; }, `#/t/${tenant}/users/no-such-user`);
      await page.locator('.error-page').waitFor();
      await shoot(`${tenant}-error`);
    }
    await context.close();
  }
} finally {
  await browser.close();
}
console.log(`screenshots in ${dir}${wide ? `; ${wide} scroll sideways` : ''}`);
