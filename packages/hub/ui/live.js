// Live updates: a WebSocket per watch of the public API (`?watch=true` over a WebSocket,
// events `{type, resourceVersion, object}`); most pages hold one, the clusters table two
// (clusters and works). A dropped socket is opened again from the last resourceVersion seen,
// so nothing is missed and nothing is listed again; when the hub no longer has that history
// (410 WATCH_EXPIRED) the page lists again and the watch starts from the new list. The
// footer says live while every watch of the page is open.
import * as api from './api.js';

/** The footer's word on how the page keeps current: `text`, shown as live when `on`. */
function footer(text, on) {
  const el = document.getElementById('live');
  if (!el) return;
  el.textContent = text;
  el.classList.toggle('on', on);
}
/** The page's watches not open now (before their socket opens, or after it dropped). */
const down = new Set();
const status = () => footer(down.size ? 'reconnecting…' : 'live', down.size === 0);

/** A page being shown: not live until its own watches open (never the last page's state). */
export const pageShown = () => footer('connecting…', false);

/** A page that holds no watch (a search, read when asked) says so, not the last page's state. */
export const noWatch = (text) => footer(text, false);

export class Watch {
  /**
   * @param path the list's path and query (no watch parameters)
   * @param from the list's metadata.resourceVersion
   * @param onEvent called with each ADDED / MODIFIED / DELETED event
   * @param relist called when history is gone: lists again and resolves with the new resourceVersion
   */
  constructor(path, from, onEvent, relist) {
    this.path = path;
    this.from = from;
    this.onEvent = onEvent;
    this.relist = relist;
    this.closed = false;
    this.delay = 500;
    down.add(this);
    status();
    this.open();
  }

  open() {
    if (this.closed) return;
    const sep = this.path.includes('?') ? '&' : '?';
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${this.path}${sep}watch=true&resourceVersion=${encodeURIComponent(this.from)}`;
    const ws = new WebSocket(url);
    this.ws = ws;
    let expired = false;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.delay = 500;
      down.delete(this);
      status();
    };
    ws.onmessage = (m) => {
      const e = JSON.parse(m.data);
      if (e.type === 'ERROR') {
        expired = e.object?.code === 'WATCH_EXPIRED';
        return;
      }
      this.from = e.resourceVersion;
      if (e.type !== 'BOOKMARK') this.onEvent(e);
    };
    ws.onclose = () => {
      if (this.closed) return;
      down.add(this);
      status();
      // Refused before it opened: perhaps the session ended. Asking makes api.js show the
      // login on a 401 (which unmounts the page and closes this watch).
      if (!opened) void api.get('/api/v1/sessions/current').catch(() => {});
      const again = async () => {
        if (this.closed) return;
        if (expired) {
          try {
            this.from = await this.relist();
          } catch {
            setTimeout(again, this.delay);
            return;
          }
        }
        this.open();
      };
      setTimeout(again, this.delay);
      this.delay = Math.min(this.delay * 2, 10_000);
    };
  }

  close() {
    this.closed = true;
    down.delete(this);
    this.ws?.close();
  }
}

/**
 * A list kept live: read once, then watched. `items` (a Map by `keyOf`) holds what the hub
 * has; `draw` runs after the read and, at most every 100 ms, after events; `onError` gets a
 * failed first read. Returns `close`.
 */
export function liveList(path, keyOf, items, draw, onError) {
  let watch;
  let gone = false;
  async function load() {
    const l = await api.get(path);
    items.clear();
    for (const o of l.items) items.set(keyOf(o), o);
    if (!gone) draw();
    return l.metadata.resourceVersion;
  }
  const later = throttle(() => {
    if (!gone) draw();
  }, 100);
  function onEvent(e) {
    if (e.type === 'DELETED') items.delete(keyOf(e.object));
    else items.set(keyOf(e.object), e.object);
    later();
  }
  load()
    .then((from) => {
      if (!gone) watch = new Watch(path, from, onEvent, load);
    })
    .catch(onError);
  return () => {
    gone = true;
    watch?.close();
  };
}

/** Runs `fn` at most once per `ms`, the last call winning (a burst of events, one refresh). */
export function throttle(fn, ms) {
  let timer;
  let last = 0;
  return () => {
    if (timer) return;
    const wait = Math.max(0, last + ms - Date.now());
    timer = setTimeout(() => {
      timer = undefined;
      last = Date.now();
      fn();
    }, wait);
  };
}
