// Blobs: a JSON value stored gzip-compressed, inline in a document when small, otherwise
// split over immutable parts named uniquely per write. Reading reassembles the parts in
// order and checks the SHA-256 of the text.
import { setTimeout as sleep } from 'node:timers/promises';
import type { StateBackend } from './backend.ts';
import { StateError } from './errors.ts';
import { type BlobRef, decodeJson, type Encoded, type PartMeta, partBase, splitParts } from './model.ts';

export async function writeBlob(
  backend: StateBackend,
  enc: Encoded,
  meta: PartMeta,
  opts: { inline: boolean; generation?: number },
): Promise<BlobRef> {
  if (opts.inline) return { sha256: enc.sha256, bytes: enc.bytes, inline: enc.gz.toString('base64') };
  const parts = splitParts(partBase(meta, opts.generation), enc.gz, backend.partBytes, meta);
  await backend.writeParts(parts);
  return { sha256: enc.sha256, bytes: enc.bytes, chunks: parts.map((p) => p.name) };
}

/** Reads a blob; `read` gives a part's bytes or undefined when it is missing. */
export async function readBlob<T>(
  ref: BlobRef,
  read: (names: string[]) => Promise<(Buffer | undefined)[]>,
  what: string,
): Promise<T> {
  let gz: Buffer;
  if (ref.inline !== undefined) {
    gz = Buffer.from(ref.inline, 'base64');
  } else {
    const names = ref.chunks ?? [];
    const parts = await read(names);
    const missing = names.filter((_, i) => parts[i] === undefined);
    if (missing.length > 0) {
      throw new StateError('AGENT_STATE_CORRUPT', `${what}: part(s) ${missing.join(', ')} missing`);
    }
    gz = Buffer.concat(parts as Buffer[]);
  }
  return decodeJson<T>(gz, what, ref.sha256, ref.bytes);
}

/** Runs `fn` over `items`, at most `limit` at a time; the first failure wins. */
export async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * After a lost optimistic-concurrency race: false once `deadline` passed, else a short
 * random pause (so two writers stop meeting in lockstep) and true.
 */
export async function pauseAfterConflict(attempt: number, deadline: number): Promise<boolean> {
  if (Date.now() >= deadline) return false;
  await sleep(Math.random() * Math.min(50, 2 ** attempt));
  return true;
}
