// Lists and their watches: every watchable list route answers `?watch=true` with a stream of
// ADDED, MODIFIED and DELETED events, as Kubernetes does, read from the store's change log
// (store/changes.ts): newline-delimited JSON over HTTP, or one event per message over a
// WebSocket on the same URL. A watch resumes from any event's resourceVersion (a number of
// the log, not the object's own resourceVersion, which counts that object's writes), and one
// from before the trimmed history is answered 410 WATCH_EXPIRED: list again.
//
// Changes that happened close together are shown once, as the object is when the event is
// written (as a Kubernetes watch cache may). What an object shows that is derived at read
// time (a cluster's Available condition from its agent's last poll, a set's member count)
// travels with that object's next change, not on its own.

import { Readable } from 'node:stream';
import type { WebSocket } from '@fastify/websocket';
import {
  apiError,
  errorBody,
  matchesSelector,
  OutpostError,
  parseSelector,
  type Requirement,
  SelectorError,
} from '@outpost/shared';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ChangeRow, Store, WatchedResource } from '../store/index.ts';
import { jsonChunks, jsonParts } from '../work/raw-json.ts';
import { storedReader } from '../work/texts.ts';
import { type ListQuery, listOf, listQuery, sendStored } from './common.ts';

/** What a list route lists and how a watch of it shows one object. */
export interface Listing {
  resource: WatchedResource;
  /** The list's kind (ManagedClusterList …); an item's kind is this without "List". */
  kind: string;
  /** The path's scope (a namespace, a work's cluster), undefined for every one; throws when
   *  the path names something missing (a cluster of /clusters/{cluster}/works). */
  scope(req: FastifyRequest): Promise<string | undefined> | string | undefined;
  /** One page of the list, as the list answers it. */
  list(scope: string | undefined, q: ListQuery): Promise<{ items: unknown[]; next: string | undefined }>;
  /** The object as GET shows it, with its uid; undefined when it is gone. */
  get(scope: string, name: string): Promise<{ uid: string; object: unknown } | undefined>;
}

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

interface WatchQuery {
  /** Where the watch starts; undefined: the objects now (ADDED each), then what follows. */
  from: number | undefined;
  selector: Requirement[];
  name: string | undefined;
  bookmarks: boolean;
  timeoutMs: number;
}

const defaultTimeoutMs = 30 * 60_000;
const maxTimeoutMs = 60 * 60_000;
/** How often a quiet watch that allows bookmarks is told where the log stands. */
const bookmarkMs = 15_000;
/** How often the log's end is looked at while anyone watches. */
const tailMs = 250;
/** Changes read per query, and objects per page of the initial list. */
const batch = 500;

function flag(value: string | undefined, key: string): boolean {
  if (value === undefined || value === 'false' || value === '0') return false;
  if (value === 'true' || value === '1' || value === '') return true;
  throw apiError('VALIDATION_FAILED', `${key} must be true or false`);
}

/** The watch a list's query asks for, or undefined for a plain list (whose watch-only
 *  parameters are refused by name rather than ignored). */
export function watchQuery(query: unknown): WatchQuery | undefined {
  const q = (query ?? {}) as Record<string, string | undefined>;
  const watching = flag(q.watch, 'watch');
  if (!watching) {
    const stray = ['allowWatchBookmarks', 'timeoutSeconds', 'fieldSelector'].filter((k) => q[k] !== undefined);
    if (stray.length) throw apiError('VALIDATION_FAILED', `${stray.join(', ')}: only with watch=true`);
    if (q.resourceVersion !== undefined) {
      throw apiError('VALIDATION_FAILED', 'a list is always read as it is now: resourceVersion applies to watch=true');
    }
    return undefined;
  }
  for (const k of ['limit', 'continue']) {
    if (q[k] !== undefined) throw apiError('VALIDATION_FAILED', `${k} does not apply to a watch`);
  }
  let from: number | undefined;
  if (q.resourceVersion !== undefined && q.resourceVersion !== '') {
    from = Number(q.resourceVersion);
    if (!/^\d{1,15}$/.test(q.resourceVersion) || !Number.isSafeInteger(from)) {
      throw apiError('VALIDATION_FAILED', 'resourceVersion must be a list or watch event resourceVersion (a number)');
    }
  }
  let timeoutMs = defaultTimeoutMs;
  if (q.timeoutSeconds !== undefined) {
    const s = Number(q.timeoutSeconds);
    if (!Number.isInteger(s) || s < 1 || s * 1000 > maxTimeoutMs) {
      throw apiError('VALIDATION_FAILED', `timeoutSeconds must be an integer from 1 to ${maxTimeoutMs / 1000}`);
    }
    timeoutMs = s * 1000;
  }
  let name: string | undefined;
  if (q.fieldSelector !== undefined && q.fieldSelector !== '') {
    const m = /^metadata\.name(==?)(.+)$/.exec(q.fieldSelector);
    if (!m?.[2]) {
      throw apiError('VALIDATION_FAILED', 'fieldSelector supports metadata.name=<name> only', {
        fieldSelector: q.fieldSelector.slice(0, 200),
      });
    }
    name = m[2];
  }
  let selector: Requirement[] = [];
  if (q.labelSelector) {
    try {
      selector = parseSelector(q.labelSelector);
    } catch (err) {
      if (err instanceof SelectorError) throw apiError('VALIDATION_FAILED', err.message);
      throw err;
    }
  }
  return { from, selector, name, bookmarks: flag(q.allowWatchBookmarks, 'allowWatchBookmarks'), timeoutMs };
}

