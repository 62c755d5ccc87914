// The GitRepo deletion breaker. A commit that would take more than `spec.maxDeleteShare` of a
// path's objects out of its workset (and more than a handful: the agent's own breaker uses the
// same rule) is held: the path's workset keeps the previous commit, the status says how many
// objects the commit would delete and names some, and an admin confirms that commit
// (`POST .../gitrepos/NAME/confirm-deletions`, which records it in the annotation
// outpost.dev/deletions-confirmed) before it rolls out. A repository emptied by mistake, a
// branch reset to an unrelated history or a path moved by a refactoring thus deletes nothing
// across the fleet until someone looked.
import type { GitRepoPathHeld } from './types.ts';

/** The commit an admin confirmed the held deletions of (set by confirm-deletions). */
export const deletionsConfirmedAnnotation = 'outpost.dev/deletions-confirmed';

/** The share of a path's objects one commit may delete unconfirmed, unless spec.maxDeleteShare says otherwise. */
export const defaultMaxDeleteShare = 0.5;

/** Deletions of at most this many objects are never held (the agent's breaker's minimum). */
export const breakerMinimum = 5;

/** How many of the objects a held commit would delete the status names. */
const named = 10;

/**
 * What a commit would delete of a path's objects (`before`: the identities of the workset's
 * manifests now; `after`: those of the commit), when that trips the breaker; else undefined.
 */
export function heldDeletions(
  before: readonly string[],
  after: readonly string[],
  share: number,
  commit: string,
): GitRepoPathHeld | undefined {
  const kept = new Set(after);
  const was = new Set(before);
  const removing = [...was].filter((k) => !kept.has(k));
  if (removing.length <= breakerMinimum || was.size === 0 || removing.length / was.size <= share) return undefined;
  return { commit, deleting: removing.length, of: was.size, objects: removing.slice(0, named).map(shownKey) };
}

/** A manifest's identity (group|Kind|namespace|name) as a person reads it: Kind namespace/name. */
export function shownKey(key: string): string {
  const [group = '', kind = '', namespace = '', name = ''] = key.split('|');
  const k = group ? `${kind}.${group}` : kind;
  return namespace ? `${k} ${namespace}/${name}` : `${k} ${name}`;
}
