// Webhooks of a tenant (issue 14; operators and global admins manage them, nobody else may read them): endpoints
// subscribed to event types, every delivery signed as Standard Webhooks says. A new endpoint's secret, and a
// rotated one, is shown once, here only. Each endpoint has its page: its settings, its secret's rotation, its
// removal, and its delivery log (state and last answer of each delivery, one delivery's every attempt, replay).

import { api, seg } from '../api.js';
import { h, table, mount, notice, chips, fact, flash, codeText } from '../dom.js';

const LOG_PAGE = 50;

export async function webhooksView({ tenant, refresh }, item) {
  const base = `/tenants/${seg(tenant)}/webhooks`;
  if (item) return endpointView(tenant, base, item, refresh);
  const { data } = await api('GET', base);
  const link = (e) => h('a', { href: `#/t/${seg(tenant)}/webhooks/${seg(e.id)}` }, e.url);
  const listBox = h('div', { id: 'hooks-list' });
  const drawList = (endpoints) => mount(listBox, table([
    ['Endpoint', link, { sort: 'url' }],
    ['Event types', (e) => (e.types.length ? chips(e.types) : 'every type')],
    ['Status', status, { sort: 'status' }],
    ['Description', (e) => e.description],
    ['Created', (e) => e.created.slice(0, 10), { sort: 'created', nowrap: true }],
  ], endpoints, {
    id: 'hooks',
    caption: 'Webhook endpoints',
    empty: 'No webhook endpoint yet: add one below to hear about this tenant\'s events as they happen.',
    rowAttrs: (e) => ({ dataset: { endpoint: e.id } }),
  }));
  drawList(data.endpoints);
  const result = h('div', { id: 'hook-result', 'aria-live': 'polite' });
  const form = endpointForm('new-hook', data.types, {}, 'Add', async (spec) => {
    const { data: made } = await api('POST', base, { body: spec });
    // The secret stays in view under the form (this once: it is never shown again), the list is read again.
    mount(result, notice('ok', `Endpoint ${made.id} added. Its signing secret, shown this once (copy it now): `,
      h('code', { id: 'new-secret', class: 'secret' }, made.secret)));
    form.reset();
    drawList((await api('GET', base)).data.endpoints);
  });
  return h('div', { class: 'webhooks' },
    h('h2', {}, 'Webhooks'),
    h('p', { class: 'meta' }, codeText('Each event is POSTed to every endpoint subscribed to its type, signed with the endpoint\'s secret (`webhook-id`, `webhook-timestamp`, `webhook-signature`: HMAC-SHA256), and tried again with growing waits for 24 hours until it gets a 2xx answer.')),
    listBox,
    h('section', { class: 'new-hook' }, h('h2', {}, 'New endpoint'), form, result));
}

/** "active", "failing since …" or "disabled", as a badge. */
function status(e) {
  if (e.status === 'failing') return h('span', { class: 'badge bad', title: `gave up on a delivery on ${e.failing_since}` }, `failing since ${e.failing_since.slice(0, 10)}`);
  if (e.status === 'disabled') return h('span', { class: 'badge' }, 'disabled');
  return h('span', { class: 'badge ok' }, 'active');
}

/**
 * The fields of an endpoint (URL, description, event types; on an existing one, whether it is turned off), with
 * the API's refusal shown in the form itself. `save(spec)` makes the call.
 */
