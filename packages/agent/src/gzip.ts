// gzip for the agent's state, hub answers and held manifests: on the main thread (zlib's
// thread pool leaves what its threads allocated in per-thread arenas), with output chunks
// sized to the data. zlib's synchronous calls write into chunks of `chunkSize` (64 KiB by
// default) and join them at the end: a megabyte result is many 64 KiB blocks, which the
// allocator serves from its main heap and, freed in scattered order, cannot give back;
// and a small result is a slice that keeps its whole 64 KiB chunk alive for as long as it
// is held. Here a chunk is about as large as the expected output (large ones are separate
// mappings, returned when freed), and a result much smaller than its chunk is copied out.
import { gunzipSync, gzipSync } from 'node:zlib';

const minChunk = 1024;
const maxChunk = 8 * 1024 * 1024;

const chunkFor = (expected: number) => Math.min(maxChunk, Math.max(minChunk, Math.ceil(expected)));

/** `b` itself, or a copy when its memory block is much larger than it. */
const exact = (b: Buffer): Buffer => (b.buffer.byteLength > b.length + minChunk ? Buffer.copyBytesFrom(b) : b);

export function gzip(data: Buffer | string): Buffer {
  // gzip output is at most about the input; structured JSON compresses several times.
  const size = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  return exact(gzipSync(data, { chunkSize: chunkFor(size / 4) }));
}

/** `expectedBytes`: the output's size when known (a blob's reference records it). */
export function gunzip(data: Buffer, opts: { maxOutputLength?: number; expectedBytes?: number } = {}): Buffer {
  const expected = opts.expectedBytes ?? data.length * 6;
  return exact(
    gunzipSync(data, {
      chunkSize: chunkFor(expected),
      ...(opts.maxOutputLength ? { maxOutputLength: opts.maxOutputLength } : {}),
    }),
  );
}
