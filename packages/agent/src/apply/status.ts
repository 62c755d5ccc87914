// What a work's status says, computed from what the apply pass saw: per-manifest Applied,
// Available and StatusFeedbackSynced conditions, feedback values, and the work's Applied,
// Available, Progressing and Degraded. Pure functions: no I/O, no clock (conditions carry no
// lastTransitionTime; whoever keeps the previous status stamps transitions, and an
// unchanged re-apply yields an identical status).
import type { Condition, ManifestConfig, ManifestStatus } from '@outpost/shared';
import { aggregateRuleConditions, ruleConditions } from './conditions.ts';
import { conditionOf, type GroupVersionKind, type KubeObject } from './kube.ts';
import { getPath, parsePath } from './paths.ts';

/** Condition reasons the apply engine reports (OCM's where the concept is the same). */
export const reasons = {
  applied: 'AppliedManifestComplete',
  applyFailed: 'AppliedManifestFailed',
  applyConflict: 'ApplyConflict',
  manifestInvalid: 'ManifestInvalid',
  kindUnknown: 'ResourceKindUnknown',
  apiUnavailable: 'ApiServerUnavailable',
  /** The work's executor may not write the object (SubjectAccessReview, escalation check): not applied. */
  executorNotAllowed: 'ExecutorNotAllowed',
  /** The executor check could not be made (the review failed): not applied. */
  executorCheckFailed: 'ExecutorCheckFailed',
  notFound: 'ResourceNotFound',
  available: 'ResourceAvailable',
  notAvailable: 'ResourceNotAvailable',
  statusUnknown: 'ResourceStatusUnknown',
  feedbackSynced: 'StatusFeedbackSynced',
  feedbackFailed: 'StatusFeedbackSyncFailed',
  workApplied: 'AppliedManifestWorkComplete',
  workApplyFailed: 'AppliedManifestWorkFailed',
  workAvailable: 'ResourcesAvailable',
  workNotAvailable: 'ResourcesNotAvailable',
  workProgressing: 'WaitingForResources',
  workDegraded: 'ManifestsFailed',
  workNotDegraded: 'AsExpected',
} as const;

export interface Readiness {
  available: boolean | undefined;
  reason: string;
  message: string;
}

const num = (v: unknown, dflt = 0) => (typeof v === 'number' ? v : dflt);

type ReadinessRule = (obj: KubeObject) => Readiness;

const ready = (message: string): Readiness => ({ available: true, reason: reasons.available, message });
const notReady = (message: string): Readiness => ({ available: false, reason: reasons.notAvailable, message });

function generationObserved(obj: KubeObject): Readiness | undefined {
  const gen = num(obj.metadata?.generation);
  const seen = num((obj.status as { observedGeneration?: number } | undefined)?.observedGeneration);
  return seen < gen ? notReady(`generation ${gen} not yet observed (observedGeneration ${seen})`) : undefined;
}

/** Readiness of well-known kinds, by `group/kind`; everything else is available once it exists. */
const readinessRules: Record<string, ReadinessRule> = {
  // As `kubectl rollout status` decides: all replicas updated, old ones gone, updated ones available.
  'apps/Deployment': (obj) => {
    const s = (obj.status ?? {}) as Record<string, unknown>;
    const want = num((obj.spec as { replicas?: number } | undefined)?.replicas, 1);
    const updated = num(s.updatedReplicas);
    const total = num(s.replicas);
    const avail = num(s.availableReplicas);
    return (
      generationObserved(obj) ??
      (updated < want
        ? notReady(`${updated} of ${want} replicas updated`)
        : total > updated
          ? notReady(`${total - updated} old replicas pending termination`)
          : avail < updated
            ? notReady(`${avail} of ${updated} updated replicas available`)
            : ready(`${avail} of ${want} replicas available`))
    );
  },
  'apps/StatefulSet': (obj) => {
    const s = (obj.status ?? {}) as Record<string, unknown>;
    const want = num((obj.spec as { replicas?: number } | undefined)?.replicas, 1);
    const rolling =
      (obj.spec as { updateStrategy?: { type?: string } } | undefined)?.updateStrategy?.type !== 'OnDelete';
    const readyN = num(s.readyReplicas);
    const updated = num(s.updatedReplicas);
    return (
      generationObserved(obj) ??
      (readyN < want
        ? notReady(`${readyN} of ${want} replicas ready`)
        : rolling && updated < want
          ? notReady(`${updated} of ${want} replicas updated`)
          : ready(`${readyN} of ${want} replicas ready`))
    );
  },
  'apps/DaemonSet': (obj) => {
    const s = (obj.status ?? {}) as Record<string, unknown>;
    const want = num(s.desiredNumberScheduled);
    const updated = num(s.updatedNumberScheduled);
    const avail = num(s.numberAvailable);
    return (
      generationObserved(obj) ??
      (updated < want
        ? notReady(`${updated} of ${want} pods updated`)
        : avail < want
          ? notReady(`${avail} of ${want} pods available`)
          : ready(`${avail} of ${want} pods available`))
    );
  },
  'batch/Job': (obj) => {
    const complete = conditionOf(obj, 'Complete');
    if (complete.status === 'True') return ready('job complete');
    const failed = conditionOf(obj, 'Failed');
    if (failed.status === 'True') return notReady(`job failed: ${failed.message ?? failed.reason ?? ''}`.trim());
    return notReady('job not complete');
  },
  '/Pod': (obj) => {
    const c = conditionOf(obj, 'Ready');
    return c.status === 'True'
      ? ready('pod ready')
      : notReady(
          `pod not ready${c.message ? `: ${c.message}` : ''} (phase ${String((obj.status as { phase?: string } | undefined)?.phase ?? 'unknown')})`,
        );
  },
  'apiextensions.k8s.io/CustomResourceDefinition': (obj) => {
    const c = conditionOf(obj, 'Established');
    if (c.status === 'True') return ready('established');
    const names = conditionOf(obj, 'NamesAccepted');
    return notReady(
      names.status === 'False'
        ? `names not accepted: ${names.message ?? ''}`
        : `not established${c.message ? `: ${c.message}` : ''}`,
    );
  },
  '/Namespace': (obj) => {
    const phase = (obj.status as { phase?: string } | undefined)?.phase;
    return phase === 'Active' ? ready('namespace active') : notReady(`namespace phase ${phase ?? 'unknown'}`);
  },
};

