// patch/: PATCH of a stored object. The patch (RFC 7386 merge patch, or RFC 6902 JSON patch)
// is applied to the object as the API shows it; what comes out is validated and written as
// a PUT of it would be. Fields the hub owns are refused by name, never dropped quietly; a
// merge patch's metadata.resourceVersion and uid are preconditions, as in a PUT body.
import { apiError } from '@outpost/shared';
import { applyJsonPatch, checkOperations } from './json-patch.ts';
import { mergePatch } from './merge.ts';

export { applyJsonPatch, checkOperations, type PatchOperation, pointerTokens } from './json-patch.ts';
export { mergePatch } from './merge.ts';

export type PatchType = 'merge' | 'json';

/** The patch type of a request's content type, or undefined when it is not a patch type
 *  (YAML and plain JSON bodies are merge patches, as kubectl sends them). */
export function patchTypeOf(contentType: string | undefined): PatchType | undefined {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (type === 'application/json-patch+json') return 'json';
  if (
    type === 'application/merge-patch+json' ||
    type === 'application/json' ||
    type === 'application/yaml' ||
    type === 'application/x-yaml' ||
    type === 'text/yaml'
  ) {
    return 'merge';
  }
  return undefined;
}

/** The stored object as a patch sees it: what the API shows, without status. */
export interface PatchTarget {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid: string;
    resourceVersion: string;
    generation?: number;
    creationTimestamp: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  };
  spec: unknown;
}

export interface Patched {
  /** The object to validate and write, as a PUT body: apiVersion, kind, metadata (name,
   *  namespace, labels, annotations) and spec. */
  object: Record<string, unknown>;
  /** metadata.resourceVersion and uid a merge patch stated. */
  preconditions: { resourceVersion?: unknown; uid?: unknown };
}

/** Fields of metadata the hub sets; a patch may not change them (name and namespace are the path's). */
const ownedMeta = ['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp'] as const;
const writableMeta = new Set(['labels', 'annotations']);
const topLevel = new Set(['apiVersion', 'kind', 'metadata', 'spec']);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const refuse = (field: string, why: string) => apiError('VALIDATION_FAILED', `${field} ${why}`, { field });

/**
 * Applies `patch` (parsed) to `target`. Throws VALIDATION_FAILED naming a refused field, or
 * CONFLICT for a failed JSON patch `test`.
 */
export function applyPatch(target: PatchTarget, patch: unknown, type: PatchType): Patched {
  let result: unknown;
  const preconditions: Patched['preconditions'] = {};
  if (type === 'json') {
    result = structuredClone(target);
    applyJsonPatch(result, checkOperations(patch));
  } else {
    if (!isObject(patch)) throw apiError('VALIDATION_FAILED', 'a merge patch is an object');
    if ('status' in patch) throw refuse('status', "is the hub's: a patch cannot set it");
    let p = patch;
    if (isObject(patch.metadata)) {
      // Stated preconditions, checked against the object when it is written.
      const { resourceVersion, uid, ...meta } = patch.metadata;
      if (resourceVersion !== undefined && resourceVersion !== null) preconditions.resourceVersion = resourceVersion;
      // A null resourceVersion states no precondition (as in a PUT body); a uid cannot be removed.
      if (uid === null) throw refuse('metadata.uid', "is the hub's: a patch cannot remove it");
      if (uid !== undefined) preconditions.uid = uid;
      p = { ...patch, metadata: meta };
    } else if (patch.metadata !== undefined) throw refuse('metadata', 'must be an object');
    result = mergePatch(target, p);
  }
  if (!isObject(result)) throw apiError('VALIDATION_FAILED', 'the patched object is not an object');
  for (const k of Object.keys(result)) {
    if (k === 'status') throw refuse('status', "is the hub's: a patch cannot set it");
    if (!topLevel.has(k)) throw refuse(k.slice(0, 64), 'is not a field of this object');
  }
  const meta = result.metadata;
  if (!isObject(meta)) throw refuse('metadata', 'cannot be removed');
  const current = target.metadata as unknown as Record<string, unknown>;
  for (const k of ownedMeta) {
    if (meta[k] !== current[k]) {
      throw refuse(
        `metadata.${k}`,
        k === 'name' || k === 'namespace'
          ? 'differs from the path: it cannot be patched'
          : "is the hub's: a patch cannot change it",
      );
    }
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(meta)) {
    if (writableMeta.has(k)) out[k] = v;
    else if (!(ownedMeta as readonly string[]).includes(k))
      throw refuse(`metadata.${k.slice(0, 64)}`, 'is not kept by the hub');
  }
  out.name = target.metadata.name;
  if (target.metadata.namespace !== undefined) out.namespace = target.metadata.namespace;
  return { object: { ...result, metadata: out }, preconditions };
}
