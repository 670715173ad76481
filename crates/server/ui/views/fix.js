// Applying a fix (ENF-6) from the audit or a flow's decision: the fix becomes a plan of API calls (buy the
// units that are missing, allocate them, assign them), shown with its cost before anything changes, then run
// step by step. The steps are separate writes: if one fails, the ones before it stay done, and the panel says
// which.

import { api, seg } from '../api.js';
import { h, mount, notice, fixText, flash, ruleChip } from '../dom.js';

/** Units of `sku` bought and not yet assigned or allocated (the cost report's usage lines). */
async function unitsFree(tenant, sku) {
  const { data } = await api('GET', `/tenants/${seg(tenant)}/cost`);
  const line = (data.usage || []).find((u) => u.sku === sku);
  return line ? line.available : 0;
}

function buyStep(tenant, at, sku, quantity) {
  return {
    label: `Buy ${quantity} × ${sku} (admin purchase, from ${at})`,
    preview: async () => {
      const { data } = await api('POST', `/tenants/${seg(tenant)}/purchases:preview`, { body: { sku, quantity } });
      const cost = data.monthly_cost ? `${data.currency} ${data.monthly_cost}/month` : 'no price';
      return data.accepted ? cost : `refused: ${(data.problems || []).map((p) => `${p.rule} ${p.message}`).join('; ')}`;
    },
    run: () => api('POST', `/tenants/${seg(tenant)}/subscriptions`, { body: { sku, quantity, channel: 'admin', start: at } }),
  };
}

function allocateStep(tenant, env, sku, units) {
  return {
    label: `Allocate ${units} more ${sku} to environment ${env}`,
    run: async () => {
      const path = `/tenants/${seg(tenant)}/environments/${seg(env)}/allocations`;
      const { data } = await api('GET', path);
      const held = (data.currencyAllocations || []).find((a) => a.currencyType === sku);
      return api('PATCH', path, { body: { currencyAllocations: [{ currencyType: sku, allocated: (held ? held.allocated : 0) + units }] } });
    },
  };
}

/**
 * The steps of a fix, or null when it is not one this page applies (associating a flow with an app needs a
 * choice only its maker can make). `flow` is the flow the fix is for, `env` its environment. A fix states what
 * it buys (`buy`) and allocates (`allocate` to `environment`): the engine checked, in a dry run of exactly these
 * steps, that they turn the decision; the page follows them (a fix without them, from an older server, is planned
 * from the units free now).
 */
export async function planFix(ctx, fix, flow, env) {
  const { tenant, summary } = ctx;
  const at = summary.at;
  switch (fix.action) {
    case 'combined': {
      const steps = [];
      for (const step of fix.steps || []) {
        const planned = await planFix(ctx, step, flow, env);
        if (!planned) return null;
        steps.push(...planned);
      }
      return steps;
    }
    case 'assign-license': {
      const users = (fix.target || '').split(',').map((s) => s.trim()).filter(Boolean);
      const short = fix.buy ?? Math.max(0, users.length - (await unitsFree(tenant, fix.sku)));
      return [
        ...(short ? [buyStep(tenant, at, fix.sku, short)] : []),
        ...users.map((u) => ({
          label: `Assign ${fix.sku} to ${u}`,
          dry: () => api('POST', `/tenants/${seg(tenant)}/users/${seg(u)}/assignLicense`, {
            query: { dry_run: true }, body: { addLicenses: [{ skuId: fix.sku }], removeLicenses: [] },
          }),
          run: () => api('POST', `/tenants/${seg(tenant)}/users/${seg(u)}/assignLicense`, {
            body: { addLicenses: [{ skuId: fix.sku }], removeLicenses: [] },
          }),
        })),
      ];
    }
    case 'assign-process-license':
    case 'allocate-capacity': {
      const target = fix.environment || (fix.action === 'allocate-capacity' ? fix.target : env);
      const steps = [];
      let allocate = fix.allocate;
      let buy = fix.buy;
      if (allocate === undefined) {
        // An older server: a fix that costs nothing used units the environment already held.
        allocate = Number(fix.monthly_cost || 0) > 0 ? 1 : 0;
        buy = allocate && (await unitsFree(tenant, fix.sku)) < 1 ? 1 : 0;
      }
      if (buy > 0) steps.push(buyStep(tenant, at, fix.sku, buy));
      if (allocate > 0) steps.push(allocateStep(tenant, target, fix.sku, allocate));
      if (fix.action === 'assign-process-license') {
        steps.push({
          label: `Set flow ${fix.target} to its process licence`,
          dry: () => api('PUT', `/tenants/${seg(tenant)}/flows/${seg(fix.target)}/license`, { query: { dry_run: true }, body: { license: 'process' } }),
          run: () => api('PUT', `/tenants/${seg(tenant)}/flows/${seg(fix.target)}/license`, { body: { license: 'process' } }),
        });
      }
      return steps;
    }
    case 'change-owner': {
      // PATCH needs the flow's ETag in If-Match, so a change made meanwhile is not overwritten.
      const path = `/tenants/${seg(tenant)}/flows/${seg(flow)}`;
      const patch = async (query) => {
        const { etag } = await api('GET', path);
        return api('PATCH', path, { query, body: { owner: fix.target }, headers: { 'If-Match': etag } });
      };
      return [{
        label: `Make ${fix.target} the owner of ${flow}`,
        dry: () => patch({ dry_run: true }),
        run: () => patch(),
      }];
    }
    case 'buy-license':
      return [buyStep(tenant, at, fix.sku, fix.quantity || 1)];
    default:
      return null;
  }
}

