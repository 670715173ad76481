// entitle admin: one page, hash routes, no build step and no dependency. Each view is a module under views/
// that reads the API and answers a node; this file holds the router, the sign-in and the tenant's frame.

import { api, ApiError, session, seg } from './api.js';
import { h, mount, notice, downloadButton, takeFlash, codeText } from './dom.js';
import { tenantsView } from './views/tenants.js';
import { auditView } from './views/audit.js';
import { planView } from './views/plan.js';
import { overviewView } from './views/overview.js';
import { flowsView, flowView } from './views/flows.js';
import { appsView, appView } from './views/apps.js';
import { environmentsView } from './views/environments.js';
import { usersView, userView } from './views/users.js';
import { licencesView } from './views/licences.js';
import { requestsView } from './views/requests.js';
import { usageView } from './views/usage.js';
import { capacityView } from './views/capacity.js';
import { consumptionView } from './views/consumption.js';
import { timelineView } from './views/timeline.js';
import { changesView } from './views/changes.js';
import { keysView } from './views/keys.js';
import { webhooksView } from './views/webhooks.js';
import { makerView } from './views/maker.js';

const root = document.getElementById('app');
const crumbs = document.getElementById('crumbs');
const signOutButton = document.getElementById('sign-out');

/** The tabs of a tenant, in order: [route segment, label, view, the roles that see it (default: all)]. */
const TABS = [
  ['overview', 'Overview', overviewView],
  ['audit', 'Audit', auditView],
  ['timeline', 'Timeline', timelineView],
  ['plan', 'Plan', planView],
  ['flows', 'Flows', flowsView],
  ['apps', 'Apps', appsView],
  ['environments', 'Environments', environmentsView],
  ['users', 'Users', usersView],
  ['licences', 'Licences', licencesView],
  ['requests', 'Licence requests', requestsView],
  ['usage', 'API usage', usageView],
  ['capacity', 'Capacity', capacityView],
  // A month in the route: #/t/{tenant}/consumption/{YYYY-MM}.
  ['consumption', 'Consumption', consumptionView],
  ['changes', 'Changes', changesView],
  // Only these roles manage keys and webhooks (policy.rs); others would get 403.
  ['keys', 'Keys', keysView, ['operator', 'global-admin']],
  // An endpoint in the route: #/t/{tenant}/webhooks/{id}.
  ['webhooks', 'Webhooks', webhooksView, ['operator', 'global-admin']],
];

let generation = 0;
/** Who the signed-in key is (GET /v1/me), read once per sign-in. */
let me = null;
const who = document.getElementById('who');

/** A path segment of the hash; a malformed escape is taken as it stands (it then names nothing). */
function decode(part) {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/** Shows whatever the hash names. A newer navigation wins over a slower older one. */
async function route() {
  const mine = ++generation;
  const parts = window.location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decode);
  signOutButton.hidden = !session.key();
  if (!session.key()) {
    mount(crumbs);
    mount(root, signInView());
    document.getElementById('key')?.focus();
    return;
  }
  if (parts.length === 0) {
    window.location.hash = '#/tenants';
    return;
  }
  mount(root, h('p', { class: 'loading' }, 'Loading…'));
  let node;
  try {
    if (!me) {
      const { data } = await api('GET', '/me');
      me = data;
      who.textContent = describe(me);
    }
    // A maker key has its own page and no other: the admin pages read a whole tenant, which a maker may not.
    if (me.role === 'maker' && parts.join('/') !== 'me') {
      window.location.hash = '#/me';
      return;
    }
    node = await render(parts);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      forget();
      if (mine === generation) {
        signOutButton.hidden = true;
        mount(crumbs);
        mount(root, signInView(`Signed out: ${e.message}`));
      }
      return;
    }
    node = errorPage(e, '#/tenants', 'the tenants');
  }
  if (mine === generation) {
    mount(root, node);
    root.querySelector('h1')?.focus?.();
    // On a phone the tabs scroll sideways in their own strip: the current one is brought into it.
    const current = root.querySelector('nav.tabs a[aria-current="page"]');
    const strip = current?.parentElement;
    if (current && strip.scrollWidth > strip.clientWidth) strip.scrollLeft = current.offsetLeft - strip.offsetLeft - 16;
  }
}

