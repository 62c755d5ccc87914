// The overview: counts and the non-compliant clusters, all computed by the hub
// (GET /api/v1/overview). Live: one WebSocket on the watch of works (the changes that make
// clusters compliant or not), each burst of events answered by one re-read; and a re-read
// every 15 s for what no event announces (a lease lapsing, a certificate nearing expiry).
// The first paint takes the hub's last pass if it is recent (resourceVersion=0), and the page
// reads again at once.
import * as api from './api.js';
import { fill, h } from './dom.js';
import { throttle, Watch } from './live.js';

const pageSize = 50;

export function mount(root) {
  let limit = pageSize;
  let watch;
  let gone = false;
  const body = h('div', { id: 'overview' });
  root.append(h('h1', null, 'Fleet overview'), body);

  /** `cached`: a recent pass will do (first paint); else one that saw every change so far. */
  async function load(cached = false) {
    const o = await api.get(`/api/v1/overview?limit=${limit}${cached ? '&resourceVersion=0' : ''}`);
    if (gone) return o;
    render(o);
    return o;
  }
  function render(o) {
    const states = Object.entries(o.clusters.states).sort((a, b) => b[1] - a[1]);
    const conds = Object.entries(o.works.conditions).sort();
    fill(
      body,
      h(
        'div',
        { class: 'cards' },
        h('div', { class: 'card' }, h('div', { class: 'n', id: 'clusters-total' }, o.clusters.total), 'clusters'),
        states.map(([s, n]) => h('div', { class: 'card', 'data-state': s }, h('div', { class: `n state-${s}` }, n), s)),
        h('div', { class: 'card' }, h('div', { class: 'n' }, o.works.total), 'works'),
        h(
          'div',
          { class: 'card', id: 'noncompliant-total' },
          h('div', { class: `n ${o.nonCompliant.total ? 'bad' : 'good'}` }, o.nonCompliant.total),
          'not compliant',
        ),
      ),
      h('h2', null, 'Worksets by rollout state'),
      o.worksets.total
        ? h(
            'div',
            { class: 'cards', id: 'worksets-states' },
            Object.entries(o.worksets.states)
              .sort((a, b) => b[1] - a[1])
              .map(([s, n]) =>
                h(
                  'a',
                  { class: 'card', 'data-rollout': s, href: `#/worksets?state=${encodeURIComponent(s)}` },
                  h('div', { class: `n rollout-${s}` }, n),
                  s,
                ),
              ),
          )
        : h('p', { class: 'muted' }, 'No worksets yet.'),
      h('h2', null, 'Works by condition'),
      conds.length
        ? h(
            'p',
            null,
            conds.map(([type, by]) =>
              h(
                'span',
                { class: 'label' },
                `${type}: ${Object.entries(by)
                  .map(([s, n]) => `${s} ${n}`)
                  .join(', ')}`,
              ),
            ),
          )
        : h('p', { class: 'muted' }, o.works.total ? 'No work has reported a condition yet.' : 'No works yet.'),
      h('h2', null, 'Not compliant now, worst first'),
      o.nonCompliant.items.length
        ? h(
            'table',
            { id: 'noncompliant' },
            h('tr', null, h('th', null, 'Cluster'), h('th', null, 'State'), h('th', null, 'Why')),
            o.nonCompliant.items.map((i) =>
              h(
                'tr',
                { 'data-cluster': i.name },
                h('td', null, h('a', { href: `#/clusters/${encodeURIComponent(i.name)}` }, i.name)),
                h('td', { class: `state-${i.state}` }, i.state),
                h('td', { class: 'reason' }, i.reason),
              ),
            ),
          )
        : h('p', { class: 'good', id: 'all-compliant' }, 'Every cluster is compliant.'),
      o.nonCompliant.continue
        ? h(
            'div',
            { class: 'pager' },
            h(
              'button',
              {
                type: 'button',
                onclick: () => {
                  limit += pageSize;
                  void refresh();
                },
              },
              `Show more (${o.nonCompliant.total - o.nonCompliant.items.length} left)`,
            ),
          )
        : null,
      h('p', { class: 'muted' }, `Hub ${o.hubVersion}; counted at ${o.metadata.generatedAt}.`),
    );
  }
  const refresh = throttle(() => void load().catch(() => {}), 500);
  const timer = setInterval(refresh, 15_000);
  // Painted at once from the hub's last pass (of the last minute), then read again: the page
  // shows the fleet as it is now within one pass, and stays live from the first answer on.
  load(true)
    .then((o) => {
      if (gone) return;
      refresh();
      watch = new Watch(
        '/api/v1/works',
        o.metadata.resourceVersion,
        refresh,
        async () => (await load()).metadata.resourceVersion,
      );
    })
    .catch((err) => fill(body, h('p', { class: 'error' }, err.message)));
  return () => {
    gone = true;
    clearInterval(timer);
    watch?.close();
  };
}
