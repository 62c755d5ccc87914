// The events of one watch: with no resourceVersion, the objects now (an ADDED each), then
// every change after, from the tail (tail.ts) or, for a watch further back than its memory,
// from the store. Changes close together are one event per object, as the object is when the
// event is written; the object is read (and made JSON) once for every watch that shows it.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { apiError, matchesSelector } from '@outpost/shared';
import type { FastifyRequest } from 'fastify';
import type { ChangeRow, Store, WatchedResource } from '../../store/index.ts';
import { jsonChunks, jsonParts } from '../../work/raw-json.ts';
import { storedReader } from '../../work/texts.ts';
import type { ListQuery } from '../common.ts';
import type { EventType, WatchQuery } from './query.ts';
import type { ChangeTail } from './tail.ts';

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

/** One event: `object` is the object's JSON, already made (shared by every watch). */
export interface WatchEvent {
  type: EventType;
  resourceVersion: string;
  object: Buffer;
}

/** How often a quiet watch that allows bookmarks is told where the log stands. */
const bookmarkMs = 15_000;
/** Changes read per query from the store, and objects per page of the initial list. */
const batch = 500;

export const expired = (from: number, horizon: number, latest: number) =>
  apiError(
    'WATCH_EXPIRED',
    from > latest
      ? `resourceVersion ${from} is ahead of this hub's history (at ${latest}): the database was replaced or restored; list again`
      : `the history from resourceVersion ${from} was trimmed (it starts after ${horizon}); list again and watch from the list's resourceVersion`,
    { horizon: String(horizon), latest: String(latest) },
  );

/** An object made JSON, as its bytes (stored texts read as they are reached). */
export async function jsonBytes(store: Store, value: unknown): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const c of jsonChunks(jsonParts(value), storedReader(store))) chunks.push(c);
  return Buffer.concat(chunks);
}

/**
 * Objects read for events, by resource, scope, name and the change they show: every watch
 * woken by one read of the tail asks for the same objects, and gets one read and one JSON
 * text. Entries live for a few seconds.
 */
export class ObjectCache {
  readonly #store: Store;
  readonly #entries = new Map<string, { at: number; value: Promise<{ uid: string; json: Buffer } | undefined> }>();

  constructor(store: Store) {
    this.#store = store;
  }

