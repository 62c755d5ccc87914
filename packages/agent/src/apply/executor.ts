// OCM's `spec.executor`: before a manifest of such a work is applied, the spoke's apiserver
// is asked whether the executor's ServiceAccount may do it. The agent still writes with its
// own credentials; the executor only narrows what a work may do. What is checked, as OCM's
// work agent checks it (pkg/work/spoke/auth):
//   - a SubjectAccessReview per verb, for user system:serviceaccount:NS:NAME in the groups
//     system:serviceaccounts, system:serviceaccounts:NS and system:authenticated, on the
//     manifest's group, version, resource, namespace and name: create, update, patch and get,
//     plus delete when the work's deleteOption lets the work delete the object (so a later
//     deletion, of the work or of a manifest dropped from it, needs no check of its own);
//   - for Roles, ClusterRoles, RoleBindings and ClusterRoleBindings, the escalation check a
//     SubjectAccessReview cannot make: a dry-run create of the manifest as the executor
//     (impersonation), refused when the apiserver says Forbidden. Where the agent may not
//     impersonate, the closest sound check instead: the executor needs `escalate` on the
//     Role or ClusterRole, or `bind` on the role a binding names (stricter than the
//     apiserver, which also lets through a subject that holds every permission it grants).
// Answers are cached per (executor, group, version, resource, namespace, name, verb) with a
// bound on entries: an allowed answer for `allowedTtlMs`, a denied one for `deniedTtlMs`, so
// a large work re-applied periodically asks again only once its answers lapse, and a new
// RoleBinding counts once the denied answer lapses (a refused manifest is retried on a
// backoff). A review that cannot be made (no answer, the agent may not create reviews) is
// never cached and never an apply without the check: the manifest fails with the reason.
import { identifierMatches, type ManifestWorkExecutor } from '@outpost/shared';
import type { DesiredWork } from '../work/types.ts';
import { collectionPath, type KubeObject, type ResourceRef, type RetryPolicy, send, statusOf } from './kube.ts';
import type { KubeResponse, KubeRest } from './rest.ts';
import { reasons } from './status.ts';

/** Condition reasons of a manifest the executor check stopped (status.ts keeps every reason). */
const executorReasons = { notAllowed: reasons.executorNotAllowed, checkFailed: reasons.executorCheckFailed } as const;

export interface ExecutorCacheOptions {
  /** How long an allowed answer is reused (a revoked permission counts after at most this). */
  allowedTtlMs: number;
  /** How long a denied answer is reused (a granted permission counts after at most this, plus the retry). */
  deniedTtlMs: number;
  /** Answers kept at most; the least recently used go first. */
  maxEntries: number;
}

export const defaultExecutorCacheOptions: ExecutorCacheOptions = {
  // OCM asks again on every apply (its cache is off by default): a minute keeps a re-applied
  // large work from asking thousands of times a pass, and a revoked permission counts soon.
  allowedTtlMs: 60_000,
  deniedTtlMs: 30_000,
  maxEntries: 50_000,
};

/** The object a manifest writes, as the reviews name it. */
export interface ExecutorTarget extends ResourceRef {
  name: string;
}

export type ExecutorVerdict = { ok: true } | { ok: false; reason: string; message: string };

/** The verbs OCM's work agent asks about before an apply. */
export const applyVerbs = ['create', 'update', 'patch', 'get'] as const;

const rbacGroup = 'rbac.authorization.k8s.io';
const rbacRoleResources = new Set(['roles', 'clusterroles']);
const rbacBindingResources = new Set(['rolebindings', 'clusterrolebindings']);
const sarPath = '/apis/authorization.k8s.io/v1/subjectaccessreviews';

export const executorUser = (e: ManifestWorkExecutor) =>
  `system:serviceaccount:${e.subject.serviceAccount.namespace}:${e.subject.serviceAccount.name}`;

export const executorGroups = (e: ManifestWorkExecutor) => [
  'system:serviceaccounts',
  `system:serviceaccounts:${e.subject.serviceAccount.namespace}`,
  'system:authenticated',
];

