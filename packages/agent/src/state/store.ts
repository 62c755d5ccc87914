// The durable agent state over any backend (Secrets or files): desired works, ledgers and
// held deletions are blobs named by one index, and every change is one index switch.
//
// A save writes the new blobs' parts under new names first, then replaces the index with
// optimistic concurrency (the commit point), then deletes the parts the old index named.
// A crash before the switch leaves the old index and its parts whole (the new parts are
// orphans); a crash after it leaves the old parts as orphans. Orphans are deleted by the
// next save of this process, or at load once older than a grace period (they may be a
// save in flight in another replica). A lost race re-reads the index and re-applies the
// change to what the other writer committed.
import { canonicalJson } from '@outpost/shared';
import { compactWork } from '../work/compact.ts';
import type { AgentSnapshot, AgentStateStore, AppliedObject, DesiredWork } from '../work/types.ts';
import type { BackendView, StateBackend } from './backend.ts';
import { pauseAfterConflict, readBlob, writeBlob } from './blobs.ts';
import { isStateError, StateError } from './errors.ts';
import { stateDurations, stateLimits } from './limits.ts';
import {
  type BlobRef,
  decodeIndex,
  type Encoded,
  emptyIndex,
  encodeDoc,
  encodeJson,
  inlineBytes,
  type PartMeta,
  referencedParts,
  type StateIndex,
} from './model.ts';
import { DurableOutbox } from './outbox.ts';

export interface StateLog {
  warn(obj: object, msg?: string): void;
}

export interface StateStoreOptions {
  /** Where skipped (corrupt) blobs and failed clean-ups are reported. */
  log?: StateLog;
  /** Unreferenced parts at least this old are deleted at load (default 5 min). */
  orphanGraceMs?: number;
  /** Transitions the outbox keeps besides the latest report per work (default 20). */
  outboxHistory?: number;
  now?: () => number;
  /** First seq of a brand-new outbox (default: microseconds since the epoch). */
  firstSeq?: () => number;
  /**
   * For tests: runs after a save wrote its new parts and before it switches the index (or
   * the outbox). A throw there is what a crash at that point leaves behind.
   */
  beforeCommit?: (doc: 'index' | 'outbox') => void | Promise<void>;
}

type BlobMaker = (enc: Encoded, meta: PartMeta, current: BlobRef | undefined, generation?: number) => Promise<BlobRef>;

const refOnly = (r: BlobRef): BlobRef => {
  const out: BlobRef = { sha256: r.sha256, bytes: r.bytes };
  if (r.chunks) out.chunks = r.chunks;
  if (r.inline !== undefined) out.inline = r.inline;
  return out;
};

const quietLog: StateLog = { warn() {} };

export class DurableStateStore implements AgentStateStore {
  readonly outbox: DurableOutbox;
  readonly #backend: StateBackend;
  readonly #log: StateLog;
  readonly #graceMs: number;
  readonly #now: () => number;
  readonly #beforeCommit: StateStoreOptions['beforeCommit'];
  #index: StateIndex | undefined;
  #version: string | undefined;
  /** Parts this process wrote that no committed index names (yet): deleted after the next commit. */
  readonly #own = new Set<string>();
  #queue: Promise<unknown> = Promise.resolve();

  constructor(backend: StateBackend, options: StateStoreOptions = {}) {
    this.#backend = backend;
    this.#log = options.log ?? quietLog;
    this.#graceMs = options.orphanGraceMs ?? stateDurations.orphanGraceMs;
    this.#now = options.now ?? Date.now;
    this.#beforeCommit = options.beforeCommit;
    this.outbox = new DurableOutbox(backend, {
      history: options.outboxHistory ?? stateLimits.outboxHistory,
      firstSeq: options.firstSeq ?? (() => Math.floor(this.#now() * 1000)),
      beforeCommit: options.beforeCommit,
      log: this.#log,
    });
  }

  get description(): string {
    return this.#backend.description;
  }

  /** When the hub last answered a poll, as the loaded (or last written) index records it. */
  get polledAt(): string | undefined {
    return this.#index?.polledAt;
  }

  load(): Promise<AgentSnapshot> {
    return this.#serial(async () => {
      // A file backend reads the index and the parts one after the other: a missing part
      // may be a concurrent save that just switched. Read again before calling it corrupt.
      for (let attempt = 0; ; attempt++) {
        const view = await this.#backend.view();
        const { snapshot, missing } = await this.#assemble(view, attempt < 2);
        if (missing) continue;
        await this.#collectOrphans(view);
        return snapshot;
      }
    });
  }

