// manifestConfigs[].conditionRules as OCM evaluates them, for the rule type Outpost honours:
// WellKnownConditions, a condition (by default Complete) decided by a fixed rule for a few
// kinds of k8s.io/api (a Job is complete once Complete or Failed is True; a Pod once its
// phase is Succeeded or Failed). A kind or condition without a well-known rule yields no
// condition, as in OCM. CEL rules are refused by the hub (UNSUPPORTED_FIELD).
//
// As in OCM, a manifest whose object is Complete by its rules is no longer updated: it is
// read, not written (`untilComplete`).
//
// The work carries one condition per type the rules produced, aggregated as OCM does:
// False if any manifest's is False, else Unknown if any is Unknown (or none is True), else
// True; Progressing the other way round (True if any is True).
import type { Condition, ConditionRule, ManifestStatus } from '@outpost/shared';
import { conditionOf, type GroupVersionKind, type KubeObject } from './kube.ts';
import { readOnly, type Strategy } from './strategies.ts';

/** Reasons of rule conditions; OCM marks them by the prefix `ConditionRule`. */
export const ruleReasons = {
  evaluated: 'ConditionRuleEvaluated',
  aggregated: 'ConditionRulesAggregated',
} as const;

const rulePrefix = 'ConditionRule';

interface WellKnownRule {
  holds(obj: KubeObject): boolean;
  message(obj: KubeObject, result: boolean): string;
}

/** By `group/kind`, then condition type. */
const wellKnown: Record<string, Record<string, WellKnownRule>> = {
  'batch/Job': {
    Complete: {
      holds: (obj) => conditionOf(obj, 'Complete').status === 'True' || conditionOf(obj, 'Failed').status === 'True',
      message: (_obj, result) => (result ? 'Job is finished' : 'Job is not finished'),
    },
  },
  '/Pod': {
    Complete: {
      holds: (obj) => ['Succeeded', 'Failed'].includes(String((obj.status as { phase?: string } | undefined)?.phase)),
      message: (obj) => `Pod is in phase ${String((obj.status as { phase?: string } | undefined)?.phase ?? '')}`,
    },
  },
};

/** The conditions `rules` give for the object as `live` shows it (none while it is missing). */
export function ruleConditions(
  gvk: GroupVersionKind,
  live: KubeObject | undefined,
  rules: readonly ConditionRule[] | undefined,
): Condition[] {
  if (!live || !rules?.length) return [];
  const out: Condition[] = [];
  for (const rule of rules) {
    if (rule.type !== 'WellKnownConditions') continue;
    const type = rule.condition || 'Complete';
    const known = wellKnown[`${gvk.group}/${gvk.kind}`]?.[type];
    if (!known) continue;
    const result = known.holds(live);
    out.push({
      type,
      status: result ? 'True' : 'False',
      reason: ruleReasons.evaluated,
      message: rule.message || known.message(live, result),
    });
  }
  return out;
}

const isRuleCondition = (c: Condition) => c.reason.startsWith(rulePrefix);

/** The work's conditions aggregated from the manifests' rule conditions, by type, sorted. */
export function aggregateRuleConditions(manifests: readonly ManifestStatus[], generation: number): Condition[] {
  const byType = new Map<string, { t: number; f: number; u: number; message: string }>();
  for (const m of manifests) {
    for (const c of m.conditions) {
      if (!isRuleCondition(c)) continue;
      const a = byType.get(c.type) ?? { t: 0, f: 0, u: 0, message: '' };
      if (c.status === 'True') a.t++;
      else if (c.status === 'False') a.f++;
      else a.u++;
      if (c.message) a.message = c.message;
      byType.set(c.type, a);
    }
  }
  return [...byType.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([type, a]) => {
      const status =
        type === 'Progressing'
          ? a.t > 0
            ? 'True'
            : a.u > 0
              ? 'Unknown'
              : 'False'
          : a.f > 0
            ? 'False'
            : a.u > 0 || a.t === 0
              ? 'Unknown'
              : 'True';
      const total = a.t + a.f + a.u;
      return {
        type,
        status,
        reason: ruleReasons.aggregated,
        message: total === 1 && a.message ? a.message : `Aggregated from ${total} manifest conditions`,
        observedGeneration: generation,
      } satisfies Condition;
    });
}

/**
 * `strategy`, unless the manifest has a Complete rule and its object is Complete already:
 * then the object is only read (OCM: a completed manifest is no longer updated). Costs one
 * read, and only for manifests with a Complete rule.
 */
export function untilComplete(
  strategy: Strategy,
  gvk: GroupVersionKind,
  rules: readonly ConditionRule[] | undefined,
): Strategy {
  const completes = rules?.some((r) => r.type === 'WellKnownConditions' && (r.condition || 'Complete') === 'Complete');
  if (!completes) return strategy;
  return async (input) => {
    const read = await readOnly(input);
    const complete =
      read.ok && ruleConditions(gvk, read.live, rules).some((c) => c.type === 'Complete' && c.status === 'True');
    if (read.ok && complete) return { ...read, message: 'complete: no longer updated (conditionRules)' };
    return strategy(input);
  };
}
