// JSON answers with stored JSON text inside: manifests and statuses are stored as text and
// may be megabytes, so an answer carries their bytes as they are, in parts, instead of
// parsing them into objects only to serialise them again, or joining them into one string.
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';

export type JsonPart = string | Uint8Array;

/** JSON text, in parts, that jsonParts puts into its output verbatim. */
export class RawJson {
  readonly parts: JsonPart[];
  constructor(...parts: JsonPart[]) {
    this.parts = parts;
  }
}

/** The JSON object text `object` (in parts, starting with "{") with `extra`'s keys first. */
export function withKeys(extra: Record<string, unknown>, object: JsonPart[]): JsonPart[] {
  const head = JSON.stringify(extra);
  if (head === '{}') return object;
  const [first, ...rest] = object;
  const body = typeof first === 'string' ? first.slice(1) : first?.subarray(1);
  // An empty object's text is "{}": only its closing brace is left.
  const empty = rest.length === 0 && (typeof body === 'string' ? body === '}' : body?.length === 1);
  return empty ? [head] : [`${head.slice(0, -1)},`, body ?? '}', ...rest];
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
    parts.push(head.slice(at, found), ...raw.parts);
    at = found + marker.length;
  }
  parts.push(head.slice(at));
  return parts;
}

/** The parts as bytes, their total length, and a stream that writes them one by one. */
export function jsonStream(parts: JsonPart[]): { length: number; stream: Readable } {
  const chunks = parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)).filter((c) => c.length > 0);
  const length = chunks.reduce((n, c) => n + c.length, 0);
  return { length, stream: Readable.from(chunks) };
}
