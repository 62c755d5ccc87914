// Validation and normalisation of a rollout strategy (OCM sdk-go's RolloutStrategy, plus
// Outpost's offlineClusters) into the RolloutPolicy planRollout takes.
import { parseDuration } from '@outpost/shared';
import type { IntOrPercent, Validated } from '../placement/types.ts';
import { invalid, isObject, Problems } from '../placement/validate.ts';
import { intOrPercentProblem } from '../placement/values.ts';
import {
  type MandatoryDecisionGroup,
  type OfflinePolicy,
  offlinePolicies,
  type RolloutPolicy,
  type RolloutStrategySpec,
  type RolloutType,
  rolloutTypes,
} from './types.ts';

const configKey: Record<RolloutType, 'all' | 'progressive' | 'progressivePerGroup'> = {
  All: 'all',
  Progressive: 'progressive',
  ProgressivePerGroup: 'progressivePerGroup',
};

/** A duration as metav1.Duration spells it ("90s", "1h30m0s"); Go's form has no days. */
function duration(v: unknown, field: string, p: Problems): number {
  if (v === undefined || v === null || v === '' || v === '0' || v === 0) return 0;
  const ms = typeof v === 'string' && /^[0-9.hms]+$/.test(v) ? parseDuration(v) : undefined;
  if (ms === undefined) {
    p.add(field, 'must be a duration such as "90s", "15m" or "2h"');
    return 0;
  }
  return ms;
}

/**
 * Parses a rollout strategy, reporting problems under `field`. Returns the policy (with
 * defaults where a field was bad, so further checks still run); callers look at `p`.
 */
