// The inventory: which clusters have Deployment X, what is in namespace Y. A search of
// GET /api/v1/inventory (all on the hub: an index per way in, paged by its continue), kept
// in the URL's hash so that it can be shared (#/inventory?kind=Deployment&namespace=shop).
// Each object shows what its agent last reported for it. A search is read when it is made
// and when "More" asks for the next page; "Search" reads it again.
import * as api from './api.js';
import { fill, h } from './dom.js';
import { noWatch } from './live.js';

const limit = 50;
/** The criteria of a search, as the form, the hash and the API name them. */
export const fields = [
  ['kind', 'kind, e.g. Deployment'],
  ['namespace', 'namespace'],
  ['name', 'name, or prefix*'],
  ['cluster', 'cluster'],
];

export function mount(root, params) {
  let gone = false;
  noWatch('not live: read when searched');
  let next;
  const inputs = Object.fromEntries(
    fields.map(([k, placeholder]) => [
      k,
      h('input', { id: `inventory-${k}`, name: k, type: 'text', value: params[k] ?? '', placeholder }),
    ]),
  );
  const error = h('p', { class: 'error', id: 'inventory-error' });
  const tbody = h('tbody', { id: 'inventory-body' });
  const count = h('span', { class: 'muted', id: 'inventory-count' });
  const more = h('button', { type: 'button', id: 'inventory-more', hidden: true, onclick: () => void load() }, 'More');
  const searched = fields.some(([k]) => params[k]);
  root.append(
    h('h1', null, 'Inventory'),
    h(
      'p',
      { class: 'muted' },
      'The objects the works declare, searched across the fleet, with what each agent last reported for them.',
    ),
    h(
      'form',
      {
        class: 'filter search',
        id: 'inventory-form',
        onsubmit: (ev) => {
          ev.preventDefault();
          const q = new URLSearchParams();
          for (const [k] of fields) if (inputs[k].value.trim()) q.set(k, inputs[k].value.trim());
          const hash = `#/inventory${q.toString() ? `?${q}` : ''}`;
          // The same search again: read it again (the hash does not change).
          if (location.hash === hash) {
            fill(tbody);
            next = undefined;
            void load();
          } else location.hash = hash;
        },
      },
      fields.map(([k]) => inputs[k]),
      h('button', { type: 'submit', class: 'primary' }, 'Search'),
    ),
    error,
    h(
      'table',
      { id: 'inventory' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['Cluster', 'Work', 'Kind', 'Namespace', 'Name', 'Reported'].map((t) => h('th', null, t)),
        ),
      ),
      tbody,
    ),
    h('div', { class: 'pager' }, more, count),
  );

  const reported = (i) => {
    if (i.statusOmitted) return h('span', { class: 'muted' }, 'status too large to list: see the cluster');
    if (!i.conditions) return h('span', { class: 'muted' }, 'not reported yet');
    return i.conditions.map((c) =>
      h(
        'span',
        { class: `label ${c.status === 'True' ? 'good' : 'bad'}`, title: c.message ?? '' },
        `${c.type}=${c.status}`,
      ),
    );
  };
  const row = (i) =>
    h(
      'tr',
      { 'data-cluster': i.cluster, 'data-object': `${i.kind}/${i.namespace ?? ''}/${i.name}` },
      h('td', null, h('a', { href: `#/clusters/${encodeURIComponent(i.cluster)}` }, i.cluster)),
      h('td', null, i.work, i.workDeletionTimestamp ? h('span', { class: 'label warn' }, 'deleting') : null),
      h('td', { title: [i.group, i.version].filter(Boolean).join('/') }, i.kind),
      h('td', null, i.namespace ?? ''),
      h('td', null, i.name),
      h('td', { class: 'reported' }, reported(i)),
    );

  let shown = 0;
  async function load() {
    error.textContent = '';
    const q = new URLSearchParams();
    for (const [k] of fields) if (params[k]) q.set(k, params[k]);
    q.set('limit', String(limit));
    if (next) q.set('continue', next);
    else shown = 0;
    more.disabled = true;
    try {
      const list = await api.get(`/api/v1/inventory?${q}`);
      if (gone) return;
      tbody.append(...list.items.map(row));
      shown += list.items.length;
      if (!shown) tbody.append(h('tr', null, h('td', { colspan: 6, class: 'muted' }, 'Nothing found.')));
      next = list.metadata.continue;
      more.hidden = !next;
      more.disabled = false;
      count.textContent = `${shown} shown${next ? ', more to come' : ''}`;
    } catch (err) {
      if (!gone) error.textContent = `${err.code}: ${err.message}`;
    }
  }
  if (searched) void load();
  else
    tbody.append(h('tr', null, h('td', { colspan: 6, class: 'muted' }, 'Search by kind, namespace, name or cluster.')));
  return () => {
    gone = true;
  };
}
