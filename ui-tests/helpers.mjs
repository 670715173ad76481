// Shared by the browser tests of the admin web UI (ui-tests/*.test.mjs); run them with scripts/ui-tests.sh.
//
// Environment:
//   ENTITLE_URL      base URL of a running `entitle serve` (http://127.0.0.1:PORT), required
//   ENTITLE_KEY      its operator key (ENTITLE_ADMIN_KEY), required
//   CHROMIUM         the browser to drive (default /usr/bin/chromium, Debian's package: nothing is downloaded)
//   UI_TIMEOUT_MS    how long one wait for an element or a navigation may take (default 5000)
//   CARGO_TARGET_DIR screenshots of failed tests go to $CARGO_TARGET_DIR/ui-screenshots/ (default target/ at the
//                    repository root)
//
//   uiTest(name, async ({ page, context, problems, t }) => { ... }[, options])
//       (options.context: the browser context's options, e.g. { viewport: { width: 390, height: 844 } })
//       a node:test test with a fresh browser context (so fresh sessionStorage) and page; the page's console
//       errors, uncaught exceptions and failed requests are collected in `problems`; on failure a full-page
//       screenshot is saved and its path printed with the problems seen. One headless Chromium per test file.
//   problems.assertNone({ allow: [RegExp, ...] })
//       fails unless nothing went wrong in the page (entries matching one of `allow` are tolerated).
//   open(page, path = '/')          navigates and asserts HTTP 200 text/html; returns the response
//   submitKey(page, key)            fills #key and clicks #sign-in (on the page as it is)
//   signIn(page, key = KEY)         open('/') then submitKey, and waits for #/tenants
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run the UI tests with scripts/ui-tests.sh, or point them at a running server`);
  }
  return value;
}

export const BASE = required('ENTITLE_URL').replace(/\/+$/, '');
export const KEY = required('ENTITLE_KEY');
export const TIMEOUT_MS = Number(process.env.UI_TIMEOUT_MS || 5000);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
// Like cargo: a relative CARGO_TARGET_DIR is taken from the working directory; without it, target/ of the repo.
const screenshots = path.resolve(process.env.CARGO_TARGET_DIR || path.join(here, '..', 'target'), 'ui-screenshots');

let browser;
async function theBrowser() {
  if (!browser) {
    if (!existsSync(executablePath)) {
      throw new Error(`no browser at ${executablePath}: apt-get install chromium (scripts/ui-tests.sh does)`);
    }
    browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
  }
  return browser;
}
after(async () => {
  if (browser) await browser.close();
});

// What went wrong in a page: console errors (including CSP violations and "Failed to load resource"), uncaught
// exceptions, requests that failed at the network level, and responses with a status >= 400.
function watch(page) {
  const seen = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') {
      const where = msg.location()?.url;
      seen.push(`console error: ${msg.text()}${where ? ` (at ${where})` : ''}`);
    }
  });
  page.on('pageerror', (error) => seen.push(`page error: ${error.stack || error.message}`));
  page.on('requestfailed', (request) => {
    const reason = request.failure()?.errorText ?? 'failed';
    // A request cut short by a navigation (a reload, a new page) is not the page's fault.
    if (reason === 'net::ERR_ABORTED') return;
    seen.push(`request failed: ${request.method()} ${request.url()}: ${reason}`);
  });
  page.on('response', (response) => {
    if (response.status() >= 400) {
      seen.push(`HTTP ${response.status()}: ${response.request().method()} ${response.url()}`);
    }
  });
  return {
    get all() {
      return [...seen];
    },
    unexpected({ allow = [] } = {}) {
      return seen.filter((entry) => !allow.some((pattern) => pattern.test(entry)));
    },
    assertNone({ allow = [] } = {}) {
      const left = this.unexpected({ allow });
      assert.deepEqual(left, [], `the page reported problems:\n  ${left.join('\n  ')}`);
    },
  };
}

function fileName(name) {
  return name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 120) || 'test';
}

export function uiTest(name, fn, options = {}) {
  // `context`: options of the browser context (a viewport, bypassCSP); the rest are node:test's.
  const { context: contextOptions = {}, ...testOptions } = options;
  test(name, { timeout: 60_000, ...testOptions }, async (t) => {
    const context = await (await theBrowser()).newContext({ baseURL: BASE, ...contextOptions });
    context.setDefaultTimeout(TIMEOUT_MS);
    context.setDefaultNavigationTimeout(TIMEOUT_MS);
    const page = await context.newPage();
    const problems = watch(page);
    try {
      await fn({ page, context, problems, t });
    } catch (error) {
      mkdirSync(screenshots, { recursive: true });
      const shot = path.join(screenshots, `${fileName(name)}.png`);
      try {
        await page.screenshot({ path: shot, fullPage: true, timeout: TIMEOUT_MS });
        t.diagnostic(`screenshot: ${shot}`);
      } catch (shotError) {
        t.diagnostic(`no screenshot: ${shotError.message}`);
      }
      t.diagnostic(`page: ${page.url()}`);
      for (const entry of problems.all) t.diagnostic(entry);
      throw error;
    } finally {
      await context.close();
    }
  });
}

// A short description of an answer that is not what was expected, for assertion messages.
async function describe(response) {
  let body = '';
  try {
    body = (await response.text()).replace(/\s+/g, ' ').slice(0, 300);
  } catch {
    // no body (a redirect, a HEAD)
  }
  return `HTTP ${response.status()} ${response.headers()['content-type'] ?? '(no content type)'}: ${body}`;
}

export async function open(page, where = '/') {
  const response = await page.goto(where);
  assert.ok(response, `no response for ${where}`);
  const type = response.headers()['content-type'] ?? '';
  if (response.status() !== 200 || !type.startsWith('text/html')) {
    assert.fail(`GET ${where} should answer 200 text/html, got ${await describe(response)}`);
  }
  return response;
}

export async function submitKey(page, key) {
  await page.locator('#key').fill(key);
  await page.locator('#sign-in').click();
}

export async function signIn(page, key = KEY) {
  await open(page, '/');
  await submitKey(page, key);
  await page.waitForURL((url) => url.hash === '#/tenants');
}

// ------------------------------------------------------------------------------------------------------------
// Arranging state and checking outcomes through the API (not the page), and waiting for the page.
//
//   apiCall(method, path, body, { key, type, headers })
//       calls the API with the operator key (or `key`); `path` may start with /v1 or not; a string body is sent
//       as is (Content-Type `type`, default application/json), anything else as JSON. Answers
//       { status, data, headers } and never throws on an HTTP error: assert on `status`.
//   apiOk(method, path, body, options)  the same, but fails the test unless the answer is 2xx; answers `data`
//   freshTenant(prefix, file = 'examples/small-business-m365.toml')
//       creates a tenant from `file` with its [tenant] id replaced by a unique `${prefix}-…`; answers the id.
//       Tests that change data use their own tenant, so they neither disturb nor depend on the others.
//   go(page, hash)                  sets location.hash (a same-document navigation: the session stays)
//   tenantTab(page, tenant, tab, item)  go to #/t/{tenant}/{tab}[/{item}] and wait until that tab's frame is
//                                   mounted; fails with the page's error when it shows one instead
//   until(fn, message, timeout)     polls fn() until it answers truthy; fails with `message` (a string or a
//                                   function of the last value) after `timeout` ms (default TIMEOUT_MS)
//   textOf(locator)                 its textContent, whitespace collapsed
export async function apiCall(method, where, body, { key = KEY, type, headers = {} } = {}) {
  const url = `${BASE}${where.startsWith('/v1/') ? '' : '/v1'}${where}`;
  const init = { method, headers: { Accept: 'application/json', Authorization: `Bearer ${key}`, ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers['Content-Type'] = typeof body === 'string' ? (type || 'application/json') : 'application/json';
  }
  const response = await fetch(url, init);
  const text = await response.text();
  let data = text;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, data, headers: response.headers };
}

export async function apiOk(method, where, body, options) {
  const answer = await apiCall(method, where, body, options);
  assert.ok(
    answer.status >= 200 && answer.status < 300,
    `${method} ${where} answered ${answer.status}: ${JSON.stringify(answer.data)}`,
  );
  return answer.data;
}

let tenantCount = 0;
export async function freshTenant(prefix, file = 'examples/small-business-m365.toml') {
  const text = readFileSync(path.resolve(here, '..', file), 'utf8');
  tenantCount += 1;
  const id = `${prefix}-${process.pid}-${Date.now().toString(36)}-${tenantCount}`.toLowerCase();
  let replaced = false;
  // Only the id of the [tenant] table: the first `id = "…"` line after `[tenant]`, before the next table.
  const out = text.replace(/(^\[tenant\][^[]*?^id\s*=\s*)"[^"]*"/m, (_, head) => {
    replaced = true;
    return `${head}"${id}"`;
  });
  assert.ok(replaced, `${file} has no [tenant] id = "…" line`);
  const created = await apiCall('POST', '/tenants', out, { type: 'application/toml' });
  assert.equal(created.status, 201, `creating tenant ${id} from ${file}: HTTP ${created.status} ${JSON.stringify(created.data)}`);
  assert.equal(created.data.id, id, `the new tenant came back as ${created.data.id}, not ${id}`);
  return id;
}

export async function go(page, hash) {
  await page.evaluate((h) => {
    window.location.hash = h;
  }, hash);
}

export async function tenantTab(page, tenant, tab = 'audit', item) {
  const hash = `#/t/${encodeURIComponent(tenant)}/${tab}${item ? `/${encodeURIComponent(item)}` : ''}`;
  await go(page, hash);
  await page.waitForURL((url) => url.hash === hash);
  const frame = page.locator(`section.tenant[data-tenant="${cssString(tenant)}"] nav.tabs a[data-tab="${tab}"][aria-current="page"]`);
  // A page that failed to render shows one error notice instead of the tenant's frame: fail with its words.
  const failed = page.locator('#app > section:not(.tenant) > .notice.error');
  await frame.or(failed).first().waitFor();
  if (!(await frame.count())) assert.fail(`${hash} shows an error instead of the page: ${await failed.first().textContent()}`);
}

/** A string for a CSS attribute selector between double quotes. */
export function cssString(s) {
  return String(s).replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}

export async function until(fn, message, timeout = TIMEOUT_MS) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > end) assert.fail(typeof message === 'function' ? message(last) : message);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function textOf(locator) {
  return ((await locator.textContent()) ?? '').replace(/\s+/g, ' ').trim();
}
