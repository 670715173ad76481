// Licences: the monthly bill per SKU (BUY-6, CAT-3), units bought, assigned, allocated and free, the
// subscriptions, and a purchase checked against the admin's policy before it is made (BUY).

import { api, seg } from '../api.js';
import { h, table, rules, chips, notice, mount, money, number, card, findings, flash } from '../dom.js';

export async function licencesView(ctx) {
  const { tenant, summary, refresh } = ctx;
  const base = `/tenants/${seg(tenant)}`;
  const [{ data: cost }, { data: subs }] = await Promise.all([
    api('GET', `${base}/cost`),
    api('GET', `${base}/subscriptions`),
  ]);
  return h('div', {},
    h('div', { class: 'cards' }, card('per month', money(cost.total), { id: 'monthly-total' })),
    h('h2', {}, 'Units'),
    table([
      ['SKU', (u) => u.sku, { sort: 'sku' }],
      ['Bought', (u) => u.purchased, { num: true, sort: 'purchased' }],
      ['Assigned', (u) => u.assigned, { num: true, sort: 'assigned' }],
      ['Allocated', (u) => u.allocated, { num: true, sort: 'allocated' }],
      ['Free', (u) => u.available, { num: true, sort: 'available' }],
      ['Held by', (u) => heldBy(u.holders)],
    ], cost.usage || [], { id: 'units', empty: 'Nothing bought.', rowAttrs: (u) => ({ dataset: { sku: u.sku } }) }),
    h('h2', {}, 'Monthly bill'),
    table([
      ['SKU', (l) => l.sku, { sort: 'sku' }],
      ['Name', (l) => l.name, { sort: 'name' }],
      ['Quantity', (l) => l.quantity, { num: true, sort: 'quantity' }],
      ['Unit price', (l) => `${l.unit_price.currency} ${l.unit_price.amount}`, { num: true }],
      ['Per month', (l) => `${l.monthly.currency} ${l.monthly.amount}`, { num: true, sort: (l) => `${l.monthly.currency} ${Number(l.monthly.amount).toFixed(2).padStart(16, '0')}` }],
      ['Channel', (l) => l.channel, { sort: 'channel' }],
      ['Billed to', (l) => l.billed_to, { sort: 'billed_to' }],
    ], cost.lines || [], { id: 'bill', empty: 'No subscription.' }),
    h('p', {}, 'Rules: ', rules(cost.rules)),
    cost.problems?.length ? findings(cost.problems, 'problems') : null,
    h('h2', {}, 'Subscriptions'),
    table([
      ['#', (s) => s.id || String(subs.indexOf(s)), { sort: 'id' }],
      ['SKU', (s) => s.sku, { sort: 'sku' }],
      ['Quantity', (s) => s.quantity, { num: true, sort: 'quantity' }],
      ['Channel', (s) => s.channel, { sort: 'channel' }],
      ['Buyer', (s) => s.buyer || '', { sort: 'buyer' }],
      ['From', (s) => s.start || '', { sort: 'start' }],
      ['Until', (s) => s.end || '', { sort: 'end' }],
    ], subs, { id: 'subscriptions', empty: 'No subscription.' }),
    buyForm(tenant, summary, cost, refresh));
}

/** purchases:preview first (accepted? what it costs, under which rules), then the purchase itself. */
function buyForm(tenant, summary, cost, refresh) {
  const base = `/tenants/${seg(tenant)}`;
  const known = h('datalist', { id: 'known-skus' }, (cost.usage || []).map((u) => h('option', { value: u.sku })));
  const sku = h('input', { id: 'buy-sku', name: 'sku', list: 'known-skus', required: true, placeholder: 'power-automate-premium', spellcheck: 'false' });
  const quantity = h('input', { id: 'buy-quantity', name: 'quantity', type: 'number', min: 1, value: 1, required: true });
  const result = h('div', { id: 'buy-result' });
  return h('form', {
    class: 'inline-form',
    onsubmit: async (event) => {
      event.preventDefault();
      const ask = { sku: sku.value.trim(), quantity: Number(quantity.value) };
      try {
        const { data } = await api('POST', `${base}/purchases:preview`, { body: ask });
        if (!data.accepted) {
          mount(result, notice('error', `Refused: ${(data.problems || []).map((p) => `${p.rule} ${p.message}`).join('; ')}`));
          return;
        }
        const apply = h('button', {
          type: 'button', class: 'primary', id: 'apply-buy',
          onclick: async () => {
            apply.disabled = true;
            try {
              await api('POST', `${base}/subscriptions`, { body: { ...ask, channel: 'admin', start: summary.at } });
              flash(`Bought ${ask.quantity} × ${ask.sku}.`);
              refresh();
            } catch (e) {
              mount(result, notice('error', e.message));
            }
          },
        }, 'Buy');
        mount(result, notice('info', `${ask.quantity} × ${ask.sku}: ${data.currency} ${data.monthly_cost} per month, billed to the ${data.billed_to} `, rules(data.rules), ' ', apply));
      } catch (e) {
        mount(result, notice('error', e.message));
      }
    },
  },
  h('h2', {}, 'Buy'),
  known,
  h('label', { for: 'buy-sku' }, 'SKU'), sku,
  h('label', { for: 'buy-quantity' }, 'Units'), quantity,
  h('button', { type: 'submit', id: 'preview-buy' }, 'Preview'),
  result);
}

/** Who holds a SKU: the first 20 as chips, then how many more (a big tenant's SKU has thousands of holders). */
function heldBy(holders = []) {
  const shown = holders.slice(0, 20);
  return [chips(shown), holders.length > shown.length ? h('span', { class: 'meta' }, ` and ${number(holders.length - shown.length)} more`) : null];
}
