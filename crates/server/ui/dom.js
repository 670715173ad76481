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
 * A table: columns are [heading, (row) => cell content]; `rowAttrs(row)` adds attributes to each row. Long
 * tables show `page` rows at a time, with a button for the next ones, so a tenant of 100,000 flows does not
 * build 100,000 rows at once.
 */
export function table(columns, rows, { empty = 'Nothing here.', rowAttrs, caption, page = 250 } = {}) {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  const row = (r) => h('tr', rowAttrs ? rowAttrs(r) : {}, columns.map(([, cell]) => h('td', {}, cell(r))));
  const body = h('tbody', {}, rows.slice(0, page).map(row));
  let shown = Math.min(page, rows.length);
  const more = h('button', {
    type: 'button', class: 'small more', hidden: shown >= rows.length,
    onclick: () => {
      body.append(...rows.slice(shown, shown + page).map(row));
      shown = Math.min(shown + page, rows.length);
      more.hidden = shown >= rows.length;
      more.textContent = `Show more (${rows.length - shown} left)`;
    },
  }, `Show more (${rows.length - shown} left)`);
  return h('div', { class: 'table' },
    h('table', {},
      caption ? h('caption', {}, caption) : null,
      h('thead', {}, h('tr', {}, columns.map(([head]) => h('th', { scope: 'col' }, head)))),
      body),
    more);
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
  return text.split('`').map((part, i) => (i % 2 ? h('code', {}, part) : part));
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
  return h('ul', { class: cls }, (list || []).map((f) => h('li', {}, ruleChip(f.rule), ' ', f.flow ? `${f.flow}: ` : '', f.message)));
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
