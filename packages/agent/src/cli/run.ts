// `outpost-agent run`: loads the credentials, says which hub and cluster it serves, and runs
// the agent loop until SIGTERM/SIGINT.

import type { Logger } from 'pino';
import { defaultApplierOptions, KubeApplier, KubeConfigRest } from '../apply/index.ts';
import type { RunConfig } from '../config/index.ts';
import { certificateInfo } from '../credentials/index.ts';
import { DriftWatcher, recordWrites, StatusRefresher } from '../drift/index.ts';
import { AgentError } from '../errors.ts';
import { keepClaims } from '../kube/claims-watch.ts';
import type { KubeConnection } from '../kube/config.ts';
import { SecretsClient } from '../kube/secrets.ts';
import { LeaderElector, leaseDefaults } from '../leader/index.ts';
import { AgentObserver, startListener } from '../observe/index.ts';
import { createAgentRuntime, hubSilenceMs } from '../run/index.ts';
import { openStateStore } from '../state/index.ts';
import { type HeartbeatCarrier, WorkSyncer } from '../sync/syncer.ts';
import type { HubClient } from '../transport/client.ts';
import { agentVersion } from '../version.ts';
import { kubeConnection, openCredentialStore } from './stores.ts';

export const runHelp = `Usage: outpost-agent run [flags]

Runs the agent with the credentials \`outpost-agent join\` stored. With a cluster (the
Secret store: --kubeconfig or in a pod) it delivers work: it long-polls the hub for its
ManifestWorks, applies them with server-side apply, watches what it applied and re-applies
a work within about a second when one of its objects is deleted or edited by hand (the
corrections are counted in the work's status), keeps enforcing the last desired state
while the hub is away (also after a restart: the state is kept in Secrets of the agent's
namespace), buffers status in a durable outbox, and deletes only what the hub explicitly
deleted; each long-poll carries the heartbeat, so the agent holds one connection to
the hub. Without work delivery (or while no poll was answered for two heartbeat
intervals) it heartbeats on its own (every 30 s, ±20 %). Either way it renews its certificate
with a new key when a random 20-30 % of its life remains (or when the hub asks), follows
changes of the hub's CA bundle, and switches to new credentials without a restart. When
the hub is away it retries with jittered backoff and honours Retry-After. SIGTERM or
SIGINT stop it (exit 0). When the hub's own records revoked this cluster's certificate
(the cluster was denied, removed, or re-joined elsewhere with join --recover) it stops
with AGENT_REVOKED (exit 1), leaving what it applied as it is; a hub that has no record
of the certificate (a replaced database) is not taken for that: it keeps enforcing.

Flags (environment variable in brackets):
  --kubeconfig F              credentials in the Secret outpost-agent-credentials of this
                              cluster [OUTPOST_AGENT_KUBECONFIG]
  --namespace NS              the Secret's namespace [OUTPOST_AGENT_NAMESPACE]
                              (default outpost-agent)
  --credentials-dir DIR       credentials in files [OUTPOST_AGENT_CREDENTIALS_DIR]
                              (neither: the Secret inside a pod, else ./.outpost-agent)
  --heartbeat-interval DUR    time between heartbeats (and between checks of the
                              answers the polls carried), e.g. 30s
                              [OUTPOST_AGENT_HEARTBEAT_INTERVAL] (default 30s)
  --revoked-grace DUR         how long the hub's records must keep saying this cluster's
                              certificate is revoked (denied, removed, recovered) before the
                              agent stops with AGENT_REVOKED; a join --recover storing new
                              credentials meanwhile is picked up instead
                              [OUTPOST_AGENT_REVOKED_GRACE] (default 30s)
  --poll-wait DUR             how long the hub may hold an unchanged long-poll
                              [OUTPOST_AGENT_POLL_WAIT] (default 30s)
  --resync-interval DUR       full re-apply, the safety net for drift, jittered ±20 %
                              [OUTPOST_AGENT_RESYNC_INTERVAL] (default 5m)
  --max-delete-share N        a sync that would delete more than this share of the
                              applied objects holds its deletions for an admin
                              [OUTPOST_AGENT_MAX_DELETE_SHARE] (default 0.5)
  --leader-elect true|false   with a cluster, replicas compete for the Lease
                              outpost-agent in --namespace; only the holder runs, the
                              others stand by and take over when it lapses
                              [OUTPOST_AGENT_LEADER_ELECT] (default true with a cluster)
  --heartbeat-only            run without work delivery: heartbeats, renewals and CA
                              bundle changes only; the hub shows the cluster as
                              HeartbeatOnly (WorkDelivery=False). Required with
                              --credentials-dir (no cluster to apply to); with a cluster
                              it turns work delivery off [OUTPOST_AGENT_HEARTBEAT_ONLY]
  --lease-duration DUR        how long a silent leader keeps the Lease; it renews every
                              2/15 of it and stops leading after 2/3 without renewal
                              [OUTPOST_AGENT_LEASE_DURATION] (default 15s)
  --listen HOST:PORT|off      local plain-HTTP listener: /healthz (the process answers),
                              /readyz (200 leading with the hub reachable and the state
                              read, or standing by; else 503 with the reason), /metrics
                              (Prometheus text) and /status (JSON, read by outpost-agent
                              status). It says which cluster and hub the agent serves and
                              how it is doing, nothing secret; :PORT is every address (the
                              chart's, for probes and scrapes). The default address taken
                              by another process costs only the listener (a warning); an
                              address given here that cannot be bound stops the agent
                              (AGENT_LISTEN_FAILED) [OUTPOST_AGENT_LISTEN]
                              (default 127.0.0.1:9469)
  --log-level LEVEL           JSON logs on stdout: fatal|error|warn|info|debug|trace|silent
                              [OUTPOST_LOG_LEVEL] (default info)
  -h, --help                  show this help
`;

