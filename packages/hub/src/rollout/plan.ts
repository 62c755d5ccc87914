// The pure rollout planner: given a strategy, every selected cluster's work status and the
// time, say which clusters get the current template now, which are in progress, succeeded,
// failed, timed out or were skipped, whether the rollout stopped, and when to plan again.
// OCM sdk-go's RolloutHandler semantics (pkg/apis/cluster/v1alpha1/rollout.go), with the
// deviations listed in rollout/index.ts.
//
// The planner is stateless: it is run again on every status change and at nextEvaluationAt,
// and because the caller records `dispatched` for what it handed out, a second run does not
// hand the same clusters out twice.
import { formatDuration } from '@outpost/shared';
import { resolveIntOrPercent } from '../placement/values.ts';
import type {
  ClusterWorkStatus,
  PlannedCluster,
  PlannedState,
  PlanOptions,
  RolloutCluster,
  RolloutPlan,
  RolloutPolicy,
  WorkSetSummary,
} from './types.ts';

/** A cluster's state before the strategy runs: not-yet-dispatched ones are Candidates. */
type Classified = Omit<PlannedCluster, 'state'> & { state: Exclude<PlannedState, 'ToApply' | 'Pending'> | 'Candidate' };

/** applied ∧ available ∧ ¬degraded, on the current generation. */
export function isSuccessful(s: ClusterWorkStatus): boolean {
  return s.updated && s.applied && s.available && !s.degraded;
}

const failing = (e: Classified) => e.state === 'Failed' || e.state === 'TimedOut';
const busy = (e: Classified) => e.state === 'Progressing' || e.state === 'Soaking';

function classify(c: RolloutCluster, mandatory: boolean, policy: RolloutPolicy, now: number): Classified {
  const s = c.status;
  const offline = !s.reachable;
  const base = { name: c.name, groupIndex: c.groupIndex, groupName: c.groupName, offline, mandatory };
  let recheckAt: number | undefined;
  const recheck = (t: number | undefined) => {
    if (t !== undefined && t > now && (recheckAt === undefined || t < recheckAt)) recheckAt = t;
  };
  const out = (state: Classified['state'], reason: string): Classified =>
    recheckAt === undefined ? { ...base, state, reason } : { ...base, state, reason, recheckAt };

  let offlineNote = '';
  if (offline) {
    const since = s.unreachableSince ?? now;
    offlineNote = `offline for ${formatDuration(now - since)}`;
    const { policy: offlinePolicy, timeoutMs } = policy.offline;
    if (offlinePolicy !== 'Wait') {
      const at = since + timeoutMs;
      if (now < at) recheck(at);
      // Mandatory groups must prove the revision works, so they never skip: Skip waits there.
      else if (offlinePolicy === 'Fail') return out('Failed', `${offlineNote} (offlineClusters: Fail)`);
      else if (!mandatory) return out('Skipped', `${offlineNote} (offlineClusters: Skip)`);
    }
  }

  if (!s.dispatched) return out('Candidate', offline ? offlineNote : '');

  if (isSuccessful(s)) {
    // An unreachable cluster's last report may no longer be true (a bad revision can be the
    // very thing that cut it off), so it is never counted as succeeded. It reached success
    // once, so progressDeadline, which bounds reaching success, does not apply to it.
    if (offline) return out('Progressing', `${offlineNote}; last reported successful`);
    const soakEnd = (s.succeededSince ?? now) + policy.minSuccessTimeMs;
    if (now < soakEnd) {
      recheck(soakEnd);
      return out('Soaking', `successful; soaking until ${new Date(soakEnd).toISOString()}`);
    }
    return out('Succeeded', 'applied, available and not degraded');
  }

  const deadline =
    policy.progressDeadlineMs !== undefined && s.dispatchedAt !== undefined
      ? s.dispatchedAt + policy.progressDeadlineMs
      : undefined;
  const suffix = offline ? `; ${offlineNote}` : '';
  if (deadline !== undefined && now >= deadline) {
    return out(
      'TimedOut',
      `not successful within progressDeadline ${formatDuration(policy.progressDeadlineMs ?? 0)}${suffix}`,
    );
  }
  recheck(deadline);
  if (s.updated && s.degraded) return out('Failed', `degraded${suffix}`);
  const why = offline
    ? `${offlineNote}; waiting for it to return`
    : !s.updated
      ? 'waiting for the agent to report the current generation'
      : !s.applied
        ? 'not applied yet'
        : 'not available yet';
  return out('Progressing', why);
}

const byGroupThenName = (a: RolloutCluster, b: RolloutCluster) =>
  a.groupIndex - b.groupIndex || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

const groupLabel = (g: { groupIndex: number; groupName: string }) =>
  g.groupName ? `${g.groupName} (#${g.groupIndex})` : `#${g.groupIndex}`;

