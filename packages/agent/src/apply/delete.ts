// Deleting objects a work applied: in the reverse of apply order (namespaced objects, then
// cluster-scoped ones, then CRDs, then Namespaces), each DELETE carrying the UID recorded
// when the work applied it as a precondition, so an object someone else replaced under the
// same name is never deleted: the apiserver refuses (409) and the object counts as
// orphaned, no longer ours.
import type { AppliedObject, DeleteResult } from '../work/types.ts';
import { isCrdKind, isNamespaceKind, objectPath, type RetryPolicy, send, statusOf } from './kube.ts';
import { mapLimit } from './pool.ts';
import type { KubeRest } from './rest.ts';
import { KubeUnreachableError } from './rest.ts';

/** Position in apply order: 0 Namespaces, 1 CRDs, 2 other cluster-scoped, 3 namespaced. */
export function applyPhase(o: Pick<AppliedObject, 'group' | 'kind' | 'namespace'>): number {
  if (isNamespaceKind(o.group, o.kind)) return 0;
  if (isCrdKind(o.group, o.kind)) return 1;
  return o.namespace ? 3 : 2;
}

export interface DeleteDeps {
  rest: KubeRest;
  concurrency: number;
  retry: RetryPolicy;
  log: { warn(obj: object, msg?: string): void; debug(obj: object, msg?: string): void };
}

type One =
  | { kind: 'deleted' }
  | { kind: 'orphaned'; why: string }
  | { kind: 'pending'; message: string; finalizing: boolean };

async function deleteOne(d: DeleteDeps, o: AppliedObject, foreground: boolean, signal?: AbortSignal): Promise<One> {
  if (!o.uid) {
    // Without a UID there is no safe precondition; deleting by name could hit a stranger.
    return { kind: 'orphaned', why: 'no UID recorded' };
  }
  let res: Awaited<ReturnType<KubeRest['request']>>;
  try {
    res = await send(
      d.rest,
      {
        method: 'DELETE',
        path: objectPath(o, o.name),
        body: {
          apiVersion: 'v1',
          kind: 'DeleteOptions',
          propagationPolicy: foreground ? 'Foreground' : 'Background',
          preconditions: { uid: o.uid },
        },
        signal,
      },
      d.retry,
    );
  } catch (err) {
    if (signal?.aborted || !(err instanceof KubeUnreachableError)) throw err;
    return { kind: 'pending', message: err.message, finalizing: false };
  }
  if (res.status === 404) return { kind: 'deleted' };
  if (res.status === 409) {
    // The only conflict a DELETE with a UID precondition meets: the name now holds another object.
    return { kind: 'orphaned', why: statusOf(res).message };
  }
  if (res.status >= 200 && res.status < 300) {
    const body = res.body as {
      kind?: string;
      metadata?: { deletionTimestamp?: string; finalizers?: string[] };
      spec?: { finalizers?: string[] };
    };
    // The object came back still there: finalizers (foreground deletion is one) or a grace period.
    if (res.status === 202 || body?.metadata?.deletionTimestamp) {
      const fins = [...(body?.metadata?.finalizers ?? []), ...(body?.spec?.finalizers ?? [])];
      return {
        kind: 'pending',
        finalizing: true,
        message: `being deleted${fins.length ? `, waiting for finalizers: ${fins.join(', ')}` : ''}`,
      };
    }
    return { kind: 'deleted' };
  }
  return { kind: 'pending', message: statusOf(res).message, finalizing: false };
}

export async function deleteObjects(
  d: DeleteDeps,
  objects: readonly AppliedObject[],
  opts: { foreground: boolean; signal?: AbortSignal | undefined },
): Promise<DeleteResult> {
  const result: DeleteResult = { deleted: [], orphaned: [], pending: [] };
  for (const phase of [3, 2, 1, 0]) {
    opts.signal?.throwIfAborted();
    const batch = objects.filter((o) => applyPhase(o) === phase);
    const outcomes = await mapLimit(batch, d.concurrency, (o) => deleteOne(d, o, opts.foreground, opts.signal));
    batch.forEach((o, i) => {
      const r = outcomes[i] as One;
      if (r.kind === 'deleted') result.deleted.push(o);
      else if (r.kind === 'pending') result.pending.push({ object: o, message: r.message, finalizing: r.finalizing });
      else {
        d.log.warn(
          { group: o.group, kind: o.kind, namespace: o.namespace, name: o.name, uid: o.uid, why: r.why },
          'not deleting an object that is no longer the one this work applied',
        );
        result.orphaned.push(o);
      }
    });
  }
  return result;
}
