// Pure steps of work delivery: merging what the hub sent into what the agent holds, and
// deciding what a sync may delete. No I/O here, so every rule is a table test.
import { identifierMatches, type ManifestEntry, normalizeWorkOptions, type WorkUpdate } from '@outpost/shared';
import { isCrdKind, isNamespaceKind } from '../apply/kube.ts';
import type { AppliedObject, DesiredWork } from '../work/types.ts';

export class DeltaMismatchError extends Error {
  readonly code = 'AGENT_DELTA_MISMATCH';
}

/**
 * The work after `update`. A full update replaces the manifests; a delta upserts and
 * removes by key on top of the held work, which must be the same uid (else the hub and
 * agent disagree about what the agent holds, and a full resend is needed).
 */
export function mergeUpdate(held: DesiredWork | undefined, update: WorkUpdate, now?: Date): DesiredWork {
  let manifests: ManifestEntry[];
  if (update.full) {
    manifests = [...update.manifests];
  } else {
    if (!held || held.uid !== update.uid) {
      throw new DeltaMismatchError(`delta for work ${update.name} does not apply to the work held`);
    }
    const byKey = new Map(held.manifests.map((m) => [m.key, m]));
    for (const key of update.removed) byKey.delete(key);
    for (const m of update.manifests) byKey.set(m.key, m);
    manifests = [...byKey.values()];
  }
  manifests.sort((a, b) => a.ordinal - b.ordinal);
  const work: DesiredWork = { name: update.name, uid: update.uid, generation: update.generation, manifests };
  // When the agent first held this work (this uid): kept across generations, so only objects
  // created after it can be recognised as created by this work's own apply.
  const receivedAt = held?.uid === update.uid ? held.receivedAt : now?.toISOString();
  if (receivedAt) work.receivedAt = receivedAt;
  // Identifiers normalized here too, not only by the hub: a hub of an earlier version sends
  // them as they were written.
  const options = normalizeWorkOptions({ deleteOption: update.deleteOption, manifestConfigs: update.manifestConfigs });
  if (options.deleteOption) work.deleteOption = options.deleteOption;
  if (options.manifestConfigs) work.manifestConfigs = options.manifestConfigs;
  if (update.executor) work.executor = update.executor;
  if (update.deleting) work.deleting = true;
  return work;
}

export const objectId = (o: Pick<AppliedObject, 'group' | 'kind' | 'namespace' | 'name'>) =>
  `${o.group}|${o.kind}|${o.namespace}|${o.name}`;

/** Whether a manifest of the work names the object (a namespaced manifest without namespace means default). */
export function inWork(o: AppliedObject, manifests: readonly ManifestEntry[]): boolean {
  return manifests.some((m) => {
    const slash = m.manifest.apiVersion.indexOf('/');
    const group = slash < 0 ? '' : m.manifest.apiVersion.slice(0, slash);
    const ns = m.manifest.metadata.namespace ?? '';
    return (
      group === o.group &&
      m.manifest.kind === o.kind &&
      m.manifest.metadata.name === o.name &&
      // A cluster-scoped object (namespace '' in the ledger) is named by its manifest whatever
      // stray namespace the manifest carries (Helm charts often set one).
      (o.namespace === '' || ns === o.namespace || (ns === '' && o.namespace === 'default'))
    );
  });
}

/**
 * Objects a work applied before that are no longer part of it: the only objects an update
 * may delete. An object whose manifest failed to apply this time is still part of the work.
 */
export function droppedObjects(
  previous: readonly AppliedObject[],
  manifests: readonly ManifestEntry[],
): AppliedObject[] {
  return previous.filter((o) => !inWork(o, manifests));
}

/** The ledger after an apply: what it applied, plus earlier objects still in the work that failed this time. */
export function nextLedger(
  previous: readonly AppliedObject[],
  applied: readonly AppliedObject[],
  manifests: readonly ManifestEntry[],
): AppliedObject[] {
  const seen = new Set(applied.map(objectId));
  // Sorted, so an unchanged ledger is byte-identical and the store skips the write.
  return [...applied, ...previous.filter((o) => !seen.has(objectId(o)) && inWork(o, manifests))].sort((a, b) =>
    objectId(a) < objectId(b) ? -1 : objectId(a) > objectId(b) ? 1 : 0,
  );
}

/**
 * What deleting a work does to each object it applied, under its deleteOption. Foreground
 * (OCM's default) means the hub forgets the work only once every object is gone from the
 * spoke: the agent deletes them (each with Kubernetes' background propagation, so it does
 * not depend on the spoke's garbage collector to finish) and reports the work deleted only
 * when none is left.
 */
export function planWorkDeletion(
  work: Pick<DesiredWork, 'deleteOption'>,
  applied: readonly AppliedObject[],
): { remove: AppliedObject[]; orphan: AppliedObject[] } {
  const policy = work.deleteOption?.propagationPolicy ?? 'Foreground';
  if (policy === 'Orphan') return { remove: [], orphan: [...applied] };
  if (policy === 'SelectivelyOrphan') {
    const rules = work.deleteOption?.selectivelyOrphans?.orphaningRules ?? [];
    // OCM's matching (a missing group is the core group); a `*` wildcard, which OCM matches
    // only in manifestConfigs, keeps objects here too: no name contains `*`, so under OCM such
    // a rule keeps nothing, and keeping more is the side to err on.
    const orphan = applied.filter((o) =>
      rules.some((r) =>
        identifierMatches(r, { group: o.group, resource: o.resource, name: o.name, namespaces: [o.namespace] }),
      ),
    );
    return { remove: applied.filter((o) => !orphan.includes(o)), orphan };
  }
  return { remove: [...applied], orphan: [] };
}