  get(listing: Listing, row: ChangeRow): Promise<{ uid: string; json: Buffer } | undefined> {
    const key = `${row.resource}\u0000${row.scope}\u0000${row.name}\u0000${row.seq}`;
    const now = Date.now();
    const hit = this.#entries.get(key);
    if (hit && now - hit.at < 5_000) return hit.value;
    if (this.#entries.size > 10_000) {
      for (const [k, e] of this.#entries) if (now - e.at >= 5_000) this.#entries.delete(k);
    }
    const value = (async () => {
      const o = await listing.get(row.scope, row.name);
      return o && { uid: o.uid, json: await jsonBytes(this.#store, o.object) };
    })();
    // A failed read is not kept: the next watch reads again.
    value.catch(() => this.#entries.delete(key));
    this.#entries.set(key, { at: now, value });
    return value;
  }
}

/** What the watch's listing sent before its changes (a watch without resourceVersion). */
interface Listed {
  uids: Set<string>;
  /** Changes up to here may be of what the listing already showed. */
  until: number;
}

/** The events of one batch of changes: each object once, as it is now, in the order of its
 *  last change; an object that stopped or started matching the selector leaves or enters. */
async function eventsOf(
  rows: ChangeRow[],
  listing: Listing,
  w: WatchQuery,
  objects: ObjectCache,
  listed: Listed | undefined,
): Promise<WatchEvent[]> {
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
    // Did the watcher know it before this batch? Only a selector, or a listing read while
    // these changes were made, makes that a question.
    const matchedBefore =
      listed && first.seq <= listed.until
        ? listed.uids.has(first.uid)
        : first.type !== 'ADDED' && (w.selector.length === 0 || matchesSelector(w.selector, first.labelsBefore ?? {}));
    if (last.type === 'DELETED' || !matchesNow) {
      // Never seen by the watcher (created and gone within the batch, or not in its listing):
      // nothing to tell.
      if (matchedBefore) {
        const stub = {
          apiVersion: 'outpost.dev/v1alpha1',
          kind: itemKind,
          metadata: {
            name: last.name,
            ...(last.scope ? { namespace: last.scope } : {}),
            uid: last.uid,
            labels: last.labels,
          },
        };
        out.push({ type: 'DELETED', resourceVersion, object: Buffer.from(JSON.stringify(stub)) });
      }
      continue;
    }
    const now = await objects.get(listing, last);
    // Gone since, or another object of the name: its own changes follow.
    if (!now || now.uid !== last.uid) continue;
    out.push({ type: matchedBefore ? 'MODIFIED' : 'ADDED', resourceVersion, object: now.json });
  }
  return out;
}

/** Where a watch starts: its resourceVersion, checked against the log's history (410 when
 *  the history is gone), or the log's end for a watch that lists the objects first. */
export async function startOf(store: Store, w: WatchQuery): Promise<number> {
  if (w.from === undefined) return store.changes.latest();
  const [horizon, latest] = [await store.changes.horizon(), await store.changes.latest()];
  if (w.from < horizon || w.from > latest) throw expired(w.from, horizon, latest);
  return w.from;
}

/**
 * The events of a watch from `start` (startOf), until `signal` aborts (its time is up, the
 * hub stops, the client went: ChangeTail.open): with
 * no resourceVersion, an ADDED event per object first (read page by page), then every change
 * after. The initial events carry `start`: a watch that drops before its first change lists
 * again (as a Kubernetes client does).
 */
export async function* watchEvents(
  store: Store,
  tail: ChangeTail,
  objects: ObjectCache,
  listing: Listing,
  scope: string | undefined,
  w: WatchQuery,
  start: number,
  signal: AbortSignal,
): AsyncGenerator<WatchEvent> {
  let cursor = start;
  let listed: Listed | undefined;
  if (w.from === undefined) {
    listed = { uids: new Set(), until: 0 };
    let next = '';
    do {
      const page = await listing.list(scope, { limit: batch, continue: next, selector: w.selector });
      for (const object of page.items) {
        const meta = (object as { metadata?: { name?: string; uid?: string } }).metadata;
        if (w.name !== undefined && meta?.name !== w.name) continue;
        if (meta?.uid) listed.uids.add(meta.uid);
        yield { type: 'ADDED', resourceVersion: String(cursor), object: await jsonBytes(store, object) };
      }
      next = page.next ?? '';
    } while (next && !signal.aborted);
    // Changes made while the listing was read may be in it already: up to here, an object
    // it showed is MODIFIED (not ADDED again) and one it never showed is not DELETED.
    listed.until = await store.changes.latest();
  }
  let told = Date.now();
  while (!signal.aborted) {
    await tail.ready();
    if (tail.position <= cursor) {
      if (w.bookmarks && Date.now() - told >= bookmarkMs) {
        told = Date.now();
        const mark = {
          apiVersion: 'outpost.dev/v1alpha1',
          kind: listing.kind.replace(/List$/, ''),
          metadata: { resourceVersion: String(cursor) },
        };
        yield { type: 'BOOKMARK', resourceVersion: String(cursor), object: Buffer.from(JSON.stringify(mark)) };
      }
      await tail.wait(cursor, bookmarkMs, signal);
      // Every watch the tail woke takes its turn: none makes the rest wait in one turn.
      await nextTurn();
      continue;
    }
    let rows = tail.since(cursor, listing.resource, scope);
    let upTo = tail.position;
    if (!rows) {
      // Further back than the tail remembers: from the store, a batch at a time.
      const top = await store.changes.latest();
      rows = await store.changes.since(cursor, listing.resource, scope, batch);
      // Trimmed while this watch was reading (it fell that far behind): the rest is lost.
      const horizon = await store.changes.horizon();
      if (horizon > cursor) throw expired(cursor, horizon, top);
      upTo = rows.length === batch ? (rows.at(-1) as ChangeRow).seq : Math.max(top, rows.at(-1)?.seq ?? 0);
    }
    for (const e of await eventsOf(rows, listing, w, objects, listed)) {
      yield e;
      told = Date.now();
    }
    cursor = upTo;
  }
}
