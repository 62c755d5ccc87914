// Validation of ManifestWork input (JSON or YAML, Outpost's or OCM's apiVersion). Every
// problem has a stable code and says which manifest it is about.
import {
  apiError,
  conditionRuleTypes,
  executorSubjectTypes,
  expandManifestLists,
  feedbackScrapeTypes,
  isDns1123Label,
  labelErrors,
  limits,
  type Manifest,
  type ManifestWorkSpec,
  manifestKey,
  normalizeWorkOptions,
  ocmWorkApiVersion,
  propagationPolicies,
  updateStrategyTypes,
  workApiVersion,
} from '@outpost/shared';
import { fieldProblem, workSpecFields } from './fields.ts';

export interface WorkInput {
  cluster: string;
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** The spec without `workload.manifests`. */
  spec: Omit<ManifestWorkSpec, 'workload'> & Record<string, unknown>;
  manifests: Manifest[];
  resourceVersion: string | undefined;
}

const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function manifestProblem(m: unknown): string | undefined {
  if (!isObject(m)) return 'must be an object';
  if (typeof m.apiVersion !== 'string' || m.apiVersion === '') return 'apiVersion is missing';
  if (typeof m.kind !== 'string' || m.kind === '') return 'kind is missing';
  if (!isObject(m.metadata)) return 'metadata is missing';
  // A manifest with generateName and no name is accepted: the agent refuses it alone, with
  // the reason, and applies the others (a work re-applies, so it would create an object each time).
  const named = typeof m.metadata.name === 'string' && m.metadata.name !== '';
  const generated =
    m.metadata.name === undefined && typeof m.metadata.generateName === 'string' && m.metadata.generateName !== '';
  if (!named && !generated) return 'metadata.name is missing';
  if (m.metadata.namespace !== undefined && typeof m.metadata.namespace !== 'string')
    return 'metadata.namespace must be a string';
  return undefined;
}

function identifierProblem(id: unknown): string | undefined {
  if (!isObject(id)) return 'must be an object';
  if (typeof id.resource !== 'string' || id.resource === '') return 'resource is missing';
  if (typeof id.name !== 'string' || id.name === '') return 'name is missing';
  if (id.group !== undefined && typeof id.group !== 'string') return 'group must be a string';
  if (id.namespace !== undefined && typeof id.namespace !== 'string') return 'namespace must be a string';
  return undefined;
}

/** Why `executor` (at `path`) cannot be taken; unknown keys inside are fields.ts's to find. */
export interface ExecutorProblem {
  code: 'VALIDATION_FAILED' | 'UNSUPPORTED_FIELD';
  /** The field at fault. */
  field: string;
  message: string;
  alternative?: string;
}

/**
 * OCM's rules for `spec.executor`: a `subject` whose `type` is ServiceAccount (the only type
 * OCM defines; another is refused as unsupported, naming the field) and a `serviceAccount`
 * with a `namespace` and a `name`, each a DNS-1123 subdomain of at most 253 characters.
 * Null (OCM's omitted pointer) is no executor.
 */
export function executorProblem(executor: unknown, path: string): ExecutorProblem | undefined {
  if (executor === undefined || executor === null) return undefined;
  const bad = (field: string, message: string): ExecutorProblem => ({
    code: 'VALIDATION_FAILED',
    field,
    message: `${field} ${message}`,
  });
  if (!isObject(executor)) return bad(path, 'must be an object');
  const subject = executor.subject;
  if (!isObject(subject)) return bad(`${path}.subject`, 'is required (an object with type ServiceAccount)');
  const type = subject.type;
  if (typeof type !== 'string' || type === '') return bad(`${path}.subject.type`, 'is required: ServiceAccount');
  if (!executorSubjectTypes.includes(type as (typeof executorSubjectTypes)[number])) {
    const alternative = `type ${executorSubjectTypes.join(', ')} (the only subject type OCM defines)`;
    return {
      code: 'UNSUPPORTED_FIELD',
      field: `${path}.subject.type`,
      message: `${path}.subject.type ${JSON.stringify(type.slice(0, 64))} is not supported; instead: ${alternative}`,
      alternative,
    };
  }
  const sa = subject.serviceAccount;
  if (!isObject(sa)) return bad(`${path}.subject.serviceAccount`, 'is required for type ServiceAccount');
  for (const k of ['namespace', 'name'] as const) {
    const v = sa[k];
    if (typeof v !== 'string' || v === '') return bad(`${path}.subject.serviceAccount.${k}`, 'is required');
    if (v.length > 253 || !dns1123Subdomain.test(v)) {
      return bad(
        `${path}.subject.serviceAccount.${k}`,
        'must be a DNS-1123 subdomain (a-z, 0-9, "-", "."; at most 253)',
      );
    }
  }
  return undefined;
}

