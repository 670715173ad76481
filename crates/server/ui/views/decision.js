// A decision (a flow's or an app's) as the pages show it: the verdict, the licence, the rules in the order the
// engine applied them, why not, warnings, and the fixes, cheapest first, each applicable from here.

import { api } from '../api.js';
import { h, rules, verdict, notice, mount, licensedBy, findings } from '../dom.js';
import { fixButton } from './fix.js';

/**
 * A decision that can be asked again: `query()` gives the current inputs (as, user, at). `flow` and `env` are
 * what the fixes apply to. Answers {out, ask}: the node that shows it, and the function that (re)asks.
 */
export function decider(ctx, path, query, flow, env) {
  const out = h('div', { id: 'decision' });
  const ask = async () => {
    mount(out, h('p', { class: 'loading' }, 'Deciding…'));
    try {
      const { data: d } = await api('GET', path, { query: query() });
      mount(out, h('div', { class: 'decision' },
        h('p', { class: 'verdict' }, verdict(d.allowed), d.premium ? ' premium' : ' standard',
          ' · licensed by ', licensedBy(d.licensed_by), d.enforcement ? ` · enforcement ${d.enforcement}` : ''),
        h('p', {}, 'Rules applied, in order: ', rules(d.rules)),
        d.problems?.length ? [h('h3', {}, 'Why not'), findings(d.problems, 'problems')] : null,
        d.warnings?.length ? [h('h3', {}, 'Warnings'), findings(d.warnings)] : null,
        d.fixes?.length ? [h('h3', {}, 'Fixes, cheapest first'), d.fixes.map((fix) => fixButton(ctx, fix, flow, env, ctx.refresh))] : null));
    } catch (e) {
      mount(out, notice('error', e.message));
    }
  };
  return { out, ask };
}
