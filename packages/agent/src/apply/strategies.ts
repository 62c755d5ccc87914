// One function per update strategy (OCM's `apply.go` idea): ServerSideApply, Update,
// CreateOnly, ReadOnly. Each talks to the apiserver for one object and returns what became
// of it as a value: the object as the apiserver last showed it, whether this call created
// it, or why it failed, in the apiserver's own words.
import type { IgnoreField, UpdateStrategyType } from '@outpost/shared';
import { applyIgnoreFields } from './ignore.ts';
import {
  collectionPath,
  isNotServed,
  isUnavailable,
  type KubeObject,
  objectPath,
  type ResourceRef,
  type RetryPolicy,
  send,
  statusOf,
} from './kube.ts';
import type { KubeResponse, KubeRest } from './rest.ts';
import { reasons } from './status.ts';

export interface StrategyInput {
  rest: KubeRest;
  ref: ResourceRef;
  name: string;
  /** The manifest as it is to be sent (server metadata and status removed, namespace set). */
  body: KubeObject;
  fieldManager: string;
  force: boolean;
  /** On a conflict, server-side apply again with force (OCM's default: declared fields are the work's). */
  forceOnConflict?: boolean;
  ignoreFields: readonly IgnoreField[];
  retry: RetryPolicy;
  signal?: AbortSignal | undefined;
}

export type StrategyResult =
  | {
      ok: true;
      /** The object as the apiserver returned it after the write, or as read. */
      live: KubeObject;
      /** This call created the object (it did not exist before). */
      created: boolean;
      /** This call wrote to the apiserver. */
      wrote: boolean;
      /** The write took fields over from another field manager (server-side apply with force). */
      forced?: boolean;
      message: string;
    }
  | {
      ok: false;
      reason: string;
      /** The apiserver's message, verbatim. */
      message: string;
      /** Whether the object is known to be absent (a 404 from a read). */
      missing?: boolean;
      /** The apiserver does not serve this kind (any more): discovery is stale. */
      notServed?: boolean;
    };

export type Strategy = (input: StrategyInput) => Promise<StrategyResult>;

const writeQuery = (i: StrategyInput) => ({ fieldManager: i.fieldManager, fieldValidation: 'Strict' });