/** Whether an Accept header lets a watch answer its JSON lines (no header does). */
const acceptsJson = (accept: string | undefined) =>
  accept === undefined ||
  accept.split(',').some((range) => {
    const [type = '', ...params] = range.split(';').map((p) => p.trim().toLowerCase());
    return ['application/json', 'application/*', '*/*'].includes(type) && !params.some((p) => /^q=0(\.0*)?$/.test(p));
  });

/** One event as the watch sends it; `object` may hold stored texts (RawJson). */
interface WatchEvent {
  type: EventType;
  resourceVersion: string;
  object: unknown;
}

const expired = (from: number, horizon: number, latest: number) =>
  new OutpostError(
    'WATCH_EXPIRED',
    from > latest
      ? `resourceVersion ${from} is ahead of this hub's history (at ${latest}): the database was replaced or restored; list again`
      : `the history from resourceVersion ${from} was trimmed (it starts after ${horizon}); list again and watch from the list's resourceVersion`,
    410,
    { horizon: String(horizon), latest: String(latest) },
  );

/**
 * Wakes watchers when the log grows: one query of its end every tailMs while anyone
 * watches, whatever the number of watchers; none while nobody does.
 */
export class ChangeTail {
  readonly #store: Store;
  #latest = 0;
  readonly #waiters = new Set<() => void>();
  #timer: NodeJS.Timeout | undefined;
  readonly #open = new Set<AbortController>();

  constructor(store: Store) {
    this.#store = store;
  }

  /** Watches under way (for /metrics and the hub's stop). */
  get watching(): number {
    return this.#open.size;
  }

