// Smoke tests of the admin web UI that `entitle serve` serves at `/` (assets under /ui/), in headless Chromium.
// Run with scripts/ui-tests.sh (it starts a server with the tenant `fabrikam-bakery` of
// examples/small-business-m365.toml and sets ENTITLE_URL and ENTITLE_KEY).
//
// The contract tested:
//   GET /        HTML, <title> containing "entitle", a Content-Security-Policy whose script-src (or default-src)
//                has no 'unsafe-inline'; the page loads /ui/app.js as an ES module and /ui/app.css; no console
//                error, page error or failed request on load.
//   sign in      input #key (type password), button #sign-in; with the operator key the hash becomes #/tenants
//                and a link a[data-tenant="fabrikam-bakery"] shows; the key is kept in sessionStorage.
//   wrong key    an element #error whose text says the key was refused (401), and the sign-in form stays.
//   sign out     button #sign-out brings back the sign-in form and forgets the key (sessionStorage; a reload
//                does not sign in again).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BASE, KEY, open, signIn, submitKey, uiTest } from './helpers.mjs';

const TENANT = 'fabrikam-bakery';
const tenantLink = `a[data-tenant="${TENANT}"]`;

// The directives of a Content-Security-Policy header, by name (lower case) to their list of sources.
function directives(csp) {
  const out = new Map();
  for (const part of csp.split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (name && !out.has(name.toLowerCase())) out.set(name.toLowerCase(), sources);
  }
  return out;
}

async function getRoot() {
  const response = await fetch(`${BASE}/`);
  const body = await response.text();
  const type = response.headers.get('content-type') ?? '';
  const summary = `HTTP ${response.status} ${type || '(no content type)'}: ${body.replace(/\s+/g, ' ').slice(0, 300)}`;
  return { response, body, type, summary };
}

test('GET / answers HTML titled "entitle"', async () => {
  const { response, body, type, summary } = await getRoot();
  assert.equal(response.status, 200, `GET / should answer 200, got ${summary}`);
  assert.match(type, /^text\/html\b/, `GET / should answer text/html, got ${summary}`);
  const title = body.match(/<title[^>]*>([^<]*)<\/title>/i);
  assert.ok(title, `GET / has no <title>: ${summary}`);
  assert.match(title[1], /entitle/i, `the <title> "${title[1]}" does not name entitle`);
});

test('GET / carries a Content-Security-Policy that forbids inline script', async () => {
  const { response, summary } = await getRoot();
  assert.equal(response.status, 200, `GET / should answer 200, got ${summary}`);
  const csp = response.headers.get('content-security-policy');
  assert.ok(csp, `GET / has no Content-Security-Policy header: ${summary}`);
  const policy = directives(csp);
  const scriptSrc = policy.get('script-src') ?? policy.get('default-src');
  assert.ok(scriptSrc, `the Content-Security-Policy has neither script-src nor default-src: ${csp}`);
  assert.ok(
    !scriptSrc.some((source) => source.toLowerCase() === "'unsafe-inline'"),
    `script-src allows 'unsafe-inline': ${csp}`,
  );
  for (const name of ['script-src-elem', 'script-src-attr']) {
    const sources = policy.get(name) ?? [];
    assert.ok(!sources.some((s) => s.toLowerCase() === "'unsafe-inline'"), `${name} allows 'unsafe-inline': ${csp}`);
  }
});

