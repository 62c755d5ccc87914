// Lists and their watches: every watchable list route answers `?watch=true` with a stream of
// ADDED, MODIFIED and DELETED events, as Kubernetes does, read from the store's change log
// (store/changes.ts): newline-delimited JSON over HTTP, or one event per message over a
// WebSocket on the same URL. A watch resumes from any event's resourceVersion (a number of
// the log, not the object's own resourceVersion, which counts that object's writes), and one
// from before the trimmed history is answered 410 WATCH_EXPIRED: list again.
//
// What an object shows that is derived at read time (a cluster's Available condition from its
// agent's last poll, its works' counts, a set's member count) travels with that object's next
// change, not on its own.
import { Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { WebSocket } from '@fastify/websocket';
import { apiError, errorBody, OutpostError } from '@outpost/shared';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Store } from '../../store/index.ts';
import { listOf, listQuery, sendStored } from '../common.ts';
import { type Listing, ObjectCache, startOf, type WatchEvent, watchEvents } from './events.ts';
import { acceptsJson, type WatchQuery, watchQuery } from './query.ts';
import { ChangeTail, stopping } from './tail.ts';

export type { Listing } from './events.ts';
export { ChangeTail } from './tail.ts';

/** What every list route of one hub shares: the tail, and the objects its events read. */
export interface Watches {
  tail: ChangeTail;
  objects: ObjectCache;
}

export function watches(store: Store): Watches {
  return { tail: new ChangeTail(store), objects: new ObjectCache(store) };
}

/** Bytes of an event's object written per turn of the event loop. */
const sliceBytes = 1024 * 1024;
/** How long a stream that cannot be written (its client stopped reading) is given to end
 *  once its watch is over, before its connection is closed. */
const endGraceMs = 2_000;

function* slices(bytes: Buffer): Generator<Buffer> {
  for (let at = 0; at < bytes.length; at += sliceBytes) yield bytes.subarray(at, at + sliceBytes);
}

/** One event's line, in slices, the event loop let go between them. */
async function* eventLine(e: WatchEvent): AsyncGenerator<Buffer> {
  yield Buffer.from(`{"type":"${e.type}","resourceVersion":"${e.resourceVersion}","object":`);
  let first = true;
  for (const s of slices(e.object)) {
    if (!first) await nextTurn();
    first = false;
    yield s;
  }
  yield Buffer.from('}\n');
}

const errorEvent = (err: unknown) => {
  const e = err instanceof OutpostError ? err : new OutpostError('INTERNAL', 'the watch failed; see the hub log', 500);
  return { type: 'ERROR' as const, object: { ...errorBody(e), status: e.statusCode } };
};

/** The scope a watch reads: the path's, or the fieldSelector's namespace (which may repeat
 *  the path's but not contradict it). */
function scopeOf(pathScope: string | undefined, w: WatchQuery): string | undefined {
  if (w.namespace === undefined) return pathScope;
  if (pathScope !== undefined && pathScope !== w.namespace) {
    throw apiError('VALIDATION_FAILED', `fieldSelector metadata.namespace=${w.namespace} contradicts the path`);
  }
  return w.namespace;
}

/**
 * Registers GET `path` as a list (with `metadata.resourceVersion`: where a watch of what it
 * showed starts) that also answers `watch=true`, over HTTP and over a WebSocket.
 */
export function listRoute(app: FastifyInstance, store: Store, shared: Watches, path: string, listing: Listing): void {
  const log = app.log;
  const { tail, objects } = shared;
  app.route({
    method: 'GET',
    url: path,
    handler: async (req: FastifyRequest, reply: FastifyReply) => {
      const w = watchQuery(req.query);
      const pathScope = await listing.scope(req);
      if (!w) {
        const at = await store.changes.latest();
        const page = await listing.list(pathScope, listQuery(req.query));
        const list = listOf(listing.kind, page.items, page.next);
        return sendStored(reply, store, { ...list, metadata: { ...list.metadata, resourceVersion: String(at) } });
      }
      if (!acceptsJson(req.headers.accept)) {
        throw apiError(
          'NOT_ACCEPTABLE',
          'a watch streams JSON lines (application/json;stream=watch): accept application/json',
        );
      }
      const scope = scopeOf(pathScope, w);
      // A watch from a lost resourceVersion is a 410 answer, not a stream that fails.
      const start = await startOf(store, w);
      const ac = tail.open(req.principal?.actor ?? 'anonymous', w.timeoutMs);
      // Over (the hub stops, its time is up, the client went): a stream its client no
      // longer reads would wait for it forever; its connection is closed after a grace.
      const socket = reply.raw.socket;
      ac.signal.addEventListener(
        'abort',
        () => {
          setTimeout(() => reply.raw.destroy(), endGraceMs).unref();
          // The hub stops: its connection is not kept alive after the stream's end either
          // (the server stopped listening before the stream ended; it would hold the stop).
          if (ac.signal.reason === stopping && socket) {
            if (reply.raw.writableFinished) socket.end();
            else reply.raw.once('finish', () => socket.end());
          }
        },
        { once: true },
      );
      reply.raw.on('close', () => ac.abort());
      const events = watchEvents(store, tail, objects, listing, scope, w, start, ac.signal);
      async function* lines() {
        // Sent now, not with the first event: a client waits for the answer to begin.
        reply.raw.flushHeaders();
        try {
          for await (const e of events) yield* eventLine(e);
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
      void watchSocket(socket, req, store, shared, listing, log);
    },
  });
}

async function watchSocket(
  socket: WebSocket,
  req: FastifyRequest,
  store: Store,
  { tail, objects }: Watches,
  listing: Listing,
  log: FastifyInstance['log'],
): Promise<void> {
  let ac: AbortController | undefined;
  // A fragment of a text message (JSON); the next waits until this one is written.
  const send = (data: Buffer | string, fin = true) =>
    new Promise<void>((resolve, reject) =>
      socket.send(data, { binary: false, fin }, (err) => (err ? reject(err) : resolve())),
    );
  try {
    const w = watchQuery({ ...(req.query as object), watch: 'true' });
    if (!w) return;
    const scope = scopeOf(await listing.scope(req), w);
    const start = await startOf(store, w);
    const watch = tail.open(req.principal?.actor ?? 'anonymous', w.timeoutMs);
    ac = watch;
    watch.signal.addEventListener('abort', () => setTimeout(() => socket.terminate(), endGraceMs).unref(), {
      once: true,
    });
    socket.on('close', () => watch.abort());
    // Nothing is read from the client: a message is a protocol error.
    socket.on('message', () => socket.close(1003, 'this socket only sends'));
    for await (const e of watchEvents(store, tail, objects, listing, scope, w, start, watch.signal)) {
      // One message per event, sent in fragments of a megabyte.
      let pending: Buffer | undefined;
      for await (const part of eventLine(e)) {
        if (pending) await send(pending, false);
        pending = part;
      }
      // The line's newline ends the message (a JSON text may end with whitespace).
      if (pending) await send(pending, true);
    }
    if (socket.readyState === socket.OPEN) socket.close(1000, 'watch ended');
  } catch (err) {
    if (ac?.signal.aborted || socket.readyState !== socket.OPEN) return;
    if (!(err instanceof OutpostError)) log.error({ err, path: req.url.split('?')[0] }, 'watch failed');
    await send(JSON.stringify(errorEvent(err))).catch(() => {});
    socket.close(1000, 'watch ended');
  } finally {
    ac?.abort();
  }
}
