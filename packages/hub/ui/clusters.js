// The clusters table: a page at a time from GET /api/v1/clusters (label selector, limit,
// continue: all on the hub), kept live by one WebSocket on the watch of the same list. A
// changed cluster's row is redrawn in place; a cluster that joins or leaves the selection
// makes the page read again (its paging is the hub's).
//
// Claims and works come with each cluster: status.clusterClaims, and status.works, its works
// counted by the hub (applied, available, degraded, deletions held), for the page's clusters
// in one query. So the page never lists works. A work's change is no event of the clusters'
// watch, though: a second WebSocket watches the works of every cluster (GET /api/v1/works,
// from the same list's resourceVersion, as the overview does), and an event of a work of a
// cluster on the page makes that row read again (GET of the cluster, at most every 300 ms
// for a burst; a burst over many rows reads the page again instead). Events of other
// clusters' works are dropped: the watch cannot be narrowed to a page's clusters (its
// fieldSelector names one namespace), and events carry no manifests.
import * as api from './api.js';
import { ago, clusterState, fill, h, labels, until } from './dom.js';
import { throttle, Watch } from './live.js';

const limit = 50;
/** Claims shown in a row; the rest are counted, and all of them are in its tooltip. */
const claimsShown = 3;
/** Rows whose works changed that are read one by one; more, and the page is read again. */
const rowsReadAlone = 5;

const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The cluster's claims, the first few as labels and "+N more", all of them in the title. */
function claimsCell(c) {
  const all = c.status?.clusterClaims ?? [];
  const text = all.map((x) => `${x.name}=${x.value}`);
  return h(
    'td',
    { class: 'claims', title: text.join('\n') || undefined },
    text.slice(0, claimsShown).map((t) => h('span', { class: 'label' }, t)),
    all.length > claimsShown ? h('span', { class: 'muted more' }, `+${all.length - claimsShown} more`) : null,
  );
}

/** The cluster's works in one line, linking to its page; marked bad when a work is degraded
 *  or holds deletions, warn when one is not applied or not available yet. */
function worksCell(c) {
  const w = c.status?.works;
  if (!w) return h('td', { class: 'works' });
  if (!w.total) return h('td', { class: 'works muted' }, 'no works');
  const bad = w.degraded > 0 || w.deletionsHeld > 0;
  const warn = w.applied < w.total || w.available < w.applied;
  const parts = [plural(w.total, 'work')];
  if (!bad && !warn) parts.push('all available');
  else {
    parts.push(`${w.applied} applied`, `${w.available} available`);
    if (w.degraded) parts.push(`${w.degraded} degraded`);
    if (w.deletionsHeld) parts.push(`${w.deletionsHeld} holding deletions`);
  }
  const title = `${plural(w.total, 'work')}: ${w.applied} applied, ${w.available} available, ${w.degraded} degraded, ${w.deletionsHeld} holding deletions`;
  return h(
    'td',
    { class: 'works' },
    h(
      'a',
      {
        class: `works-summary ${bad ? 'bad' : warn ? 'warn' : 'good'}`,
        href: `#/clusters/${encodeURIComponent(c.metadata.name)}`,
        title,
      },
      parts.join(' · '),
    ),
  );
}

export function mount(root, params) {
  const selector = params.labelSelector;
  /** continue tokens of the pages before this one, and this one's. */
  const pages = [''];
  let rows = new Map();
  let watch;
  let worksWatch;
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
          ['Name', 'State', 'Labels', 'Claims', 'Works', 'Last seen', 'Agent', 'Certificate expires'].map((t) =>
            h('th', null, t),
          ),
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
      claimsCell(c),
      worksCell(c),
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
    error.textContent = '';
    rows = new Map();
    fill(
      tbody,
      ...list.items.map((c) => {
        const tr = row(c);
        rows.set(c.metadata.name, tr);
        return tr;
      }),
    );
    if (!list.items.length) tbody.append(h('tr', null, h('td', { colspan: 8, class: 'muted' }, 'No clusters match.')));
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

  /** Clusters on the page whose works changed since their rows were last read. */
  const stale = new Set();
  /** One read at a time: a newer answer is never overwritten by an older one. */
  let reading = false;
  async function readStale() {
    if (reading) return;
    reading = true;
    try {
      await readStaleOnce();
    } finally {
      reading = false;
    }
    // Works that changed while it read: their rows again.
    if (stale.size && !gone) readStaleSoon();
  }
  async function readStaleOnce() {
    const names = [...stale];
    stale.clear();
    if (names.length > rowsReadAlone) return reload();
    for (const name of names) {
      let c;
      try {
        c = await api.get(`/api/v1/clusters/${encodeURIComponent(name)}`);
      } catch (err) {
        // Gone meanwhile: the clusters' watch tells, and the page reads again.
        if (err.status !== 404) error.textContent = `${err.code}: ${err.message}`;
        continue;
      }
      const tr = rows.get(name);
      if (gone || !tr) continue;
      const next = row(c);
      tr.replaceWith(next);
      rows.set(name, next);
    }
  }
  const readStaleSoon = throttle(() => void readStale(), 300);
  function onWorkEvent(e) {
    const cluster = e.object.metadata?.namespace;
    if (!rows.has(cluster)) return;
    stale.add(cluster);
    readStaleSoon();
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
      worksWatch = new Watch(
        '/api/v1/works',
        list.metadata.resourceVersion,
        onWorkEvent,
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
    worksWatch?.close();
  };
}
