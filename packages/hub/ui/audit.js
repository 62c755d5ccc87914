// The audit log (GET /api/v1/auditevents): newest first, filtered on the hub by actor
// (exactly), action, resource and result (by prefix) and since a time; the filter lives in
// the URL (#/audit?actor=token:alice&result=403) so it can be shared. A page of the hub reads
// at most 20,000 events, so a filter that matches little takes several calls: the page
// follows continue until it has a screenful, the log ends, or 10 calls were made (then Older
// events goes on). The audit log has no watch:
// while the newest events are shown the page reads them again every 5 s.
import * as api from './api.js';
import { ago, fill, h } from './dom.js';
import { noWatch } from './live.js';

const screen = 100;
const maxCalls = 10;
const fields = [
  ['actor', 'actor, exactly (token:NAME)'],
  ['action', 'action starts with (DELETE, POST /api/v1/clusters)'],
  ['resource', 'resource starts with (/api/v1/clusters/NAME)'],
  ['result', 'result starts with (403, 4)'],
  ['since', 'since (2026-01-31T12:00:00Z)'],
];

export function mount(root, params) {
  const filter = new URLSearchParams();
  for (const [k] of fields) if (params[k]) filter.set(k, params[k]);
  const inputs = Object.fromEntries(
    fields.map(([k, placeholder]) => [k, h('input', { type: 'text', name: k, value: params[k] ?? '', placeholder })]),
  );
  const error = h('p', { class: 'error', id: 'audit-error' });
  const tbody = h('tbody', { id: 'audit-body' });
  const pager = h('div', { class: 'pager' });
  let items = [];
  let next;
  let gone = false;
  root.append(
    h('h1', null, 'Audit log'),
    h(
      'form',
      {
        class: 'filter search',
        id: 'audit-filter',
        onsubmit: (ev) => {
          ev.preventDefault();
          const q = new URLSearchParams();
          for (const [k] of fields) if (inputs[k].value.trim()) q.set(k, inputs[k].value.trim());
          location.hash = q.size ? `#/audit?${q}` : '#/audit';
        },
      },
      fields.map(([k]) => inputs[k]),
      h('button', { type: 'submit' }, 'Filter'),
    ),
    error,
    h(
      'table',
      { id: 'audit' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['Time', 'Actor', 'Action', 'Resource', 'Result'].map((t) => h('th', null, t)),
        ),
      ),
      tbody,
    ),
    pager,
  );

  const row = (e) =>
    h(
      'tr',
      { 'data-id': e.id },
      h('td', { title: e.at }, ago(e.at)),
      h('td', { class: 'actor' }, e.actor),
      h('td', { class: 'action' }, e.action),
      h('td', { class: 'resource' }, e.resource),
      h('td', { class: /^[45]/.test(e.result) ? 'result bad' : 'result' }, e.result),
    );

  function render() {
    fill(
      tbody,
      items.length
        ? items.map(row)
        : h(
            'tr',
            null,
            h(
              'td',
              { colspan: 5, class: 'muted' },
              next ? 'None in the newest events read; Older events reads on.' : 'No audit events match.',
            ),
          ),
    );
    fill(
      pager,
      next
        ? h('button', { type: 'button', id: 'audit-older', onclick: () => void older().catch(show) }, 'Older events')
        : h('span', { class: 'muted' }, items.length ? 'The end of the log.' : ''),
    );
  }
  const show = (err) => {
    error.textContent = `${err.code ?? 'ERROR'}: ${err.message}`;
  };

  /** Events from `from` (a continue, '' for the newest) until `want` of them, the log's end,
   *  or `maxCalls` calls (each reads at most 20,000 events on the hub; Older goes on). */
  async function read(from, want) {
    const got = [];
    let cursor = from;
    for (let calls = 1; ; calls++) {
      const q = new URLSearchParams(filter);
      q.set('limit', String(want - got.length));
      if (cursor) q.set('continue', cursor);
      const l = await api.get(`/api/v1/auditevents?${q}`);
      got.push(...l.items);
      cursor = l.metadata.continue;
      if (!cursor || got.length >= want || gone || calls >= maxCalls) return { got, cursor };
    }
  }

  async function newest() {
    const { got, cursor } = await read('', screen);
    if (gone) return;
    error.textContent = '';
    items = got;
    next = cursor;
    render();
  }
  async function older() {
    const { got, cursor } = await read(next, screen);
    if (gone) return;
    items = [...items, ...got];
    next = cursor;
    render();
  }

  let reading = false;
  /** Reads the newest events again: never a second read while one is under way. */
  const refresh = () => {
    if (reading) return;
    reading = true;
    newest()
      .catch(show)
      .finally(() => {
        reading = false;
      });
  };
  render();
  noWatch('re-read every 5 s');
  refresh();
  // Only while the newest screen is shown: a reader of older events keeps their place.
  const timer = setInterval(() => items.length <= screen && refresh(), 5_000);
  return () => {
    gone = true;
    clearInterval(timer);
  };
}
