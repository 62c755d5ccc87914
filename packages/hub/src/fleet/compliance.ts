// Why a cluster is not compliant now, from what the hub already holds: its resource (state,
// certificate, agent version) and its works' conditions. Pure: the overview route
// (api/overview.ts) feeds it the store page by page, tests feed it rows.

import type { ClusterState } from '../registration/clusters.ts';
import type { WorkCounts } from '../store/index.ts';

/** The kinds of trouble, worst first: the order sorts the overview and words its reason. */
export const problemKinds = [
  'CertificateExpired',
  'WorkDegraded',
  'AgentSilent',
  'DeletionsHeld',
  'WorkNotApplied',
  'WorkNotAvailable',
  'CertificateExpiring',
  'AgentOutdated',
] as const;
export type ProblemKind = (typeof problemKinds)[number];

export interface Problem {
  kind: ProblemKind;
  message: string;
}

export interface ClusterFacts {
  name: string;
  state: ClusterState;
  lastSeen?: string | undefined;
  agentVersion?: string | undefined;
  certificateNotAfter?: string | undefined;
}

/** A cluster's works, as far as compliance reads them: names per kind of trouble. */
export interface WorkFacts {
  degraded: string[];
  held: string[];
  notApplied: string[];
  notAvailable: string[];
  total: number;
}

export const noWorks = (): WorkFacts => ({ degraded: [], held: [], notApplied: [], notAvailable: [], total: 0 });

interface Condition {
  type: string;
  status: string;
}

/** Adds one work to its cluster's facts. A work with no status yet is not applied yet. */
export function addWork(facts: WorkFacts, name: string, conditions: readonly Condition[]): void {
  const is = (type: string, status: string) => conditions.some((c) => c.type === type && c.status === status);
  facts.total++;
  if (is('Degraded', 'True')) facts.degraded.push(name);
  if (is('DeletionsHeld', 'True')) facts.held.push(name);
  if (!is('Applied', 'True')) facts.notApplied.push(name);
  else if (!is('Available', 'True')) facts.notAvailable.push(name);
}

/** The facts as counts, as a cluster's status.works shows them (the store counts them in
 *  SQL by the same rules: store/works.ts counts; its tests compare the two). */
export function countsOf(facts: WorkFacts): WorkCounts {
  const applied = facts.total - facts.notApplied.length;
  return {
    total: facts.total,
    applied,
    available: applied - facts.notAvailable.length,
    degraded: facts.degraded.length,
    deletionsHeld: facts.held.length,
  };
}

/** Clusters whose state says their works are not expected to be delivered: not judged. */
const judged = new Set<ClusterState>(['Available', 'HeartbeatOnly', 'Unreachable', 'NeverReported']);

/** `a` < `b` as dotted release numbers (a pre-release counts before its release); undefined
 *  when either is no such version (a development build): nothing is claimed then. */
export function olderVersion(a: string, b: string): boolean | undefined {
  const parse = (v: string) => {
    const m = /^v?(\d+)\.(\d+)\.(\d+)(-[\w.]+)?$/.exec(v.trim());
    return m ? { n: [Number(m[1]), Number(m[2]), Number(m[3])], pre: m[4] !== undefined } : undefined;
  };
  const x = parse(a);
  const y = parse(b);
  if (!x || !y) return undefined;
  for (let i = 0; i < 3; i++) {
    if ((x.n[i] as number) !== (y.n[i] as number)) return (x.n[i] as number) < (y.n[i] as number);
  }
  return x.pre && !y.pre;
}

const names = (list: string[]) => {
  const shown = list.slice(0, 3).join(', ');
  return list.length > 3 ? `${shown} and ${list.length - 3} more` : shown;
};
const works = (n: number) => (n === 1 ? '1 work' : `${n} works`);
const days = (ms: number) => {
  const d = ms / 86_400_000;
  return d >= 1 ? `${Math.floor(d)}d` : `${Math.max(1, Math.floor(ms / 3_600_000))}h`;
};

/** The cluster's problems, worst first; empty when it is compliant (or not judged). */
export function problemsOf(
  c: ClusterFacts,
  w: WorkFacts,
  ctx: { now: number; certificateWarningMs: number; hubVersion: string },
): Problem[] {
  if (!judged.has(c.state)) return [];
  const out: Problem[] = [];
  const add = (kind: ProblemKind, message: string) => out.push({ kind, message });
  if (c.certificateNotAfter) {
    const left = Date.parse(c.certificateNotAfter) - ctx.now;
    if (left <= 0) add('CertificateExpired', `certificate expired at ${c.certificateNotAfter}`);
    else if (left <= ctx.certificateWarningMs) add('CertificateExpiring', `certificate expires in ${days(left)}`);
  }
  if (w.degraded.length) add('WorkDegraded', `${works(w.degraded.length)} degraded: ${names(w.degraded)}`);
  if (c.state === 'Unreachable') add('AgentSilent', `agent silent since ${c.lastSeen ?? 'it joined'}`);
  if (c.state === 'NeverReported') add('AgentSilent', 'agent never reported');
  if (w.held.length) add('DeletionsHeld', `deletions held in ${names(w.held)}`);
  if (w.notApplied.length) add('WorkNotApplied', `${works(w.notApplied.length)} not applied: ${names(w.notApplied)}`);
  if (w.notAvailable.length) {
    add('WorkNotAvailable', `${works(w.notAvailable.length)} not available: ${names(w.notAvailable)}`);
  }
  if (c.agentVersion && olderVersion(c.agentVersion, ctx.hubVersion)) {
    add('AgentOutdated', `agent ${c.agentVersion} is older than the hub (${ctx.hubVersion})`);
  }
  return out.sort((a, b) => problemKinds.indexOf(a.kind) - problemKinds.indexOf(b.kind));
}

/** Orders non-compliant clusters worst first: by their worst problem, then by how many
 *  works fail, then by how many problems, then by name. */
export function worstFirst(
  a: { name: string; problems: Problem[]; failingWorks: number },
  b: { name: string; problems: Problem[]; failingWorks: number },
): number {
  const rank = (p: Problem[]) => problemKinds.indexOf((p[0] as Problem).kind);
  return (
    rank(a.problems) - rank(b.problems) ||
    b.failingWorks - a.failingWorks ||
    b.problems.length - a.problems.length ||
    (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  );
}