/** A "Fix…" button that opens the plan of `fix` under it; `done` runs after the plan has been applied. */
export function fixButton(ctx, fix, flow, env, done) {
  const panel = h('div', { class: 'fix-panel', hidden: true });
  const button = h('button', {
    type: 'button', class: 'small', dataset: { fix: fix.action, flow },
    onclick: async () => {
      if (!panel.hidden) { panel.hidden = true; return; }
      panel.hidden = false;
      mount(panel, h('p', { class: 'loading' }, 'Planning…'));
      try {
        mount(panel, await planPanel(ctx, fix, flow, env, done));
      } catch (e) {
        mount(panel, notice('error', e.message));
      }
    },
  }, 'Fix…');
  return h('div', { class: 'fix' }, h('span', {}, fixText(fix), ' ', ruleChip(fix.rule)), ' ', button, panel);
}

async function planPanel(ctx, fix, flow, env, done) {
  const steps = await planFix(ctx, fix, flow, env);
  if (!steps) {
    return notice('info', 'This fix needs a choice this page cannot make for you (which app to associate): make it in the maker portal or with PATCH /flows/{id}.');
  }
  const rows = steps.map((step) => h('li', { class: 'step' }, step.label, ' ', h('span', { class: 'step-status' })));
  // The engine lists a fix only if a dry run of all its steps, together, turns the decision (ENF-6); the dry runs
  // below are of one step at a time, on the tenant as it is now.
  const checked = fix.rule === 'BUY-6'
    ? null
    : h('p', { class: 'meta fix-turns' }, `All the steps together turn ${flow || 'the decision'} allowed (checked by the engine in a dry run).`);
  for (const [i, step] of steps.entries()) {
    const status = rows[i].querySelector('.step-status');
    try {
      if (step.preview) status.textContent = `(${await step.preview()})`;
      else if (step.dry && steps.slice(0, i).every((s) => s.dry)) {
        // A dry run only says the truth while no purchase has to come first.
        const { data } = await step.dry();
        status.textContent = flipsText(data.flips);
      }
    } catch (e) {
      status.textContent = `(${e.message})`;
    }
  }
  const result = h('div', { class: 'fix-result' });
  const apply = h('button', {
    type: 'button', class: 'primary', dataset: { apply: fix.action },
    onclick: async () => {
      apply.disabled = true;
      for (const [i, step] of steps.entries()) {
        const status = rows[i].querySelector('.step-status');
        try {
          await step.run();
          status.textContent = '✓ done';
          rows[i].classList.add('done');
        } catch (e) {
          status.textContent = `✗ ${e.message}`;
          rows[i].classList.add('failed');
          mount(result, notice('error', `Stopped at step ${i + 1}: ${e.message}. The steps before it are done.`));
          return;
        }
      }
      mount(result, notice('ok', 'Applied.'));
      flash(`Applied: ${fixText(fix)}.`);
      done?.();
    },
  }, 'Apply');
  return h('div', {}, h('ol', { class: 'steps' }, rows), checked, apply, result);
}

/** "turns invoice-sync (flow) allowed" from a dry run's flips. */
export function flipsText(flips) {
  if (!flips || !flips.length) return '(turns no decision)';
  return `(turns ${flips.map((f) => `${f.id} (${f.kind}) ${f.allowed_after ? 'allowed' : 'denied'}`).join(', ')})`;
}