function listNames(names: string[], max = 5): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} (+${names.length - max} more)`;
}

/** Indexes of `entries` grouped by group index, groups in ascending order. */
function groupsOf(entries: Classified[], pick: (e: Classified) => boolean): Classified[][] {
  const byIndex = new Map<number, Classified[]>();
  for (const e of entries) {
    if (!pick(e)) continue;
    const g = byIndex.get(e.groupIndex);
    if (g) g.push(e);
    else byIndex.set(e.groupIndex, [e]);
  }
  return [...byIndex.entries()].sort((a, b) => a[0] - b[0]).map(([, g]) => g);
}

/**
 * Plans one step of a rollout. `clusters` are the placement's current decisions with their
 * work status; `now` is epoch milliseconds. Pure: same inputs, same plan.
 */
export function planRollout(
  policy: RolloutPolicy,
  clusters: readonly RolloutCluster[],
  now: number,
  options: PlanOptions = {},
): RolloutPlan {
  const mandatoryOf = (c: RolloutCluster) =>
    policy.type !== 'All' &&
    policy.mandatoryDecisionGroups.some((m) =>
      m.groupName !== undefined ? m.groupName === c.groupName : m.groupIndex === c.groupIndex,
    );
  const entries = [...clusters].sort(byGroupThenName).map((c) => classify(c, mandatoryOf(c), policy, now));

  // What happens to each Candidate: handed out now, or pending for a reason.
  const dispatch = new Set<Classified>();
  const holdReason = new Map<Classified, string>();
  const hold = (es: Iterable<Classified>, reason: string) => {
    for (const e of es) if (e.state === 'Candidate' && !dispatch.has(e)) holdReason.set(e, reason);
  };
  const failures = entries.filter(failing).length;
  let maxFailures = entries.length;
  let stopReason: string | undefined;
  let currentGroup: RolloutPlan['currentGroup'];

  if (policy.type === 'All') {
    // OCM's All hands everything out at once and tolerates any number of failures.
    for (const e of entries) if (e.state === 'Candidate') dispatch.add(e);
  } else {
    // Mandatory groups first, one group at a time, tolerating no failure; everything else
    // waits until every mandatory cluster has succeeded (and soaked).
    let mandatoryActive = false;
    for (const group of groupsOf(entries, (e) => e.mandatory)) {
      const head = group[0] as Classified;
      const failed = group.filter(failing);
      if (failed.length) {
        stopReason = `mandatory group ${groupLabel(head)} failed on ${listNames(failed.map((e) => e.name))}`;
        currentGroup = { groupIndex: head.groupIndex, groupName: head.groupName, mandatory: true };
        break;
      }
      const candidates = group.filter((e) => e.state === 'Candidate');
      if (candidates.length || group.some(busy)) {
        for (const e of candidates) dispatch.add(e);
        currentGroup = { groupIndex: head.groupIndex, groupName: head.groupName, mandatory: true };
        mandatoryActive = true;
        break;
      }
    }
    const rest = entries.filter((e) => !e.mandatory);
    if (stopReason) {
      maxFailures = 0;
      hold(entries, 'rollout stopped: a mandatory group failed');
    } else if (mandatoryActive) {
      maxFailures = 0;
      hold(entries, `waiting for mandatory group ${groupLabel(currentGroup as NonNullable<typeof currentGroup>)}`);
    } else if (policy.type === 'Progressive') {
      // sdk-go resolves maxFailures over all clusters and maxConcurrency over the
      // non-mandatory ones, percentages rounded up.
      maxFailures = Math.min(resolveIntOrPercent(policy.maxFailures, entries.length), entries.length);
      if (failures > maxFailures) {
        stopReason = `${failures} failure${failures === 1 ? '' : 's'} exceed maxFailures ${maxFailures}`;
        hold(rest, 'rollout stopped: maxFailures exceeded');
      } else {
        const window =
          policy.maxConcurrency === undefined
            ? rest.length
            : Math.max(1, resolveIntOrPercent(policy.maxConcurrency, rest.length));
        let free = window - rest.filter(busy).length;
        for (const e of rest) {
          if (e.state !== 'Candidate') continue;
          if (free > 0) {
            dispatch.add(e);
            free--;
          } else holdReason.set(e, `waiting for a free slot (maxConcurrency ${window})`);
        }
      }
    } else {
      // ProgressivePerGroup: the first group with work left is the current one; it is handed
      // out whole; later groups wait until it has no cluster in flight and its failures are
      // within maxFailures (resolved over the group's size).
      maxFailures = 0;
      const groups = groupsOf(rest, () => true);
      for (const [i, group] of groups.entries()) {
        const head = group[0] as Classified;
        const label = groupLabel(head);
        const tolerance = Math.min(resolveIntOrPercent(policy.maxFailures, group.length), group.length);
        const groupFailures = group.filter(failing).length;
        maxFailures = tolerance;
        const candidates = group.filter((e) => e.state === 'Candidate');
        // Built only on the way out: once per plan, not once per group.
        const later = () => groups.slice(i + 1).flat();
        if (groupFailures > tolerance) {
          currentGroup = { groupIndex: head.groupIndex, groupName: head.groupName, mandatory: false };
          stopReason = `group ${label}: ${groupFailures} failure${groupFailures === 1 ? '' : 's'} exceed maxFailures ${tolerance}`;
          hold([...group, ...later()], 'rollout stopped: maxFailures exceeded');
          break;
        }
        if (candidates.length || group.some(busy)) {
          currentGroup = { groupIndex: head.groupIndex, groupName: head.groupName, mandatory: false };
          for (const e of candidates) dispatch.add(e);
          hold(later(), `waiting for group ${label}`);
          break;
        }
      }
    }
  }

  const paused = options.paused === true;
  const plan: RolloutPlan = {
    type: policy.type,
    toRollout: [],
    pending: [],
    inProgress: [],
    succeeded: [],
    failed: [],
    timedOut: [],
    skipped: [],
    offline: [],
    clusters: [],
    failures,
    maxFailures,
    stopped: stopReason !== undefined,
    paused,
    complete: false,
    message: '',
  };
  let next = Number.POSITIVE_INFINITY;
  for (const e of entries) {
    let planned: PlannedCluster;
    if (e.state === 'Candidate') {
      const reason = paused && dispatch.has(e) ? 'paused' : (holdReason.get(e) ?? (dispatch.has(e) ? '' : 'waiting'));
      const state: PlannedState = dispatch.has(e) && !paused ? 'ToApply' : 'Pending';
      const why = [state === 'ToApply' ? 'rolling out now' : reason, e.reason].filter(Boolean).join('; ');
      planned = { ...e, state, reason: why };
    } else planned = e as PlannedCluster;
    plan.clusters.push(planned);
    if (planned.offline) plan.offline.push(planned.name);
    if (planned.recheckAt !== undefined && planned.recheckAt < next) next = planned.recheckAt;
    switch (planned.state) {
      case 'ToApply':
        plan.toRollout.push(planned.name);
        break;
      case 'Pending':
        plan.pending.push(planned.name);
        break;
      case 'Progressing':
      case 'Soaking':
        plan.inProgress.push(planned.name);
        break;
      case 'Succeeded':
        plan.succeeded.push(planned.name);
        break;
      case 'Failed':
        plan.failed.push(planned.name);
        break;
      case 'TimedOut':
        plan.timedOut.push(planned.name);
        break;
      case 'Skipped':
        plan.skipped.push(planned.name);
        break;
    }
  }
  if (Number.isFinite(next)) plan.nextEvaluationAt = next;
  if (currentGroup) plan.currentGroup = currentGroup;
  plan.complete = plan.toRollout.length + plan.pending.length + plan.inProgress.length === 0;
  plan.message = planMessage(plan, stopReason);
  return plan;
}

function planMessage(plan: RolloutPlan, stopReason: string | undefined): string {
  const total = plan.clusters.length;
  if (total === 0) return 'No clusters selected';
  const head = plan.paused
    ? 'Paused'
    : stopReason
      ? `Stopped: ${stopReason}`
      : plan.complete
        ? plan.succeeded.length === total
          ? 'Complete'
          : 'Finished with problems'
        : plan.currentGroup
          ? `Rolling out ${plan.currentGroup.mandatory ? 'mandatory ' : ''}group ${groupLabel(plan.currentGroup)}`
          : 'Rolling out';
  const parts = [`${plan.succeeded.length}/${total} succeeded`];
  if (plan.toRollout.length) parts.push(`${plan.toRollout.length} to roll out now`);
  if (plan.inProgress.length) parts.push(`${plan.inProgress.length} in progress`);
  if (plan.pending.length) parts.push(`${plan.pending.length} pending`);
  if (plan.failed.length) parts.push(`failed: ${listNames(plan.failed)}`);
  if (plan.timedOut.length) parts.push(`timed out: ${listNames(plan.timedOut)}`);
  if (plan.skipped.length) parts.push(`skipped (offline): ${listNames(plan.skipped)}`);
  if (plan.offline.length) parts.push(`offline: ${listNames(plan.offline)}`);
  return `${head}: ${parts.join('; ')}`;
}

/** OCM's ManifestWorkReplicaSetSummary over the clusters' work status. */
export function workSetSummary(clusters: readonly RolloutCluster[]): WorkSetSummary {
  const s: WorkSetSummary = { total: clusters.length, applied: 0, available: 0, degraded: 0, progressing: 0 };
  for (const { status } of clusters) {
    if (status.applied) s.applied++;
    if (status.available) s.available++;
    if (status.degraded) s.degraded++;
    if (status.dispatched && !isSuccessful(status) && !status.degraded) s.progressing++;
  }
  return s;
}

/** OCM's availableDecisionGroups ("2/4"): groups whose every cluster is available. */
export function availableDecisionGroups(clusters: readonly RolloutCluster[]): string {
  const groups = new Map<number, boolean>();
  for (const c of clusters) {
    const ok = c.status.updated && c.status.available;
    groups.set(c.groupIndex, (groups.get(c.groupIndex) ?? true) && ok);
  }
  let available = 0;
  for (const ok of groups.values()) if (ok) available++;
  return `${available}/${groups.size}`;
}
