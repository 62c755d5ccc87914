// `status -o table|json|yaml`: JSON and YAML are the status object as it is (for scripts);
// the table is for people: one fact a line, times with how long ago or ahead, the works in
// columns, and every value the running agent gave marked "live".
import { compactSpan, table } from '@outpost/shared';
import { stringify } from 'yaml';
import type { AgentStatus, WorkView } from './collect.ts';

export type OutputFormat = 'table' | 'json' | 'yaml';

export function renderStatus(format: OutputFormat, status: AgentStatus): string {
  if (format === 'json') return `${JSON.stringify(status, null, 2)}\n`;
  if (format === 'yaml') return stringify(status);
  return statusTable(status);
}

/** `3m ago`, `in 29d`: compact, for tables. */
export function relative(iso: string | null | undefined, now: number): string {
  if (!iso) return '-';
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return '-';
  const text = compactSpan(now - at);
  return at > now ? `in ${text}` : `${text} ago`;
}

/** `ISO (3m ago)`, or with a note: `ISO (3m ago; live)`. */
const when = (iso: string | null, now: number, note?: string) =>
  iso ? `${iso} (${relative(iso, now)}${note ? `; ${note}` : ''})` : '-';

function workState(w: WorkView): string {
  if (w.state === 'deleting') return `deleting${w.objects ? `, ${w.objects} object(s) to go` : ''}`;
  if (w.state === 'pending') return 'not applied yet';
  return w.heldDeletions ? `applied, ${w.heldDeletions} deletion(s) held` : 'applied';
}

function workReport(w: WorkView): string {
  const r = w.unsentReport;
  if (!r) return w.state === 'pending' ? '-' : 'sent';
  const conditions = r.conditions.map((c) => `${c.type}=${c.status}`).join(' ');
  return `waiting: ${conditions || 'no conditions'}`;
}

export function statusTable(st: AgentStatus): string {
  const now = Date.parse(st.readAt);
  const live = st.agent.live;
  const out: string[] = [];
  const row = (label: string, value: string) => out.push(`${`${label}:`.padEnd(17)} ${value}`);
  const sub = (label: string, value: string) => out.push(`  ${`${label}:`.padEnd(15)} ${value}`);

  row('Cluster', st.cluster);
  row('Hub', st.hub.url);
  const poll = live
    ? st.hub.lastPollAt
      ? when(st.hub.lastPollAt, now, 'live')
      : 'none yet (live)'
    : st.hub.lastPollAt
      ? when(st.hub.lastPollAt, now, 'as stored, saved at most every 5 minutes')
      : 'unknown (none stored)';
  sub('last poll', poll);
  const check = st.hub.check;
  if (check) {
    const epoch =
      check.epochMatchesState === false
        ? `; its database identity ${check.epoch} is not the one this agent synced with (${st.state.hubEpoch})`
        : '';
    sub(
      'reachable',
      check.reachable
        ? check.ready
          ? `yes, ready (checked /readyz)${epoch}`
          : `yes, but not ready: ${check.message ?? check.code}`
        : `no: ${check.message ?? check.code}`,
    );
  } else if (live) sub('reachable', live.connected ? 'yes, connected (live)' : 'no, not connected (live)');
  else sub('reachable', 'unknown (no agent answered; --check-hub asks the hub)');
  if (live?.lastError) {
    sub('last error', `${live.lastError.code}: ${live.lastError.message}, ${when(live.lastError.at, now, 'live')}`);
  }

  if (live) row('Agent', `running, answering at ${st.agent.url} (live)`);
  else if (st.agent.url) row('Agent', `not running at ${st.agent.url}: the values below are what it stored`);
  else row('Agent', 'not asked (--agent-url off): the values below are what it stored');
  if (!live && st.agent.reason) sub('why', st.agent.reason);

  row('Credentials', `${st.credentials.store}${st.credentials.joinedAt ? `, joined ${st.credentials.joinedAt}` : ''}`);
  const cert = st.certificate;
  row('Certificate', `serial ${cert.serial}${cert.commonName ? `, ${cert.commonName}` : ''}`);
  sub(
    'expires',
    `${cert.notAfter} (${cert.expired ? `EXPIRED ${relative(cert.notAfter, now)}` : relative(cert.notAfter, now)})`,
  );
  sub('renews after', `${cert.renewAt} (${cert.renewDue ? 'due now' : relative(cert.renewAt, now)})`);

  row('CA bundle', `${st.caBundle.length} CA${st.caBundle.length === 1 ? '' : 's'}`);
  for (const ca of st.caBundle) {
    const flags = [ca.pinnedAtJoin ? 'pinned at join' : '', ca.expired ? 'EXPIRED' : ''].filter(Boolean).join(', ');
    out.push(`  - ${ca.subject}`);
    out.push(`    ${ca.pin}${flags ? ` (${flags})` : ''}, expires ${when(ca.notAfter, now)}`);
  }

  const lead = st.leader;
  let leaderText: string;
  if (lead.election === 'off') leaderText = 'off (no cluster: credentials in files)';
  else if (lead.problem) leaderText = `unknown: ${lead.problem}`;
  else if (!lead.lease) leaderText = 'no Lease yet (no agent has led in this namespace)';
  else {
    const l = lead.lease;
    leaderText = l.holder
      ? `${l.holder} holds Lease ${l.namespace}/${l.name} (renewed ${relative(l.renewTime, now)}, lease ${l.leaseDurationSeconds ?? '?'}s)`
      : `nobody holds Lease ${l.namespace}/${l.name} (released ${relative(l.renewTime, now)})`;
  }
  row('Leader', leaderText);
  if (lead.live) sub('this agent', `${lead.live} (live)`);

  const s = st.state;
  if (s.store) {
    row(
      'State',
      s.revision === null
        ? s.store
        : `${s.store}, desired revision ${s.revision}${s.hubEpoch ? `, hub epoch ${s.hubEpoch}` : ''}`,
    );
    if (s.problem) sub('problem', s.problem);
  } else row('State', s.problem ?? 'none');

  const o = st.outbox;
  const stored = o.depth === null ? 'unknown' : `${o.depth} report${o.depth === 1 ? '' : 's'} waiting to be sent`;
  row(
    'Outbox',
    o.liveDepth !== null
      ? `${o.liveDepth} report${o.liveDepth === 1 ? '' : 's'} waiting to be sent (live); ${o.depth ?? 'unknown'} stored`
      : o.depth === null
        ? stored
        : `${stored}${o.acked ? ` (hub acknowledged up to seq ${o.acked})` : ''}`,
  );

  if (st.heldDeletions.length === 0) row('Held deletions', 'none');
  else {
    const total = st.heldDeletions.reduce((n, h) => n + h.objects, 0);
    row('Held deletions', `${total} object(s), waiting for \`outpost-hub cluster confirm-deletions ${st.cluster}\``);
    for (const h of st.heldDeletions) {
      sub(h.work ?? h.workUid, `${h.objects} object(s) since ${when(h.since, now)}`);
    }
  }

  out.push('');
  if (st.works.length === 0) {
    out.push(s.store && s.revision === null ? 'Works: unknown (the state could not be read)' : 'Works: none');
    return `${out.join('\n')}\n`;
  }
  out.push(`Works (${st.works.length}):`);
  return `${out.join('\n')}\n${table(
    ['NAME', 'GENERATION', 'OBJECTS', 'STATE', 'STATUS REPORT', 'UID'],
    st.works.map((w) => [
      w.name,
      String(w.generation),
      w.objects === null ? '-' : String(w.objects),
      workState(w),
      workReport(w),
      w.uid,
    ]),
  )}`;
}