function stringMap(v: unknown, what: string): Record<string, string> {
  if (v === undefined) return {};
  if (!isObject(v) || Object.values(v).some((x) => typeof x !== 'string')) {
    throw apiError('VALIDATION_FAILED', `${what} must map strings to strings`);
  }
  return v as Record<string, string>;
}

/**
 * Parses a work for `cluster` (from the path). `name` comes from the path for PUT and from
 * metadata.name for POST. OCM's `metadata.namespace` must name the same cluster.
 */
export function parseWork(body: unknown, cluster: string, pathName?: string): WorkInput {
  if (!isObject(body)) throw apiError('BODY_MALFORMED', 'body must be a ManifestWork object');
  if (body.apiVersion !== undefined && body.apiVersion !== workApiVersion && body.apiVersion !== ocmWorkApiVersion) {
    throw apiError('VALIDATION_FAILED', `apiVersion must be ${workApiVersion} or ${ocmWorkApiVersion}`);
  }
  if (body.kind !== undefined && body.kind !== 'ManifestWork')
    throw apiError('VALIDATION_FAILED', 'kind must be ManifestWork');
  const meta = isObject(body.metadata) ? body.metadata : {};
  const name = pathName ?? meta.name;
  if (typeof name !== 'string' || name.length > 253 || !dns1123Subdomain.test(name)) {
    throw apiError('WORK_NAME_INVALID', 'metadata.name must be a DNS-1123 subdomain (a-z, 0-9, "-", "."; at most 253)');
  }
  if (pathName !== undefined && meta.name !== undefined && meta.name !== pathName) {
    throw apiError('VALIDATION_FAILED', `metadata.name ${JSON.stringify(meta.name)} differs from the name in the path`);
  }
  if (meta.namespace !== undefined && meta.namespace !== cluster) {
    throw apiError(
      'VALIDATION_FAILED',
      `metadata.namespace ${JSON.stringify(meta.namespace)} differs from the cluster ${cluster}`,
    );
  }
  if (!isDns1123Label(cluster)) throw apiError('CLUSTER_NAME_INVALID', 'cluster must be a DNS-1123 label');
  const labels = stringMap(meta.labels, 'metadata.labels');
  const problems = labelErrors(labels, limits.labelsPerObject);
  if (problems.length) throw apiError('VALIDATION_FAILED', problems.join('; '), { problems });
  const annotations = stringMap(meta.annotations, 'metadata.annotations');
  const annotationBytes = Object.entries(annotations).reduce(
    (n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v),
    0,
  );
  if (annotationBytes > limits.annotationsBytes) {
    throw apiError(
      'VALIDATION_FAILED',
      `metadata.annotations: must have at most ${limits.annotationsBytes} bytes (has ${annotationBytes})`,
    );
  }

  const spec = body.spec;
  if (!isObject(spec)) throw apiError('VALIDATION_FAILED', 'spec is missing');
  const field = fieldProblem(spec, workSpecFields, 'spec');
  if (field?.problem === 'unknown') throw apiError('VALIDATION_FAILED', `unknown field ${field.path}`);
  if (field) {
    throw apiError(
      'UNSUPPORTED_FIELD',
      `${field.path} is not supported${field.alternative ? `; instead: ${field.alternative}` : ''}`,
      { field: field.path, ...(field.alternative ? { alternative: field.alternative } : {}) },
    );
  }
  const executor = executorProblem(spec.executor, 'spec.executor');
  if (executor) {
    throw apiError(executor.code, executor.message, {
      field: executor.field,
      ...(executor.alternative ? { alternative: executor.alternative } : {}),
    });
  }
  const workload = spec.workload;
  if (!isObject(workload) || !Array.isArray(workload.manifests)) {
    throw apiError('VALIDATION_FAILED', 'spec.workload.manifests must be a list');
  }
  // `kind: List` manifests (kube-prometheus ships them) become their items, as kubectl reads them.
  const expanded = expandManifestLists(workload.manifests as unknown[]);
  const manifests = expanded.map((e) => e.manifest);
  if (manifests.length > limits.manifestsPerWork) {
    throw apiError(
      'WORK_TOO_MANY_MANIFESTS',
      `spec.workload.manifests has ${manifests.length} manifests${expanded.length === workload.manifests.length ? '' : ' (kind: List items counted)'}; a work may have at most ${limits.manifestsPerWork}: split it into several works`,
      { count: manifests.length, max: limits.manifestsPerWork },
    );
  }
  const seen = new Map<string, string>();
  expanded.forEach(({ manifest: m, path }, index) => {
    const where = `spec.workload.manifests${path}`;
    const problem = manifestProblem(m);
    if (problem) {
      throw apiError('WORK_MANIFEST_INVALID', `${where}: ${problem}`, { index, path: where, problem });
    }
    const key = manifestKey(m as Manifest);
    const first = seen.get(key);
    if (first !== undefined) {
      const mm = m as Manifest;
      throw apiError(
        'WORK_MANIFEST_DUPLICATE',
        `${where} (${mm.kind} ${mm.metadata.namespace ? `${mm.metadata.namespace}/` : ''}${mm.metadata.name ?? `${mm.metadata.generateName}…`}) duplicates manifests${first}`,
        { index, path: where, duplicateOf: `spec.workload.manifests${first}` },
      );
    }
    seen.set(key, path);
  });

  const del = spec.deleteOption;
  if (del !== undefined) {
    if (!isObject(del)) throw apiError('VALIDATION_FAILED', 'spec.deleteOption must be an object');
    const policy = del.propagationPolicy ?? 'Foreground';
    if (!propagationPolicies.includes(policy as (typeof propagationPolicies)[number])) {
      throw apiError(
        'VALIDATION_FAILED',
        `spec.deleteOption.propagationPolicy must be one of ${propagationPolicies.join(', ')}`,
      );
    }
    const ttl = del.ttlSecondsAfterFinished;
    if (ttl !== undefined && ttl !== null && !(typeof ttl === 'number' && Number.isInteger(ttl) && ttl >= 0)) {
      throw apiError(
        'VALIDATION_FAILED',
        'spec.deleteOption.ttlSecondsAfterFinished must be a whole number of seconds ≥ 0',
      );
    }
    const rules = isObject(del.selectivelyOrphans) ? del.selectivelyOrphans.orphaningRules : undefined;
    if (policy === 'SelectivelyOrphan' && !Array.isArray(rules)) {
      throw apiError(
        'VALIDATION_FAILED',
        'SelectivelyOrphan needs spec.deleteOption.selectivelyOrphans.orphaningRules',
      );
    }
    for (const [i, r] of ((rules as unknown[]) ?? []).entries()) {
      const p = identifierProblem(r);
      if (p) throw apiError('VALIDATION_FAILED', `orphaningRules[${i}]: ${p}`);
    }
  }
  const configs = spec.manifestConfigs;
  if (configs !== undefined) {
    if (!Array.isArray(configs)) throw apiError('VALIDATION_FAILED', 'spec.manifestConfigs must be a list');
    for (const [i, c] of configs.entries()) {
      if (!isObject(c)) throw apiError('VALIDATION_FAILED', `manifestConfigs[${i}] must be an object`);
      const p = identifierProblem(c.resourceIdentifier);
      if (p) throw apiError('VALIDATION_FAILED', `manifestConfigs[${i}].resourceIdentifier: ${p}`);
      if (
        c.feedbackScrapeType !== undefined &&
        !feedbackScrapeTypes.includes(c.feedbackScrapeType as (typeof feedbackScrapeTypes)[number])
      ) {
        throw apiError(
          'VALIDATION_FAILED',
          `manifestConfigs[${i}].feedbackScrapeType must be one of ${feedbackScrapeTypes.join(', ')}`,
        );
      }
      for (const [j, r] of (Array.isArray(c.conditionRules) ? c.conditionRules : []).entries()) {
        const at = `spec.manifestConfigs[${i}].conditionRules[${j}]`;
        const ruleType = isObject(r) ? r.type : undefined;
        if (ruleType === 'CEL') {
          throw apiError('UNSUPPORTED_FIELD', `${at}.type CEL is not supported; instead: type WellKnownConditions`, {
            field: `${at}.type`,
            alternative: 'type WellKnownConditions',
          });
        }
        if (ruleType !== 'WellKnownConditions') {
          throw apiError('VALIDATION_FAILED', `${at}.type must be one of ${conditionRuleTypes.join(', ')}`);
        }
      }
      const type = isObject(c.updateStrategy) ? c.updateStrategy.type : undefined;
      if (
        c.updateStrategy !== undefined &&
        !updateStrategyTypes.includes(type as (typeof updateStrategyTypes)[number])
      ) {
        throw apiError(
          'VALIDATION_FAILED',
          `manifestConfigs[${i}].updateStrategy.type must be one of ${updateStrategyTypes.join(', ')}`,
        );
      }
    }
  }
  const { workload: _manifests, ...rest } = spec;
  // OCM's omitted executor may be written as null: stored as no executor.
  if (rest.executor === null) delete rest.executor;
  const specBytes = Buffer.byteLength(JSON.stringify(rest));
  if (specBytes > limits.workSpecBytes) {
    throw apiError(
      'VALIDATION_FAILED',
      `spec without spec.workload has ${specBytes} bytes; at most ${limits.workSpecBytes} are taken`,
    );
  }
  return {
    cluster,
    name,
    labels,
    annotations,
    // Stored with OCM's defaults filled in (a missing group is the core group), so every
    // reader of the work, the agent included, sees one meaning.
    spec: normalizeWorkOptions(rest as WorkInput['spec']),
    manifests: manifests as Manifest[],
    resourceVersion: meta.resourceVersion === undefined ? undefined : String(meta.resourceVersion),
  };
}
