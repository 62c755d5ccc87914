// Every interval and time limit of Outpost, in one place (milliseconds unless named).

export const durations = {
  /** How long `outpost-hub serve` waits for in-flight requests on SIGTERM. */
  shutdownGraceMs: 10_000,
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
  /** Agent heartbeat period (jittered ±20 %) until work delivery's long-poll replaces it. */
  heartbeatMs: 30_000,
  /** Agent reconnect backoff: full jitter between 0 and min(max, base · 2^attempt). */
  backoffBaseMs: 1_000,
  backoffMaxMs: 60_000,
} as const;
