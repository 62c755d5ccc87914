// The dashboard's entry: resumes the session (or shows the login), routes by the URL's hash
// (#/, #/clusters, #/clusters/NAME, #/worksets, #/worksets/NAMESPACE/NAME, #/gitrepos,
// #/inventory, #/audit) and mounts one page at a time. A page is
// `mount(root, params) → unmount`; it holds at most one WebSocket, closed on unmount.
import * as api from './api.js';
import * as audit from './audit.js';
import * as cluster from './cluster.js';
import * as clusters from './clusters.js';
import { h } from './dom.js';
import * as gitrepos from './gitrepos.js';
import * as inventory from './inventory.js';
import { pageShown } from './live.js';
import * as login from './login.js';
import * as overview from './overview.js';
import * as workset from './workset.js';
import * as worksets from './worksets.js';

const main = document.getElementById('main');
let unmount = () => {};

function route() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = hash.split('?');
  const params = new URLSearchParams(query);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'clusters' && parts[1]) return { page: cluster, params: { name: parts[1] } };
  if (parts[0] === 'clusters') return { page: clusters, params: { labelSelector: params.get('labelSelector') ?? '' } };
  if (parts[0] === 'audit') {
    const filter = {};
    for (const k of ['actor', 'action', 'resource', 'result', 'since']) filter[k] = params.get(k) ?? '';
    return { page: audit, params: filter };
  }
  if (parts[0] === 'worksets' && parts[1] && parts[2]) {
    return { page: workset, params: { namespace: parts[1], name: parts[2] } };
  }
  if (parts[0] === 'worksets') return { page: worksets, params: { state: params.get('state') ?? '' } };
  if (parts[0] === 'gitrepos') return { page: gitrepos, params: {} };
  if (parts[0] === 'inventory') {
    return { page: inventory, params: Object.fromEntries(inventory.fields.map(([k]) => [k, params.get(k) ?? ''])) };
  }
  return { page: overview, params: {} };
}

function header() {
  const s = api.currentSession();
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  nav.hidden = !s;
  who.replaceChildren();
  if (!s) return;
  const here = `#/${location.hash.replace(/^#\/?/, '').split(/[/?]/)[0] ?? ''}`;
  for (const a of nav.querySelectorAll('a')) a.classList.toggle('active', a.getAttribute('href') === here);
  who.append(
    h('span', { id: 'actor' }, s.actor),
    h('span', { id: 'scope', class: s.scope === 'admin' ? 'warn' : 'muted' }, s.scope),
    h('button', { id: 'logout', type: 'button', onclick: () => void api.logout().finally(show) }, 'Log out'),
  );
}

function show() {
  unmount();
  unmount = () => {};
  header();
  main.replaceChildren();
  if (!api.currentSession()) {
    unmount = login.mount(main, { onLogin: show });
    return;
  }
  const { page, params } = route();
  pageShown();
  unmount = page.mount(main, params) ?? (() => {});
}

api.whenLoggedOut(() => setTimeout(show));
window.addEventListener('hashchange', show);
api
  .resume()
  .catch(() => undefined)
  .finally(show);
