// What the PATCH routes share: the patch type of the request, the stored object as a patch
// sees it (as bytes, for the body thread), and whether an object changed since it was read.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { apiError } from '@outpost/shared';
import { type PatchType, patchTypeOf as typeOf } from '../patch/index.ts';
import { jsonParts, TextRef } from '../work/raw-json.ts';

/** The patch type of a PATCH's content type (the parsers admit no other). */
export function patchTypeOf(contentType: string | undefined): PatchType {
  const type = typeOf(contentType);
  if (!type) {
    throw apiError(
      'UNSUPPORTED_MEDIA_TYPE',
      'a PATCH body is application/merge-patch+json, application/json-patch+json, application/json or YAML',
    );
  }
  return type;
}

/** Stored bytes read per turn of the event loop, at most about… */
const bytesPerTurn = 1024 * 1024;
/** …and stored texts (a read costs about 10 µs however small the text). */
const readsPerTurn = 250;

/**
 * `target` (a patch/ PatchTarget whose spec may be stored text, RawJson) as UTF-8 JSON in
 * parts, for the body thread, which joins them: the stored texts are read a megabyte (or 250
 * texts) per turn and handed over as they are, so the event loop copies none of 16 MiB.
 */
export async function patchBytes(
  target: unknown,
  read: (ref: TextRef) => Uint8Array | undefined | Promise<Uint8Array | undefined>,
): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  let bytes = 0;
  let reads = 0;
  for (const p of jsonParts(target)) {
    if (!(p instanceof TextRef)) {
      out.push(typeof p === 'string' ? Buffer.from(p) : p);
      continue;
    }
    const text = (await read(p))?.subarray(p.skip);
    if (!text) throw new Error(`the stored text ${p.hash} is missing`);
    out.push(text);
    bytes += text.length;
    if (++reads >= readsPerTurn || bytes >= bytesPerTurn) {
      reads = 0;
      bytes = 0;
      await nextTurn();
    }
  }
  return out;
}

/**
 * Whether a patch made from `read` may be written over `now`: the same object with the same
 * spec (generation), labels and annotations. Status writes change neither.
 */
export function sameWrite(
  now: { uid: string; generation: number; labels: Record<string, string>; annotations: Record<string, string> },
  read: { uid: string; generation: number; labels: Record<string, string>; annotations: Record<string, string> },
): boolean {
  return (
    now.uid === read.uid &&
    now.generation === read.generation &&
    JSON.stringify(now.labels) === JSON.stringify(read.labels) &&
    JSON.stringify(now.annotations) === JSON.stringify(read.annotations)
  );
}
