// GitRepos: each repository's commit, its paths' rollouts and errors, and a commit the
// deletion breaker holds (with the objects it would delete). An admin session confirms a held
// commit here (the hub's confirm-deletions, naming the commit shown, so a newer one is not
// confirmed unseen). Live: one WebSocket on the watch of the GitRepos list.
import * as api from './api.js';
import { fill, h } from './dom.js';
import { liveList } from './live.js';

const key = (g) => `${g.metadata.namespace}/${g.metadata.name}`;
const short = (c) => (c ? c.slice(0, 12) : '-');
const ready = (g) => (g.status?.conditions ?? []).find((c) => c.type === 'Ready');

/** Confirms the held commit; resolves with an error message, or undefined when the hub took it. */
async function confirm(g, commit) {
  try {
    await api.call(
      'POST',
      `/api/v1/namespaces/${encodeURIComponent(g.metadata.namespace)}/gitrepos/${encodeURIComponent(g.metadata.name)}/confirm-deletions`,
      { commit },
    );
    return undefined;
  } catch (err) {
    return `${err.code}: ${err.message}`;
  }
}

export function mount(root) {
  const repos = new Map();
  const error = h('p', { class: 'error', id: 'gitrepos-error' });
  const tbody = h('tbody', { id: 'gitrepos-body' });
  root.append(
    h('h1', null, 'GitRepos'),
    error,
    h(
      'table',
      { id: 'gitrepos' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['GitRepo', 'Repository', 'Commit', 'Paths', 'Ready', ''].map((t) => h('th', null, t)),
        ),
      ),
      tbody,
    ),
  );

  function path(p) {
    const ws = h(
      'a',
      { href: `#/worksets/${encodeURIComponent(p.namespace)}/${encodeURIComponent(p.workset)}` },
      p.path,
    );
    const held = p.held
      ? h(
          'div',
          { class: 'held bad', 'data-held': p.path },
          `commit ${short(p.held.commit)} would delete ${p.held.deleting} of ${p.held.of} objects: ${p.held.objects.join(', ')}${p.held.deleting > p.held.objects.length ? ', …' : ''}`,
        )
      : null;
    return h(
      'li',
      null,
      ws,
      ' ',
      h('span', { class: `label rollout-${p.state ?? 'Pending'}` }, p.state ?? 'Pending'),
      ` ${short(p.commit)}`,
      p.error && !p.held ? h('div', { class: 'message bad' }, p.error) : null,
      !p.error && p.message ? h('div', { class: 'message warn' }, p.message) : null,
      held,
    );
  }

  function row(g) {
    const r = ready(g);
    const held = (g.status?.paths ?? []).find((p) => p.held)?.held;
    const admin = api.isAdmin();
    const paths = (g.status?.paths ?? []).map((p) => path({ ...p, namespace: g.metadata.namespace }));
    return h(
      'tr',
      { 'data-gitrepo': key(g) },
      h('td', null, key(g)),
      h(
        'td',
        { class: 'message' },
        `${g.spec.repo} `,
        h('span', { class: 'muted' }, g.spec.revision ?? g.spec.branch ?? 'HEAD'),
      ),
      h('td', null, short(g.status?.commit)),
      h(
        'td',
        null,
        paths.length ? h('ul', { class: 'paths' }, paths) : h('span', { class: 'muted' }, 'not rendered yet'),
      ),
      h(
        'td',
        { class: r?.status === 'True' ? 'good' : 'bad', title: r?.message ?? '' },
        r ? `${r.status} ${r.reason}` : '-',
      ),
      h(
        'td',
        null,
        held && admin
          ? h(
              'button',
              {
                type: 'button',
                class: 'confirm-deletions',
                onclick: async () => {
                  error.textContent = (await confirm(g, held.commit)) ?? '';
                },
              },
              `Confirm ${short(held.commit)}`,
            )
          : held
            ? h('span', { class: 'muted' }, 'held: an admin confirms')
            : null,
      ),
    );
  }

  function render() {
    const all = [...repos.values()].sort((a, b) => (key(a) < key(b) ? -1 : 1));
    fill(
      tbody,
      ...(all.length ? all.map(row) : [h('tr', null, h('td', { colspan: 6, class: 'muted' }, 'No GitRepos.'))]),
    );
  }

  return liveList('/api/v1/gitrepos', key, repos, render, (err) => {
    error.textContent = `${err.code}: ${err.message}`;
  });
}
