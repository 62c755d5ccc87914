// The GitRepo deletion breaker. A commit that would take more than `spec.maxDeleteShare` of a
// path's objects out of its workset (and more than a handful: the agent's own breaker uses the
// same rule) is held: the path's workset keeps the previous commit, the status says how many
// objects the commit would delete and names some, and an admin confirms them
// (`POST .../gitrepos/NAME/confirm-deletions`, which records in the annotation
// outpost.dev/deletions-confirmed the commit and, per held path, a digest of exactly the
// objects it would delete) before it rolls out. A confirmation covers those deletions only:
// another path, or other deletions (a spec change, another previous state), are held again;
// the same deletions at a later commit are not. A repository emptied by mistake, a branch reset to an
// unrelated history or a path moved by a refactoring thus deletes nothing across the fleet
// until someone looked at what it deletes.
import { createHash } from 'node:crypto';
import type { GitRepoPathHeld } from './types.ts';

/** What an admin confirmed (set by confirm-deletions): JSON of a DeletionsConfirmed. */
export const deletionsConfirmedAnnotation = 'outpost.dev/deletions-confirmed';

/** The annotation's value: the commit, and per path the digest of the deletions confirmed. */
export interface DeletionsConfirmed {
  commit: string;
  paths: Record<string, string>;
}

/** The confirmation in `annotations`, when there is a readable one. */
export function confirmationOf(annotations: Readonly<Record<string, string>>): DeletionsConfirmed | undefined {
  const text = annotations[deletionsConfirmedAnnotation];
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as Partial<DeletionsConfirmed>;
    if (typeof v.commit !== 'string' || typeof v.paths !== 'object' || v.paths === null) return undefined;
    return { commit: v.commit, paths: v.paths as Record<string, string> };
  } catch {
    return undefined;
  }
}

/**
 * Whether `held` (of `path`) is exactly what `confirmed` confirmed: the same objects deleted
 * from the same path. A later commit that deletes just those (commits to other directories
 * of a busy repository came meanwhile) stays confirmed; one that deletes anything else does not.
 */
export function isConfirmed(confirmed: DeletionsConfirmed | undefined, path: string, held: GitRepoPathHeld): boolean {
  return confirmed !== undefined && confirmed.paths[path] === held.digest;
}

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
  const digest = createHash('sha256').update(removing.sort().join('\n')).digest('hex').slice(0, 32);
  return { commit, deleting: removing.length, of: was.size, objects: removing.slice(0, named).map(shownKey), digest };
}

/** A manifest's identity (group|Kind|namespace|name) as a person reads it: Kind namespace/name. */
export function shownKey(key: string): string {
  const [group = '', kind = '', namespace = '', name = ''] = key.split('|');
  const k = group ? `${kind}.${group}` : kind;
  return namespace ? `${k} ${namespace}/${name}` : `${k} ${name}`;
}