/** Whether readiness of `gvk` reads the object's body (well-known kinds), not only its existence. */
export const readsBody = (gvk: Pick<GroupVersionKind, 'group' | 'kind'>) =>
  `${gvk.group}/${gvk.kind}` in readinessRules;

/** Whether the object is available: readiness for well-known kinds, existence for the rest. */
export function readiness(gvk: GroupVersionKind, obj: KubeObject | undefined): Readiness {
  if (!obj) return { available: false, reason: reasons.notFound, message: 'the resource does not exist' };
  if (obj.metadata?.deletionTimestamp) return notReady('the resource is being deleted');
  const rule = readinessRules[`${gvk.group}/${gvk.kind}`];
  return rule ? rule(obj) : ready('the resource exists');
}

// -------------------------------------------------------------------------------------
// Feedback

type FeedbackValue = NonNullable<ManifestStatus['statusFeedback']>['values'][number];

/** OCM's well-known status paths (pkg/work/spoke/statusfeedback/rules), by `group/kind`. */
export const wellKnownStatus: Record<string, { name: string; path: string }[]> = {
  'apps/Deployment': [
    { name: 'ReadyReplicas', path: '.status.readyReplicas' },
    { name: 'Replicas', path: '.status.replicas' },
    { name: 'AvailableReplicas', path: '.status.availableReplicas' },
  ],
  'batch/Job': [
    { name: 'JobComplete', path: '.status.conditions[?(@.type=="Complete")].status' },
    { name: 'JobSucceeded', path: '.status.succeeded' },
  ],
  '/Pod': [
    { name: 'PodReady', path: '.status.conditions[?(@.type=="Ready")].status' },
    { name: 'PodPhase', path: '.status.phase' },
  ],
};

/** Longest JsonRaw value, as in OCM. */
export const maxJsonRawLength = 1024;

function typedValue(name: string, v: unknown): FeedbackValue | string {
  if (typeof v === 'number' && Number.isInteger(v)) return { name, fieldValue: { type: 'Integer', integer: v } };
  if (typeof v === 'string') return { name, fieldValue: { type: 'String', string: v } };
  if (typeof v === 'boolean') return { name, fieldValue: { type: 'Boolean', boolean: v } };
  const raw = JSON.stringify(v);
  if (raw.length > maxJsonRawLength) return `the value of ${name} is longer than ${maxJsonRawLength} bytes of JSON`;
  return { name, fieldValue: { type: 'JsonRaw', jsonRaw: raw } };
}

export function feedback(
  gvk: GroupVersionKind,
  obj: KubeObject,
  rules: NonNullable<ManifestConfig['feedbackRules']>,
): { values: FeedbackValue[]; errors: string[] } {
  const values: FeedbackValue[] = [];
  const errors: string[] = [];
  for (const rule of rules) {
    let paths: { name: string; path: string }[];
    if (rule.type === 'WellKnownStatus') {
      const known = wellKnownStatus[`${gvk.group}/${gvk.kind}`];
      if (!known) {
        errors.push(`no well-known status for ${gvk.kind}${gvk.group ? `.${gvk.group}` : ''}`);
        continue;
      }
      paths = known;
    } else {
      paths = rule.jsonPaths ?? [];
    }
    for (const p of paths) {
      const segs = parsePath(p.path);
      if ('error' in segs) {
        errors.push(`${p.name}: ${segs.error}`);
        continue;
      }
      const v = getPath(obj, segs);
      if (v === undefined || v === null) continue; // missing is not an error (OCM allows missing keys)
      const typed = typedValue(p.name, v);
      if (typeof typed === 'string') errors.push(typed);
      else values.push(typed);
    }
  }
  return { values, errors };
}