  saveDesired(change: { hubEpoch: string; revision: number; upsert: DesiredWork[]; remove: string[] }): Promise<void> {
    return this.#serial(async () => {
      const encoded: Encoded[] = [];
      for (const w of change.upsert) encoded.push(await encodeJson(w));
      await this.#mutate(async (cur, blob) => {
        const next: StateIndex = {
          ...cur,
          // '' is "no epoch known" (a removal before the first sync): keep what is stored.
          hubEpoch: change.hubEpoch === '' ? cur.hubEpoch : change.hubEpoch,
          revision: change.revision,
          works: { ...cur.works },
        };
        for (const [i, w] of change.upsert.entries()) {
          const meta: PartMeta = { kind: 'work', workName: w.name, workUid: w.uid };
          const ref = await blob(encoded[i] as Encoded, meta, cur.works[w.name], w.generation);
          next.works[w.name] = { uid: w.uid, generation: w.generation, ...refOnly(ref) };
        }
        for (const name of change.remove) delete next.works[name];
        return canonicalJson(next) === canonicalJson(cur) ? undefined : next;
      });
    });
  }

  saveLedger(workUid: string, objects: AppliedObject[] | undefined): Promise<void> {
    return this.#serial(async () => {
      const enc = objects === undefined ? undefined : await encodeJson(objects);
      await this.#mutate(async (cur, blob) => {
        const current = cur.ledger[workUid];
        if (!enc) {
          if (!current) return undefined;
          const ledger = { ...cur.ledger };
          delete ledger[workUid];
          return { ...cur, ledger };
        }
        const ref = await blob(enc, { kind: 'ledger', workUid }, current);
        return ref === current ? undefined : { ...cur, ledger: { ...cur.ledger, [workUid]: refOnly(ref) } };
      });
    });
  }

  saveHeldDeletions(held: AgentSnapshot['heldDeletions']): Promise<void> {
    return this.#serial(async () => {
      const enc = held.length === 0 ? undefined : await encodeJson(held);
      await this.#mutate(async (cur, blob) => {
        if (!enc) {
          if (!cur.held) return undefined;
          const { held: _gone, ...rest } = cur;
          return rest;
        }
        const ref = await blob(enc, { kind: 'held' }, cur.held);
        return ref === cur.held ? undefined : { ...cur, held: refOnly(ref) };
      });
    });
  }

  saveReleased(uids: readonly string[]): Promise<void> {
    return this.#serial(async () => {
      const enc = uids.length === 0 ? undefined : await encodeJson(uids);
      await this.#mutate(async (cur, blob) => {
        if (!enc) {
          if (!cur.released) return undefined;
          const { released: _gone, ...rest } = cur;
          return rest;
        }
        const ref = await blob(enc, { kind: 'released' }, cur.released);
        return ref === cur.released ? undefined : { ...cur, released: refOnly(ref) };
      });
    });
  }

  /** Records when the hub last answered a poll (see StateIndex.polledAt); nothing else changes. */
  savePolledAt(at: string): Promise<void> {
    return this.#serial(() =>
      this.#mutate(async (cur) => (cur.polledAt === at ? undefined : { ...cur, polledAt: at })),
    );
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => {});
    return next;
  }

  async #assemble(view: BackendView, retryOnMissing: boolean): Promise<{ snapshot: AgentSnapshot; missing: boolean }> {
    const where = this.#backend.description;
    const read = (names: string[]) => Promise.all(names.map((n) => view.readPart(n)));
    const index = view.index ? await decodeIndex(view.index.bytes, where) : emptyIndex();
    const snapshot: AgentSnapshot = {
      hubEpoch: index.hubEpoch,
      revision: index.revision,
      works: new Map(),
      ledger: new Map(),
      heldDeletions: [],
      released: [],
    };
    let missing = false;
    // One unreadable blob must not cost the others: it is skipped and reported. A skipped
    // work is sent again by the hub (the inventory lacks it); a skipped ledger means the
    // agent forgets objects, which can orphan them but never delete anything.
    const get = async <T>(ref: BlobRef, what: string): Promise<T | undefined> => {
      try {
        return await readBlob<T>(ref, read, `${what} in ${where}`);
      } catch (err) {
        if (!isStateError(err, 'AGENT_STATE_CORRUPT')) throw err;
        if (retryOnMissing && /missing$/.test(err.message)) missing = true;
        else this.#log.warn({ err: err.message }, `${what} is unreadable and skipped`);
        return undefined;
      }
    };
    for (const [name, ref] of Object.entries(index.works)) {
      const work = await get<DesiredWork>(ref, `desired work ${name}`);
      if (work && work.name === name && work.uid === ref.uid) snapshot.works.set(name, compactWork(work));
      else if (work) this.#log.warn({ work: name }, 'desired work does not match its index entry; skipped');
    }
    for (const [uid, ref] of Object.entries(index.ledger)) {
      const objects = await get<AppliedObject[]>(ref, `ledger of work uid ${uid}`);
      if (objects) snapshot.ledger.set(uid, objects);
    }
    if (index.held)
      snapshot.heldDeletions = (await get<AgentSnapshot['heldDeletions']>(index.held, 'held deletions')) ?? [];
    if (index.released) snapshot.released = (await get<string[]>(index.released, 'released objects')) ?? [];
    if (missing) return { snapshot, missing };
    await this.outbox.attach(view.outbox, read);
    this.#index = index;
    this.#version = view.index?.version;
    return { snapshot, missing };
  }

  async #collectOrphans(view: BackendView): Promise<void> {
    const referenced = referencedParts(this.#index, this.outbox.doc);
    const now = this.#now();
    const orphans = view.parts
      .filter((p) => !referenced.has(p.name))
      .filter((p) => this.#own.has(p.name) || (p.createdAt !== undefined && now - p.createdAt >= this.#graceMs))
      .map((p) => p.name);
    await this.#deleteQuietly(orphans);
  }

  async #deleteQuietly(names: string[]): Promise<void> {
    if (names.length === 0) return;
    try {
      await this.#backend.deleteParts(names);
      for (const n of names) this.#own.delete(n);
    } catch (err) {
      for (const n of names) this.#own.add(n);
      this.#log.warn({ err: (err as Error).message, parts: names.length }, 'unreferenced state parts not deleted yet');
    }
  }

  async #current(): Promise<{ index: StateIndex; version: string | undefined }> {
    if (this.#index === undefined) {
      const stored = await this.#backend.readDoc('index');
      this.#index = stored ? await decodeIndex(stored.bytes, this.#backend.description) : emptyIndex();
      this.#version = stored?.version;
    }
    return { index: this.#index, version: this.#version };
  }

  /**
   * Applies `build` to the current index and switches to the result. `build` gets a blob
   * maker that reuses the current reference when the content is unchanged and otherwise
   * writes new parts (once per content, also across conflict retries).
   */
  async #mutate(build: (cur: StateIndex, blob: BlobMaker) => Promise<StateIndex | undefined>): Promise<void> {
    const written = new Map<string, BlobRef>();
    let { index: cur, version } = await this.#current();
    const deadline = Date.now() + stateDurations.conflictRetryMs;
    for (let attempt = 0; ; attempt++) {
      let budget = stateLimits.inlineTotalBytes - inlineBytes(cur);
      const blob: BlobMaker = async (enc, meta, current, generation) => {
        if (current?.sha256 === enc.sha256) return current;
        const id = `${meta.kind}|${meta.workName ?? meta.workUid ?? ''}|${enc.sha256}`;
        const seen = written.get(id);
        if (seen) return seen;
        const inline = enc.gz.length <= stateLimits.inlineBytes && enc.gz.length <= budget;
        if (inline) budget -= enc.gz.length;
        // Until an index names them, these parts are this process's to delete.
        const ref = await writeBlob(this.#backend, enc, meta, { inline, generation });
        for (const c of ref.chunks ?? []) this.#own.add(c);
        written.set(id, ref);
        return ref;
      };
      const next = await build(cur, blob);
      if (!next) return;
      const bytes = await encodeDoc(next);
      if (bytes.length > this.#backend.docBytes) {
        throw new StateError(
          'AGENT_STATE_TOO_LARGE',
          `the state index would take ${bytes.length} bytes compressed (at most ${this.#backend.docBytes}): too many works`,
        );
      }
      await this.#beforeCommit?.('index');
      const res = await this.#backend.writeDoc('index', bytes, version);
      if (res.ok) {
        const before = referencedParts(cur);
        const after = referencedParts(next);
        this.#index = next;
        this.#version = res.version;
        for (const n of after) this.#own.delete(n);
        await this.#deleteQuietly([...before, ...this.#own].filter((n) => !after.has(n)));
        return;
      }
      if (!(await pauseAfterConflict(attempt, deadline))) {
        throw new StateError(
          'AGENT_STATE_CONFLICT',
          `the state index in ${this.#backend.description} kept changing underneath (${attempt + 1} conflicts)`,
          { transient: true },
        );
      }
      this.#index = undefined;
      ({ index: cur, version } = await this.#current());
    }
  }
}
