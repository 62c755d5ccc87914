// leader/: exactly one agent replica per cluster applies and talks to the hub. Replicas (a
// DaemonSet on several control-plane nodes) compete for a coordination.k8s.io/v1 Lease in
// the agent's namespace, with client-go's leader-election rules:
//
// - a Lease nobody holds, or whose holder has not renewed it for leaseDuration, may be taken
//   by an update carrying the resourceVersion read (two candidates cannot both win);
// - "not renewed" is judged by this replica's own clock, from when it last saw the Lease's
//   holder or renewTime change, never by comparing renewTime with the local clock, so clock
//   skew between nodes cannot make two leaders;
// - the leader renews every retryPeriod; if it cannot renew for renewDeadline (shorter than
//   leaseDuration), it stops leading before anyone else may take over;
// - a leader that stops cleanly releases the Lease (holder cleared), so a standby takes over
//   at its next try instead of after leaseDuration.
//
// The agent's Role needs get, create and update on leases in its namespace.
import type { KubeRest } from '../apply/rest.ts';

export interface LeaderElectionOptions {
  namespace: string;
  /** Lease name (default `outpost-agent`). */
  name?: string;
  /** This replica: the pod name, or host name plus a random suffix. */
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  now?: () => number;
}

export const leaseDefaults = {
  name: 'outpost-agent',
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
};

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string; labels?: Record<string, string> };
  spec: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string | null;
    renewTime?: string | null;
    leaseTransitions?: number;
  };
}

/** MicroTime, as the Lease API wants it. */
const microTime = (ms: number) => new Date(ms).toISOString().replace('Z', '000Z');

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

export class LeaderElector {
  readonly #rest: KubeRest;
  readonly #o: Required<Omit<LeaderElectionOptions, 'log' | 'now'>>;
  readonly #log: LeaderElectionOptions['log'];
  readonly #now: () => number;
  /** The Lease as last read or written, and when (local clock) its holder/renewTime last changed. */
  #seen: { lease: Lease; key: string; at: number } | undefined;
  /** When the attempt in progress started, and when the last successful one did. */
  #attemptStart = 0;
  #lastRenewStart = 0;

  constructor(rest: KubeRest, opts: LeaderElectionOptions) {
    this.#rest = rest;
    this.#o = { ...leaseDefaults, ...opts } as Required<Omit<LeaderElectionOptions, 'log' | 'now'>>;
    if (this.#o.renewDeadlineMs >= this.#o.leaseDurationMs) {
      throw new Error('the renew deadline must be shorter than the lease duration');
    }
    this.#log = opts.log;
    this.#now = opts.now ?? Date.now;
  }

  get identity(): string {
    return this.#o.identity;
  }

