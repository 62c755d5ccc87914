// Building the page: h() makes elements, and every text goes in as a text node, never as
// HTML, so what clusters and API servers report (messages, names, labels) cannot inject
// markup or script.

/** h('a', { href: '#/', class: 'x', onclick: fn }, 'text', child, [more]) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  return fill(el, ...children);
}

/** Replaces `el`'s children: nested arrays flattened, null, undefined and false left out
 *  (replaceChildren alone would show them as text). */
export function fill(el, ...children) {
  el.replaceChildren();
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** "3m ago" from an ISO time; "" when absent. */
export function ago(iso, now = Date.now()) {
  if (!iso) return '';
  const s = Math.round((now - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.max(0, s)}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

/** "in 12d" / "expired 2h ago" from an ISO time. */
export function until(iso, now = Date.now()) {
  if (!iso) return '';
  const s = Math.round((Date.parse(iso) - now) / 1000);
  const span = (x) =>
    x < 3600 ? `${Math.floor(x / 60)}m` : x < 86400 ? `${Math.floor(x / 3600)}h` : `${Math.floor(x / 86400)}d`;
  return s >= 0 ? `in ${span(s)}` : `expired ${span(-s)} ago`;
}

export function labels(map) {
  return Object.entries(map ?? {}).map(([k, v]) => h('span', { class: 'label' }, `${k}=${v}`));
}

/** The cluster's state, as the hub's CLI words it (registration/clusters.ts clusterState). */
export function clusterState(c) {
  const cond = (type) => (c.status?.conditions ?? []).find((x) => x.type === type);
  if (cond('Removing')?.status === 'True') return 'Removing';
  if (c.status?.denied || cond('HubAccepted')?.reason === 'Denied') return 'Denied';
  if (!c.spec?.hubAcceptsClient) return 'Pending';
  if (cond('Joined')?.status !== 'True') return 'Approved';
  const available = cond('Available');
  if (available?.status === 'True') return cond('WorkDelivery')?.status === 'False' ? 'HeartbeatOnly' : 'Available';
  return available?.reason === 'NeverReported' ? 'NeverReported' : 'Unreachable';
}

export function conditionsTable(conditions) {
  if (!conditions?.length) return h('p', { class: 'muted' }, 'No conditions reported yet.');
  return h(
    'table',
    { class: 'conditions' },
    h('tr', null, h('th', null, 'Type'), h('th', null, 'Status'), h('th', null, 'Reason'), h('th', null, 'Message')),
    (conditions ?? []).map((c) =>
      h(
        'tr',
        null,
        h('td', null, c.type),
        h('td', { class: `status-${c.status}` }, c.status),
        h('td', null, c.reason ?? ''),
        h('td', { class: 'message' }, c.message ?? ''),
      ),
    ),
  );
}
