// Small facts about Kubernetes objects and apiserver answers that every part of apply/ uses:
// group/version/kind of a manifest, REST paths, the message of a `Status`, and which
// answers are worth a quick retry.
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeRequest, KubeResponse, KubeRest } from './rest.ts';
import { KubeUnreachableError } from './rest.ts';

export type KubeObject = Record<string, unknown> & {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    deletionTimestamp?: string;
    finalizers?: string[];
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    managedFields?: ManagedFieldsEntry[];
  } & Record<string, unknown>;
};

export interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  subresource?: string;
  fieldsType?: string;
  fieldsV1?: Record<string, unknown>;
}

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/');
  return slash < 0
    ? { group: '', version: apiVersion }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

/** Where a resource type lives: `/api/v1` for the core group, `/apis/GROUP/VERSION` otherwise. */
export function groupVersionPath(group: string, version: string): string {
  return group === '' ? `/api/${version}` : `/apis/${group}/${version}`;
}

export interface ResourceRef {
  group: string;
  version: string;
  resource: string;
  /** '' for cluster-scoped objects. */
  namespace: string;
}

export function collectionPath(ref: ResourceRef): string {
  const ns = ref.namespace ? `/namespaces/${encodeURIComponent(ref.namespace)}` : '';
  return `${groupVersionPath(ref.group, ref.version)}${ns}/${ref.resource}`;
}

export function objectPath(ref: ResourceRef, name: string): string {
  return `${collectionPath(ref)}/${encodeURIComponent(name)}`;
}

export const isCore = (group: string, kind: string, want: string) => group === '' && kind === want;
export const crdGroup = 'apiextensions.k8s.io';
export const isNamespaceKind = (group: string, kind: string) => isCore(group, kind, 'Namespace');
export const isCrdKind = (group: string, kind: string) => group === crdGroup && kind === 'CustomResourceDefinition';

/** A `Status` answer: its reason and message; the apiserver's own words, verbatim. */
export function statusOf(res: KubeResponse): { reason: string; message: string } {
  const b = res.body as { kind?: string; reason?: string; message?: string } | string | undefined;
  if (b && typeof b === 'object' && typeof b.message === 'string') {
    return { reason: b.reason ?? '', message: b.message };
  }
  const text = typeof b === 'string' ? b.trim().slice(0, 500) : '';
  return { reason: '', message: `HTTP ${res.status}${text ? `: ${text}` : ''}` };
}

/** The answer when an API path is not served at all (yet): a just-established CRD, a removed API. */
const notServed = 'the server could not find the requested resource';

/** The API path is not served: the kind is gone (or, for a moment after its CRD was established, not there yet). */
export const isNotServed = (res: KubeResponse) => res.status === 404 && statusOf(res).message === notServed;

/** The apiserver is overloaded or restarting. */
export const isUnavailable = (res: KubeResponse) =>
  res.status === 429 || res.status === 502 || res.status === 503 || res.status === 504;

/** Answers worth another try shortly. */
export const isTransient = (res: KubeResponse) => isUnavailable(res) || isNotServed(res);

export interface RetryPolicy {
  attempts: number;
  /** First pause; doubled after each attempt. */
  baseDelayMs: number;
}

/**
 * One request, retried a few times (with doubling pauses) while the apiserver answers
 * transiently or not at all. Bounded: a caller sees the last answer or error after
 * `attempts` tries.
 */
export async function send(rest: KubeRest, req: KubeRequest, policy: RetryPolicy): Promise<KubeResponse> {
  for (let attempt = 1; ; attempt++) {
    let res: KubeResponse | undefined;
    try {
      res = await rest.request(req);
    } catch (err) {
      if (!(err instanceof KubeUnreachableError) || attempt >= policy.attempts) throw err;
    }
    if (res && (!isTransient(res) || attempt >= policy.attempts)) return res;
    await sleep(policy.baseDelayMs * 2 ** (attempt - 1), undefined, { signal: req.signal });
  }
}

/** Manifest fields the apiserver owns; a manifest copied from `kubectl get -o yaml` carries them. */
const serverMetadata = [
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'selfLink',
] as const;

/** A copy of the manifest fit to send: server-owned metadata and `status` removed, namespace set. */
export function desiredBody(manifest: Record<string, unknown>, namespace: string): KubeObject {
  const body = structuredClone(manifest) as KubeObject;
  const meta = { ...(body.metadata ?? {}) } as Record<string, unknown>;
  for (const k of serverMetadata) delete meta[k];
  if (namespace) meta.namespace = namespace;
  else delete meta.namespace;
  body.metadata = meta as KubeObject['metadata'];
  delete body.status;
  return body;
}

export function conditionOf(obj: unknown, type: string): { status?: string; reason?: string; message?: string } {
  const conds = (obj as { status?: { conditions?: unknown } } | undefined)?.status?.conditions;
  if (!Array.isArray(conds)) return {};
  return (conds.find((c) => (c as { type?: string })?.type === type) as Record<string, string> | undefined) ?? {};
}
