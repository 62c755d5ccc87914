// One Kubernetes watch kept alive: list (the objects now, and a resourceVersion), then
// watch from that resourceVersion with bookmarks. A watch the apiserver ends (its
// timeoutSeconds) is resumed from the last resourceVersion seen; 410 Gone (that
// resourceVersion left the apiserver's window) lists again; anything that fails is
// retried after a full-jitter backoff. Read-only: it only reports what it sees.
//
// A target that only drift repair reads asks for metadata only (PartialObjectMetadata, what
// client-go's metadata informers use): drift is judged from UID, resourceVersion,
// managedFields and deletionTimestamp alone, and a full list of CustomResourceDefinitions
// carries every schema (megabytes for operator stacks). A target whose objects' status is
// read (fresh status, status.ts) asks for whole objects.
import { collectionPath, type KubeObject, type ResourceRef, statusOf } from '../apply/kube.ts';
import type { KubeStreamRest } from '../apply/rest.ts';
import { type BackoffPolicy, backoffDelay } from '../transport/backoff.ts';
import type { Clock } from '../transport/retry.ts';

/** What one watch covers: a resource in one namespace, or a cluster-scoped resource (namespace ''). */
export type WatchTarget = ResourceRef & {
  /** Only metadata is read from these objects: ask the apiserver for nothing more. */
  metadataOnly?: boolean;
};

export const targetKey = (t: WatchTarget) => `${t.group}/${t.version}/${t.resource}/${t.namespace}`;

/** Metadata only, else the whole object (an apiserver that cannot send the metadata alone). */
const metadataListAccept = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
const metadataAccept = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface WatchHandlers {
  /** Every object of the target as a fresh list shows it: at the start and after 410 Gone. */
  listed(objects: KubeObject[]): void;
  event(type: WatchEventType, object: KubeObject): void;
}

export interface WatchOptions {
  /** Server-side bound of one watch request; each request asks for 1–2× this (client-go's spread). */
  timeoutSeconds: number;
  /** A watch that ends by itself sooner than this without any event counts as a failure. */
  healthyMs: number;
  backoff: BackoffPolicy;
  /** Objects per list page. */
  pageSize: number;
}

export const defaultWatchOptions: WatchOptions = {
  timeoutSeconds: 300,
  healthyMs: 10_000,
  backoff: { baseMs: 500, maxMs: 60_000 },
  pageSize: 500,
};

export interface WatchLog {
  warn(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface WatchDeps {
  rest: KubeStreamRest;
  clock: Clock;
  log: WatchLog;
  options: WatchOptions;
}

/** Where a watch is: the last resourceVersion seen (undefined after 410 Gone: list again). */
interface Position {
  rv: string | undefined;
  /** Events and bookmarks received by this request. */
  events: number;
  gone: boolean;
}

/** Lists and watches `target` until `signal` aborts; never throws. */
export async function keepWatching(
  d: WatchDeps,
  target: WatchTarget,
  handlers: WatchHandlers,
  signal: AbortSignal,
): Promise<void> {
  const path = collectionPath(target);
  let rv: string | undefined;
  let failures = 0;
  let lastProblem = '';
  while (!signal.aborted) {
    try {
      const fresh = rv === undefined;
      if (rv === undefined) rv = await list(d, path, handlers, signal, target.metadataOnly === true);
      const opened = d.clock.now();
      const position: Position = { rv, events: 0, gone: false };
      try {
        await follow(d, path, position, handlers, signal, target.metadataOnly === true);
      } finally {
        rv = position.rv;
        // A watch that delivered something was healthy: a later break starts the backoff over.
        if (position.events > 0) failures = 0;
      }
      if (position.gone) {
        // Right after a list it would only repeat: back off. Later it is the normal way back.
        if (fresh && position.events === 0) throw new Error('410 Gone right after a list');
        continue;
      }
      if (position.events > 0 || d.clock.now() - opened >= d.options.healthyMs) {
        failures = 0;
        continue;
      }
      throw new Error('the watch ended at once');
    } catch (err) {
      if (signal.aborted) return;
      const wait = backoffDelay(failures++, { random: () => d.clock.random(), policy: d.options.backoff });
      const problem = (err as Error).message ?? String(err);
      // A lasting problem (no permission to watch) is said once, not every minute.
      (problem === lastProblem ? d.log.debug : d.log.warn).call(
        d.log,
        { resource: targetKey(target), err: problem, retryInMs: Math.round(wait) },
        'drift watch failed; retrying',
      );
      lastProblem = problem;
      try {
        await d.clock.sleep(wait, signal);
      } catch {
        return;
      }
    }
  }
}

async function list(
  d: WatchDeps,
  path: string,
  handlers: WatchHandlers,
  signal: AbortSignal,
  metadataOnly: boolean,
): Promise<string> {
  const items: KubeObject[] = [];
  let rv = '';
  let cont: string | undefined;
  do {
    const res = await d.rest.request({
      method: 'GET',
      path,
      query: { limit: String(d.options.pageSize), continue: cont },
      ...(metadataOnly ? { accept: metadataListAccept } : {}),
      signal,
    });
    if (res.status !== 200) throw new Error(`list ${path}: ${statusOf(res).message}`);
    const body = res.body as { metadata?: { resourceVersion?: string; continue?: string }; items?: KubeObject[] };
    items.push(...(body.items ?? []));
    rv = body.metadata?.resourceVersion ?? '';
    cont = body.metadata?.continue || undefined;
  } while (cont);
  if (!rv) throw new Error(`list ${path}: no resourceVersion`);
  handlers.listed(items);
  return rv;
}

/** One watch request, until it ends; `position` follows every event and bookmark. */
async function follow(
  d: WatchDeps,
  path: string,
  position: Position,
  handlers: WatchHandlers,
  signal: AbortSignal,
  metadataOnly: boolean,
): Promise<void> {
  const timeoutSeconds = Math.round(d.options.timeoutSeconds * (1 + d.clock.random()));
  const res = await d.rest.stream({
    method: 'GET',
    path,
    query: {
      watch: '1',
      resourceVersion: position.rv,
      allowWatchBookmarks: 'true',
      timeoutSeconds: String(timeoutSeconds),
    },
    ...(metadataOnly ? { accept: metadataAccept } : {}),
    signal,
    // The apiserver ends the watch at timeoutSeconds; silence well past that is a dead connection.
    idleTimeoutMs: (timeoutSeconds + 30) * 1_000,
  });
  const gone = () => {
    position.rv = undefined;
    position.gone = true;
  };
  if (res.status === 410) return gone();
  if (res.status !== 200 || !res.lines) throw new Error(`watch ${path}: ${statusOf(res).message}`);
  for await (const line of res.lines) {
    if (!line.trim()) continue;
    const ev = JSON.parse(line) as { type?: string; object?: KubeObject & { code?: number; message?: string } };
    const obj = ev.object ?? {};
    if (ev.type === 'ERROR') {
      if (obj.code === 410) return gone();
      throw new Error(`watch ${path}: ${obj.message ?? line}`);
    }
    const rv = obj.metadata?.resourceVersion;
    if (rv) position.rv = rv;
    position.events++;
    if (ev.type === 'ADDED' || ev.type === 'MODIFIED' || ev.type === 'DELETED') handlers.event(ev.type, obj);
  }
}
