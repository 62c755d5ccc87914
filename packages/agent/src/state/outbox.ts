// The status outbox: reports in sequence order, durable before append() resolves, kept
// until the hub acknowledges them. One document (a Secret, a file) holds it all, written
// with optimistic concurrency, so two replicas appending at once still never share a seq.
//
// Compaction keeps it bounded: the latest report of every work (uid) always stays; an older
// report stays only when it is a transition (its conditions differ from the next report of
// the same work), and at most `history` of those, newest first. When the compressed document
// is still too large for one object, the oldest history goes; when the latest reports alone
// do not fit, they spill into parts (like a large work) and the document points at them.
import { canonicalJson, type StatusReport } from '@outpost/shared';
import type { StatusOutbox } from '../work/types.ts';
import type { StateBackend, StoredDoc } from './backend.ts';
import { pauseAfterConflict, readBlob, writeBlob } from './blobs.ts';
import { isStateError, StateError } from './errors.ts';
import { stateDurations } from './limits.ts';
import { decodeOutbox, encodeJson, type OutboxDoc, type OutboxHeader, outboxMember, referencedParts } from './model.ts';

/** What makes two reports of one work "the same state" for compaction. */
export function transitionKey(r: StatusReport): string {
  return canonicalJson({
    g: r.generation,
    d: r.deleted === true,
    c: r.status.conditions
      .map((c) => [c.type, c.status, c.reason, c.observedGeneration ?? null])
      .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
  });
}

/**
 * Compacts reports (lowest seq first): keeps the latest per work uid, and of the older ones
 * only transitions, at most `history` of them (the newest). Order is kept.
 */
export function compactReports(reports: readonly StatusReport[], history: number): StatusReport[] {
  const following = new Map<string, string>();
  const keep: boolean[] = new Array(reports.length).fill(false);
  let kept = 0;
  for (let i = reports.length - 1; i >= 0; i--) {
    const r = reports[i] as StatusReport;
    const key = transitionKey(r);
    const next = following.get(r.uid);
    following.set(r.uid, key);
    if (next === undefined)
      keep[i] = true; // the latest of its work
    else if (next !== key && kept < history) {
      keep[i] = true;
      kept++;
    }
  }
  return reports.filter((_, i) => keep[i]);
}

/** Position of the oldest report that is not the latest of its work; -1 when there is none. */
export function oldestHistory(reports: readonly StatusReport[]): number {
  const latest = new Map<string, number>();
  for (const r of reports) latest.set(r.uid, r.seq);
  return reports.findIndex((r) => latest.get(r.uid) !== r.seq);
}

export interface OutboxOptions {
  history: number;
  /**
   * The first sequence number of a brand-new outbox. Defaults to microseconds since the
   * epoch: an outbox lost with its namespace then still continues above every seq the hub
   * stored, which it would otherwise skip as already seen.
   */
  firstSeq: () => number;
  beforeCommit?: (doc: 'index' | 'outbox') => void | Promise<void>;
  log: { warn(obj: object, msg?: string): void };
}

export class DurableOutbox implements StatusOutbox {
  readonly #backend: StateBackend;
  readonly #opts: OutboxOptions;
  #doc: OutboxDoc | undefined;
  #version: string | undefined;
  /** Highest nextSeq ever seen: a deleted document never makes a seq come back. */
  #highWater = 0;
  /** Spill parts written by this process and not (known to be) committed. */
  readonly #own = new Set<string>();
  /**
   * Compressed lines of reports this process wrote in a committed document, by seq. Only
   * committed ones: a seq tried in an append that lost a race belongs to another report.
   */
  #committed = new Map<number, Buffer>();
  #queue: Promise<unknown> = Promise.resolve();

  constructor(backend: StateBackend, opts: OutboxOptions) {
    this.#backend = backend;
    this.#opts = opts;
  }

  /** Takes the document a load read; `read` reads spill parts of the same view. */
  async attach(stored: StoredDoc | undefined, read: (names: string[]) => Promise<(Buffer | undefined)[]>) {
    let doc: OutboxDoc | undefined;
    try {
      doc = stored ? await this.#decode(stored.bytes, read) : undefined;
    } catch (err) {
      if (!isStateError(err, 'AGENT_STATE_CORRUPT')) throw err;
      // Nothing to deliver from it any more; the next append overwrites it (its version is
      // kept) and takes a seq from the clock, above anything the hub stored.
      this.#opts.log.warn({ err: err.message }, 'status outbox unreadable; starting a new one');
    }
    this.#set(doc, stored?.version);
  }

  /** The document as loaded, for the store's orphan scan. */
  get doc(): OutboxDoc | undefined {
    return this.#doc;
  }

  pending(max: number): StatusReport[] {
    return this.#doc?.reports.slice(0, Math.max(0, max)) ?? [];
  }

  depth(): number {
    return this.#doc?.reports.length ?? 0;
  }

  /** The sequence number the next append takes (for `outpost-agent status`). */
  get nextSeq(): number | undefined {
    return this.#doc?.nextSeq;
  }

