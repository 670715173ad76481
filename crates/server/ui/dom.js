import { api } from './api.js';

// Building the page. Every text that comes from the API goes in through text nodes (never innerHTML), so a
// tenant's data cannot inject markup; the Content-Security-Policy forbids inline script as a second line.

/** An element: h('a', {href: '#/x', class: 'y'}, 'text', child, [more children]). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** Replaces the children of `el`. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/**
 * The one table of every page. `columns` are [heading, (row) => cell content, options] with options
 * { num: true } (right-aligned, numbers with thousands separators), { sort: key or (row) => value } (the column
 * sorts: a click on its heading, again for the other order) and { key } (the field the server sorts by).
 *
 * Rows come either whole (`rows`: the page sorts, filters and pages them itself) or a page at a time from the
 * server (`serverTable`, whose `load` answers {rows, total} for {q, sort, order, status, limit, offset}).
 * Options: `search` (fields searched, locally), `statuses` ([[value, label], …] for a status filter, with
 * `statusOf(row)` locally), `empty`, `rowAttrs(row)`, `caption`, `page` (rows per page), `id` (a prefix for
 * the controls' ids), `sort`/`order` (the initial order). The table scrolls inside its own box on a narrow
 * screen; the page never does. { nowrap: true } keeps a cell on one line (a date).
 */
export function table(columns, rows, opts = {}) {
  const { search, statusOf, page = 250 } = opts;
  // Nothing to list and nothing to filter: the sentence alone.
  if (!rows.length) return h('p', { class: 'empty' }, opts.empty || 'Nothing here.');
  const value = (r, col) => {
    const s = col[2]?.sort;
    return typeof s === 'function' ? s(r) : r?.[s];
  };
  const load = async (st) => {
    let out = rows;
    if (st.q && search) {
      const q = st.q.toLowerCase();
      out = out.filter((r) => search.some((f) => String(r[f] ?? '').toLowerCase().includes(q)));
    }
    if (st.status && statusOf) out = out.filter((r) => statusOf(r) === st.status);
    if (st.sort != null) {
      const col = columns[st.sort];
      const dir = st.order === 'desc' ? -1 : 1;
      out = out.map((r, i) => [r, i]).sort(([a, i], [b, j]) => dir * compare(value(a, col), value(b, col)) || i - j).map(([r]) => r);
    }
    return { rows: out.slice(st.offset, st.offset + page), total: out.length };
  };
  const t = tableCore(columns, { ...opts, search: !!search, local: true }, load);
  // Local rows: the first page is drawn at once.
  t.draw();
  return t.node;
}

/** A table whose rows the server pages, sorts and filters; answers its node once the first page is drawn. */
export async function serverTable(columns, load, opts = {}) {
  const t = tableCore(columns, { ...opts, search: opts.search !== false }, load);
  await t.draw();
  return t.node;
}

function compare(a, b) {
  if (a == null || a === '') return b == null || b === '' ? 0 : 1;
  if (b == null || b === '') return -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b), 'en', { numeric: true });
}

