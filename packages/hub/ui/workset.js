// One workset (#/worksets/NAMESPACE/NAME): its conditions, and per placementRef the rollout
// by decision group, each group's clusters by state (done, progressing, failed, waiting,
// offline) with the planner's reason for each; pause/resume for admin sessions. Everything
// comes from the workset's own status (status.rollout, written by the hub's controller).
// Live: one WebSocket on the watch of the namespace's worksets, this name only.
import * as api from './api.js';
import { conditionsTable, fill, h } from './dom.js';
import { throttle, Watch } from './live.js';
import { act, rolloutState } from './worksets.js';

/** How the page groups the planner's states (rollout/types.ts PlannedState). */
const columns = [
  ['Succeeded', 'done'],
  ['Progressing', 'progressing'],
  ['Failed', 'failed'],
  ['ToApply', 'rolling out now'],
  ['Pending', 'waiting'],
];

const offline = (c) => c.offline === true;

export function mount(root, { namespace, name }) {
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/manifestworkreplicasets`;
  let watch;
  let gone = false;
  let current;
  const error = h('p', { class: 'error', id: 'workset-error' });
  const body = h('div', { id: 'workset' }, h('p', { class: 'muted' }, 'Loading…'));
  root.append(
    h('p', null, h('a', { href: '#/worksets' }, '← Worksets')),
    h('h1', null, `${namespace}/${name}`),
    error,
    body,
  );

  async function onAct(verb) {
    if (!current) return;
    error.textContent = (await act(current, verb)) ?? '';
  }

  function groupTable(clusters) {
    return h(
      'table',
      { class: 'group-clusters' },
      h('tr', null, h('th', null, 'Cluster'), h('th', null, 'State'), h('th', null, 'Why')),
      clusters.map((c) =>
        h(
          'tr',
          { 'data-cluster': c.name, 'data-state': c.state },
          h('td', null, h('a', { href: `#/clusters/${encodeURIComponent(c.name)}` }, c.name)),
          h('td', { class: `planned-${c.state}` }, offline(c) ? `${c.state} (offline)` : c.state),
          h('td', { class: 'reason' }, c.reason ?? ''),
        ),
      ),
    );
  }

  function placement(p, clusters, summary) {
    const groups = new Map();
    for (const c of clusters) {
      const g = groups.get(c.groupIndex) ?? { index: c.groupIndex, name: c.groupName, clusters: [] };
      g.clusters.push(c);
      groups.set(c.groupIndex, g);
    }
    const current = p.currentGroup?.groupIndex;
    return h(
      'section',
      { class: 'placement-rollout', 'data-placement': p.name },
      h(
        'h2',
        null,
        `Placement ${p.name} `,
        h('span', { class: 'label' }, p.type),
        p.stopped ? h('span', { class: 'label bad' }, 'stopped') : null,
        p.complete ? h('span', { class: 'label good' }, 'complete') : null,
      ),
      h('p', { class: 'message' }, p.message),
      summary
        ? h(
            'p',
            { class: 'muted' },
            `${summary.summary.available}/${summary.summary.total} available, ${summary.summary.applied} applied, ${summary.summary.degraded} degraded; decision groups available: ${summary.availableDecisionGroups}`,
          )
        : null,
      [...groups.values()]
        .sort((a, b) => a.index - b.index)
        .map((g) => {
          const counts = columns
            .map(([state, word]) => [word, g.clusters.filter((c) => c.state === state).length])
            .filter(([, n]) => n > 0)
            .map(([word, n]) => `${n} ${word}`);
          const away = g.clusters.filter(offline).length;
          if (away) counts.push(`${away} offline`);
          return h(
            'div',
            {
              class: g.index === current ? 'group current' : 'group',
              'data-group': String(g.index),
            },
            h(
              'h3',
              null,
              `Group ${g.index}${g.name ? ` (${g.name})` : ''}`,
              g.index === current ? h('span', { class: 'label' }, 'current') : null,
              ' ',
              h('span', { class: 'muted group-counts' }, counts.join(', ')),
            ),
            groupTable(g.clusters),
          );
        }),
    );
  }

  function render(w) {
    current = w;
    if (!w) {
      fill(body, h('p', { class: 'muted', id: 'workset-gone' }, 'This workset does not exist (any more).'));
      return;
    }
    const r = w.status?.rollout;
    const state = rolloutState(w);
    const paused = w.spec?.paused === true;
    const clusters = r?.clusters ?? [];
    fill(
      body,
      h(
        'p',
        null,
        'Rollout ',
        h('span', { id: 'workset-state', class: `label rollout-${state}` }, state),
        ' ',
        api.isAdmin()
          ? paused
            ? h('button', { type: 'button', class: 'resume', onclick: () => void onAct('resume') }, 'Resume')
            : h('button', { type: 'button', class: 'pause', onclick: () => void onAct('pause') }, 'Pause')
          : null,
      ),
      r?.message ? h('p', { class: 'message', id: 'workset-message' }, r.message) : null,
      conditionsTable(w.status?.conditions),
      r
        ? (r.placements ?? []).map((p) =>
            placement(
              p,
              clusters.filter((c) => c.placement === p.name),
              (w.status?.placementSummary ?? []).find((s) => s.name === p.name),
            ),
          )
        : h('p', { class: 'muted' }, 'The hub has not planned this rollout yet.'),
      r?.clustersOmitted
        ? h('p', { class: 'muted' }, `${r.clustersOmitted} more clusters are not listed in the status.`)
        : null,
    );
  }

  // The watch begins at resourceVersion 0: the hub sends the workset as it is (ADDED), then
  // its changes; a plain list takes no fieldSelector. A 404 first says it does not exist.
  const watched = `${path}?fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}`;
  let latest;
  const draw = throttle(() => render(latest), 100);
  function onEvent(e) {
    latest = e.type === 'DELETED' ? undefined : e.object;
    draw();
  }
  api
    .get(`${path}/${encodeURIComponent(name)}`)
    .then((w) => {
      if (gone) return;
      render(w);
      watch = new Watch(watched, '0', onEvent, async () => '0');
    })
    .catch((err) => {
      if (err.status === 404) render(undefined);
      else error.textContent = `${err.code}: ${err.message}`;
    });
  return () => {
    gone = true;
    watch?.close();
  };
}
