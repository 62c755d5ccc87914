// KubeApplier: the WorkApplier that talks to the spoke's kube-apiserver.
//
// One apply pass over a work:
//   1. Namespaces, then CustomResourceDefinitions (each under its update strategy, several
//      at once up to `concurrency`).
//   2. For every CRD whose custom resources the work also holds: wait, bounded, until it is
//      Established, and learn its kinds from its spec (discovery can trail it).
//   3. Resolve every other manifest's kind through discovery (one refresh per pass at most
//      for unknown kinds), then cluster-scoped objects, then namespaced ones.
//   4. Read back the objects whose apply failed (to report whether they exist), and build
//      the status: per-manifest conditions and feedback, then the work's conditions.
// One bad manifest never stops the others: every failure becomes that manifest's Applied=False
// with the apiserver's message. Nothing is ever deleted here.
//
// Ownership (what goes into `applied`, the ledger the agent may later delete from):
// an object is the work's when this pass created it (the apiserver answered 201), when it is
// already in the work's previous ledger (same group, kind, namespace and name), or when its
// manifest carries the annotation `outpost.dev/adopt: "true"`. An object that existed before
// the work and is not adopted is still applied: server-side apply takes over the fields the
// manifest sets (that is what applying to an existing object means), but the object is left
// out of `applied`, so deleting the work or dropping the manifest never deletes it. ReadOnly
// manifests are never owned.

import { setTimeout as sleep } from 'node:timers/promises';
import type { ManifestConfig, ManifestEntry, ManifestStatus, WorkStatus } from '@outpost/shared';
import type { AppliedObject, ApplyResult, DeleteResult, DesiredWork, WorkApplier } from '../work/types.ts';
import { untilComplete } from './conditions.ts';
import { effectiveStrategy, findConfig } from './config.ts';
import { deleteObjects } from './delete.ts';
import { Discovery, mappingsFromCrd, type ResourceMapping } from './discovery.ts';
import { deletableByWork, ExecutorAuthorizer, type ExecutorCacheOptions } from './executor.ts';
import {
  conditionOf,
  desiredBody,
  type GroupVersionKind,
  isCrdKind,
  isNamespaceKind,
  type KubeObject,
  objectPath,
  type RetryPolicy,
  send,
  splitApiVersion,
} from './kube.ts';
import { mapLimit } from './pool.ts';
import { type KubeRest, KubeUnreachableError } from './rest.ts';
import { manifestConditions, reasons, workConditions } from './status.ts';
import { type Strategy, type StrategyResult, strategies } from './strategies.ts';

/** Manifest annotation by which a work takes ownership of an object that existed before it. */
export const adoptAnnotation = 'outpost.dev/adopt';

export interface ApplierOptions {
  /** Field manager for server-side apply and for writes of the other strategies. */
  fieldManager: string;
  /** Requests in flight at once within a phase (and for deletion). */
  concurrency: number;
  /** How long to wait for a CRD to become Established before applying its custom resources. */
  crdEstablishTimeoutMs: number;
  /** Pause between reads while waiting for a CRD. */
  crdPollIntervalMs: number;
  /** Retries of one request on a transient answer (429, 503, no answer). */
  retry: RetryPolicy;
  /** SubjectAccessReview answers for works with an executor (apply/executor.ts). */
  executorCache?: Partial<ExecutorCacheOptions>;
}

// These belong with the other intervals and limits in @outpost/shared's durations/limits
// once the apply engine is wired in; kept here while apply/ is the only user.
export const defaultApplierOptions: ApplierOptions = {
  fieldManager: 'outpost-agent',
  concurrency: 8,
  crdEstablishTimeoutMs: 30_000,
  crdPollIntervalMs: 100,
  retry: { attempts: 3, baseDelayMs: 200 },
};

/** pino-compatible. */
export interface ApplyLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface KubeApplierDeps {
  rest: KubeRest;
  log: ApplyLogger;
}

type Failure = Extract<StrategyResult, { ok: false }>;

/** What one apply pass shares between its manifests. */
interface Pass {
  work: DesiredWork;
  previousIds: ReadonlySet<string>;
  /** Discovery mark taken at the start: at most one refresh for unknown kinds. */
  mark: number;
  signal: AbortSignal | undefined;
  /** Set when the apiserver stopped answering; the remaining manifests fail fast with it. */
  unreachable: string | undefined;
}