function endpointForm(id, types, current, label, save) {
  const url = h('input', { id: `${id}-url`, name: 'url', type: 'url', required: true, size: 40, placeholder: 'https://example.com/hooks/entitle', value: current.url || '' });
  const description = h('input', { id: `${id}-description`, name: 'description', maxlength: 500, size: 30, value: current.description || '' });
  const chosen = new Set(current.types || []);
  const boxes = types.map((t) => h('label', { class: 'type-choice' },
    h('input', { type: 'checkbox', name: 'types', value: t, checked: chosen.has(t) }), ' ', t));
  const count = h('span', { class: 'meta' });
  const counted = () => {
    const n = boxes.filter((b) => b.firstChild.checked).length;
    count.textContent = n ? ` (${n} chosen)` : ' (none chosen: every type)';
  };
  counted();
  const picker = h('details', { class: 'types', id: `${id}-types` },
    h('summary', {}, 'Event types', count),
    h('div', { class: 'type-grid', onchange: counted }, boxes));
  // An existing endpoint (it has a status) can be turned off and on again.
  const disabled = current.status
    ? h('label', {}, h('input', { id: `${id}-disabled`, type: 'checkbox', name: 'disabled', checked: current.status === 'disabled' }), ' Turned off (nothing is sent)')
    : null;
  const error = h('div', { id: `${id}-error` });
  return h('form', {
    // (Checked here, with the answer in the form: the browser's bubble for a required field is easy to miss.)
    class: 'inline-form', id, novalidate: true,
    // (A reset form's boxes are cleared after the event: counted once they are.)
    onreset: () => setTimeout(counted),
    onsubmit: async (event) => {
      event.preventDefault();
      if (!url.value.trim()) {
        mount(error, notice('error', 'Give the URL the events are sent to.'));
        url.focus();
        return;
      }
      const spec = {
        url: url.value.trim(),
        description: description.value.trim(),
        types: boxes.filter((b) => b.firstChild.checked).map((b) => b.firstChild.value),
      };
      if (disabled) spec.disabled = disabled.firstChild.checked;
      try {
        mount(error);
        await save(spec);
      } catch (e) {
        mount(error, notice('error', codeText(e.message)));
      }
    },
  },
  h('label', { for: `${id}-url` }, 'URL'), url,
  h('label', { for: `${id}-description` }, 'Description'), description,
  picker, disabled,
  h('button', { type: 'submit', id: `${id}-save` }, label),
  error);
}

/** One endpoint: settings, rotation, removal, and its delivery log. */
async function endpointView(tenant, base, id, refresh) {
  const path = `${base}/${seg(id)}`;
  const [{ data: e }, { data: all }] = await Promise.all([api('GET', path), api('GET', base)]);
  const result = h('div', { id: 'hook-result', 'aria-live': 'polite' });
  const settings = endpointForm('edit-hook', all.types, e, 'Save', async (spec) => {
    await api('PATCH', path, { body: spec });
    flash('Endpoint saved.');
    refresh();
  });
  const rotate = h('button', {
    type: 'button', id: 'rotate-secret', class: 'small',
    onclick: async () => {
      try {
        const { data } = await api('POST', `${path}/secret:rotate`);
        mount(result, notice('ok', 'A new signing secret, shown this once (copy it now): ',
          h('code', { id: 'new-secret', class: 'secret' }, data.secret),
          `. The old one keeps signing beside it until ${data.previous_expires_at}, so receivers can move over without a gap.`));
      } catch (err) {
        mount(result, notice('error', codeText(err.message)));
      }
    },
  }, 'Rotate the secret');
  const removal = h('span', { id: 'delete-area' });
  const askDelete = () => mount(removal,
    h('span', { role: 'group', 'aria-label': 'Confirm deletion' },
      'Delete this endpoint and its delivery log? ',
      h('button', {
        type: 'button', id: 'delete-confirm', class: 'small danger',
        onclick: async () => {
          try {
            await api('DELETE', path);
            flash(`Endpoint ${id} deleted.`);
            window.location.hash = `#/t/${seg(tenant)}/webhooks`;
          } catch (err) {
            mount(result, notice('error', codeText(err.message)));
          }
        },
      }, 'Delete'), ' ',
      h('button', { type: 'button', id: 'delete-cancel', class: 'small', onclick: () => mount(removal, deleteButton) }, 'Cancel')));
  const deleteButton = h('button', { type: 'button', id: 'delete-hook', class: 'small', onclick: askDelete }, 'Delete…');
  mount(removal, deleteButton);
  const log = h('div', { id: 'deliveries' });
  await deliveries(path, log, result);
  return h('div', { class: 'webhook', dataset: { endpoint: id } },
    h('h2', {}, e.url),
    h('dl', { class: 'facts' },
      fact('Status', status(e)),
      fact('Event types', e.types.length ? chips(e.types) : 'every type'),
      fact('Description', e.description || '—'),
      fact('Created', e.created),
      fact('Signing secret', [h('code', {}, e.secret_hint), e.secrets_in_force > 1 ? ` (and ${e.secrets_in_force - 1} being rotated out)` : ''])),
    result,
    h('p', { class: 'actions' }, rotate, ' ', removal),
    h('section', {}, h('h2', {}, 'Settings'), settings),
    h('section', {}, h('h2', {}, 'Deliveries'), log),
    h('p', {}, h('a', { href: `#/t/${seg(tenant)}/webhooks`, class: 'back' }, 'Back to all endpoints')));
}