  get #path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.#o.namespace)}/leases`;
  }

  /**
   * Resolves once this replica holds the Lease; `onWait` is told who holds it meanwhile.
   * Rejects only when `signal` aborts.
   */
  async acquire(signal: AbortSignal, onWait?: (holder: string) => void): Promise<void> {
    let lastHolder = '';
    for (;;) {
      signal.throwIfAborted();
      try {
        const attempt = AbortSignal.any([signal, AbortSignal.timeout(this.#o.renewDeadlineMs)]);
        const outcome = await this.#tryAcquireOrRenew(attempt);
        if (outcome === true) {
          this.#lastRenewStart = this.#attemptStart;
          return;
        }
        if (outcome !== lastHolder) {
          lastHolder = outcome;
          onWait?.(outcome);
        }
      } catch (err) {
        signal.throwIfAborted();
        this.#log?.warn({ err }, 'leader election: cannot read or write the lease; retrying');
      }
      await sleep(this.#o.retryPeriodMs, signal);
    }
  }

  /**
   * Renews the Lease every retryPeriod until `signal` aborts (then releases it) or renewal
   * fails for renewDeadline (then resolves with 'lost': the caller must stop leading at
   * once). The deadline counts from the start of the last successful renewal and bounds
   * every attempt, so a hung apiserver cannot keep this replica leading past it.
   */
  async hold(signal: AbortSignal): Promise<'released' | 'lost'> {
    for (;;) {
      await sleep(this.#o.retryPeriodMs, signal);
      if (signal.aborted) {
        await this.release();
        return 'released';
      }
      const left = this.#lastRenewStart + this.#o.renewDeadlineMs - this.#now();
      if (left <= 0) return 'lost';
      try {
        if ((await this.#tryAcquireOrRenew(AbortSignal.timeout(left))) === true) {
          this.#lastRenewStart = this.#attemptStart;
        } else {
          this.#log?.warn(
            { holder: this.#seen?.lease.spec.holderIdentity },
            'leader election: another replica holds the lease',
          );
          return 'lost';
        }
      } catch (err) {
        this.#log?.warn({ err }, 'leader election: renewing the lease failed');
      }
      if (this.#now() - this.#lastRenewStart >= this.#o.renewDeadlineMs) return 'lost';
    }
  }

  /** Gives the Lease up if we hold it, so a standby need not wait for it to lapse. */
  async release(): Promise<void> {
    const lease = this.#seen?.lease;
    if (!lease || lease.spec.holderIdentity !== this.#o.identity) return;
    const body: Lease = {
      ...lease,
      spec: { ...lease.spec, holderIdentity: null, leaseDurationSeconds: 1, renewTime: microTime(this.#now()) },
    };
    try {
      await this.#rest.request({ method: 'PUT', path: `${this.#path}/${encodeURIComponent(this.#o.name)}`, body });
    } catch {
      // The Lease lapses by itself.
    }
  }

  /**
   * Takes over what another watcher saw: the Lease has shown `holder` and `renewTime` since
   * `at` (this process's clock). A caller that already waited for the Lease to lapse (leave)
   * need not wait a second lease duration before it may take it.
   */
  assumeObserved(seen: { holder: string; renewTime: string; at: number }): void {
    const lease: Lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: this.#o.name, namespace: this.#o.namespace },
      spec: { holderIdentity: seen.holder, renewTime: seen.renewTime },
    };
    this.#seen = { lease, key: `${seen.holder}|${seen.renewTime}`, at: seen.at };
  }

  /** true when we hold the Lease afterwards, else the current holder's identity. */
  async #tryAcquireOrRenew(signal: AbortSignal): Promise<true | string> {
    this.#attemptStart = this.#now();
    const got = await this.#rest.request({
      method: 'GET',
      path: `${this.#path}/${encodeURIComponent(this.#o.name)}`,
      signal,
    });
    // Dated after the answer, as client-go does: a slow GET must not make the holder's
    // renewal look older than it is.
    const now = this.#now();
    const durationSeconds = Math.ceil(this.#o.leaseDurationMs / 1000);
    if (got.status === 404) {
      const body: Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: {
          name: this.#o.name,
          namespace: this.#o.namespace,
          labels: { 'app.kubernetes.io/name': 'outpost-agent', 'app.kubernetes.io/managed-by': 'outpost-agent' },
        },
        spec: {
          holderIdentity: this.#o.identity,
          leaseDurationSeconds: durationSeconds,
          acquireTime: microTime(now),
          renewTime: microTime(now),
          leaseTransitions: 0,
        },
      };
      const created = await this.#rest.request({ method: 'POST', path: this.#path, body, signal });
      if (created.status === 201 || created.status === 200) {
        this.#observe(created.body as Lease, this.#now());
        this.#log?.info({ identity: this.#o.identity }, 'leader election: created the lease and lead');
        return true;
      }
      if (created.status === 409) return '(another replica, just now)';
      throw new Error(`creating lease: HTTP ${created.status}: ${JSON.stringify(created.body).slice(0, 200)}`);
    }
    if (got.status !== 200)
      throw new Error(`reading lease: HTTP ${got.status}: ${JSON.stringify(got.body).slice(0, 200)}`);
    const lease = got.body as Lease;
    this.#observe(lease, now);
    const holder = lease.spec.holderIdentity ?? '';
    const ours = holder === this.#o.identity;
    const seenAt = this.#seen?.at ?? now;
    const durationMs = (lease.spec.leaseDurationSeconds ?? durationSeconds) * 1000;
    if (!ours && holder !== '' && now - seenAt < durationMs) return holder;
    const spec: Lease['spec'] = {
      ...lease.spec,
      holderIdentity: this.#o.identity,
      leaseDurationSeconds: durationSeconds,
      renewTime: microTime(now),
    };
    if (!ours) {
      spec.acquireTime = microTime(now);
      spec.leaseTransitions = (lease.spec.leaseTransitions ?? 0) + 1;
    }
    const put = await this.#rest.request({
      method: 'PUT',
      path: `${this.#path}/${encodeURIComponent(this.#o.name)}`,
      body: { ...lease, spec },
      signal,
    });
    if (put.status === 200) {
      this.#observe(put.body as Lease, this.#now());
      if (!ours)
        this.#log?.info(
          { identity: this.#o.identity, previous: holder || undefined },
          'leader election: took the lease and lead',
        );
      return true;
    }
    if (put.status === 409) return holder || '(another replica, just now)';
    throw new Error(`updating lease: HTTP ${put.status}: ${JSON.stringify(put.body).slice(0, 200)}`);
  }

  #observe(lease: Lease, now: number): void {
    const key = `${lease.spec.holderIdentity ?? ''}|${lease.spec.renewTime ?? ''}`;
    if (this.#seen?.key !== key) this.#seen = { lease, key, at: now };
    else this.#seen.lease = lease;
  }
}