async function render(parts) {
  const [first, tenant, tab, item] = parts;
  if (first === 'me' && parts.length === 1) {
    if (me.role !== 'maker') return notFound('This page is a maker\'s own: the notices of a maker key\'s user. ');
    mount(crumbs, h('span', {}, 'Your notices'));
    return makerView(me);
  }
  if (first === 'tenants' && parts.length === 1) {
    setCrumbs([]);
    return tenantsView({ me, refresh: route });
  }
  if (first === 't' && tenant) {
    const chosen = tab || 'overview';
    const entry = TABS.find(([name]) => name === chosen);
    if (!entry) return notFound();
    setCrumbs([[tenant, `#/t/${seg(tenant)}`], ...(tab ? [[entry[1], `#/t/${seg(tenant)}/${chosen}`]] : []), ...(item ? [[item, null]] : [])]);
    const { data: summary } = await api('GET', `/tenants/${seg(tenant)}`);
    const ctx = { me, tenant, summary, refresh: route };
    if (item && !['flows', 'users', 'apps', 'consumption', 'webhooks'].includes(chosen)) return notFound();
    let body;
    try {
      if (item && chosen === 'flows') body = await flowView(ctx, item);
      else if (item && chosen === 'users') body = await userView(ctx, item);
      else if (item && chosen === 'apps') body = await appView(ctx, item);
      else body = await entry[2](ctx, item);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) throw e;
      // The tenant is there: keep its tabs, and offer the way back to the list the page came from.
      body = errorPage(e, `#/t/${seg(tenant)}/${chosen}`, item && chosen !== 'consumption' ? `all ${entry[1].toLowerCase()}` : entry[1]);
    }
    return tenantFrame(ctx, chosen, body);
  }
  return notFound();
}

/** An error in place of a page: what went wrong, and a link back to where one can go on. */
function errorPage(e, back, label) {
  return h('section', { class: 'error-page' },
    notice('error', codeText(e instanceof ApiError ? e.message : `Something went wrong: ${e.message}`)),
    h('p', {}, h('a', { href: back, class: 'back' }, `Back to ${label}`)));
}

function notFound(why = 'No page here. ') {
  setCrumbs([]);
  return h('section', {}, h('h1', { tabindex: '-1' }, 'Not found'), h('p', {}, why, h('a', { href: '#/tenants' }, 'Back to the tenants.')));
}

function setCrumbs(items) {
  mount(crumbs, h('a', { href: '#/tenants' }, 'Tenants'),
    items.map(([label, href]) => [h('span', { class: 'sep', 'aria-hidden': 'true' }, '/'), href ? h('a', { href }, label) : h('span', {}, label)]));
}

function tenantFrame(ctx, current, body) {
  const { tenant, summary } = ctx;
  return h('section', { class: 'tenant', dataset: { tenant } },
    h('div', { class: 'tenant-head' },
      h('h1', { tabindex: '-1' }, tenant),
      h('span', { class: 'meta' },
        `evaluated on ${summary.at} · catalog ${summary.catalog} · version ${summary.version}`),
      downloadButton('export', 'Export scenario', `/tenants/${seg(tenant)}/export`, `${tenant}.toml`, { format: 'toml' }, 'application/toml')),
    h('nav', { class: 'tabs', 'aria-label': 'Tenant' },
      TABS.filter(([, , , roles]) => !roles || roles.includes(ctx.me?.role)).map(([name, label]) => h('a', {
        href: `#/t/${seg(tenant)}/${name}`,
        dataset: { tab: name },
        'aria-current': name === current ? 'page' : null,
      }, label))),
    h('div', { id: 'flash' }, takeFlash()),
    body);
}

function signInView(message) {
  const error = h('p', { id: 'error', class: 'notice error', role: 'alert', hidden: !message }, message || '');
  const input = h('input', { id: 'key', name: 'key', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' });
  const form = h('form', { class: 'sign-in', onsubmit: submit, novalidate: true },
    h('h1', {}, 'Sign in'),
    h('p', {}, codeText('Paste an API key: an operator key (`entitle key create --role operator`, or `ENTITLE_ADMIN_KEY` at first start) or a tenant admin\'s key; a maker\'s key opens the maker\'s own notices. It stays in this tab only.')),
    h('label', { for: 'key' }, 'API key'),
    input,
    h('button', { id: 'sign-in', type: 'submit' }, 'Sign in'),
    error);

  async function submit(event) {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) {
      // Said on the page: the browser's own bubble for a required field is easy to miss (and absent headless).
      error.hidden = false;
      error.textContent = 'Enter an API key: the field is empty.';
      input.focus();
      return;
    }
    let role;
    try {
      ({ data: { role } } = await api('GET', '/me', { key }));
    } catch (e) {
      error.hidden = false;
      error.textContent = e.status === 401
        ? `The key was refused (401): ${e.problem.detail || 'unknown key'}`
        : e.message;
      return;
    }
    session.signIn(key);
    // A deep link opened before signing in is kept; otherwise the tenants (a maker: its notices).
    if (role === 'maker') window.location.hash = '#/me';
    else if (!window.location.hash || window.location.hash === '#/') window.location.hash = '#/tenants';
    else route();
  }
  return form;
}


/** "operator", "global-admin of acme", "maker mia of acme". */
function describe(k) {
  const user = k.user ? ` ${k.user}` : '';
  const envs = k.environments?.length ? ` (${k.environments.join(', ')})` : '';
  return `${k.role}${user}${envs}${k.tenant ? ` of ${k.tenant}` : ''} · ${k.key_id}`;
}

function forget() {
  session.signOut();
  me = null;
  who.textContent = '';
}

signOutButton.addEventListener('click', () => {
  forget();
  window.location.hash = '#/';
  route();
});
window.addEventListener('hashchange', route);
route();