function failure(res: KubeResponse, conflictReason: string = reasons.applyFailed): StrategyResult {
  const s = statusOf(res);
  const reason = isUnavailable(res)
    ? reasons.apiUnavailable
    : res.status === 409 && s.reason === 'Conflict'
      ? conflictReason
      : reasons.applyFailed;
  return { ok: false, reason, message: s.message, ...(isNotServed(res) ? { notServed: true } : {}) };
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** Whether every value `want` sets is already so in `have` (lists element by element, same length). */
export function isSubset(want: unknown, have: unknown): boolean {
  if (Array.isArray(want)) {
    return Array.isArray(have) && have.length === want.length && want.every((w, i) => isSubset(w, have[i]));
  }
  if (isObject(want)) return isObject(have) && Object.entries(want).every(([k, v]) => isSubset(v, have[k]));
  return want === have;
}

/**
 * The body of an Update: the manifest, on top of the live object's resourceVersion, with
 * labels and annotations merged (the manifest's win) and the live finalizers, owner
 * references and status kept unless the manifest sets them.
 */
export function updateBody(desired: KubeObject, live: KubeObject): KubeObject {
  const dm = desired.metadata ?? {};
  const lm = live.metadata ?? {};
  const meta: Record<string, unknown> = { ...dm, resourceVersion: lm.resourceVersion };
  if (lm.labels || dm.labels) meta.labels = { ...(lm.labels ?? {}), ...(dm.labels ?? {}) };
  if (lm.annotations || dm.annotations) meta.annotations = { ...(lm.annotations ?? {}), ...(dm.annotations ?? {}) };
  for (const k of ['finalizers', 'ownerReferences'] as const) {
    if (dm[k] === undefined && lm[k] !== undefined) meta[k] = lm[k];
  }
  const body: KubeObject = { ...desired, metadata: meta as KubeObject['metadata'] };
  if (live.status !== undefined) body.status = live.status;
  return body;
}

const get = (i: StrategyInput) =>
  send(i.rest, { method: 'GET', path: objectPath(i.ref, i.name), signal: i.signal }, i.retry);

const create = (i: StrategyInput) =>
  send(
    i.rest,
    { method: 'POST', path: collectionPath(i.ref), query: writeQuery(i), body: i.body, signal: i.signal },
    i.retry,
  );

const isConflict = (res: KubeResponse) => res.status === 409 && statusOf(res).reason === 'Conflict';
const isCreated = (res: KubeResponse) => res.status === 201 || res.status === 200 || res.status === 202;
const alreadyExists = (res: KubeResponse) => res.status === 409 && statusOf(res).reason === 'AlreadyExists';

/** Bound on read-modify-write rounds when someone else writes the object meanwhile. */
const updateRounds = 3;

export const serverSideApply: Strategy = async (i) => {
  let body = i.body;
  let note = '';
  if (i.ignoreFields.length > 0) {
    const got = await get(i);
    if (got.status === 200) {
      const out = applyIgnoreFields(body, got.body as KubeObject, i.ignoreFields, i.fieldManager);
      body = out.body;
      const left = out.actions.filter((a) => a.action !== 'kept').map((a) => a.path);
      if (left.length > 0) note = ` (left to the spoke: ${left.join(', ')})`;
      if (out.errors.length > 0) note += ` (ignoreFields: ${out.errors.join('; ')})`;
    } else if (got.status !== 404) {
      return failure(got);
    }
  }
  const apply = (force: boolean) =>
    send(
      i.rest,
      {
        method: 'PATCH',
        path: objectPath(i.ref, i.name),
        query: { ...writeQuery(i), force: force ? 'true' : undefined },
        body,
        contentType: 'application/apply-patch+yaml',
        signal: i.signal,
      },
      i.retry,
    );
  let forced = i.force;
  let res = await apply(i.force);
  if (!forced && i.forceOnConflict && isConflict(res)) {
    // Forcing only after a conflict (not always) keeps "forced" meaning that another
    // manager's fields were really taken, which the ownership rules rely on.
    forced = true;
    res = await apply(true);
  }
  // The apiserver answers 201 when the apply created the object, 200 when it existed.
  if (res.status === 201 || res.status === 200) {
    return {
      ok: true,
      live: res.body as KubeObject,
      created: res.status === 201,
      wrote: true,
      ...(forced ? { forced: true } : {}),
      message: `${res.status === 201 ? 'created' : 'applied'} by server-side apply${note}`,
    };
  }
  return failure(res, reasons.applyConflict);
};

export const update: Strategy = async (i) => {
  let last: KubeResponse | undefined;
  for (let round = 0; round < updateRounds; round++) {
    const got = await get(i);
    if (got.status === 404) {
      const made = await create(i);
      if (isCreated(made))
        return { ok: true, live: made.body as KubeObject, created: true, wrote: true, message: 'created' };
      if (!alreadyExists(made)) return failure(made);
      last = made;
      continue;
    }
    if (got.status !== 200) return failure(got);
    const live = got.body as KubeObject;
    if (isSubset(i.body, live)) return { ok: true, live, created: false, wrote: false, message: 'up to date' };
    const put = await send(
      i.rest,
      {
        method: 'PUT',
        path: objectPath(i.ref, i.name),
        query: writeQuery(i),
        body: updateBody(i.body, live),
        signal: i.signal,
      },
      i.retry,
    );
    if (put.status === 200 || put.status === 201) {
      return { ok: true, live: put.body as KubeObject, created: false, wrote: true, message: 'updated' };
    }
    // 409 Conflict: the resourceVersion moved on between the read and the write; read again.
    if (!(put.status === 409 && statusOf(put).reason === 'Conflict')) return failure(put);
    last = put;
  }
  return failure(last as KubeResponse);
};

export const createOnly: Strategy = async (i) => {
  for (let round = 0; round < 2; round++) {
    const got = await get(i);
    if (got.status === 200) {
      return {
        ok: true,
        live: got.body as KubeObject,
        created: false,
        wrote: false,
        message: 'exists; CreateOnly leaves it unchanged',
      };
    }
    if (got.status !== 404) return failure(got);
    const made = await create(i);
    if (isCreated(made))
      return { ok: true, live: made.body as KubeObject, created: true, wrote: true, message: 'created' };
    if (!alreadyExists(made)) return failure(made);
  }
  return { ok: false, reason: reasons.applyFailed, message: 'the object was created and deleted again meanwhile' };
};

export const readOnly: Strategy = async (i) => {
  const got = await get(i);
  if (got.status === 200) {
    return {
      ok: true,
      live: got.body as KubeObject,
      created: false,
      wrote: false,
      message: 'read (ReadOnly: never written)',
    };
  }
  if (got.status === 404 && !isNotServed(got)) {
    return { ok: false, reason: reasons.notFound, message: statusOf(got).message, missing: true };
  }
  return failure(got);
};

export const strategies: Record<UpdateStrategyType, Strategy> = {
  ServerSideApply: serverSideApply,
  Update: update,
  CreateOnly: createOnly,
  ReadOnly: readOnly,
};