interface Item {
  entry: ManifestEntry;
  gvk: GroupVersionKind;
  name: string;
  /** metadata.namespace as written ('' when absent). */
  rawNamespace: string;
  mapping?: ResourceMapping;
  /** Effective namespace: '' for cluster-scoped objects, `default` when a namespaced manifest has none. */
  namespace: string;
  config?: ManifestConfig;
  result?: StrategyResult;
  /** The object as last seen; undefined when absent or unknown. */
  live?: KubeObject;
  liveKnown: boolean;
  owned: boolean;
}

const idOf = (o: { group: string; kind: string; namespace: string; name: string }) =>
  `${o.group}|${o.kind}|${o.namespace}|${o.name}`;

function toItem(entry: ManifestEntry): Item {
  const m = entry.manifest as Partial<ManifestEntry['manifest']>;
  const apiVersion = typeof m.apiVersion === 'string' ? m.apiVersion : '';
  const kind = typeof m.kind === 'string' ? m.kind : '';
  const name = typeof m.metadata?.name === 'string' ? m.metadata.name : '';
  const rawNamespace = typeof m.metadata?.namespace === 'string' ? m.metadata.namespace : '';
  const item: Item = {
    entry,
    gvk: { ...splitApiVersion(apiVersion), kind },
    name,
    rawNamespace,
    namespace: rawNamespace,
    liveKnown: false,
    owned: false,
  };
  const missing = [!apiVersion && 'apiVersion', !kind && 'kind', !name && 'metadata.name'].filter(Boolean);
  if (!name && typeof m.metadata?.generateName === 'string') {
    // Every re-apply of a work would create another object, and none could be tracked.
    item.result = {
      ok: false,
      reason: reasons.manifestInvalid,
      message: `metadata.generateName (${JSON.stringify(m.metadata.generateName)}) is not supported in a work: a work re-applies its manifests, so each pass would create another object; give the manifest a metadata.name`,
    };
  } else if (missing.length > 0) {
    item.result = { ok: false, reason: reasons.manifestInvalid, message: `the manifest has no ${missing.join(', ')}` };
  }
  return item;
}

/**
 * How far the creation time may trail our Apply entry's time on an object our apply created:
 * the two are stamped at different moments of one request (the entry when the patch is
 * applied, the creation after admission), each to the second.
 */
const ourCreateStampSpreadMs = 10_000;

/**
 * Whether our own server-side apply created `live` for this work, judged from the object
 * alone: it was created since the agent first held the work (`notBefore`, to the second),
 * our Apply entry in managedFields carries the creation time (or, when a second boundary fell
 * inside the create request, a time a little before it) and no other manager has
 * fields outside status. That is what our create leaves behind, so an object created just
 * before the agent was killed (before the ledger was saved) is still recognised as this
 * work's. An object that existed before the work (left behind by an Orphan delete, created
 * by another work or by hand) is older than `notBefore` and never claimed; without
 * `notBefore` nothing is claimed this way. Someone else's object keeps its creator's entry,
 * unless a forced apply took every field from it: so a forced manifest never claims this
 * way. When in doubt the object is not claimed, which can leave it behind but never deletes
 * wrongly.
 */
export function createdByOurApply(
  live: KubeObject | undefined,
  manager: string,
  forced: boolean,
  notBefore: string | undefined,
): boolean {
  const created = live?.metadata?.creationTimestamp;
  if (forced || !created || !notBefore) return false;
  // creationTimestamp has whole seconds: compare with the second the work arrived in.
  const arrived = Math.floor(Date.parse(notBefore) / 1000) * 1000;
  const createdAt = Date.parse(String(created));
  if (!(createdAt >= arrived)) return false;
  const entries = (live.metadata?.managedFields ?? []) as {
    manager?: string;
    operation?: string;
    time?: string;
    subresource?: string;
  }[];
  const ours = entries.some((e) => {
    if (e.manager !== manager || e.operation !== 'Apply' || !e.time) return false;
    // The apiserver stamps our entry before it stamps the creation (admission runs between),
    // both to the second: equal, or the entry a little older when a second boundary fell
    // between. A later apply that changed fields moves the entry past the creation.
    const stamped = Date.parse(e.time);
    return stamped >= arrived && stamped <= createdAt && createdAt - stamped <= ourCreateStampSpreadMs;
  });
  const others = entries.some((e) => e.manager !== manager && e.subresource !== 'status');
  return ours && !others;
}