/**
 * Whether the work may delete the object later, so its executor needs `delete` now: OCM's
 * rule, from the deleteOption alone (Foreground, the default: yes; Orphan: no;
 * SelectivelyOrphan: unless an orphaning rule names it, matched as the deletion matches).
 */
export function deletableByWork(work: Pick<DesiredWork, 'deleteOption'>, target: ExecutorTarget): boolean {
  const policy = work.deleteOption?.propagationPolicy ?? 'Foreground';
  if (policy === 'Orphan') return false;
  if (policy !== 'SelectivelyOrphan') return true;
  const rules = work.deleteOption?.selectivelyOrphans?.orphaningRules ?? [];
  return !rules.some((r) =>
    identifierMatches(r, {
      group: target.group,
      resource: target.resource,
      name: target.name,
      namespaces: [target.namespace],
    }),
  );
}

/** A review the apiserver did not answer with a verdict. */
class ReviewFailed extends Error {}

interface Entry {
  allowed: boolean;
  expires: number;
}

/** The SubjectAccessReview cache and checks for works with an executor. One per applier. */
export class ExecutorAuthorizer {
  readonly #rest: KubeRest;
  readonly #o: ExecutorCacheOptions;
  readonly #retry: RetryPolicy;
  readonly #now: () => number;
  /** Map order is recency order: a hit moves its entry to the end. */
  readonly #cache = new Map<string, Entry>();
  /** Reviews on their way, so concurrent manifests asking the same share one request. */
  readonly #inFlight = new Map<string, Promise<boolean>>();
  /** Reviews sent to the apiserver (for tests and logs). */
  reviews = 0;

  constructor(rest: KubeRest, opts: { cache?: Partial<ExecutorCacheOptions>; retry: RetryPolicy; now?: () => number }) {
    this.#rest = rest;
    this.#o = { ...defaultExecutorCacheOptions, ...opts.cache };
    this.#retry = opts.retry;
    this.#now = opts.now ?? (() => performance.now());
  }

  get size(): number {
    return this.#cache.size;
  }