uiTest('the page loads /ui/app.js as an ES module and /ui/app.css, with no console error', async ({ page, problems }) => {
  const assets = new Map();
  page.on('response', (response) => {
    const { pathname } = new URL(response.url());
    if (pathname === '/ui/app.js' || pathname === '/ui/app.css') {
      assets.set(pathname, { status: response.status(), type: response.headers()['content-type'] ?? '' });
    }
  });
  await open(page, '/');
  await page.waitForLoadState('load');
  assert.match(await page.title(), /entitle/i, `the page's title "${await page.title()}" does not name entitle`);

  const wired = await page.evaluate(() => ({
    moduleScript: [...document.querySelectorAll('script[type="module"][src]')].some(
      (s) => new URL(s.src).pathname === '/ui/app.js',
    ),
    stylesheet: [...document.querySelectorAll('link[rel~="stylesheet"][href]')].some(
      (l) => new URL(l.href).pathname === '/ui/app.css',
    ),
  }));
  assert.ok(wired.moduleScript, 'the page has no <script type="module" src="/ui/app.js">');
  assert.ok(wired.stylesheet, 'the page has no <link rel="stylesheet" href="/ui/app.css">');

  const js = assets.get('/ui/app.js');
  assert.ok(js, '/ui/app.js was not requested');
  assert.equal(js.status, 200, `/ui/app.js answered ${js.status}`);
  assert.match(js.type, /^(text|application)\/javascript\b/, `/ui/app.js is served as "${js.type}"`);
  const css = assets.get('/ui/app.css');
  assert.ok(css, '/ui/app.css was not requested');
  assert.equal(css.status, 200, `/ui/app.css answered ${css.status}`);
  assert.match(css.type, /^text\/css\b/, `/ui/app.css is served as "${css.type}"`);

  // Let the module run its first requests before judging the console.
  await page.waitForLoadState('networkidle');
  problems.assertNone();
});

uiTest('signing in with the operator key lists the tenants', async ({ page, problems }) => {
  await open(page, '/');
  const key = page.locator('#key');
  await key.waitFor();
  assert.equal(await key.getAttribute('type'), 'password', '#key should be a password input');
  await submitKey(page, KEY);
  await page.waitForURL((url) => url.hash === '#/tenants');
  await page.locator(tenantLink).waitFor();
  assert.ok(await page.locator(tenantLink).isVisible(), `${tenantLink} is not visible`);
  await page.waitForLoadState('networkidle');
  problems.assertNone();
});

uiTest('a wrong key is refused with #error and the sign-in form stays', async ({ page, problems }) => {
  await open(page, '/');
  await submitKey(page, `${KEY}-wrong`);
  const error = page.locator('#error');
  await error.waitFor();
  const text = (await error.textContent()) ?? '';
  assert.match(
    text,
    /\b401\b|refus|reject|invalid|wrong|denied|unauthori[sz]ed|not accepted/i,
    `#error should say the key was refused (401), it says: "${text.trim()}"`,
  );
  assert.ok(await page.locator('#key').isVisible(), 'the sign-in form (#key) is gone after a wrong key');
  assert.ok(await page.locator('#sign-in').isVisible(), 'the sign-in button (#sign-in) is gone after a wrong key');
  assert.notEqual(new URL(page.url()).hash, '#/tenants', 'a wrong key led to #/tenants');
  assert.equal(await page.locator(tenantLink).count(), 0, 'a wrong key shows the tenants');
  // The API's 401 is expected (and Chromium logs it as "Failed to load resource"); nothing else is.
  problems.assertNone({ allow: [/\b401\b.*\/v1\//] });
});

uiTest('#sign-out returns to the sign-in form and forgets the key', async ({ page, problems }) => {
  await signIn(page);
  await page.locator(tenantLink).waitFor();
  const holds = (storage) =>
    page.evaluate(
      ([which, key]) => {
        const s = window[which];
        return Array.from({ length: s.length }, (_, i) => s.getItem(s.key(i))).some((v) => v?.includes(key));
      },
      [storage, KEY],
    );
  assert.ok(await holds('sessionStorage'), 'after signing in, sessionStorage does not hold the key');
  assert.ok(!(await holds('localStorage')), 'the key was written to localStorage');

  await page.locator('#sign-out').click();
  await page.locator('#key').waitFor();
  assert.ok(await page.locator('#sign-in').isVisible(), 'no #sign-in button after signing out');
  assert.equal(await page.locator(tenantLink).count(), 0, 'the tenants still show after signing out');
  assert.ok(!(await holds('sessionStorage')), 'after signing out, sessionStorage still holds the key');
  assert.ok(!(await holds('localStorage')), 'after signing out, localStorage holds the key');

  // Forgotten for real: a reload in the same tab (same sessionStorage) shows the sign-in form again.
  await page.reload();
  await page.locator('#key').waitFor();
  assert.equal(await page.locator(tenantLink).count(), 0, 'a reload after signing out shows the tenants');
  await page.waitForLoadState('networkidle');
  problems.assertNone();
});