  /** A controller that aborts when the hub stops (close). */
  open(): AbortController {
    const ac = new AbortController();
    this.#open.add(ac);
    ac.signal.addEventListener('abort', () => this.#open.delete(ac), { once: true });
    return ac;
  }

  /** Ends every watch: the hub is stopping. */
  close(): void {
    for (const ac of [...this.#open]) ac.abort();
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Resolves when the log is past `after`, after `ms`, or on abort. */
  wait(after: number, ms: number, signal: AbortSignal): Promise<void> {
    if (this.#latest > after || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.#waiters.delete(check);
        if (this.#waiters.size === 0) {
          clearInterval(this.#timer);
          this.#timer = undefined;
        }
        resolve();
      };
      const check = () => {
        if (this.#latest > after) done();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      this.#waiters.add(check);
      this.#timer ??= setInterval(() => void this.#poll(), tailMs);
    });
  }

  async #poll(): Promise<void> {
    try {
      this.#latest = await this.#store.changes.latest();
    } catch {
      // The database is away: watchers are woken by their own timers and read again.
      return;
    }
    for (const check of [...this.#waiters]) check();
  }
}

/** The events of one batch of changes: each object once, as it is now, in the order of its
 *  last change; an object that stopped or started matching the selector leaves or enters. */
async function eventsOf(rows: ChangeRow[], listing: Listing, w: WatchQuery): Promise<WatchEvent[]> {
  const groups = new Map<string, ChangeRow[]>();
  for (const r of rows) {
    if (w.name !== undefined && r.name !== w.name) continue;
    const key = `${r.scope}/${r.name}/${r.uid}`;
    const g = groups.get(key);
    if (g) {
      // Reinserted, so that the map's order is that of the last change.
      groups.delete(key);
      g.push(r);
      groups.set(key, g);
    } else groups.set(key, [r]);
  }
  const out: WatchEvent[] = [];
  const itemKind = listing.kind.replace(/List$/, '');
  for (const g of groups.values()) {
    const first = g[0] as ChangeRow;
    const last = g.at(-1) as ChangeRow;
    const resourceVersion = String(last.seq);
    const matchesNow = matchesSelector(w.selector, last.labels);
    // Did the watcher know it before this batch? Only a selector makes that a question.
    const matchedBefore =
      first.type !== 'ADDED' && (w.selector.length === 0 || matchesSelector(w.selector, first.labelsBefore ?? {}));
    const stub = () => ({
      apiVersion: 'outpost.dev/v1alpha1',
      kind: itemKind,
      metadata: {
        name: last.name,
        ...(last.scope ? { namespace: last.scope } : {}),
        uid: last.uid,
        labels: last.labels,
      },
    });
    if (last.type === 'DELETED' || !matchesNow) {
      // Created and gone within the batch: the watcher never saw it, nothing to tell.
      if (matchedBefore) {
        out.push({ type: 'DELETED', resourceVersion, object: stub() });
      }
      continue;
    }
    const now = await listing.get(last.scope, last.name);
    // Gone since, or another object of the name: its own changes follow.
    if (!now || now.uid !== last.uid) continue;
    out.push({ type: matchedBefore ? 'MODIFIED' : 'ADDED', resourceVersion, object: now.object });
  }
  return out;
}

/** Where a watch starts: its resourceVersion, checked against the log's history (410 when
 *  the history is gone), or the log's end for a watch that lists the objects first. */
async function startOf(store: Store, w: WatchQuery): Promise<number> {
  if (w.from === undefined) return store.changes.latest();
  const [horizon, latest] = [await store.changes.horizon(), await store.changes.latest()];
  if (w.from < horizon || w.from > latest) throw expired(w.from, horizon, latest);
  return w.from;
}

/**
 * The events of a watch from `start` (startOf), until it times out or `signal` aborts: with
 * no resourceVersion, an ADDED event per object first (read page by page), then every change
 * after.
 */
async function* watchEvents(
  store: Store,
  tail: ChangeTail,
  listing: Listing,
  scope: string | undefined,
  w: WatchQuery,
  start: number,
  signal: AbortSignal,
): AsyncGenerator<WatchEvent> {
  const deadline = Date.now() + w.timeoutMs;
  let cursor = start;
  if (w.from === undefined) {
    let next = '';
    do {
      const page = await listing.list(scope, { limit: batch, continue: next, selector: w.selector });
      for (const object of page.items) {
        const name = (object as { metadata?: { name?: string } }).metadata?.name;
        if (w.name === undefined || name === w.name) {
          yield { type: 'ADDED', resourceVersion: String(cursor), object };
        }
      }
      next = page.next ?? '';
    } while (next && !signal.aborted);
  }
  let told = Date.now();
  while (!signal.aborted && Date.now() < deadline) {
    // The log's end first: numbers follow commit order, so once the changes after the cursor
    // are read, nothing at or below `top` can still come, and the cursor moves past the
    // other resources' changes too (the tail wakes this watch for any change).
    const top = await store.changes.latest();
    if (top <= cursor) {
      if (w.bookmarks && Date.now() - told >= bookmarkMs) {
        told = Date.now();
        yield { type: 'BOOKMARK', resourceVersion: String(cursor), object: bookmark(listing, cursor) };
      }
      await tail.wait(cursor, Math.min(bookmarkMs, Math.max(0, deadline - Date.now())), signal);
      continue;
    }
    const rows = await store.changes.since(cursor, listing.resource, scope, batch);
    // Trimmed while this watch was reading (it fell that far behind): the rest is lost.
    const horizon = await store.changes.horizon();
    if (horizon > cursor) throw expired(cursor, horizon, await store.changes.latest());
    for (const e of await eventsOf(rows, listing, w)) {
      yield e;
      told = Date.now();
    }
    const last = rows.at(-1)?.seq ?? 0;
    cursor = rows.length === batch ? last : Math.max(top, last);
  }
}

const bookmark = (listing: Listing, at: number) => ({
  apiVersion: 'outpost.dev/v1alpha1',
  kind: listing.kind.replace(/List$/, ''),
  metadata: { resourceVersion: String(at) },
});

const errorEvent = (err: unknown) => {
  const e = err instanceof OutpostError ? err : new OutpostError('INTERNAL', 'the watch failed; see the hub log', 500);
  return { type: 'ERROR' as const, object: { ...errorBody(e), status: e.statusCode } };
};

/** The bytes of one event's line (stored texts read as they are reached). */
async function* eventBytes(store: Store, e: WatchEvent): AsyncGenerator<Uint8Array> {
  yield* jsonChunks([...jsonParts(e), '\n'], storedReader(store));
}

/**
 * Registers GET `path` as a list (with `metadata.resourceVersion`: where a watch of what it
 * showed starts) that also answers `watch=true`, over HTTP and over a WebSocket.
 */
export function listRoute(app: FastifyInstance, store: Store, tail: ChangeTail, path: string, listing: Listing): void {
  const log = app.log;
  app.route({
    method: 'GET',
    url: path,
    handler: async (req: FastifyRequest, reply: FastifyReply) => {
      const w = watchQuery(req.query);
      const scope = await listing.scope(req);
      if (!w) {
        const at = await store.changes.latest();
        const page = await listing.list(scope, listQuery(req.query));
        const list = listOf(listing.kind, page.items, page.next);
        return sendStored(reply, store, { ...list, metadata: { ...list.metadata, resourceVersion: String(at) } });
      }
      if (!acceptsJson(req.headers.accept)) {
        throw apiError(
          'NOT_ACCEPTABLE',
          'a watch streams JSON lines (application/json;stream=watch): accept application/json',
        );
      }
      // A watch from a lost resourceVersion is a 410 answer, not a stream that fails.
      const start = await startOf(store, w);
      const ac = tail.open();
      reply.raw.on('close', () => ac.abort());
      const events = watchEvents(store, tail, listing, scope, w, start, ac.signal);
      async function* lines() {
        // Sent now, not with the first event: a client waits for the answer to begin.
        reply.raw.flushHeaders();
        try {
          for await (const e of events) yield* eventBytes(store, e);
        } catch (err) {
          if (!ac.signal.aborted) {
            if (!(err instanceof OutpostError)) log.error({ err, path }, 'watch failed');
            yield Buffer.from(`${JSON.stringify(errorEvent(err))}\n`);
          }
        } finally {
          ac.abort();
        }
      }
      return reply
        .header('content-type', 'application/json;stream=watch')
        .header('cache-control', 'no-store')
        .send(Readable.from(lines(), { objectMode: false }));
    },
    wsHandler: (socket: WebSocket, req: FastifyRequest) => {
      void watchSocket(socket, req, store, tail, listing, log);
    },
  });
}

async function watchSocket(
  socket: WebSocket,
  req: FastifyRequest,
  store: Store,
  tail: ChangeTail,
  listing: Listing,
  log: FastifyInstance['log'],
): Promise<void> {
  const ac = tail.open();
  socket.on('close', () => ac.abort());
  // Nothing is read from the client: a message is a protocol error.
  socket.on('message', () => socket.close(1003, 'this socket only sends'));
  // Text frames (JSON), one event each; the next waits until this one is written.
  const send = (data: Buffer | string) =>
    new Promise<void>((resolve, reject) =>
      socket.send(data, { binary: false }, (err) => (err ? reject(err) : resolve())),
    );
  try {
    const w = watchQuery({ ...(req.query as object), watch: 'true' });
    if (!w) return;
    const scope = await listing.scope(req);
    for await (const e of watchEvents(store, tail, listing, scope, w, await startOf(store, w), ac.signal)) {
      const chunks: Uint8Array[] = [];
      for await (const c of jsonChunks(jsonParts(e), storedReader(store))) chunks.push(c);
      await send(Buffer.concat(chunks));
    }
    if (socket.readyState === socket.OPEN) socket.close(1000, 'watch ended');
  } catch (err) {
    if (ac.signal.aborted || socket.readyState !== socket.OPEN) return;
    if (!(err instanceof OutpostError)) log.error({ err, path: req.url.split('?')[0] }, 'watch failed');
    await send(JSON.stringify(errorEvent(err))).catch(() => {});
    socket.close(1000, 'watch ended');
  } finally {
    ac.abort();
  }
}
