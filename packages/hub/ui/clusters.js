// The clusters table: a page at a time from GET /api/v1/clusters (label selector, limit,
// continue: all on the hub), kept live by one WebSocket on the watch of the same list. A
// changed cluster's row is redrawn in place; a cluster that joins or leaves the selection
// makes the page read again (its paging is the hub's).
import * as api from './api.js';
import { ago, clusterState, fill, h, labels, until } from './dom.js';
import { throttle, Watch } from './live.js';

const limit = 50;

export function mount(root, params) {
  const selector = params.labelSelector;
  /** continue tokens of the pages before this one, and this one's. */
  const pages = [''];
  let rows = new Map();
  let watch;
  let gone = false;
  const input = h('input', {
    id: 'selector',
    type: 'text',
    value: selector,
    placeholder: 'label selector, e.g. env=prod,tier in (edge)',
  });
  const error = h('p', { class: 'error', id: 'clusters-error' });
  const tbody = h('tbody', { id: 'clusters-body' });
  const pager = h('div', { class: 'pager' });
  root.append(
    h('h1', null, 'Clusters'),
    h(
      'form',
      {
        class: 'filter',
        onsubmit: (ev) => {
          ev.preventDefault();
          const q = input.value.trim();
          location.hash = q ? `#/clusters?labelSelector=${encodeURIComponent(q)}` : '#/clusters';
        },
      },
      input,
      h('button', { type: 'submit' }, 'Filter'),
    ),
    error,
    h(
      'table',
      { id: 'clusters' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['Name', 'State', 'Labels', 'Last seen', 'Agent', 'Certificate expires'].map((t) => h('th', null, t)),
        ),
      ),
      tbody,
    ),
    pager,
  );

  const row = (c) =>
    h(
      'tr',
      { 'data-cluster': c.metadata.name },
      h('td', null, h('a', { href: `#/clusters/${encodeURIComponent(c.metadata.name)}` }, c.metadata.name)),
      h('td', { class: `state state-${clusterState(c)}` }, clusterState(c)),
      h('td', { class: 'labels' }, labels(c.metadata.labels)),
      h('td', { title: c.status?.lastSeen ?? '' }, ago(c.status?.lastSeen)),
      h('td', null, c.status?.agentVersion ?? ''),
      h('td', { title: c.status?.certificate?.notAfter ?? '' }, until(c.status?.certificate?.notAfter)),
    );

  const query = () => {
    const q = new URLSearchParams();
    if (selector) q.set('labelSelector', selector);
    return q;
  };

  async function load() {
    const q = query();
    q.set('limit', String(limit));
    const cont = pages.at(-1);
    if (cont) q.set('continue', cont);
    const list = await api.get(`/api/v1/clusters?${q}`);
    if (gone) return list;
    rows = new Map();
    fill(
      tbody,
      ...list.items.map((c) => {
        const tr = row(c);
        rows.set(c.metadata.name, tr);
        return tr;
      }),
    );
    if (!list.items.length) tbody.append(h('tr', null, h('td', { colspan: 6, class: 'muted' }, 'No clusters match.')));
    const next = list.metadata.continue;
    fill(
      pager,
      h(
        'button',
        {
          type: 'button',
          disabled: pages.length === 1,
          onclick: () => {
            pages.pop();
            void reload();
          },
        },
        'Previous',
      ),
      h('span', { class: 'muted' }, `page ${pages.length}`),
      h(
        'button',
        {
          type: 'button',
          disabled: !next,
          onclick: () => {
            pages.push(next);
            void reload();
          },
        },
        'Next',
      ),
    );
    return list;
  }
  const reload = () =>
    load().catch((err) => {
      error.textContent = `${err.code}: ${err.message}`;
    });
  const relistSoon = throttle(reload, 300);

  function onEvent(e) {
    const name = e.object.metadata.name;
    const tr = rows.get(name);
    if (e.type === 'MODIFIED' && tr) {
      const next = row(e.object);
      tr.replaceWith(next);
      rows.set(name, next);
    } else relistSoon();
  }

  load()
    .then((list) => {
      if (gone) return;
      const q = query().toString();
      watch = new Watch(
        `/api/v1/clusters${q ? `?${q}` : ''}`,
        list.metadata.resourceVersion,
        onEvent,
        async () => (await load()).metadata.resourceVersion,
      );
    })
    .catch((err) => {
      error.textContent = `${err.code}: ${err.message}`;
    });
  // "Last seen 5s ago" ages without events.
  const timer = setInterval(() => void reload(), 15_000);
  return () => {
    gone = true;
    clearInterval(timer);
    watch?.close();
  };
}