export function rolloutPolicy(input: unknown, field: string, p: Problems): RolloutPolicy {
  const policy: RolloutPolicy = {
    type: 'All',
    minSuccessTimeMs: 0,
    progressDeadlineMs: undefined,
    maxFailures: 0,
    maxConcurrency: undefined,
    mandatoryDecisionGroups: [],
    offline: { policy: 'Wait', timeoutMs: 0 },
  };
  if (input === undefined || input === null) return policy;
  if (!isObject(input)) {
    p.add(field, 'must be an object');
    return policy;
  }
  p.unknownFields(input, ['type', 'all', 'progressive', 'progressivePerGroup', 'offlineClusters'], field);
  if (input.type !== undefined && input.type !== '') {
    if (!rolloutTypes.includes(input.type as RolloutType)) {
      p.add(`${field}.type`, `must be one of ${rolloutTypes.join(', ')}`);
      return policy;
    }
    policy.type = input.type as RolloutType;
  }
  // A block for another type is ignored by OCM; here it is refused, since it means the user
  // believes settings apply that do not.
  for (const [type, key] of Object.entries(configKey)) {
    if (type !== policy.type && input[key] !== undefined && input[key] !== null) {
      p.add(`${field}.${key}`, `is set but type is ${policy.type}`);
    }
  }
  const key = configKey[policy.type];
  const f = `${field}.${key}`;
  const cfg = input[key] ?? {};
  if (!isObject(cfg)) p.add(f, 'must be an object');
  else {
    const known =
      policy.type === 'All'
        ? ['progressDeadline']
        : policy.type === 'Progressive'
          ? ['minSuccessTime', 'progressDeadline', 'maxFailures', 'mandatoryDecisionGroups', 'maxConcurrency']
          : ['minSuccessTime', 'progressDeadline', 'maxFailures', 'mandatoryDecisionGroups'];
    for (const k of Object.keys(cfg)) {
      if (known.includes(k)) continue;
      // OCM inlines the whole RolloutConfig into `all`, but soak time and failure tolerance
      // mean nothing when everything is handed out at once: say so instead of ignoring them.
      p.add(
        `${f}.${k.slice(0, 64)}`,
        policy.type === 'All' && k in { minSuccessTime: 1, maxFailures: 1 }
          ? 'has no effect with type All; use Progressive'
          : 'unknown field',
      );
    }
    if (policy.type !== 'All') policy.minSuccessTimeMs = duration(cfg.minSuccessTime, `${f}.minSuccessTime`, p);
    const deadline = cfg.progressDeadline;
    if (deadline !== undefined && deadline !== null && deadline !== '' && deadline !== 'None') {
      policy.progressDeadlineMs = duration(deadline, `${f}.progressDeadline`, p);
    }
    if (policy.type !== 'All' && cfg.maxFailures !== undefined && cfg.maxFailures !== null) {
      const problem = intOrPercentProblem(cfg.maxFailures, 0);
      if (problem) p.add(`${f}.maxFailures`, problem);
      else policy.maxFailures = cfg.maxFailures as IntOrPercent;
    }
    if (policy.type === 'Progressive' && cfg.maxConcurrency !== undefined && cfg.maxConcurrency !== null) {
      const problem = intOrPercentProblem(cfg.maxConcurrency, 1);
      if (problem) p.add(`${f}.maxConcurrency`, problem);
      else policy.maxConcurrency = cfg.maxConcurrency as IntOrPercent;
    }
    if (policy.type !== 'All' && cfg.mandatoryDecisionGroups !== undefined && cfg.mandatoryDecisionGroups !== null) {
      const mf = `${f}.mandatoryDecisionGroups`;
      if (!Array.isArray(cfg.mandatoryDecisionGroups)) p.add(mf, 'must be a list');
      else {
        cfg.mandatoryDecisionGroups.forEach((g, i) => {
          if (!isObject(g)) {
            p.add(`${mf}[${i}]`, 'must be an object');
            return;
          }
          p.unknownFields(g, ['groupName', 'groupIndex'], `${mf}[${i}]`);
          const out: MandatoryDecisionGroup = {};
          if (g.groupName !== undefined && g.groupName !== '') {
            if (typeof g.groupName !== 'string') p.add(`${mf}[${i}].groupName`, 'must be a string');
            else out.groupName = g.groupName;
          }
          if (g.groupIndex !== undefined && out.groupName === undefined) {
            if (typeof g.groupIndex !== 'number' || !Number.isSafeInteger(g.groupIndex) || g.groupIndex < 0) {
              p.add(`${mf}[${i}].groupIndex`, 'must be a non-negative integer');
            } else out.groupIndex = g.groupIndex;
          }
          // OCM reads an empty entry as group index 0; make the user say so.
          if (out.groupName === undefined && out.groupIndex === undefined && g.groupIndex === undefined) {
            p.add(`${mf}[${i}]`, 'needs groupName or groupIndex');
          }
          policy.mandatoryDecisionGroups.push(out);
        });
      }
    }
  }
  const off = input.offlineClusters;
  if (off !== undefined && off !== null) {
    const of = `${field}.offlineClusters`;
    if (!isObject(off)) p.add(of, 'must be an object');
    else {
      p.unknownFields(off, ['policy', 'timeout'], of);
      if (!offlinePolicies.includes(off.policy as OfflinePolicy)) {
        p.add(`${of}.policy`, `must be one of ${offlinePolicies.join(', ')}`);
      } else policy.offline.policy = off.policy as OfflinePolicy;
      if (off.timeout !== undefined && off.timeout !== null && off.timeout !== '') {
        if (policy.offline.policy === 'Wait') {
          p.add(
            `${of}.timeout`,
            'applies to Skip and Fail only (how long a cluster may be unreachable before it is skipped or failed)',
          );
        } else policy.offline.timeoutMs = duration(off.timeout, `${of}.timeout`, p);
      }
    }
  }
  return policy;
}

/** Validates one strategy on its own, as `{ ok, value }` or ROLLOUT_STRATEGY_INVALID. */
export function parseRolloutStrategy(
  input: RolloutStrategySpec | unknown,
): Validated<RolloutPolicy, 'ROLLOUT_STRATEGY_INVALID'> {
  const p = new Problems();
  const policy = rolloutPolicy(input, 'rolloutStrategy', p);
  return p.empty ? { ok: true, value: policy } : invalid('ROLLOUT_STRATEGY_INVALID', 'rollout strategy', p);
}
