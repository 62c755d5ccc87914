// One cluster: its conditions and claims, its works with per-manifest status (the API
// server's message as the agent reported it), held deletions with the command that confirms
// them, and why each placement selects it or not (GET /api/v1/clusters/NAME/placements).
// Admin sessions get Approve / Deny for a cluster waiting for approval and Confirm deletions
// for held ones (the same calls the CLI makes). Live: one WebSocket on the watch of this
// cluster's works; the cluster and its placements are read again with each burst of work
// events and every 15 s (its Available condition is derived from its agent's last poll and
// travels with no event of its own).
import * as api from './api.js';
import { ago, clusterState, conditionsTable, fill, h, labels, until } from './dom.js';
import { throttle, Watch } from './live.js';

export function mount(root, { name }) {
  const path = `/api/v1/clusters/${encodeURIComponent(name)}`;
  const works = new Map();
  let watch;
  let gone = false;
  const head = h('div', { id: 'cluster' });
  const list = h('div', { id: 'works' });
  const chosen = h('div', { id: 'placements' });
  const error = h('p', { class: 'error', id: 'cluster-error' });
  root.append(
    h('h1', null, `Cluster ${name}`),
    error,
    head,
    h('h2', null, 'Works'),
    list,
    h('h2', null, 'Placements'),
    chosen,
  );

  /** What an action that cannot be taken back asks first (the browser's own dialog). */
  const asks = {
    deny: `Deny cluster ${name}? Its agent is refused from now on.`,
    'confirm-deletions': `Release the deletions held on cluster ${name}? Its agent then deletes every object the hub no longer declares for it.`,
  };
  /** An admin's action on this cluster (approve, deny, confirm-deletions), then a re-read. */
  async function act(verb) {
    if (asks[verb] && !window.confirm(asks[verb])) return;
    error.textContent = '';
    try {
      await api.call('POST', `${path}/${verb}`);
    } catch (err) {
      error.textContent = `${err.code}: ${err.message}`;
    }
    refreshCluster();
  }
  const button = (verb, text, cls) =>
    api.isAdmin() ? h('button', { type: 'button', class: cls, onclick: () => void act(verb) }, text) : null;

  async function loadPlacements() {
    const l = await api.get(`${path}/placements`);
    if (gone) return;
    fill(
      chosen,
      l.items.length
        ? h(
            'table',
            { class: 'placements' },
            h('tr', null, h('th', null, 'Placement'), h('th', null, 'Selected'), h('th', null, 'Why')),
            l.items.map((p) =>
              h(
                'tr',
                { 'data-placement': `${p.namespace}/${p.name}`, 'data-reason': p.reason },
                h('td', null, `${p.namespace}/${p.name}`),
                h('td', { class: p.selected ? 'good' : 'muted' }, p.selected ? 'yes' : 'no'),
                h('td', { class: 'reason' }, `${p.reason}: ${p.message}`),
              ),
            ),
          )
        : h('p', { class: 'muted' }, 'No placements.'),
    );
  }

  async function loadCluster() {
    const c = await api.get(path);
    if (gone) return;
    const state = clusterState(c);
    fill(
      head,
      h(
        'p',
        null,
        h('span', { class: `state state-${state}`, id: 'cluster-state' }, state),
        ' · ',
        `last seen ${ago(c.status?.lastSeen) || 'never'}`,
        ' · ',
        `agent ${c.status?.agentVersion ?? 'unknown'}`,
        ' · ',
        `certificate expires ${until(c.status?.certificate?.notAfter) || 'unknown'}`,
      ),
      state === 'Pending'
        ? h(
            'p',
            { class: 'held' },
            'This cluster waits for approval. ',
            button('approve', 'Approve', 'approve primary'),
            ' ',
            button('deny', 'Deny', 'deny'),
          )
        : null,
      h('p', null, labels(c.metadata.labels)),
      h('h2', null, 'Conditions'),
      conditionsTable(c.status?.conditions),
      c.status?.clusterClaims?.length
        ? [
            h('h2', null, 'Claims'),
            h(
              'p',
              null,
              c.status.clusterClaims.map((x) => h('span', { class: 'label' }, `${x.name}=${x.value}`)),
            ),
          ]
        : null,
    );
  }

  const manifestId = (m) => {
    const r = m.resourceMeta ?? {};
    return `${r.kind ?? '?'} ${r.namespace ? `${r.namespace}/` : ''}${r.name ?? '?'}`;
  };

  function workView(w) {
    const conds = w.status?.conditions ?? [];
    const held = conds.find((c) => c.type === 'DeletionsHeld' && c.status === 'True');
    const manifests = w.status?.resourceStatus?.manifests ?? [];
    return h(
      'section',
      { class: 'work', 'data-work': w.metadata.name },
      h('h3', null, w.metadata.name),
      conditionsTable(conds),
      held
        ? h(
            'div',
            { class: 'held' },
            h('p', { class: 'message' }, held.message),
            h(
              'p',
              null,
              'Confirm with ',
              h('code', { class: 'cmd' }, `outpost-hub cluster confirm-deletions ${name}`),
              ' ',
              button('confirm-deletions', 'Confirm deletions', 'confirm'),
            ),
          )
        : null,
      manifests.length
        ? h(
            'table',
            { class: 'manifests' },
            h(
              'tr',
              null,
              h('th', null, 'Manifest'),
              h('th', null, 'Conditions'),
              h('th', null, 'Message (from the API server)'),
              h('th', null, 'Feedback'),
            ),
            manifests.map((m) => {
              const bad = (m.conditions ?? []).filter((c) => c.status !== 'True');
              return h(
                'tr',
                { 'data-manifest': manifestId(m) },
                h('td', null, manifestId(m)),
                h(
                  'td',
                  null,
                  (m.conditions ?? []).map((c) =>
                    h('span', { class: `label ${c.status === 'True' ? 'good' : 'bad'}` }, `${c.type}=${c.status}`),
                  ),
                ),
                h(
                  'td',
                  { class: 'message' },
                  bad
                    .map((c) => c.message)
                    .filter(Boolean)
                    .join('\n'),
                ),
                h(
                  'td',
                  null,
                  (m.statusFeedback?.values ?? []).map((v) =>
                    h(
                      'span',
                      { class: 'label' },
                      `${v.name}=${JSON.stringify(v.fieldValue?.[v.fieldValue?.type?.toLowerCase()] ?? v.fieldValue)}`,
                    ),
                  ),
                ),
              );
            }),
          )
        : h('p', { class: 'muted' }, 'No manifest status reported yet.'),
    );
  }

  function renderWorks() {
    const all = [...works.values()].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
    fill(list, ...(all.length ? all.map(workView) : [h('p', { class: 'muted' }, 'No works.')]));
  }

  async function loadWorks() {
    const l = await api.get(`${path}/works`);
    works.clear();
    for (const w of l.items) works.set(w.metadata.name, w);
    if (!gone) renderWorks();
    return l.metadata.resourceVersion;
  }

  const refreshCluster = throttle(() => {
    void loadCluster().catch(() => {});
    void loadPlacements().catch(() => {});
  }, 500);
  function onEvent(e) {
    if (e.type === 'DELETED') works.delete(e.object.metadata.name);
    else works.set(e.object.metadata.name, e.object);
    renderWorks();
    refreshCluster();
  }
  Promise.all([loadCluster(), loadWorks(), loadPlacements()])
    .then(([, from]) => {
      if (!gone) watch = new Watch(`${path}/works`, from, onEvent, loadWorks);
    })
    .catch((err) => fill(head, h('p', { class: 'error' }, `${err.code}: ${err.message}`)));
  const timer = setInterval(refreshCluster, 15_000);
  return () => {
    gone = true;
    clearInterval(timer);
    watch?.close();
  };
}