// -------------------------------------------------------------------------------------
// Conditions

const cond = (type: string, ok: boolean | undefined, reason: string, message: string): Condition => ({
  type,
  status: ok === undefined ? 'Unknown' : ok ? 'True' : 'False',
  reason,
  message,
});

export interface ManifestOutcome {
  applied: { ok: boolean; reason: string; message: string };
  /** The object as last seen (after the write, or read); undefined when absent or unknown. */
  live?: KubeObject | undefined;
  /** Whether `live` is known: false when the object could not be read at all. */
  liveKnown: boolean;
  gvk: GroupVersionKind;
  feedbackRules?: ManifestConfig['feedbackRules'];
  conditionRules?: ManifestConfig['conditionRules'];
}

export function manifestConditions(o: ManifestOutcome): Pick<ManifestStatus, 'conditions' | 'statusFeedback'> {
  const conditions: Condition[] = [cond('Applied', o.applied.ok, o.applied.reason, o.applied.message)];
  if (!o.liveKnown) {
    conditions.push(cond('Available', undefined, reasons.statusUnknown, 'the resource could not be read'));
  } else {
    const r = readiness(o.gvk, o.live);
    conditions.push(cond('Available', r.available, r.reason, r.message));
  }
  const out: Pick<ManifestStatus, 'conditions' | 'statusFeedback'> = { conditions };
  if (o.feedbackRules && o.feedbackRules.length > 0) {
    if (o.live) {
      const fb = feedback(o.gvk, o.live, o.feedbackRules);
      out.statusFeedback = { values: fb.values };
      conditions.push(
        fb.errors.length === 0
          ? cond('StatusFeedbackSynced', true, reasons.feedbackSynced, '')
          : cond('StatusFeedbackSynced', false, reasons.feedbackFailed, fb.errors.join('; ')),
      );
    } else {
      conditions.push(cond('StatusFeedbackSynced', false, reasons.feedbackFailed, 'the resource could not be read'));
    }
  }
  conditions.push(...ruleConditions(o.gvk, o.live, o.conditionRules));
  return out;
}

/** Bound on the Degraded message: a few failures verbatim, then a count. */
export const degradedMessageFailures = 3;
export const degradedMessageMaxChars = 2048;

const describe = (m: ManifestStatus) => {
  const r = m.resourceMeta;
  return `${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}`;
};

export function workConditions(manifests: readonly ManifestStatus[], generation: number): Condition[] {
  const status = (m: ManifestStatus, type: string) => m.conditions.find((c) => c.type === type)?.status;
  const failed = manifests.filter((m) => status(m, 'Applied') !== 'True');
  const unavailable = manifests.filter((m) => status(m, 'Available') !== 'True');
  const total = manifests.length;
  let degradedMessage = failed
    .slice(0, degradedMessageFailures)
    .map((m) => `${describe(m)}: ${m.conditions.find((c) => c.type === 'Applied')?.message ?? ''}`)
    .join('\n');
  if (failed.length > degradedMessageFailures) {
    degradedMessage += `\n… and ${failed.length - degradedMessageFailures} more`;
  }
  if (degradedMessage.length > degradedMessageMaxChars) {
    degradedMessage = `${degradedMessage.slice(0, degradedMessageMaxChars - 1)}…`;
  }
  const conditions = [
    failed.length === 0
      ? cond('Applied', true, reasons.workApplied, `${total} of ${total} manifests applied`)
      : cond('Applied', false, reasons.workApplyFailed, `${failed.length} of ${total} manifests failed to apply`),
    unavailable.length === 0
      ? cond('Available', true, reasons.workAvailable, `${total} of ${total} resources available`)
      : cond('Available', false, reasons.workNotAvailable, `${unavailable.length} of ${total} resources not available`),
    unavailable.length === 0
      ? cond('Progressing', false, reasons.workAvailable, 'all resources available')
      : cond('Progressing', true, reasons.workProgressing, `waiting for ${unavailable.length} of ${total} resources`),
    failed.length === 0
      ? cond('Degraded', false, reasons.workNotDegraded, '')
      : cond('Degraded', true, reasons.workDegraded, degradedMessage),
  ];
  for (const c of conditions) c.observedGeneration = generation;
  // Conditions of conditionRules (Complete, …); one that reuses a type above does not override it.
  const own = new Set(conditions.map((c) => c.type));
  return [...conditions, ...aggregateRuleConditions(manifests, generation).filter((c) => !own.has(c.type))];
}