/** The delivery log, newest first, a page at a time ("Older" reads the next page under it). */
async function deliveries(path, box, result) {
  const rows = [];
  const more = h('div', { class: 'pager' });
  const holder = h('div', {});
  const draw = () => mount(holder, table([
    ['Event', (d) => [d.type, h('br'), h('code', { class: 'meta' }, d.event_id)]],
    ['State', (d) => h('span', { class: `badge ${d.state === 'delivered' ? 'ok' : d.state === 'failed' ? 'bad' : ''}` }, d.state)],
    ['Attempts', (d) => d.attempts, { num: true }],
    ['Last answer', (d) => lastAnswer(d.last)],
    ['Next attempt', (d) => (d.next_at ? d.next_at.replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : ''), { nowrap: true }],
    ['', (d) => h('span', { class: 'row-actions' },
      h('button', { type: 'button', class: 'small', dataset: { history: d.id }, 'aria-expanded': 'false', onclick: (ev) => history(path, d, ev.currentTarget) }, 'History'), ' ',
      h('button', { type: 'button', class: 'small', dataset: { replay: d.id }, onclick: () => replay(path, d, result, box) }, 'Replay'))],
  ], rows, {
    id: 'deliveries',
    caption: 'Deliveries, newest first',
    page: 1000,
    empty: 'Nothing delivered yet: an event of a subscribed type is sent within seconds of the change that made it.',
    rowAttrs: (d) => ({ dataset: { delivery: d.id, state: d.state, type: d.type } }),
  }));
  const load = async (before) => {
    const { data } = await api('GET', `${path}/deliveries`, { query: { limit: LOG_PAGE, ...(before ? { before } : {}) } });
    rows.push(...data.deliveries);
    draw();
    mount(more, data.next ? h('button', { type: 'button', class: 'small', id: 'older-deliveries', onclick: () => load(data.next).catch((e) => mount(more, notice('error', e.message))) }, 'Older deliveries') : null);
  };
  await load(null);
  return mount(box, holder, more);
}

function lastAnswer(a) {
  if (!a) return '';
  const what = a.status ? `HTTP ${a.status}` : (a.error || 'no answer');
  return h('span', { title: a.error || '' }, `${what} in ${a.duration_ms} ms`, a.status && a.error ? h('br') : null, a.status && a.error ? h('span', { class: 'meta' }, a.error) : null);
}

/** Every attempt of one delivery, shown under its row (and hidden again). */
async function history(path, d, button) {
  const row = button.closest('tr');
  const open = row.nextElementSibling?.classList.contains('history') ? row.nextElementSibling : null;
  if (open) {
    open.remove();
    button.setAttribute('aria-expanded', 'false');
    return;
  }
  const cell = h('td', { colspan: row.children.length });
  row.after(h('tr', { class: 'history', dataset: { historyOf: d.id } }, cell));
  button.setAttribute('aria-expanded', 'true');
  try {
    const { data } = await api('GET', `${path}/deliveries/${seg(d.id)}`);
    mount(cell, data.history.length
      ? h('ol', { class: 'attempts' }, data.history.map((a) => h('li', {}, `${a.at.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}: `, lastAnswer(a))))
      : h('p', { class: 'empty' }, 'Not tried yet.'));
  } catch (e) {
    mount(cell, notice('error', codeText(e.message)));
  }
}

async function replay(path, d, result, box) {
  try {
    await api('POST', `${path}/deliveries/${seg(d.id)}:replay`);
    mount(result, notice('ok', `Delivery of ${d.event_id} (${d.type}) is sent again now, with the same webhook-id.`));
    await deliveries(path, box, result);
  } catch (e) {
    mount(result, notice('error', codeText(e.message)));
  }
}
