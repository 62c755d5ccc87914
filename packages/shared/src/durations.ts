// Every interval and time limit of Outpost, in one place (milliseconds unless named).

export const durations = {
  /** How long `outpost-hub serve` waits for in-flight requests on SIGTERM. */
  shutdownGraceMs: 10_000,
  /** Audit log retention: how often old rows are pruned, and the default age limit. */
  auditPruneMs: 10 * 60_000,
  auditMaxAgeMs: 90 * 86_400_000,
  /** How long a dashboard session lives at most (shorter when its API token expires first). */
  uiSessionMs: 12 * 3_600_000,
  /** How long the change log keeps a change for watches to resume from (api/watch.ts). */
  watchHistoryMs: 15 * 60_000,
  /** /metrics event-loop delay: the gauges show the last finished window of this length. */
  loopDelayWindowMs: 10_000,
  /** /metrics fleet gauges: a scrape finding the snapshot older than this starts a new one. */
  metricsSnapshotMs: 5_000,
  /** Validity of the hub CA created on first start. */
  caValidityDays: 3650,
  /** Validity of the hub's serving certificate. */
  servingCertValidityDays: 365,
  /** Default validity of an agent certificate; `--cert-validity` changes it. */
  agentCertValidityMs: 14 * 86_400_000,
  /** Agents renew when a random share in this window of the certificate's life remains. */
  renewWhenRemaining: { min: 0.2, max: 0.3 },
  /** Default and upper bound of a bootstrap token's TTL. */
  bootstrapTokenTtlMs: 3_600_000,
  bootstrapTokenTtlMaxMs: 30 * 86_400_000,
  /** How long a recovery token from `cluster recover` lives. */
  recoveryTokenTtlMs: 24 * 3_600_000,
  /** How often a pending joiner asks again; sent as Retry-After. */
  registrationPollMs: 2_000,
  /** Default time `outpost-agent join` waits for approval before giving up. */
  joinTimeoutMs: 15 * 60_000,
  /** Window for counting wrong bootstrap secrets from one source. */
  tokenFailureWindowMs: 60_000,
  /** Longest a throttled source is asked to wait. */
  tokenThrottleMaxMs: 60_000,
  /** A cluster not seen for this long is Available=Unknown (work delivery tightens this). */
  clusterLeaseMs: 3 * 30_000,
  /**
   * The hub's TLS session-ticket key is replaced this often (pki/tickets.ts); a session is
   * resumable this long (TLS 1.3's upper bound), so a restart within it resumes.
   */
  ticketKeyLifetimeMs: 7 * 86_400_000,
  /**
   * An agent connection older than this is closed after its next poll is answered (the agent
   * reconnects at once, resuming its session): its ticket stays fresh, and connections do not
   * stay pinned for weeks.
   */
  agentConnectionMaxAgeMs: 24 * 3_600_000,
  /** Agent heartbeat period (jittered ±20 %); with work delivery each long-poll carries the heartbeat. */
  heartbeatMs: 30_000,
  /**
   * A stopping hub tells each agent whose poll it releases when to come back (503
   * HUB_STOPPING, Retry-After): at least this many seconds (about a restart), plus one
   * second per 1,000 polls that waited (the stop itself takes about that long)…
   */
  stopComeBackMinSeconds: 5,
  /**
   * …spread so that the fleet comes back at about this many agents a second. Every poll
   * answer also gives agents this spread (SyncResponse.reconnectWindowSeconds) for a
   * connection that breaks without an answer (a killed hub, a network cut).
   */
  reconnectPerSecond: 400,
  /** Agent reconnect backoff: full jitter between 0 and min(max, base · 2^attempt). */
  backoffBaseMs: 1_000,
  backoffMaxMs: 60_000,
  /** Cluster changes arriving within this window are scheduled in one placement pass. */
  placementBatchMs: 50,
  /** A placement whose scheduling failed is tried again after this long. */
  placementRetryMs: 30_000,
  /** Workset triggers (decisions, status reports, cluster changes) within this window run as one reconcile. */
  workSetBatchMs: 50,
  /** A workset whose reconcile threw is tried again after this long. */
  workSetRetryMs: 10_000,
  /** GitRepo spec.pollingInterval when none is given (Fleet's default). */
  gitPollDefaultMs: 15_000,
  /** The shortest spec.pollingInterval taken (0 disables polling). */
  gitPollMinMs: 5_000,
  /** A GitRepo is polled at its interval plus up to this share of it, at random (jitter). */
  gitPollJitter: 0.2,
  /** One git command (ls-remote, fetch, checkout) is killed after this long. */
  gitCommandTimeoutMs: 60_000,
  /** ssh's connect timeout for an ssh GitRepo (the command's own timeout bounds the rest). */
  gitSshConnectTimeoutMs: 20_000,
  /** Rendering one GitRepo's paths gives up after this long (a status error, nothing changed). */
  gitRenderTimeoutMs: 60_000,
} as const;

const units: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses Go/kubectl-style durations: `90s`, `15m`, `1h30m`, `14d`, `250ms`. A bare number
 * is seconds. Returns milliseconds, or undefined when `text` is not a duration.
 */
export function parseDuration(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? text * 1_000 : undefined;
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1_000;
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(t)) return undefined;
  let total = 0;
  for (const m of t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) total += Number(m[1]) * (units[m[2] as string] ?? 0);
  return total;
}

/** The shortest readable form of a duration: `1h30m`, `45s`, `14d`. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  let rest = Math.round(ms / 1_000);
  const parts: string[] = [];
  for (const [unit, secs] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (rest >= secs) {
      parts.push(`${Math.floor(rest / secs)}${unit}`);
      rest %= secs;
    }
  }
  return parts.join('');
}
