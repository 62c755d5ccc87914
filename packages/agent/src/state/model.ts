// What the state store writes, independent of where: the index (the commit point of every
// change to desired works, ledgers and held deletions), blob references, the outbox
// document, and their encodings (JSON, gzip, SHA-256 of the JSON text).
import { createHash, randomBytes } from 'node:crypto';
import type { StatusReport } from '@outpost/shared';
import { gunzip, gzip } from '../gzip.ts';
import { StateError } from './errors.ts';

// Compression runs on the main thread, not zlib's thread pool: the documents are small (an
// index of a few KiB, a 1,000-manifest work about 1 MiB of JSON, a few ms of CPU), and
// memory malloc'ed in pool threads lands in per-thread arenas that glibc keeps after it is
// freed; in the agent's memory benchmark that was several MiB of resident memory. gzip.ts
// also sizes zlib's output chunks to the data.
const gzipAsync = async (data: Buffer): Promise<Buffer> => gzip(data);
const gunzipAsync = async (data: Buffer, expectedBytes?: number): Promise<Buffer> =>
  gunzip(data, expectedBytes === undefined ? {} : { expectedBytes });

/**
 * Where one JSON value (a work, a ledger, the held deletions, a spilled outbox) is kept:
 * inline in the document that references it, or gzip split over `chunks`, in order.
 */
export interface BlobRef {
  /** SHA-256 (hex) of the uncompressed JSON text: checked after reassembly. */
  sha256: string;
  /** Length of the uncompressed JSON text in bytes. */
  bytes: number;
  /** Names of the parts holding the gzip stream, in order. */
  chunks?: string[];
  /** The gzip stream itself (base64), for small blobs. */
  inline?: string;
}

export interface WorkRef extends BlobRef {
  uid: string;
  generation: number;
}

/** The commit point: a change becomes visible when the index naming it is written. */
export interface StateIndex {
  format: 1;
  hubEpoch?: string;
  revision: number;
  works: Record<string, WorkRef>;
  /** Per work uid. */
  ledger: Record<string, BlobRef>;
  held?: BlobRef;
  /** UIDs of objects the works let go of and left on the spoke (see AgentSnapshot.released). */
  released?: BlobRef;
  /**
   * When the hub last answered a poll (ISO time, the agent's clock), saved at most once per
   * stateDurations.polledRecordMs: `outpost-agent status` shows it while no agent runs.
   */
  polledAt?: string;
}

export interface OutboxDoc {
  format: 1;
  /** The sequence number the next append takes; never reused, also after acks. */
  nextSeq: number;
  /** Highest sequence number the hub acknowledged. */
  acked: number;
  /** Unacknowledged reports, lowest sequence first (empty when spilled). */
  reports: StatusReport[];
  /** Set when the reports did not fit the document: they are in this blob instead. */
  spill?: BlobRef;
}

export const emptyIndex = (): StateIndex => ({ format: 1, revision: 0, works: {}, ledger: {} });

/** A JSON value, encoded once: its text's checksum and length, and the gzip stream. */
export interface Encoded {
  sha256: string;
  bytes: number;
  gz: Buffer;
}

export const sha256Hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

export async function encodeJson(value: unknown): Promise<Encoded> {
  const text = Buffer.from(JSON.stringify(value), 'utf8');
  return { sha256: sha256Hex(text), bytes: text.length, gz: await gzipAsync(text) };
}

/** Decodes a gzip JSON stream; with `sha256`, verifies the text first. `bytes`: the text's length, when known. */
export async function decodeJson<T>(gz: Buffer, what: string, sha256?: string, bytes?: number): Promise<T> {
  let text: Buffer;
  try {
    text = await gunzipAsync(gz, bytes);
  } catch (err) {
    throw new StateError('AGENT_STATE_CORRUPT', `${what}: not a gzip stream (${(err as Error).message})`, {
      cause: err,
    });
  }
  if (sha256 !== undefined && sha256Hex(text) !== sha256) {
    throw new StateError('AGENT_STATE_CORRUPT', `${what}: SHA-256 mismatch after reassembly`);
  }
  try {
    return JSON.parse(text.toString('utf8')) as T;
  } catch (err) {
    throw new StateError('AGENT_STATE_CORRUPT', `${what}: not JSON`, { cause: err });
  }
}

export function encodeDoc(doc: StateIndex): Promise<Buffer> {
  return gzipAsync(Buffer.from(JSON.stringify(doc), 'utf8'));
}

