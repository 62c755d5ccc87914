// ignoreFields for server-side apply: fields of a manifest the agent stops enforcing so that
// something on the spoke (an HPA owning spec.replicas, an operator owning an annotation)
// can own them.
//
// Conditions, as Outpost reads them (OCM's default condition is OnSpokePresent):
// - OnSpokePresent: the live object has the field. The manifest's value is used only to
//   create it.
// - OnSpokeChange: another field manager owns the field on the live object (managedFields),
//   i.e. someone on the spoke set or changed it. While only the agent owns it, the
//   manifest's value is enforced.
//
// How a field is "left out" matters with server-side apply: a field the agent's manager
// owns alone and then stops applying is *removed* by the apiserver (a Deployment would
// fall back to 1 replica). So when another manager also owns the field, the agent drops it
// from its apply (ownership passes to the other manager, the value stays); when the agent
// owns it alone (or ownership cannot be read, e.g. a path through a list), the agent
// applies the live value instead, which changes nothing and removes nothing.
import type { IgnoreField } from '@outpost/shared';
import type { KubeObject, ManagedFieldsEntry } from './kube.ts';
import { deletePath, fieldsV1Keys, getPath, type PathSegment, parsePath, setPath } from './paths.ts';

export interface IgnoreOutcome {
  body: KubeObject;
  /** What happened to each ignored path, for the debug log. */
  actions: { path: string; action: 'dropped' | 'pinned' | 'kept' }[];
  errors: string[];
}

/** Managers owning the field (Apply entries as `name`, others as `name/operation`), or undefined when unreadable. */
function owners(live: KubeObject, segs: readonly PathSegment[]): Set<string> | undefined {
  const keys = fieldsV1Keys(segs);
  if (!keys) return undefined;
  const entries = (live.metadata?.managedFields ?? []) as ManagedFieldsEntry[];
  const found = new Set<string>();
  for (const e of entries) {
    if (e.fieldsType !== 'FieldsV1' || !e.fieldsV1) continue;
    let node: unknown = e.fieldsV1;
    for (const k of keys) {
      node = node && typeof node === 'object' ? (node as Record<string, unknown>)[k] : undefined;
      if (node === undefined) break;
    }
    if (node !== undefined)
      found.add(e.operation === 'Apply' ? (e.manager ?? '') : `${e.manager ?? ''}/${e.operation}`);
  }
  return found;
}

export function applyIgnoreFields(
  desired: KubeObject,
  live: KubeObject,
  ignoreFields: readonly IgnoreField[],
  fieldManager: string,
): IgnoreOutcome {
  const body = structuredClone(desired);
  const actions: IgnoreOutcome['actions'] = [];
  const errors: string[] = [];
  for (const rule of ignoreFields) {
    const condition = rule.condition ?? 'OnSpokePresent';
    for (const path of rule.jsonPaths ?? []) {
      const segs = parsePath(path);
      if ('error' in segs) {
        errors.push(segs.error);
        continue;
      }
      const liveValue = getPath(live, segs);
      if (liveValue === undefined || getPath(body, segs) === undefined) continue;
      const own = owners(live, segs);
      const others = own ? [...own].filter((m) => m !== fieldManager) : undefined;
      const ignore = condition === 'OnSpokeChange' ? others === undefined || others.length > 0 : true;
      // Dropping is safe unless the agent is the field's only owner (the apiserver would remove it).
      const dropSafe = own !== undefined && (!own.has(fieldManager) || (others?.length ?? 0) > 0);
      if (!ignore) {
        actions.push({ path, action: 'kept' });
      } else if (dropSafe) {
        deletePath(body, segs);
        actions.push({ path, action: 'dropped' });
      } else {
        setPath(body, segs, structuredClone(liveValue));
        actions.push({ path, action: 'pinned' });
      }
    }
  }
  return { body, actions, errors };
}