export async function runCommand(
  config: RunConfig,
  log: Logger,
  io: { stderr: (s: string) => void },
  signal: AbortSignal,
): Promise<number> {
  // The listener answers from the start, also while a replica stands by for the Lease.
  const observer = new AgentObserver({
    recentMs: hubSilenceMs(config.heartbeatIntervalMs, config.pollWaitSeconds * 1000),
    role: config.leaderElection && config.credentials.kind === 'secret' ? 'standby' : 'off',
  });
  let listener: Awaited<ReturnType<typeof startListener>> | undefined;
  if (config.listen) {
    const { host, port, explicit } = config.listen;
    const onError = (err: unknown) => log.warn({ err: (err as Error).message }, 'the local listener failed a request');
    try {
      listener = await startListener(observer, config.listen, onError);
      io.stderr(`outpost-agent: listening on ${listener.url} (/healthz, /readyz, /metrics, /status)\n`);
    } catch (err) {
      const message = `cannot listen on ${host || '*'}:${port} (--listen; off turns the listener off): ${(err as Error).message}`;
      // An address asked for must work; the default one taken (another agent or exporter on
      // this host) costs only the listener, never the enforcing.
      if (explicit) throw new AgentError('AGENT_LISTEN_FAILED', message);
      log.warn({ code: 'AGENT_LISTEN_FAILED' }, `${message}; running without the local listener`);
    }
  }
  try {
    return await runAgent(config, log, io, signal, observer);
  } finally {
    await listener?.close();
  }
}