export class KubeApplier implements WorkApplier {
  readonly #rest: KubeRest;
  readonly #log: ApplyLogger;
  readonly #o: ApplierOptions;
  readonly #discovery: Discovery;
  readonly #executor: ExecutorAuthorizer;

  constructor(deps: KubeApplierDeps, options: Partial<ApplierOptions> = {}) {
    this.#rest = deps.rest;
    this.#log = deps.log;
    this.#o = { ...defaultApplierOptions, ...options };
    this.#executor = new ExecutorAuthorizer(deps.rest, {
      retry: this.#o.retry,
      ...(this.#o.executorCache ? { cache: this.#o.executorCache } : {}),
    });
    this.#discovery = new Discovery(deps.rest, {
      retry: this.#o.retry,
      concurrency: this.#o.concurrency,
      registeredGraceMs: 60_000,
    });
  }

  async apply(work: DesiredWork, previous: readonly AppliedObject[], signal?: AbortSignal): Promise<ApplyResult> {
    const started = performance.now();
    const mark = this.#discovery.mark();
    const items = [...work.manifests].sort((a, b) => a.ordinal - b.ordinal).map(toItem);
    const pass: Pass = { work, previousIds: new Set(previous.map(idOf)), mark, signal, unreachable: undefined };
    const pending = items.filter((it) => !it.result);
    const run = (batch: Item[]) => mapLimit(batch, this.#o.concurrency, (it) => this.#applyItem(it, pass));

    // 1. Namespaces, then CRDs.
    await run(pending.filter((it) => isNamespaceKind(it.gvk.group, it.gvk.kind)));
    signal?.throwIfAborted();
    const crds = pending.filter((it) => isCrdKind(it.gvk.group, it.gvk.kind));
    await run(crds);
    signal?.throwIfAborted();

    // 2. CRDs whose custom resources are in this work: Established before those are applied.
    const others = pending.filter(
      (it) => !isNamespaceKind(it.gvk.group, it.gvk.kind) && !isCrdKind(it.gvk.group, it.gvk.kind),
    );
    const crdProblems = await this.#awaitCrds(crds, others, signal);

    // 3. Everything else: resolve kinds, then cluster-scoped before namespaced.
    await mapLimit(others, this.#o.concurrency, (it) => this.#resolve(it, mark, signal, crdProblems));
    signal?.throwIfAborted();
    await run(others.filter((it) => !it.result && it.mapping && !it.mapping.namespaced));
    signal?.throwIfAborted();
    await run(others.filter((it) => !it.result && it.mapping?.namespaced));
    signal?.throwIfAborted();

    // 4. Failed manifests: does the object exist (for Available, feedback and the ledger)?
    await mapLimit(
      items.filter(
        (it) => it.result && !it.result.ok && !it.result.notServed && it.mapping && !it.liveKnown && !pass.unreachable,
      ),
      this.#o.concurrency,
      (it) => this.#readBack(it, pass.previousIds, signal),
    );

    const result = this.#result(work, items);
    const failed = items.filter((it) => !it.result?.ok);
    const summary = {
      work: work.name,
      generation: work.generation,
      manifests: items.length,
      failed: failed.length,
      owned: result.applied.length,
      ms: Math.round(performance.now() - started),
    };
    if (failed.length > 0) {
      this.#log.warn(
        {
          ...summary,
          failures: failed.slice(0, 3).map((it) => ({
            kind: it.gvk.kind,
            namespace: it.namespace,
            name: it.name,
            reason: (it.result as Failure | undefined)?.reason,
            message: (it.result as Failure | undefined)?.message,
          })),
        },
        'work applied with failures',
      );
    } else {
      this.#log.debug(summary, 'work applied');
    }
    return result;
  }

  delete(
    objects: readonly AppliedObject[],
    opts: { foreground: boolean; signal?: AbortSignal },
  ): Promise<DeleteResult> {
    return deleteObjects(
      { rest: this.#rest, concurrency: this.#o.concurrency, retry: this.#o.retry, log: this.#log },
      objects,
      opts,
    );
  }

  async #resolve(it: Item, mark: number, signal: AbortSignal | undefined, crdProblems?: Map<string, string>) {
    if (it.result || it.mapping) return;
    try {
      const mapping = await this.#discovery.lookup(it.gvk, mark, signal);
      if (!mapping) {
        const problem = crdProblems?.get(`${it.gvk.group}/${it.gvk.kind}`);
        // The wording of client-go's RESTMapper, which users know from kubectl.
        it.result = {
          ok: false,
          reason: reasons.kindUnknown,
          message: `no matches for kind "${it.gvk.kind}" in version "${it.entry.manifest.apiVersion}"${problem ? `: ${problem}` : ''}`,
        };
        return;
      }
      it.mapping = mapping;
      it.namespace = mapping.namespaced ? it.rawNamespace || 'default' : '';
    } catch (err) {
      if (signal?.aborted) throw err;
      it.result = { ok: false, reason: reasons.apiUnavailable, message: `discovery failed: ${(err as Error).message}` };
    }
  }

  async #applyItem(it: Item, pass: Pass): Promise<void> {
    const { work, previousIds, mark, signal } = pass;
    if (pass.unreachable) {
      // The apiserver stopped answering during this pass: fail the rest at once instead of
      // retrying each of possibly thousands of manifests; the next pass tries again.
      it.result = { ok: false, reason: reasons.apiUnavailable, message: pass.unreachable };
      return;
    }
    await this.#resolve(it, mark, signal);
    if (it.result || !it.mapping) return;
    const mapping = it.mapping;
    const config = findConfig(work.manifestConfigs, {
      group: it.gvk.group,
      resource: mapping.resource,
      namespace: it.namespace,
      rawNamespace: it.rawNamespace,
      name: it.name,
    });
    if (config) it.config = config;
    const how = effectiveStrategy(config);
    const type = how.type;
    const strategy = untilComplete(this.#checked(work, strategies[type]), it.gvk, config?.conditionRules);
    try {
      it.result = await strategy({
        rest: this.#rest,
        ref: { group: it.gvk.group, version: it.gvk.version, resource: mapping.resource, namespace: it.namespace },
        name: it.name,
        body: desiredBody(it.entry.manifest, it.namespace),
        fieldManager: how.fieldManager ?? this.#o.fieldManager,
        force: how.force,
        forceOnConflict: how.forceOnConflict,
        ignoreFields: how.ignoreFields,
        retry: this.#o.retry,
        signal,
      });
    } catch (err) {
      if (signal?.aborted || !(err instanceof KubeUnreachableError)) throw err;
      pass.unreachable ??= err.message;
      it.result = { ok: false, reason: reasons.apiUnavailable, message: err.message };
      return;
    }
    if (!it.result.ok && it.result.notServed) this.#discovery.forget(it.gvk);
    if (it.result.ok) {
      it.live = it.result.live;
      it.liveKnown = true;
      const adopt = it.entry.manifest.metadata.annotations as Record<string, unknown> | undefined;
      const manager = how.fieldManager ?? this.#o.fieldManager;
      it.owned =
        type !== 'ReadOnly' &&
        (it.result.created ||
          previousIds.has(this.#id(it)) ||
          adopt?.[adoptAnnotation] === 'true' ||
          createdByOurApply(it.result.live, manager, how.force || it.result.forced === true, work.receivedAt));
      if (!it.owned && type !== 'ReadOnly') {
        this.#log.debug(
          { work: work.name, kind: it.gvk.kind, namespace: it.namespace, name: it.name },
          'applied to an object that existed before this work; not adopted, so never deleted by it',
        );
      }
    } else if (it.result.missing) {
      it.liveKnown = true;
    }
  }

  /**
   * `strategy`, preceded by the executor check when the work names an executor. OCM checks
   * every manifest of such a work before it is written, whatever its update strategy (a
   * Complete manifest, no longer written, is not checked); one the executor may not write
   * is not applied at all.
   */
  #checked(work: DesiredWork, strategy: Strategy): Strategy {
    const executor = work.executor;
    if (!executor) return strategy;
    return async (input) => {
      const target = { ...input.ref, name: input.name };
      const verdict = await this.#executor.check(executor, target, {
        deletable: deletableByWork(work, target),
        body: input.body,
        signal: input.signal,
      });
      return verdict.ok ? strategy(input) : { ok: false, reason: verdict.reason, message: verdict.message };
    };
  }

  #id(it: Item): string {
    return idOf({ group: it.gvk.group, kind: it.gvk.kind, namespace: it.namespace, name: it.name });
  }

  async #readBack(it: Item, previousIds: ReadonlySet<string>, signal?: AbortSignal): Promise<void> {
    const mapping = it.mapping as ResourceMapping;
    const ref = { group: it.gvk.group, version: it.gvk.version, resource: mapping.resource, namespace: it.namespace };
    try {
      const res = await send(this.#rest, { method: 'GET', path: objectPath(ref, it.name), signal }, this.#o.retry);
      if (res.status === 200) {
        it.live = res.body as KubeObject;
        it.liveKnown = true;
        const type = effectiveStrategy(it.config).type;
        it.owned = type !== 'ReadOnly' && previousIds.has(this.#id(it));
      } else if (res.status === 404) {
        it.liveKnown = true;
      }
    } catch (err) {
      if (signal?.aborted || !(err instanceof KubeUnreachableError)) throw err;
    }
  }

  /**
   * Waits for the CRDs whose kinds `others` use to be Established, and registers their
   * kinds. Returns, per `group/kind`, why a CRD is not ready, for the messages of its
   * custom resources.
   */
  async #awaitCrds(crds: Item[], others: Item[], signal?: AbortSignal): Promise<Map<string, string>> {
    const problems = new Map<string, string>();
    const used = new Set(others.map((it) => `${it.gvk.group}/${it.gvk.kind}`));
    await mapLimit(
      crds.filter((c) => c.result?.ok && c.live),
      this.#o.concurrency,
      async (crd) => {
        const mappings = mappingsFromCrd(crd.live);
        const first = mappings[0];
        if (!first || !used.has(`${first.group}/${first.kind}`)) return;
        const deadline = performance.now() + this.#o.crdEstablishTimeoutMs;
        let live = crd.live as KubeObject;
        for (;;) {
          if (conditionOf(live, 'Established').status === 'True') {
            this.#discovery.register(mappingsFromCrd(live));
            crd.live = live;
            return;
          }
          const names = conditionOf(live, 'NamesAccepted');
          if (names.status === 'False') {
            problems.set(
              `${first.group}/${first.kind}`,
              `CustomResourceDefinition ${crd.name}: ${names.message ?? ''}`,
            );
            crd.live = live;
            return;
          }
          if (performance.now() >= deadline) {
            problems.set(
              `${first.group}/${first.kind}`,
              `CustomResourceDefinition ${crd.name} not Established after ${this.#o.crdEstablishTimeoutMs} ms`,
            );
            crd.live = live;
            return;
          }
          await sleep(this.#o.crdPollIntervalMs, undefined, { signal });
          const ref = {
            group: crd.gvk.group,
            version: crd.gvk.version,
            resource: 'customresourcedefinitions',
            namespace: '',
          };
          try {
            const res = await send(
              this.#rest,
              { method: 'GET', path: objectPath(ref, crd.name), signal },
              this.#o.retry,
            );
            if (res.status === 200) live = res.body as KubeObject;
          } catch (err) {
            if (signal?.aborted || !(err instanceof KubeUnreachableError)) throw err;
          }
        }
      },
    );
    return problems;
  }

  #result(work: DesiredWork, items: Item[]): ApplyResult {
    const manifests: ManifestStatus[] = [];
    const applied: AppliedObject[] = [];
    for (const it of items) {
      const r = it.result ?? { ok: false, reason: reasons.applyFailed, message: 'not applied' };
      const rm: ManifestStatus['resourceMeta'] = {
        group: it.gvk.group,
        version: it.gvk.version,
        kind: it.gvk.kind,
        resource: it.mapping?.resource ?? '',
        namespace: it.namespace,
        name: it.name,
        ordinal: it.entry.ordinal,
      };
      const conds = manifestConditions({
        applied: r.ok
          ? { ok: true, reason: reasons.applied, message: r.message }
          : { ok: false, reason: r.reason, message: r.message },
        live: it.live,
        liveKnown: it.liveKnown,
        gvk: it.gvk,
        feedbackRules: it.config?.feedbackRules,
        conditionRules: it.config?.conditionRules,
      });
      manifests.push({ resourceMeta: rm, ...conds });
      const uid = it.live?.metadata?.uid;
      if (it.owned && it.mapping && uid) {
        applied.push({
          group: rm.group,
          version: rm.version,
          kind: rm.kind,
          resource: rm.resource,
          namespace: rm.namespace,
          name: rm.name,
          uid,
        });
      }
    }
    const status: WorkStatus = {
      conditions: workConditions(manifests, work.generation),
      resourceStatus: { manifests },
      observedGeneration: work.generation,
    };
    return { status, applied };
  }
}