  /**
   * Whether `executor` may apply `body` to `target` (and, when `deletable`, delete it later).
   * Never throws for an answer of the apiserver; only a request with no answer at all
   * (KubeUnreachableError) or an abort does.
   */
  async check(
    executor: ManifestWorkExecutor,
    target: ExecutorTarget,
    opts: { deletable: boolean; body: KubeObject; signal?: AbortSignal | undefined },
  ): Promise<ExecutorVerdict> {
    const verbs: string[] = [...applyVerbs, ...(opts.deletable ? ['delete'] : [])];
    const what = `${target.group} ${target.resource}, ${target.namespace} ${target.name}`;
    const who = executorUser(executor);
    try {
      // One at a time and stopping at the first no, as OCM does: a refused manifest costs one review.
      for (const verb of verbs) {
        if (!(await this.#allowed(executor, target, verb, opts.signal))) {
          return {
            ok: false,
            reason: executorReasons.notAllowed,
            message: `not allowed to apply the resource ${what}: executor ${who} may not ${verb} it (SubjectAccessReview; verbs checked: ${verbs.join(', ')})`,
          };
        }
      }
      return await this.#escalation(executor, target, opts.body, what, opts.signal);
    } catch (err) {
      if (!(err instanceof ReviewFailed)) throw err;
      return { ok: false, reason: executorReasons.checkFailed, message: err.message };
    }
  }

  /** OCM's escalation check for RBAC kinds (see the header). */
  async #escalation(
    executor: ManifestWorkExecutor,
    target: ExecutorTarget,
    body: KubeObject,
    what: string,
    signal: AbortSignal | undefined,
  ): Promise<ExecutorVerdict> {
    const isRole = rbacRoleResources.has(target.resource);
    if (target.group !== rbacGroup || (!isRole && !rbacBindingResources.has(target.resource))) return { ok: true };
    const res = await send(
      this.#rest,
      {
        method: 'POST',
        path: collectionPath(target),
        query: { dryRun: 'All', fieldManager: 'outpost-agent-escalation-check' },
        body,
        impersonateUser: executorUser(executor),
        signal,
      },
      this.#retry,
    );
    // Created (dry run), or it exists: the apiserver checks escalation before existence.
    if (res.status === 200 || res.status === 201 || res.status === 409) return { ok: true };
    const { message } = statusOf(res);
    const escalation = `not allowed to apply the resource ${what}, error: permission escalation`;
    if (res.status === 403 && !message.includes('cannot impersonate')) {
      return { ok: false, reason: executorReasons.notAllowed, message: `${escalation}: ${message}` };
    }
    if (res.status !== 403) {
      throw new ReviewFailed(`the escalation check (a dry-run create as the executor) failed: ${message}`);
    }
    // The agent may not impersonate: `escalate` on the role, or `bind` on the role bound.
    let verb = 'escalate';
    let on: ExecutorTarget = target;
    if (!isRole) {
      const ref = (body as { roleRef?: { kind?: unknown; name?: unknown } }).roleRef;
      const kind = ref?.kind === 'ClusterRole' ? 'clusterroles' : ref?.kind === 'Role' ? 'roles' : undefined;
      if (!kind || typeof ref?.name !== 'string') {
        return {
          ok: false,
          reason: executorReasons.notAllowed,
          message: `${escalation}: roleRef names no Role or ClusterRole`,
        };
      }
      verb = 'bind';
      on = { ...target, resource: kind, name: ref.name };
    }
    if (await this.#allowed(executor, on, verb, signal)) return { ok: true };
    return {
      ok: false,
      reason: executorReasons.notAllowed,
      message: `${escalation}: the agent may not impersonate the executor for the dry-run check, and executor ${executorUser(executor)} may not ${verb} ${on.resource} ${on.name}`,
    };
  }

  async #allowed(
    executor: ManifestWorkExecutor,
    target: ExecutorTarget,
    verb: string,
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    const sa = executor.subject.serviceAccount;
    const key = JSON.stringify([
      sa.namespace,
      sa.name,
      target.group,
      target.version,
      target.resource,
      target.namespace,
      target.name,
      verb,
    ]);
    const hit = this.#cache.get(key);
    if (hit) {
      this.#cache.delete(key);
      if (hit.expires > this.#now()) {
        this.#cache.set(key, hit);
        return hit.allowed;
      }
    }
    let pending = this.#inFlight.get(key);
    if (!pending) {
      pending = this.#review(executor, target, verb, signal).finally(() => this.#inFlight.delete(key));
      this.#inFlight.set(key, pending);
    }
    const allowed = await pending;
    this.#cache.delete(key);
    this.#cache.set(key, {
      allowed,
      expires: this.#now() + (allowed ? this.#o.allowedTtlMs : this.#o.deniedTtlMs),
    });
    while (this.#cache.size > this.#o.maxEntries) {
      const oldest = this.#cache.keys().next().value as string;
      this.#cache.delete(oldest);
    }
    return allowed;
  }

  async #review(
    executor: ManifestWorkExecutor,
    target: ExecutorTarget,
    verb: string,
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    this.reviews++;
    const res: KubeResponse = await send(
      this.#rest,
      {
        method: 'POST',
        path: sarPath,
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: executorUser(executor),
            groups: executorGroups(executor),
            resourceAttributes: {
              group: target.group,
              version: target.version,
              resource: target.resource,
              namespace: target.namespace,
              name: target.name,
              verb,
            },
          },
        },
        signal,
      },
      this.#retry,
    );
    const status = (res.body as { status?: { allowed?: unknown } } | undefined)?.status;
    if ((res.status === 201 || res.status === 200) && typeof status?.allowed === 'boolean') return status.allowed;
    const { message } = statusOf(res);
    throw new ReviewFailed(
      res.status === 403
        ? `the agent may not create SubjectAccessReviews, so the executor cannot be checked (grant it create on authorization.k8s.io subjectaccessreviews): ${message}`
        : `the SubjectAccessReview for the executor failed: ${message}`,
    );
  }
}
