// apply/: the apply engine, everything that talks to the spoke's kube-apiserver for works.
//   applier.ts     KubeApplier (the WorkApplier of work/types.ts): phases, ownership, status
//   config.ts      which manifestConfigs apply to an object (OCM matching), the default update strategy
//   strategies.ts  one function per update strategy: ServerSideApply, Update, CreateOnly, ReadOnly
//   ignore.ts      ignoreFields for server-side apply (fields left to the spoke, e.g. HPA replicas)
//   status.ts      readiness of well-known kinds, feedback rules, per-manifest and work conditions
//   discovery.ts   apiVersion + kind → resource and scope (aggregated or plain discovery, cached)
//   delete.ts      deletion in reverse apply order with UID preconditions
//   executor.ts    OCM's spec.executor: SubjectAccessReviews (cached) and the RBAC escalation check before an apply
//   rest.ts        KubeRest: raw JSON REST calls (the narrow dependency), and its implementation over transport/http.ts
//   kube.ts        paths, Status messages, transient answers and bounded retries
//   paths.ts       the JSONPath subset of feedback rules and ignoreFields
//   pool.ts        bounded concurrency
export {
  type ApplierOptions,
  type ApplyLogger,
  adoptAnnotation,
  defaultApplierOptions,
  KubeApplier,
  type KubeApplierDeps,
} from './applier.ts';
export { type ConfigTarget, type EffectiveStrategy, effectiveStrategy, findConfig, scrapeTypeOf } from './config.ts';
export { applyPhase, deleteObjects } from './delete.ts';
export { Discovery, mappingsFromCrd, type ResourceMapping } from './discovery.ts';
export {
  defaultExecutorCacheOptions,
  deletableByWork,
  ExecutorAuthorizer,
  type ExecutorCacheOptions,
} from './executor.ts';
export { applyIgnoreFields } from './ignore.ts';
export {
  KubeConfigRest,
  type KubeRequest,
  type KubeResponse,
  type KubeRest,
  type KubeStreamResponse,
  type KubeStreamRest,
  KubeUnreachableError,
} from './rest.ts';
export { feedback, readiness, reasons, wellKnownStatus, workConditions } from './status.ts';
export { strategies } from './strategies.ts';