function tableCore(columns, opts, load) {
  const { empty = 'Nothing here.', rowAttrs, caption, page = 250, statuses, id = 'table', local } = opts;
  const st = { q: '', sort: null, order: 'asc', status: '', offset: 0 };
  if (opts.sort != null) {
    st.sort = local ? columns.findIndex((c) => c[2]?.sort === opts.sort || c[0] === opts.sort) : opts.sort;
    if (st.sort === -1) st.sort = null;
    st.order = opts.order || 'asc';
  }
  const node = h('div', { class: 'table data-table', dataset: { table: id } });
  const box = h('div', { class: 'table-box' });
  const status = h('p', { class: 'meta table-count', role: 'status' });
  const pager = h('div', { class: 'pager' });
  let everFilled = false;
  const keyOf = (col, i) => (local ? i : col[2]?.key);
  const sortable = (col) => (local ? col[2]?.sort != null : col[2]?.key != null);

  const cell = (col, r) => {
    const v = col[1](r);
    const cls = [col[2]?.num ? 'num' : '', col[2]?.nowrap ? 'nowrap' : ''].filter(Boolean).join(' ');
    return h('td', cls ? { class: cls } : {}, typeof v === 'number' ? number(v) : v);
  };
  const head = () => h('thead', {}, h('tr', {}, columns.map((col, i) => {
    const k = keyOf(col, i);
    const on = sortable(col) && st.sort === k;
    const attrs = { scope: 'col', class: col[2]?.num ? 'num' : null, 'aria-sort': sortable(col) ? (on ? (st.order === 'desc' ? 'descending' : 'ascending') : 'none') : null };
    if (!sortable(col)) return h('th', attrs, col[0]);
    return h('th', attrs, h('button', {
      type: 'button', class: 'sort', dataset: { sort: String(k) },
      onclick: () => {
        st.order = on && st.order === 'asc' ? 'desc' : 'asc';
        st.sort = k;
        st.offset = 0;
        draw().catch(failed);
      },
    }, col[0]));
  })));
  const failed = (e) => mount(box, notice('error', codeText(e.message)));

  async function draw() {
    const { rows, total } = await load({ q: st.q, sort: st.sort, order: st.order, status: st.status, limit: page, offset: st.offset });
    const filtering = st.q || st.status;
    if (!total && !filtering && !everFilled) {
      mount(box, h('p', { class: 'empty' }, empty));
      toolbar.hidden = true;
      status.hidden = true;
      mount(pager);
      return;
    }
    everFilled = true;
    toolbar.hidden = !(opts.search || statuses);
    status.hidden = false;
    // The scroll box takes the keyboard's focus, so a wide table can be scrolled without a mouse.
    mount(box, h('div', { class: 'table-scroll', tabindex: '0', role: 'region', 'aria-label': caption || `${id} table` }, h('table', {},
      caption ? h('caption', {}, caption) : null,
      head(),
      h('tbody', {}, rows.map((r) => h('tr', rowAttrs ? rowAttrs(r) : {}, columns.map((col) => cell(col, r))))))),
    total ? null : h('p', { class: 'empty' }, 'No row matches.'));
    const first = total ? st.offset + 1 : 0;
    const last = st.offset + rows.length;
    status.textContent = total > page || st.offset ? `Rows ${number(first)}–${number(last)} of ${number(total)}` : `${number(total)} row${total === 1 ? '' : 's'}`;
    mount(pager, total > page ? [
      h('button', { type: 'button', class: 'small', dataset: { page: 'prev' }, disabled: st.offset === 0, onclick: () => { st.offset = Math.max(0, st.offset - page); draw().catch(failed); } }, '← Previous'),
      h('button', { type: 'button', class: 'small', dataset: { page: 'next' }, disabled: last >= total, onclick: () => { st.offset += page; draw().catch(failed); } }, 'Next →'),
    ] : null);
  }

  let timer = null;
  const searchBox = opts.search ? h('input', {
    id: `${id}-q`, type: 'search', placeholder: 'Filter…', 'aria-label': 'Filter the rows', size: 24,
    oninput: () => {
      clearTimeout(timer);
      timer = setTimeout(() => { st.q = searchBox.value.trim(); st.offset = 0; draw().catch(failed); }, local ? 0 : 200);
    },
  }) : null;
  const statusPick = statuses ? h('select', {
    id: `${id}-status`, 'aria-label': 'Status',
    onchange: () => { st.status = statusPick.value; st.offset = 0; draw().catch(failed); },
  }, h('option', { value: '' }, 'Any status'), statuses.map(([v, label]) => h('option', { value: v }, label))) : null;
  const toolbar = h('div', { class: 'table-tools' }, searchBox, statusPick);
  node.append(toolbar, status, box, pager);
  return { node, draw };
}

/**
 * A server list as a table's `load`: GET `path` with q, sort, order, status, limit and offset; `pick(data)`
 * answers its rows, and X-Total-Count (or `data.total`) the total.
 */
export function fromApi(path, pick = (d) => d, extra = {}) {
  return async (st) => {
    const { data, headers } = await api('GET', path, { query: { ...extra, q: st.q, sort: st.sort, order: st.sort ? st.order : '', status: st.status, limit: st.limit, offset: st.offset || '' } });
    const total = Number(headers?.get('x-total-count') ?? data.total ?? pick(data).length);
    return { rows: pick(data), total };
  };
}

/** Text with Markdown's `code` spans as <code> elements; the rest as text nodes (never markup). */
export function codeText(text) {
  return String(text ?? '').split('`').map((part, i) => (i % 2 ? h('code', {}, part) : part));
}

/**
 * A search box over a list: `render(rows)` draws the rows that contain the typed text in any of `fields`.
 * Answers the box and the place the list is drawn in.
 */