  append(report: Omit<StatusReport, 'seq'>): Promise<StatusReport> {
    let stored: StatusReport | undefined;
    return this.#update((doc) => {
      stored = { ...report, seq: doc.nextSeq } as StatusReport;
      return {
        ...doc,
        nextSeq: doc.nextSeq + 1,
        reports: compactReports([...doc.reports, stored], this.#opts.history),
      };
    }).then(() => stored as StatusReport);
  }

  ack(seq: number): Promise<void> {
    return this.#update((doc) => {
      if (doc.acked >= seq && !doc.reports.some((r) => r.seq <= seq)) return undefined;
      return { ...doc, acked: Math.max(doc.acked, seq), reports: doc.reports.filter((r) => r.seq > seq) };
    });
  }

  #set(doc: OutboxDoc | undefined, version: string | undefined) {
    this.#doc = doc;
    this.#version = version;
    if (doc) this.#highWater = Math.max(this.#highWater, doc.nextSeq);
  }

  async #decode(bytes: Buffer, read: (names: string[]) => Promise<(Buffer | undefined)[]>): Promise<OutboxDoc> {
    const where = this.#backend.description;
    const doc = await decodeOutbox(bytes, where);
    if (doc.spill) doc.reports = await readBlob<StatusReport[]>(doc.spill, read, `the spilled outbox in ${where}`);
    return doc;
  }

  async #reload(): Promise<void> {
    const stored = await this.#backend.readDoc('outbox');
    const doc = stored ? await this.#decode(stored.bytes, (n) => this.#backend.readParts(n)) : undefined;
    this.#set(doc, stored?.version);
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => {});
    return next;
  }

  #update(change: (doc: OutboxDoc) => OutboxDoc | undefined): Promise<void> {
    return this.#serial(async () => {
      if (this.#version === undefined && this.#doc === undefined) await this.#reload();
      const deadline = Date.now() + stateDurations.conflictRetryMs;
      for (let attempt = 0; ; attempt++) {
        const current: OutboxDoc = this.#doc ?? {
          format: 1,
          nextSeq: Math.max(this.#highWater, this.#opts.firstSeq()),
          acked: 0,
          reports: [],
        };
        const next = change(current);
        if (!next) return;
        if (await this.#write(next)) return;
        if (!(await pauseAfterConflict(attempt, deadline))) {
          throw new StateError(
            'AGENT_STATE_CONFLICT',
            `the status outbox in ${this.#backend.description} kept changing underneath (${attempt + 1} conflicts)`,
            { transient: true },
          );
        }
        await this.#reload();
      }
    });
  }

  /** Persists `doc` over the version held; false when another writer came first. */
  async #write(doc: OutboxDoc): Promise<boolean> {
    const members = new Map<number, Buffer>();
    for (const r of doc.reports) members.set(r.seq, this.#committed.get(r.seq) ?? (await outboxMember(r)));
    let reports = doc.reports;
    let header: OutboxHeader = { format: 1, nextSeq: doc.nextSeq, acked: doc.acked };
    const head = await outboxMember(header);
    let size = head.length + [...members.values()].reduce((n, m) => n + m.length, 0);
    // Too large for one object: the oldest history goes first, never a work's latest.
    for (let i = oldestHistory(reports); size > this.#backend.docBytes && i >= 0; i = oldestHistory(reports)) {
      size -= members.get((reports[i] as StatusReport).seq)?.length ?? 0;
      reports = [...reports.slice(0, i), ...reports.slice(i + 1)];
    }
    let body: Buffer;
    let spilled: string[] = [];
    if (size > this.#backend.docBytes) {
      // The latest reports alone do not fit: they go to parts, the document points at them.
      const ref = await writeBlob(this.#backend, await encodeJson(reports), { kind: 'outbox' }, { inline: false });
      spilled = ref.chunks ?? [];
      for (const c of spilled) this.#own.add(c);
      header = { ...header, spill: ref };
      body = await outboxMember(header);
    } else {
      body = Buffer.concat([head, ...reports.map((r) => members.get(r.seq) as Buffer)]);
    }
    await this.#opts.beforeCommit?.('outbox');
    const res = await this.#backend.writeDoc('outbox', body, this.#version);
    if (!res.ok) {
      // Refused outright: these parts were never referenced.
      await this.#deleteQuietly(spilled);
      return false;
    }
    const previous = referencedParts(undefined, this.#doc);
    const stored: OutboxDoc = { ...header, reports };
    this.#set(stored, res.version);
    const now = referencedParts(undefined, stored);
    for (const n of now) this.#own.delete(n);
    this.#committed = new Map(reports.map((r) => [r.seq, members.get(r.seq) as Buffer]));
    await this.#deleteQuietly([...previous, ...this.#own].filter((n) => !now.has(n)));
    return true;
  }

  async #deleteQuietly(names: string[]): Promise<void> {
    if (names.length === 0) return;
    try {
      await this.#backend.deleteParts(names);
      for (const n of names) this.#own.delete(n);
    } catch {
      // Unreferenced parts: the next write or load deletes them.
      for (const n of names) this.#own.add(n);
    }
  }
}
