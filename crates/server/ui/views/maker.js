// A maker's own page (issue 14, ENF-3): what the events told the key's user, as in-product banners, newest first:
// notices that a flow will be turned off and when, turn-offs with the cheapest fix, flows back on, trials ending,
// licences given or taken. Read from GET /v1/me/notices; a maker key sees this page and no other (the admin
// pages read a whole tenant, which a maker may not).

import { api } from '../api.js';
import { h, rules, fixText, codeText } from '../dom.js';
import { NAMES, detail } from './timeline.js';

/** How many notices the page reads at most (newest kept): the API pages 100 at a time. */
const MOST = 1000;

/** What each kind of notice says to the maker, in a sentence. */
function headline(n) {
  const p = n.payload || {};
  const flows = p.flows || (p.flow ? [p.flow] : []);
  const named = flows.length ? flows.join(', ') : '';
  switch (n.type) {
    case 'enforcement.maker_notice':
      return `Your flow ${named} will be turned off on ${p.turn_off} unless it is licensed.`;
    case 'enforcement.admin_notice':
      return `Your admins were told that ${named} will be turned off on ${p.turn_off}.`;
    case 'flow.suspended':
      return p.state === 'created-off'
        ? `Your flow ${named} was created turned off: it needs a licence first.`
        : `Your flow ${named} was turned off.`;
    case 'flow.resumed':
      return `Your flow ${named} is licensed and on again.`;
    case 'enforcement.cleared':
      return `Your flow ${named} is licensed again: it will not be turned off.`;
    case 'trial.expiring':
      return `Your trial of ${p.sku} ends on ${p.expires}.`;
    case 'trial.expired':
      return `Your trial of ${p.sku} has ended.`;
    default:
      return NAMES[n.type] || n.type;
  }
}

/** Turned off, or about to be: said as an alert; the rest as status. */
const urgent = (t) => ['flow.suspended', 'enforcement.maker_notice'].includes(t);

function banner(n) {
  const p = n.payload || {};
  const kind = urgent(n.type) ? 'warn' : n.type === 'flow.resumed' || n.type === 'enforcement.cleared' ? 'ok' : 'info';
  return h('article', { class: `banner ${kind}`, dataset: { type: n.type, seq: String(n.seq) }, 'aria-labelledby': `notice-${n.seq}` },
    h('p', { class: 'banner-head' },
      h('time', { datetime: n.day }, n.day), ' ',
      h('strong', { id: `notice-${n.seq}` }, headline(n))),
    p.fix ? h('p', { class: 'fix' }, 'The fix: ', codeText(fixText(p.fix))) : null,
    // (The fix has its own line above.)
    h('p', { class: 'meta' }, detail({ ...p, fix: undefined }), ' ', rules(p.rules)));
}

export async function makerView(me) {
  const notices = [];
  let after;
  let more = false;
  // Oldest first from the API, a page at a time: read them all (up to MOST), then show the newest first.
  for (;;) {
    const { data } = await api('GET', '/me/notices', { query: { limit: 100, ...(after ? { after } : {}) } });
    notices.push(...data.notices);
    if (data.next == null) break;
    if (notices.length >= MOST) {
      more = true;
      break;
    }
    after = data.next;
  }
  notices.reverse();
  return h('section', { class: 'maker' },
    h('h1', { tabindex: '-1' }, `Your notices, ${me.user}`),
    h('p', { class: 'meta' }, `Tenant ${me.tenant}. What the licensing engine told you about your flows and licences, newest first.`),
    notices.length
      ? h('div', { id: 'notices', role: 'region', 'aria-label': 'Notices' },
        notices.map(banner),
        more ? h('p', { class: 'meta' }, `You have more than ${notices.length} notices: the oldest ${notices.length} are shown.`) : null)
      : h('p', { id: 'no-notices', class: 'empty' }, 'Nothing needs your attention: no notice about your flows or licences.'));
}