export function filtered(rows, fields, render, id = 'filter') {
  const place = h('div', {});
  const box = h('input', {
    id, type: 'search', placeholder: 'Filter…', 'aria-label': 'Filter', size: 24,
    oninput: () => {
      const q = box.value.trim().toLowerCase();
      mount(place, render(q ? rows.filter((r) => fields.some((f) => String(r[f] ?? '').toLowerCase().includes(q))) : rows));
    },
  });
  mount(place, render(rows));
  return [box, place];
}

/** Rule IDs as chips: each one names a rule of the rulebook (docs/rules.md) and opens its text. */
export function rules(ids) {
  return h('span', { class: 'rules' }, (ids || []).map((id) => ruleChip(id, `rule ${id}`)));
}

/**
 * One rule ID as a chip that opens the rule (title, reading, seed sentences) in a dialog, fetched from
 * GET /v1/rules/{id}: by click, or Enter / Space from the keyboard. Its text is the ID alone, as before; the
 * chips of a rules list carry the tooltip `rule ID` (pages tell them from the chips of findings by it).
 */
export function ruleChip(id, title) {
  const chip = h('code', {
    class: 'rule', tabindex: '0', role: 'button', 'aria-haspopup': 'dialog', title,
    dataset: { rule: id },
    onclick: () => showRule(id, chip),
    onkeydown: (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        showRule(id, chip);
      }
    },
  }, id);
  return chip;
}

/** Rule sections already read: the rulebook is part of the server's build and never changes under a page. */
const ruleCache = new Map();

/** Markdown's inline `code` as <code>, the rest as text (the reading is plain prose with code spans). */
function inline(text) {
  return codeText(text);
}

/** The reading's paragraphs (blank lines apart; a list item per line that starts with "- "). */
function prose(markdown) {
  return markdown.split(/\n\s*\n/).map((para) => {
    const lines = para.split('\n');
    if (lines.every((l) => /^\s*- /.test(l) || /^\s{2,}\S/.test(l))) {
      const items = para.split(/\n(?=\s*- )/).map((item) => item.replace(/^\s*- /, '').replace(/\s*\n\s*/g, ' '));
      return h('ul', {}, items.map((item) => h('li', {}, inline(item))));
    }
    return h('p', {}, inline(para.replace(/\s*\n\s*/g, ' ')));
  });
}

/** The one dialog rule texts open in (created on first use; Escape or Close closes it, focus goes back). */
function ruleDialog() {
  let dialog = document.getElementById('rule-dialog');
  if (!dialog) {
    dialog = h('dialog', { id: 'rule-dialog', class: 'rule-dialog', 'aria-labelledby': 'rule-dialog-title' });
    document.body.appendChild(dialog);
  }
  return dialog;
}

async function showRule(id, opener) {
  const dialog = ruleDialog();
  const close = h('button', { type: 'button', class: 'small close', onclick: () => dialog.close() }, 'Close');
  const title = h('h2', { id: 'rule-dialog-title' }, id);
  const body = h('div', { class: 'rule-body' }, h('p', { class: 'loading' }, 'Loading…'));
  mount(dialog, h('div', { class: 'rule-head' }, title, close), body);
  dialog.addEventListener('close', () => opener?.focus(), { once: true });
  if (!dialog.open) dialog.showModal();
  close.focus();
  try {
    if (!ruleCache.has(id)) ruleCache.set(id, (await api('GET', `/rules/${encodeURIComponent(id)}`)).data);
    const rule = ruleCache.get(id);
    dialog.dataset.rule = rule.id;
    mount(title, `${rule.id} — ${rule.title}`);
    mount(body,
      h('div', { class: 'reading' }, prose(rule.reading)),
      rule.seed_quotes.length ? h('h3', {}, 'What the sources say') : null,
      rule.seed_quotes.map((q) => h('figure', { class: 'seed-quote' },
        h('blockquote', { lang: q.language }, q.original),
        h('figcaption', {}, h('span', { class: 'gloss' }, q.gloss), ' ', h('span', { class: 'meta' }, `(seed ${q.seed})`)))),
      rule.tests.length ? h('details', { class: 'rule-tests' },
        h('summary', {}, `Checked by ${rule.tests.length} test${rule.tests.length === 1 ? '' : 's'}`),
        h('ul', { class: 'plain' }, rule.tests.map((t) => h('li', {}, h('code', {}, t))))) : null);
  } catch (e) {
    mount(body, notice('error', e.message));
  }
}

export function chips(items, cls = 'chip') {
  return h('span', { class: 'chips' }, (items || []).map((s) => h('span', { class: cls }, s)));
}

