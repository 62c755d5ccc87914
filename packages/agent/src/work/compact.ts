// Desired works as the agent holds them between applies. Most bytes of an operator's work
// are a few large fields (a CustomResourceDefinition's spec with its openAPIV3Schema) that
// the agent reads only to apply or store the work; parsed, such a field costs about twice
// its JSON size in V8's heap, for as long as the work is held (for ever, between resyncs).
// So a large top-level field of a manifest (16 KiB of JSON or more) is kept gzip-compressed
// and parsed again by an enumerable getter on every read. JSON.stringify, structuredClone
// and spreads see the whole manifest as before; only an apply pass or a save holds the
// parsed copy, while it runs. The identity every pass reads (apiVersion, kind, metadata)
// and small fields stay plain values.
import type { ManifestEntry } from '@outpost/shared';
import { gunzip, gzip } from '../gzip.ts';
import type { DesiredWork } from './types.ts';

type Manifest = ManifestEntry['manifest'];

/** Fields of at least this many bytes of JSON are kept compressed. */
export const compactFieldBytes = 16 * 1024;

const plainKeys = new Set(['apiVersion', 'kind', 'metadata']);
const compacted = new WeakSet<object>();

/** `manifest` with its large fields compressed (the same object when none is large). */
export function compactManifest(manifest: Manifest): Manifest {
  if (compacted.has(manifest)) return manifest;
  const out: Record<string, unknown> = {};
  let changed = false;
  for (const [key, value] of Object.entries(manifest)) {
    const json = plainKeys.has(key) || value === null || typeof value !== 'object' ? undefined : JSON.stringify(value);
    if (json === undefined || json.length < compactFieldBytes) {
      out[key] = value;
      continue;
    }
    const gz = gzip(json);
    const bytes = Buffer.byteLength(json);
    Object.defineProperty(out, key, {
      enumerable: true,
      configurable: true,
      get: () => JSON.parse(gunzip(gz, { expectedBytes: bytes }).toString('utf8')),
    });
    changed = true;
  }
  if (!changed) return manifest;
  compacted.add(out);
  return out as Manifest;
}

/** `work` as the agent keeps it in memory: large manifest fields compressed. */
export function compactWork(work: DesiredWork): DesiredWork {
  return { ...work, manifests: work.manifests.map((m) => ({ ...m, manifest: compactManifest(m.manifest) })) };
}