async function runAgent(
  config: RunConfig,
  log: Logger,
  io: { stderr: (s: string) => void },
  signal: AbortSignal,
  observer: AgentObserver,
): Promise<number> {
  // With a cluster, one kept-alive pool serves the credential store, the state store and
  // the applier; watches get their own (they hold a connection each for minutes).
  const target = config.credentials;
  const conn = target.kind === 'secret' ? kubeConnection(target) : undefined;
  const rest = conn ? new KubeConfigRest(conn, { connections: defaultApplierOptions.concurrency + 2 }) : undefined;
  const { store } = openCredentialStore(target, rest);

  // With leader election, a standby waits here and holds nothing: no heartbeats, no
  // renewals, no applies. The Lease has its own small connection pool with short timeouts,
  // so a renewal never queues behind applies.
  let leading = signal;
  let lease: { stop: AbortController; held: Promise<'released' | 'lost'>; close: () => Promise<void> } | undefined;
  if (config.leaderElection && conn && target.kind === 'secret') {
    const ms = config.leaderElection.leaseDurationMs;
    const renewDeadlineMs = Math.round((ms * 2) / 3);
    const leaseRest = new KubeConfigRest(conn, { connections: 2, timeoutMs: renewDeadlineMs });
    const elector = new LeaderElector(leaseRest, {
      namespace: target.namespace,
      identity: config.leaderElection.identity,
      leaseDurationMs: ms,
      renewDeadlineMs,
      retryPeriodMs: Math.max(500, Math.round(ms / 7.5)),
      log: log.child({ component: 'leader' }),
    });
    io.stderr(`outpost-agent: ${elector.identity} competing for lease ${target.namespace}/${leaseDefaults.name}\n`);
    try {
      await elector.acquire(signal, (holder) =>
        io.stderr(`outpost-agent: standing by; ${holder} leads (takeover when its lease lapses)\n`),
      );
    } catch (err) {
      await Promise.all([leaseRest.close(), rest?.close()]);
      if (signal.aborted) return 0; // stopped while standing by
      throw err;
    }
    io.stderr(`outpost-agent: ${elector.identity} leads\n`);
    observer.role = 'leading';
    const lead = new AbortController();
    signal.addEventListener('abort', () => lead.abort(signal.reason), { once: true });
    const stop = new AbortController();
    const held = elector.hold(stop.signal).then((outcome) => {
      if (outcome === 'lost') {
        // Another replica may take over from now on: stop every write at once, as client-go
        // advises. Nothing is lost: the durable state commits atomically and applies are
        // idempotent, so the next leader carries on.
        log.fatal('lost the leader lease: exiting at once so no two replicas apply');
        process.exit(1);
      }
      return outcome;
    });
    lease = { stop, held, close: () => leaseRest.close() };
    leading = lead.signal;
  }

  let work: { done: Promise<void>; close: () => Promise<void> } | undefined;
  let claimsWatch: { stop: AbortController; rest: KubeConfigRest; done?: Promise<void> } | undefined;
  // A revoked agent (AGENT_REVOKED from the runtime) stops its work delivery too.
  const revoked = new AbortController();
  try {
    const delivering = !config.heartbeatOnly && target.kind === 'secret' && conn !== undefined && rest !== undefined;
    // With a cluster, its claims (kube/claims.ts): read now, every 5 minutes, and whenever
    // a ClusterClaim changes (kube/claims-watch.ts). The watch gets a connection of its own.
    let claims: Record<string, string> | undefined;
    if (rest && conn) {
      claimsWatch = { stop: new AbortController(), rest: new KubeConfigRest(conn, { connections: 1 }) };
      claimsWatch.done = keepClaims(
        {
          rest,
          watchRest: claimsWatch.rest,
          log: log.child({ component: 'claims' }),
          publish: (c) => {
            claims = c;
          },
        },
        AbortSignal.any([leading, claimsWatch.stop.signal]),
      ).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'claims stopped'));
    }
    const runtime = await createAgentRuntime({
      store,
      log,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      pollWaitMs: config.pollWaitSeconds * 1000,
      signal: leading,
      workDelivery: delivering,
      reportedClaims: () => claims,
      revokedGraceMs: config.revokedGraceMs,
      // Work delivery stops first: its held long-poll would otherwise hold the client's close.
      onRevoked: () => revoked.abort(),
      onEvent: (e) => {
        if (e.type === 'heartbeat') observer.hubAnswered('heartbeat');
        else if (e.type === 'error') observer.hubFailed('heartbeat', e.code, e.message);
      },
    });
    observer.use({
      identity: () => ({
        cluster: runtime.credentials.hub.clusterName,
        hubUrl: runtime.credentials.hub.hubUrl,
        serial: certificateInfo(runtime.credentials.certPem).serial,
      }),
      certificate: () => ({
        notAfter: certificateInfo(runtime.credentials.certPem).notAfter,
        renewAt: runtime.renewAt,
      }),
    });
    const creds = runtime.credentials;
    const info = certificateInfo(creds.certPem);
    io.stderr(
      [
        `outpost-agent ${agentVersion} serving cluster ${creds.hub.clusterName} for hub ${creds.hub.hubUrl}`,
        `  credentials:   ${store.description}`,
        `  certificate:   serial ${info.serial}, expires ${info.notAfter.toISOString()}, renews after ${runtime.renewAt.toISOString()}`,
        '',
      ].join('\n'),
    );
    work =
      delivering && target.kind === 'secret' && conn && rest
        ? startWorkDelivery(
            config,
            { conn, rest, namespace: target.namespace },
            creds.hub.clusterName,
            runtime,
            log,
            AbortSignal.any([leading, revoked.signal]),
            observer,
          )
        : undefined;
    if (!work) {
      log.info(
        { heartbeatOnly: true },
        target.kind === 'secret'
          ? '--heartbeat-only: work delivery is off; the hub shows this cluster as HeartbeatOnly'
          : 'no cluster (credentials in files, --heartbeat-only): work delivery is off; the hub shows this cluster as HeartbeatOnly',
      );
    }
    const memory = reportMemory(log, leading);
    await Promise.all([runtime.run(), work?.done]);
    clearInterval(memory);
  } finally {
    // After a revocation: the sync loop ends on the abort; wait for it before closing.
    if (revoked.signal.aborted) await work?.done.catch(() => undefined);
    await work?.close();
    claimsWatch?.stop.abort();
    // Its last read may still use the main connection: wait for it before that closes.
    await claimsWatch?.done;
    await claimsWatch?.rest.close();
    // Only now, with every apply finished (or on a failure), may the next replica lead.
    if (lease) {
      lease.stop.abort();
      await lease.held;
      await lease.close();
    }
    await rest?.close();
  }
  return 0;
}