export async function decodeIndex(gz: Buffer, where: string): Promise<StateIndex> {
  const doc = await decodeJson<Partial<StateIndex>>(gz, `the state index in ${where}`);
  if (doc.format !== 1 || typeof doc.revision !== 'number' || typeof doc.works !== 'object') {
    throw new StateError('AGENT_STATE_CORRUPT', `the state index in ${where} has an unknown format`);
  }
  return { ...emptyIndex(), ...doc } as StateIndex;
}

/**
 * The outbox document is NDJSON, gzip-compressed one line per gzip member (a concatenation
 * of members is one valid gzip stream): a header line, then one line per report. A report's
 * member is compressed once, when it is appended, so an append costs one small compression
 * however many reports wait.
 */
export type OutboxHeader = Omit<OutboxDoc, 'reports'>;

export function outboxMember(line: unknown): Promise<Buffer> {
  return gzipAsync(Buffer.from(`${JSON.stringify(line)}\n`, 'utf8'));
}

export async function decodeOutbox(gz: Buffer, where: string): Promise<OutboxDoc> {
  const what = `the status outbox in ${where}`;
  let text: string;
  try {
    text = (await gunzipAsync(gz)).toString('utf8');
  } catch (err) {
    throw new StateError('AGENT_STATE_CORRUPT', `${what}: not a gzip stream`, { cause: err });
  }
  let header: Partial<OutboxHeader>;
  let reports: StatusReport[];
  try {
    const lines = text.split('\n').filter((l) => l.length > 0);
    header = JSON.parse(lines[0] ?? '{}') as Partial<OutboxHeader>;
    reports = lines.slice(1).map((l) => JSON.parse(l) as StatusReport);
  } catch (err) {
    throw new StateError('AGENT_STATE_CORRUPT', `${what}: not NDJSON`, { cause: err });
  }
  if (header.format !== 1 || typeof header.nextSeq !== 'number') {
    throw new StateError('AGENT_STATE_CORRUPT', `${what} has an unknown format`);
  }
  const doc: OutboxDoc = { format: 1, nextSeq: header.nextSeq, acked: header.acked ?? 0, reports };
  if (header.spill) doc.spill = header.spill;
  return doc;
}

/** The kinds of blobs, which prefix their part names. */
export const blobKinds = {
  work: 'work',
  ledger: 'ledger',
  held: 'held',
  released: 'released',
  outbox: 'outbox',
} as const;
export type BlobKind = keyof typeof blobKinds;

/** What a part is for, carried as labels where the backend has them. */
export interface PartMeta {
  kind: BlobKind;
  workName?: string;
  workUid?: string;
}

export interface Part {
  name: string;
  data: Buffer;
  meta: PartMeta;
  index: number;
  count: number;
}

/**
 * Part names are deterministic in what they are for and unique per write:
 * `outpost-work-<sha256(name)[:16]>-g<generation>-<nonce>-<n>`. A new version never
 * overwrites the parts the current index references, so a crash before the index switch
 * leaves the old version whole.
 */
export function partBase(meta: PartMeta, generation?: number): string {
  const nonce = randomBytes(4).toString('hex');
  const key = meta.kind === 'work' ? meta.workName : meta.kind === 'ledger' ? meta.workUid : undefined;
  const hash = key === undefined ? '' : `-${sha256Hex(key).slice(0, 16)}`;
  const gen = generation === undefined ? '' : `-g${generation}`;
  return `outpost-${meta.kind}${hash}${gen}-${nonce}`;
}

export function splitParts(base: string, gz: Buffer, partBytes: number, meta: PartMeta): Part[] {
  const count = Math.max(1, Math.ceil(gz.length / partBytes));
  const parts: Part[] = [];
  for (let i = 0; i < count; i++) {
    parts.push({ name: `${base}-${i}`, data: gz.subarray(i * partBytes, (i + 1) * partBytes), meta, index: i, count });
  }
  return parts;
}

/** Every part name a document references. */
export function referencedParts(index: StateIndex | undefined, outbox?: OutboxDoc): Set<string> {
  const out = new Set<string>();
  const add = (ref: BlobRef | undefined) => {
    for (const c of ref?.chunks ?? []) out.add(c);
  };
  if (index) {
    for (const w of Object.values(index.works)) add(w);
    for (const l of Object.values(index.ledger)) add(l);
    add(index.held);
    add(index.released);
  }
  add(outbox?.spill);
  return out;
}

export function inlineBytes(index: StateIndex): number {
  let n = 0;
  const add = (ref: BlobRef | undefined) => {
    if (ref?.inline) n += Math.ceil((ref.inline.length * 3) / 4);
  };
  for (const w of Object.values(index.works)) add(w);
  for (const l of Object.values(index.ledger)) add(l);
  add(index.held);
  add(index.released);
  return n;
}
