// JSON answers with stored JSON text inside: manifests and statuses are stored as text and
// may be megabytes, so an answer carries their bytes as they are, in parts, instead of
// parsing them into objects only to serialise them again, or joining them into one string.
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * A stored text, read only when it is written out: one of table texts by its hash (see
 * texts.ts), or the status kept in a work's row (`source` 'status', `hash` the work's uid).
 */
export class TextRef {
  readonly hash: string;
  /** Bytes of the text left out at its start. */
  readonly skip: number;
  readonly source: 'text' | 'status';
  constructor(hash: string, skip = 0, source: 'text' | 'status' = 'text') {
    this.hash = hash;
    this.skip = skip;
    this.source = source;
  }
}

export type JsonPart = string | Uint8Array | TextRef;

/** Bytes written out per turn of the event loop, at most about… */
const bytesPerTurn = 1024 * 1024;
/** …and stored texts read per turn (reading one costs about 10 µs, however small it is). */
const readsPerTurn = 1_000;

/** JSON text, in parts, that jsonParts puts into its output verbatim. */
export class RawJson {
  readonly parts: JsonPart[];
  /** An array, never spread into a call: a work may have tens of thousands of parts. */
  constructor(parts: JsonPart[]) {
    this.parts = parts;
  }
}

/** The JSON object text `object` (in parts, starting with "{") with `extra`'s keys first. */
export function withKeys(extra: Record<string, unknown>, object: JsonPart[]): JsonPart[] {
  const head = JSON.stringify(extra);
  if (head === '{}') return object;
  const [first, ...rest] = object;
  if (first === undefined) throw new Error('withKeys: no object');
  // A stored status is never "{}" (it has its conditions at least).
  if (first instanceof TextRef) {
    return [`${head.slice(0, -1)},`, new TextRef(first.hash, first.skip + 1, first.source), ...rest];
  }
  const body = typeof first === 'string' ? first.slice(1) : first.subarray(1);
  // An empty object's text is "{}": only its closing brace is left.
  const empty = rest.length === 0 && (typeof body === 'string' ? body === '}' : body.length === 1);
  return empty ? [head] : [`${head.slice(0, -1)},`, body, ...rest];
}

/** JSON.stringify in parts: every RawJson in `value` is its own parts, not copied. */
export function jsonParts(value: unknown): JsonPart[] {
  const raws: RawJson[] = [];
  // A tag no stored string can contain: it holds a random UUID and a NUL.
  const tag = `\u0000${randomUUID()}:`;
  const head = JSON.stringify(value, (_key, v: unknown) => {
    if (!(v instanceof RawJson)) return v;
    raws.push(v);
    return `${tag}${raws.length - 1}`;
  });
  if (raws.length === 0) return [head];
  // JSON.stringify visits values in output order, so the markers come in the order of `raws`.
  const quoted = JSON.stringify(tag).slice(0, -1);
  const parts: JsonPart[] = [];
  let at = 0;
  for (const [i, raw] of raws.entries()) {
    const marker = `${quoted}${i}"`;
    const found = head.indexOf(marker, at);
    parts.push(head.slice(at, found));
    for (const p of raw.parts) parts.push(p);
    at = found + marker.length;
  }
  parts.push(head.slice(at));
  return parts;
}

/** Whether the parts hold more than `limit` bytes (stored texts by `size`, read only as needed). */
export async function partsOver(
  parts: JsonPart[],
  limit: number,
  size: (hash: string) => number | undefined | Promise<number | undefined>,
): Promise<boolean> {
  let n = 0;
  for (const p of parts) {
    n +=
      p instanceof TextRef
        ? Math.max(0, ((await size(p.hash)) ?? 0) - p.skip)
        : typeof p === 'string'
          ? Buffer.byteLength(p)
          : p.length;
    if (n > limit) return true;
  }
  return false;
}

/**
 * The parts with the stored texts among the first `bytes` of them read now, as bytes: an
 * answer that fits is read whole before a byte of it is sent, so a read that fails (the
 * database went away) becomes an error answer instead of a 2xx cut short. A larger answer
 * reads the rest as it streams (jsonStream).
 */
export async function readAhead(
  parts: readonly JsonPart[],
  read: (ref: TextRef) => Uint8Array | undefined | Promise<Uint8Array | undefined>,
  bytes: number,
): Promise<JsonPart[]> {
  const out = [...parts];
  let n = 0;
  let reads = 0;
  for (let i = 0; i < out.length && n < bytes; i++) {
    const p = out[i];
    if (!(p instanceof TextRef)) continue;
    const chunk = (await read(p))?.subarray(p.skip);
    if (!chunk) throw new Error(`the stored text ${p.hash} is missing`);
    out[i] = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    n += chunk.length;
    if (++reads >= readsPerTurn) {
      reads = 0;
      await nextTurn();
    }
  }
  return out;
}

/**
 * The parts as bytes: stored texts are read (with `read`) as they are reached, and the event
 * loop is let go after about a megabyte, so a 16 MiB answer is never read or written in one
 * turn. A text `read` cannot find throws.
 */
export async function* jsonChunks(
  parts: readonly JsonPart[],
  read: (ref: TextRef) => Uint8Array | undefined | Promise<Uint8Array | undefined>,
): AsyncGenerator<Uint8Array> {
  let bytes = 0;
  let reads = 0;
  for (const p of parts) {
    if (p instanceof TextRef) reads++;
    const chunk = p instanceof TextRef ? (await read(p))?.subarray(p.skip) : typeof p === 'string' ? Buffer.from(p) : p;
    if (!chunk) throw new Error(`the stored text ${(p as TextRef).hash} is missing`);
    if (chunk.length === 0) continue;
    yield chunk;
    bytes += chunk.length;
    if (bytes >= bytesPerTurn || reads >= readsPerTurn) {
      bytes = 0;
      reads = 0;
      await nextTurn();
    }
  }
}

/** The parts as a stream of bytes (jsonChunks); parts that are all strings come back as one
 *  string, sent with its length. */
export function jsonStream(
  parts: JsonPart[],
  read: (ref: TextRef) => Uint8Array | undefined | Promise<Uint8Array | undefined>,
): Readable | string {
  if (parts.every((p) => typeof p === 'string')) return parts.join('');
  return Readable.from(jsonChunks(parts, read), { objectMode: false });
}
