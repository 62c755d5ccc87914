// Worksets (ManifestWorkReplicaSets): rollout progress and state, pause/resume, filtered by
// rollout state (#/worksets?state=Rolling, the overview's cards link there); each links to
// its page (workset.js). The buttons exist for admin sessions only; the hub refuses a
// read-only session's write anyway. Live: one WebSocket on the watch of the worksets list.
import * as api from './api.js';
import { fill, h } from './dom.js';
import { liveList } from './live.js';

const key = (w) => `${w.metadata.namespace}/${w.metadata.name}`;

/** The rollout in one word (the hub's status.rollout.state; before the first status, Pending). */
export const rolloutState = (w) =>
  w.metadata.deletionTimestamp ? 'Deleting' : (w.status?.rollout?.state ?? (w.spec?.paused ? 'Paused' : 'Pending'));

/** Pause or resume; resolves with an error message, or undefined when the hub took it. */
export async function act(w, verb) {
  try {
    await api.call(
      'POST',
      `/api/v1/namespaces/${encodeURIComponent(w.metadata.namespace)}/manifestworkreplicasets/${encodeURIComponent(w.metadata.name)}/${verb}`,
    );
    return undefined;
  } catch (err) {
    return `${err.code}: ${err.message}`;
  }
}

export function mount(root, params) {
  const only = params.state || undefined;
  const sets = new Map();
  const error = h('p', { class: 'error', id: 'worksets-error' });
  const tbody = h('tbody', { id: 'worksets-body' });
  root.append(
    h('h1', null, 'Worksets'),
    only
      ? h(
          'p',
          { id: 'worksets-filter' },
          'Rollout state ',
          h('span', { class: `label rollout-${only}` }, only),
          ' ',
          h('a', { href: '#/worksets' }, 'show all'),
        )
      : null,
    error,
    h(
      'table',
      { id: 'worksets' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['Workset', 'Placements', 'Progress', 'Applied / Available / Degraded', 'Rollout', 'State', ''].map((t) =>
            h('th', null, t),
          ),
        ),
      ),
      tbody,
    ),
  );

  async function onAct(w, verb) {
    error.textContent = (await act(w, verb)) ?? '';
  }

  function row(w) {
    const s = w.status?.summary ?? { total: 0, applied: 0, available: 0, degraded: 0, progressing: 0 };
    const paused = w.spec?.paused === true;
    const progressing = (w.status?.conditions ?? []).find((c) => c.type === 'Progressing');
    const admin = api.isAdmin();
    const state = rolloutState(w);
    return h(
      'tr',
      { 'data-workset': key(w) },
      h(
        'td',
        null,
        h(
          'a',
          { href: `#/worksets/${encodeURIComponent(w.metadata.namespace)}/${encodeURIComponent(w.metadata.name)}` },
          key(w),
        ),
      ),
      h(
        'td',
        null,
        (w.spec?.placementRefs ?? []).map((p) => h('span', { class: 'label' }, p.name)),
      ),
      h('td', null, h('progress', { max: Math.max(1, s.total), value: s.available }), ` ${s.available}/${s.total}`),
      h('td', null, `${s.applied} / ${s.available} / `, h('span', { class: s.degraded ? 'bad' : '' }, s.degraded)),
      h('td', { class: 'message' }, w.status?.rollout?.message || progressing?.reason || ''),
      h('td', { class: `state rollout-${state}` }, state),
      h(
        'td',
        null,
        w.metadata.labels?.['outpost.dev/gitrepo']
          ? h('a', { href: '#/gitrepos', class: 'muted' }, `GitRepo ${w.metadata.labels['outpost.dev/gitrepo']}`)
          : admin
            ? paused
              ? h('button', { type: 'button', class: 'resume', onclick: () => void onAct(w, 'resume') }, 'Resume')
              : h('button', { type: 'button', class: 'pause', onclick: () => void onAct(w, 'pause') }, 'Pause')
            : h('span', { class: 'muted' }, 'read-only'),
      ),
    );
  }

  function render() {
    const all = [...sets.values()]
      .filter((w) => !only || rolloutState(w) === only)
      .sort((a, b) => (key(a) < key(b) ? -1 : 1));
    fill(
      tbody,
      ...(all.length
        ? all.map(row)
        : [
            h(
              'tr',
              null,
              h('td', { colspan: 7, class: 'muted' }, only ? `No worksets in state ${only}.` : 'No worksets.'),
            ),
          ]),
    );
  }

  return liveList('/api/v1/manifestworkreplicasets', key, sets, render, (err) => {
    error.textContent = `${err.code}: ${err.message}`;
  });
}