/** A yes/no badge. */
export function verdict(ok, yes = 'allowed', no = 'denied') {
  return h('span', { class: ok ? 'badge ok' : 'badge bad' }, ok ? yes : no);
}

/** Amounts per currency: {"USD": "45.00"} → "USD 45.00". */
export function money(totals) {
  const parts = Object.entries(totals || {}).map(([cur, amount]) => `${cur} ${amount}`);
  return parts.length ? parts.join(' + ') : '0';
}

export function number(n) {
  return typeof n === 'number' ? n.toLocaleString('en-US') : String(n ?? '');
}

/** A summary card. */
export function card(label, value, attrs = {}) {
  return h('div', { class: 'card', ...attrs }, h('div', { class: 'card-value' }, value), h('div', { class: 'card-label' }, label));
}

/** A notice that replaces itself: kind is 'info', 'ok' or 'error'. */
export function notice(kind, ...text) {
  return h('div', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, ...text);
}

/**
 * One fix (ENF-6) in words: "assign power-automate-premium × 1 → bob — USD 15.00/month"; a process licence says
 * what it allocates ("(allocates 1 to finance-prod)"), a combined fix lists its steps and the total.
 */
export function fixText(f) {
  const cost = f.monthly_cost ? ` — ${f.currency || ''} ${f.monthly_cost}/month` : '';
  if (f.action === 'combined') {
    const steps = (f.steps || []).map((s) => fixText({ ...s, monthly_cost: undefined }));
    return `all of: ${steps.join('; then ')}${cost}`;
  }
  const what = {
    'assign-license': 'assign',
    'assign-process-license': 'assign a process licence',
    'allocate-capacity': 'allocate',
    'associate-app': 'associate with an app',
    'change-owner': 'make the owner',
    'buy-license': 'buy',
  }[f.action] || f.action;
  const sku = f.sku ? ` ${f.sku}` : '';
  const qty = f.quantity ? ` × ${f.quantity}` : '';
  const target = f.target ? ` → ${f.target}` : '';
  const allocates = f.action === 'assign-process-license' && f.allocate > 0 ? ` (allocates ${f.allocate} to ${f.environment})` : '';
  return `${what}${f.action === 'assign-process-license' ? '' : sku}${qty}${target}${allocates}${cost}`;
}

/**
 * A button that saves an API answer as a file (CSV unless `accept` says otherwise): a plain link would not carry
 * the key, which the page sends as a header, never in a URL.
 */
export function downloadButton(id, label, path, filename, query, accept = 'text/csv') {
  const status = h('span', { class: 'meta' });
  return h('span', {},
    h('button', {
      type: 'button', id, class: 'small',
      onclick: async () => {
        try {
          const { data } = await api('GET', path, { query, headers: { Accept: accept } });
          const url = URL.createObjectURL(new Blob([data], { type: accept }));
          const a = h('a', { href: url, download: filename });
          document.body.appendChild(a);
          a.click();
          a.remove();
          setTimeout(() => URL.revokeObjectURL(url), 1000);
          status.textContent = '';
        } catch (e) {
          status.textContent = ` ${e.message}`;
        }
      },
    }, label),
    status);
}

/** What a decision's licence is: "user licence power-apps-per-user, held by julia". */
export function licensedBy(lb) {
  if (!lb || lb.kind === 'none') return 'nothing';
  const { kind, sku, user, ...rest } = lb;
  const parts = [sku, user ? `held by ${user}` : null, ...Object.entries(rest).map(([k, v]) => `${k} ${v}`)].filter(Boolean);
  return `${kind} licence${parts.length ? ` ${parts.join(', ')}` : ''}`;
}

/** Findings of the engine (problems, warnings): each with the rule that found it. */
export function findings(list, cls = 'plain') {
  return h('ul', { class: cls }, (list || []).map((f) => h('li', {}, ruleChip(f.rule), ' ', f.flow ? `${f.flow}: ` : '', codeText(f.message))));
}

/** One term of a <dl class="facts">. */
export function fact(term, value) {
  return [h('dt', {}, term), h('dd', {}, value)];
}

let flashed = null;

/** A message for the next page drawn (a change was made and the page is read again): shown once. */
export function flash(text) {
  flashed = text;
}

/** The flashed message as a notice, once; null when there is none. */
export function takeFlash() {
  const text = flashed;
  flashed = null;
  return text ? notice('ok', text) : null;
}