/**
 * The mass-delete breaker: a sync that would delete more than `share` of every object the
 * agent applied (and more than a handful) stops and waits for an admin.
 */
export function breakerTrips(deleting: number, totalApplied: number, share: number, minimum = 5): boolean {
  return deleting > minimum && totalApplied > 0 && deleting / totalApplied > share;
}

/** Why an object a work lets go stays on the spoke. */
export interface KeptObject {
  object: AppliedObject;
  reason: string;
}

/** What becomes of the objects one work lets go (deleted, or dropped from its manifests). */
export interface Release {
  /** Objects no other work needs: the releasing work's delete policy applies to them. */
  free: AppliedObject[];
  /** Objects another work still declares: they stay, and pass into these works' ledgers. */
  transfer: Map<string, AppliedObject[]>;
  /** Objects that stay although no other work declares them, and why. */
  kept: KeptObject[];
  /**
   * Objects another work being deleted at the same time leaves on the spoke (its policy
   * orphans them): the releasing work does not delete them either, whatever its policy.
   */
  spared: KeptObject[];
}

const groupOf = (apiVersion: string) => {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
};

/**
 * Shares out the objects the work `fromUid` lets go among the works that still need them.
 * An object is deleted only when the last work that declares it lets it go, so:
 *  - an object another live work declares is released to it (it enters that work's ledger,
 *    so that work's own delete policy decides its end), whatever the releasing work's
 *    policy says;
 *  - a Namespace that holds an object another live work declares or applied, and a
 *    CustomResourceDefinition whose kinds another live work uses, are kept: deleting them
 *    would delete that work's objects with them;
 *  - everything else is free, for the releasing work's policy to decide.
 * Works being deleted need nothing. Pure: the caller saves ledgers and deletes.
 */
export function releaseObjects(
  from: DesiredWork,
  objects: readonly AppliedObject[],
  works: Iterable<DesiredWork>,
  ledgers: ReadonlyMap<string, readonly AppliedObject[]>,
): Release {
  const all = [...works].filter((w) => w.uid !== from.uid);
  const others = all.filter((w) => !w.deleting);
  const leaving = new Set(objects.map(objectId));
  // Containers are needed by the other live works, and by the releasing work itself while it
  // stays (a manifest left it, the objects it still declares may live in that Namespace).
  const users: { work: DesiredWork; ledger: readonly AppliedObject[] }[] = [
    ...others.map((w) => ({ work: w, ledger: ledgers.get(w.uid) ?? [] })),
    ...(from.deleting
      ? []
      : [{ work: from, ledger: (ledgers.get(from.uid) ?? []).filter((l) => !leaving.has(objectId(l))) }]),
  ];
  const out: Release = { free: [], transfer: new Map(), kept: [], spared: [] };
  for (const o of objects) {
    // Only a work that may own the object receives it: a ReadOnly manifest only reads it.
    const declarers = others.filter((w) => inWork(o, w.manifests) && !readOnlyFor(w, o));
    if (declarers.length > 0) {
      for (const w of declarers) {
        const list = out.transfer.get(w.uid) ?? [];
        list.push(o);
        out.transfer.set(w.uid, list);
      }
      continue;
    }
    const orphaning = all.find(
      (w) => w.deleting && inWork(o, w.manifests) && planWorkDeletion(w, [o]).orphan.length > 0,
    );
    if (orphaning) {
      out.spared.push({ object: o, reason: `work ${orphaning.name}, deleted too, leaves it on the spoke` });
      continue;
    }
    const user = isNamespaceKind(o.group, o.kind)
      ? users.find(
          (u) =>
            u.work.manifests.some((m) => m.manifest.metadata.namespace === o.name) ||
            u.ledger.some((l) => l.namespace === o.name),
        )
      : isCrdKind(o.group, o.kind)
        ? users.find(
            (u) =>
              u.work.manifests.some(
                (m) => `.${groupOf(m.manifest.apiVersion)}` === o.name.slice(o.name.indexOf('.')),
              ) || u.ledger.some((l) => `${l.resource}.${l.group}` === o.name),
          )
        : undefined;
    if (user) {
      out.kept.push({
        object: o,
        reason: isNamespaceKind(o.group, o.kind)
          ? `it holds objects of work ${user.work.name}`
          : `work ${user.work.name} uses the kinds it defines`,
      });
      continue;
    }
    out.free.push(o);
  }
  return out;
}

/** Whether `work` says ReadOnly for the object (its manifestConfigs, OCM's identifiers). */
function readOnlyFor(work: DesiredWork, o: AppliedObject): boolean {
  const config = work.manifestConfigs?.find((c) =>
    identifierMatches(c.resourceIdentifier, {
      group: o.group,
      resource: o.resource,
      name: o.name,
      namespaces: [o.namespace],
    }),
  );
  return config?.updateStrategy?.type === 'ReadOnly';
}

/** `ledger` with `objects` added (by identity; an entry already there is replaced), sorted as nextLedger sorts. */
export function withObjects(ledger: readonly AppliedObject[], objects: readonly AppliedObject[]): AppliedObject[] {
  const byId = new Map(ledger.map((o) => [objectId(o), o]));
  for (const o of objects) byId.set(objectId(o), o);
  return [...byId.values()].sort((a, b) => (objectId(a) < objectId(b) ? -1 : objectId(a) > objectId(b) ? 1 : 0));
}