/** The applier, the durable state in the cluster and the sync loop, for a Secret-store agent. */
function startWorkDelivery(
  config: RunConfig,
  kube: { conn: KubeConnection; rest: KubeConfigRest; namespace: string },
  cluster: string,
  runtime: { client: HubClient } & HeartbeatCarrier,
  log: Logger,
  signal: AbortSignal,
  observer: AgentObserver,
): { done: Promise<void>; close: () => Promise<void> } {
  // The watches, one stream each on one HTTP/2 connection (HTTP/1.1 where h2 is not offered).
  const watchRest = new KubeConfigRest(kube.conn, { connections: 1024, http2: true });
  const status = new StatusRefresher();
  const drift = new DriftWatcher({ rest: watchRest, log: log.child({ component: 'drift' }), status });
  const applier = new KubeApplier({ rest: recordWrites(kube.rest, drift), log: log.child({ component: 'apply' }) });
  const close = () => watchRest.close();
  const state = openStateStore(
    { kind: 'secret', api: new SecretsClient(kube.rest), namespace: kube.namespace },
    { log: log.child({ component: 'state' }) },
  );
  const syncer = new WorkSyncer({
    client: () => runtime.client,
    heartbeat: runtime,
    cluster,
    state,
    applier,
    log: log.child({ component: 'sync' }),
    drift,
    status,
    observer,
    options: {
      pollWaitSeconds: config.pollWaitSeconds,
      driftIntervalMs: config.resyncIntervalMs,
      massDeleteShare: config.maxDeleteShare,
    },
  });
  observer.delivering();
  observer.use({
    outboxDepth: () => state.outbox.depth(),
    heldDeletions: () => {
      try {
        return syncer.snapshot.heldDeletions.reduce((n, h) => n + h.objects.length, 0);
      } catch {
        return 0; // not loaded yet
      }
    },
  });
  const done = syncer.run(signal).catch((err: unknown) => {
    log.fatal({ err }, 'work delivery stopped');
    throw err;
  });
  return { done, close };
}

/**
 * At debug level, where the agent's memory is every 5 s (V8's heap, and memory outside it
 * such as Buffers), beside the resident total: the memory benchmarks read it, and it says
 * whether growth is the heap or not. Nothing at other levels.
 */
function reportMemory(log: Logger, signal: AbortSignal): NodeJS.Timeout | undefined {
  if (!log.isLevelEnabled('debug')) return undefined;
  const mib = (n: number) => Math.round((n / 2 ** 20) * 10) / 10;
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    log.debug(
      {
        rssMiB: mib(m.rss),
        heapUsedMiB: mib(m.heapUsed),
        heapTotalMiB: mib(m.heapTotal),
        externalMiB: mib(m.external),
        arrayBuffersMiB: mib(m.arrayBuffers),
      },
      'memory',
    );
  }, 5_000);
  timer.unref();
  signal.addEventListener('abort', () => clearInterval(timer), { once: true });
  return timer;
}
