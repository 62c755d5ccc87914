// `outpost-hub serve`: PKI, store, trust service, HTTP app, listen, and a clean stop on
// SIGTERM/SIGINT.
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { durations, OutpostError } from '@outpost/shared';
import Fastify, { type FastifyInstance } from 'fastify';
import pino from 'pino';
import { createApiToken } from '../api/api-tokens.ts';
import { buildApp, sessionOptions, tlsServerOptions } from '../app.ts';
import { AuditLog } from '../audit/index.ts';
import { newApiToken, parseApiToken } from '../auth/tokens.ts';
import { redactUrl, type ServeConfig } from '../config/index.ts';
import { GitRepoController, secretBox } from '../gitrepos/index.ts';
import { metricsContentType } from '../metrics/index.ts';
import { BodyThread } from '../parse/index.ts';
import {
  databaseVault,
  ensureHubPki,
  finishCaRotation,
  type HubPki,
  type Kek,
  kekMismatch,
  newKekText,
  type PkiPlace,
  readKek,
  sealedBy,
  startCaRotation,
  writeAtomic,
} from '../pki/index.ts';
import { newTicketKeys, renewIfOld, saveTicketKeys, type TicketKeys, ticketKeys } from '../pki/tickets.ts';
import { TrustService } from '../registration/service.ts';
import { Leadership } from '../replicas/leader.ts';
import { Relay } from '../replicas/relay.ts';
import { PlacementService } from '../scheduling/index.ts';
import { ensurePrivateDataDir } from '../store/data-dir.ts';
import { openPostgresStore, openStore, type Store, type WorkRow } from '../store/index.ts';
import { DesiredNotifier } from '../sync/notifier.ts';
import { Presence } from '../sync/presence.ts';
import { SyncService } from '../sync/service.ts';
import { hubVersion } from '../version.ts';
import { TextSweeper } from '../work/texts.ts';
import { WorkTtlController } from '../work/ttl.ts';
import { ownerKey, WorkSetController } from '../worksets/index.ts';

export const serveHelp = `Usage: outpost-hub serve [flags]

Runs the hub: HTTPS API for people (/api/v1), agents (/agent/v1), /healthz and /readyz.
The first start creates the hub CA, the serving certificate and an admin API token
(admin.token, mode 0600) in --data-dir; later starts reuse them. State lives in an
embedded SQLite file in --data-dir, or in the PostgreSQL database --database names.

Flags (environment variable in brackets):
  --data-dir DIR        where the CA, keys and database live [OUTPOST_HUB_DATA_DIR]
                        (default ./.outpost-hub)
  --database URL        keep the hub's state in this PostgreSQL database instead of
                        the SQLite file in --data-dir: postgres://USER[:PASSWORD]@HOST
                        [:PORT]/DB[?sslmode=verify-full&sslrootcert=FILE …] (libpq's
                        URL parameters as node-postgres reads them); the schema is
                        created or migrated on start [OUTPOST_HUB_DATABASE]
                        (default: SQLite)
  --kek-file FILE       with --database: the key-encryption key (32 random bytes, base64
                        or hex) that seals the CA and serving keys kept in the database;
                        every hub on one database needs the same file (a Secret). The
                        first hub on a new database creates it when it is missing
                        [OUTPOST_HUB_KEK_FILE] (default DATA-DIR/pki.kek)
  --listen HOST:PORT    address to listen on [OUTPOST_HUB_LISTEN] (default 0.0.0.0:8443)
  --advertise-url URL   https URL agents use to reach the hub; its host goes into the
                        serving certificate and into printed join commands
                        [OUTPOST_HUB_ADVERTISE_URL]
  --san NAME            extra DNS name or IP for the serving certificate; repeatable or
                        comma-separated [OUTPOST_HUB_SANS]
  --cert-validity DUR   validity of agent certificates, 10s to 366d; agents renew when
                        20-30 % of it remains [OUTPOST_HUB_CERT_VALIDITY] (default 14d)
  --max-work-size SIZE  largest ManifestWork accepted, e.g. 16Mi, 64Mi
                        [OUTPOST_HUB_MAX_WORK_SIZE] (default 16Mi)
  --poll-timeout DUR    longest hold of an unchanged agent long-poll
                        [OUTPOST_HUB_POLL_TIMEOUT] (default 30s)
  --missed-polls N      polls a cluster may miss before it is Available=Unknown and
                        tainted unreachable [OUTPOST_HUB_MISSED_POLLS] (default 3)
  --disconnect-grace DUR
                        an agent whose waiting poll's connection dropped and that has
                        not polled again within this is Available=Unknown at once, without
                        waiting for missed polls; 0 turns this off
                        [OUTPOST_HUB_DISCONNECT_GRACE] (default 30s)
  --admin-token-file FILE
                        the first admin API token: on a database with no API token the
                        hub uses the token in FILE when it exists (oph_…, e.g. from a
                        Secret all replicas mount), else makes one and writes it there
                        (mode 0600) [OUTPOST_HUB_ADMIN_TOKEN_FILE]
                        (default DATA-DIR/admin.token)
  --audit-max-age DUR   audit rows older than this are deleted [OUTPOST_HUB_AUDIT_MAX_AGE]
                        (default 90d)
  --audit-max-rows N    at most this many audit rows are kept, the newest
                        [OUTPOST_HUB_AUDIT_MAX_ROWS] (default 1000000)
  --metrics-listen HOST:PORT
                        also serve /metrics over plain HTTP without a credential here,
                        for a scraper on a private network [OUTPOST_HUB_METRICS_LISTEN]
                        (default: off; /metrics on --listen needs an API token)
  --helm-path PATH      the helm that renders GitRepo paths holding a Chart.yaml
                        [OUTPOST_HUB_HELM_PATH] (default: helm, looked up on PATH)
  --kustomize-path PATH
                        the kustomize that renders GitRepo paths holding a kustomization
                        [OUTPOST_HUB_KUSTOMIZE_PATH] (default: kustomize, looked up on PATH)
  --git-file-root DIR   file:// GitRepos may name repositories under DIR only
                        [OUTPOST_HUB_GIT_FILE_ROOT] (default: file:// GitRepos are refused,
                        so that an API user cannot make the hub read any repository on its host)
  --log-level LEVEL     fatal|error|warn|info|debug|trace|silent [OUTPOST_LOG_LEVEL]
  -h, --help            show this help
`;

/** The store on the PostgreSQL database `url`; an error naming the database (without its
 *  password) when it cannot be reached, read or migrated. */
async function openDatabase(url: string, log: pino.Logger): Promise<Store> {
  try {
    return await openPostgresStore(url, {
      onError: (err) => log.warn({ err }, 'a database connection failed; the next statement makes another'),
    });
  } catch (err) {
    const e = err as { code?: unknown; message?: string };
    const code = typeof e.code === 'string' && e.code.startsWith('STORE_') ? e.code : 'HUB_DATABASE_UNAVAILABLE';
    throw new OutpostError(code, `the database ${redactUrl(url)} cannot be used: ${e.message ?? String(err)}`, 1);
  }
}

/**
 * The key-encryption key of the PKI in the database: the key file's, which must be the one
 * the database's keys are sealed under. The first hub on a new database makes the file.
 */
async function databaseKek(store: Store, file: string): Promise<Kek> {
  const sealed = await store.pki.anySealed();
  let kek = await readKek(file);
  if (!kek && sealed) {
    throw new OutpostError(
      'HUB_KEY_MISSING',
      `the database holds the hub PKI sealed under the key ${sealedBy(sealed)}, and the key file ${file} does not exist: ` +
        'give this hub the key file of the hubs already on this database (--kek-file)',
      1,
    );
  }
  if (!kek) {
    // A new database: this hub makes the key (and prints where it is).
    await writeAtomic(file, newKekText(), 0o600);
    kek = (await readKek(file)) as Kek;
  }
  if (sealed && sealedBy(sealed) !== kek.fingerprint) throw kekMismatch(kek, sealedBy(sealed));
  return kek;
}

/** The key GitRepo secrets are sealed under on a hub with SQLite: made on its first start. */
async function dataDirKek(file: string): Promise<Kek> {
  const kek = await readKek(file);
  if (kek) return kek;
  await writeAtomic(file, newKekText(), 0o600);
  return (await readKek(file)) as Kek;
}

/**
 * On a database with no API token at all, the first admin token: the one in `file` when it
 * exists (a Secret every replica mounts), else a new one written there. What to print: the
 * file and whether this hub made it; undefined when the database had tokens.
 */
async function ensureAdminToken(store: Store, file: string): Promise<{ file: string; made: boolean } | undefined> {
  // The file is read (or written) only when the database needs its first token.
  if ((await store.apiTokens.list()).length > 0) return undefined;
  let text: string | undefined;
  try {
    text = (await readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  let made = false;
  if (text === undefined) {
    // Written before the token is stored: a token nobody can read is never made (a
    // read-only place fails here, with nothing stored). `wx`: another hub's file wins.
    text = newApiToken().text;
    try {
      await writeFile(file, `${text}\n`, { mode: 0o600, flag: 'wx' });
      await chmod(file, 0o600);
      made = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      text = (await readFile(file, 'utf8')).trim();
    }
  }
  const given = newApiTokenFrom(text);
  if (!given) {
    throw new OutpostError(
      'HUB_CONFIG_INVALID',
      `the admin token file ${file} does not hold an API token (oph_ + 16 hex digits + _ + 43 base64url characters)`,
      1,
    );
  }
  // Checked and created in one transaction: two hubs starting on one database make one.
  const stored = await store.transaction(async () => {
    if ((await store.apiTokens.list()).length > 0) return false;
    await createApiToken(store, 'admin', 'admin', 'hub-first-start', undefined, given);
    return true;
  });
  if (!stored) {
    // Another hub stored its first token meanwhile: this one's file names nothing.
    if (made) await rm(file, { force: true });
    return undefined;
  }
  return { file, made };
}

/** An API token's parts from its text; null when it is not one. */
function newApiTokenFrom(text: string): { id: string; secret: string; text: string } | null {
  const t = parseApiToken(text);
  return t ? { ...t, text } : null;
}

export async function serve(config: ServeConfig): Promise<void> {
  const log = pino({
    level: config.logLevel,
    base: { component: 'hub' },
    redact: [
      'req.headers.authorization',
      '*.token',
      '*.secret',
      '*.privateKey',
      '*.csr',
      // GitRepo credentials and webhook headers (nothing logs them; a slip would be hidden).
      '*.password',
      '*.sshPrivateKey',
      'req.headers["x-gitlab-token"]',
    ],
  });
  ensurePrivateDataDir(config.dataDir);
  const pkiOpts = { advertiseUrl: config.advertiseUrl, sans: config.sans };
  const store = config.database
    ? await openDatabase(config.database, log)
    : openStore(join(config.dataDir, 'outpost.db'));
  // What started before serving is stopped when the start fails: an open database connection
  // (PostgreSQL's listener) would otherwise keep the process from exiting.
  let stopListening: () => Promise<void> = async () => {};
  try {
    // Replicas on one database share its PKI, sealed under the key file; one hub on SQLite
    // keeps it in its data dir.
    const kek = config.kekFile ? await databaseKek(store, config.kekFile) : undefined;
    // GitRepo secrets are sealed under the same key on a database; one hub on SQLite keeps a
    // key of its own in its data dir (a copy of the database alone does not open them).
    const secrets = secretBox(kek ?? (await dataDirKek(join(config.dataDir, 'secrets.kek'))));
    const pkiPlace: PkiPlace = {
      dataDir: config.dataDir,
      ...(kek ? { vault: databaseVault(store, kek, 'the database') } : {}),
    };
    let pki: HubPki = await ensureHubPki(pkiPlace, pkiOpts);
    /** PKI loads and changes, one at a time. */
    let pkiQueue: Promise<unknown> = Promise.resolve();
    const pkiTurn = <T>(fn: () => Promise<T>): Promise<T> => {
      const run = pkiQueue.then(fn, fn);
      pkiQueue = run.catch(() => undefined);
      return run;
    };
    const adminToken = await ensureAdminToken(store, config.adminTokenFile);
    const leader = new Leadership(store, log);
    const relay = new Relay(store, log);

    // Filled in once the app exists; rotation swaps the TLS context of the live server.
    let applyTls = async () => {};
    /** The CAs the listener trusts, as the ticket key names them. */
    const casOf = (p: HubPki) => [p.signing.hash, p.previous?.hash ?? ''].join(',');
    let tickets = await ticketKeys(config.dataDir, casOf(pki));
    const presence = new Presence(store);
    const trust = new TrustService({
      store,
      log,
      pki: () => pki,
      rotateCa: () =>
        pkiTurn(async () => {
          pki = await startCaRotation(pkiPlace, pkiOpts);
          await applyTls();
          relay.pkiChanged();
          return pki;
        }),
      retireCa: (id) =>
        pkiTurn(async () => {
          const out = await finishCaRotation(pkiPlace, pkiOpts, id);
          pki = out.pki;
          await applyTls();
          if (out.retired) relay.pkiChanged();
          return out.retired;
        }),
      certValidityMs: config.certValidityMs,
      seen: (cluster, at) => presence.seen(cluster, at),
    });
    const notifier = new DesiredNotifier();
    const sync = new SyncService({
      store,
      log,
      notifier,
      presence,
      maxWaitMs: config.pollTimeoutMs,
      missedPolls: config.missedPolls,
      disconnectGraceMs: config.disconnectGraceMs,
      // Never rejects: a removal that could not finish now finishes with the next purge.
      onWorksPurged: (cluster) =>
        trust.finishRemovalIfDrained(cluster).then(
          () => undefined,
          (err: unknown) => log.error({ err, cluster }, 'finishing the removal of a drained cluster failed'),
        ),
      onWorkStatus: (cluster, works) => {
        worksets.workStatusChanged(cluster, works);
        // Never rejects (it logs what it could not read).
        void ttl.workStatusChanged(cluster, works);
      },
      // The leader may be another replica: told with the status's own transaction.
      ...(store.shared
        ? {
            tellStatus: async (cluster: string, works: readonly WorkRow[]) => {
              if (leader.leading) return;
              await relay.workStatus(
                cluster,
                works.map((w) => ownerKey(w.labels)).filter((k): k is string => k !== undefined),
                works.map((w) => w.name),
              );
            },
          }
        : {}),
    });
    // Hubs sharing a PostgreSQL database wake each other's polls (nothing to do on SQLite).
    const stopWakes = sync.listen();
    // Placement decisions follow cluster changes (store hook), polls of unreachable clusters
    // (presence) and lease lapses (its own timer). The leader's first pass runs before serving.
    const active = () => leader.leading;
    const placements = new PlacementService({ store, log, liveness: () => sync.liveness, active });
    presence.onSeen((cluster) => placements.clusterSeen(cluster));
    // Worksets follow decisions, status reports of their works, cluster changes and their own
    // timer (see worksets/). Started after the placements, so it reads current decisions.
    // Large templates are rendered on a thread of their own (never the admin API's).
    const renders = new BodyThread();
    const worksets: WorkSetController = new WorkSetController({
      store,
      log,
      render: (name, spec, targets) => renders.render(name, spec, targets),
      liveness: () => sync.liveness,
      notify: (cluster) => sync.changed(cluster),
      scheduledUnreachable: () => placements.scheduledUnreachable(),
      active,
    });
    placements.onDecisionsChanged((namespace, name) => worksets.placementChanged(namespace, name));
    // A returning cluster is deleted from only after the placements were scheduled with it back.
    placements.onReachable((cluster) => worksets.clusterSeen(cluster));
    presence.onSeen((cluster) => worksets.clusterSeen(cluster));
    // A dropped poll connection (cluster change `dropped`, from any replica) may end a
    // cluster's lease sooner: both re-arm their timers (store hooks).
    const audit = new AuditLog(store, { maxAgeMs: config.auditMaxAgeMs, maxRows: config.auditMaxRows }, log);
    audit.start(active);
    const sweeper = new TextSweeper(store, { onError: (err) => log.error({ err }, 'sweeping unused texts failed') });
    sweeper.start(active);
    // deleteOption.ttlSecondsAfterFinished: finished works deleted on time, also after a restart.
    const ttl = new WorkTtlController({ store, log, notify: (cluster) => sync.changed(cluster), active });
    // GitRepos: polled and rendered by the leader into worksets (gitrepos/), with a body
    // thread of their own for the files they read; the cache under the data dir (also on
    // PostgreSQL, where each replica that leads fetches into its own).
    const gitBodies = new BodyThread();
    const gitrepos = new GitRepoController({
      store,
      log: log.child({ controller: 'gitrepos' }),
      bodies: gitBodies,
      cacheDir: join(config.dataDir, 'gitrepos'),
      gitSearchPath: config.gitSearchPath,
      helmPath: config.helmPath,
      kustomizePath: config.kustomizePath,
      fileRoot: config.gitFileRoot,
      maxWorkBytes: config.maxWorkBytes,
      onWorkSetChanged: (namespace, name) => {
        worksets.changed(namespace, name);
        relay.workSetChanged(namespace, name);
      },
      active,
      secrets,
    });
    // The duties start over whenever this hub becomes leader (at once on SQLite): a full pass
    // of the scheduler, then of the worksets (they read its decisions), then the TTLs; each
    // one that fails runs again while this hub leads (leader.ts).
    const startDuties = [
      () => placements.start(),
      () => worksets.start(),
      () => ttl.start(),
      () => gitrepos.start(),
      async () => {
        void audit.prune().catch(() => {});
        void sweeper.sweep().catch(() => {});
      },
    ];
    for (const start of startDuties) leader.onGained(start);
    /** The leader's look at everything (a backstop for texts lost between replicas). */
    const resync = () =>
      worksets.resync().then(
        () => placements.setsChanged(),
        (err: unknown) => log.warn({ err }, 'queueing every workset failed; the next minute tries again'),
      );
    /** Reloads the PKI another replica changed, and the TLS context with it (pkiTurn: one
     *  load or change at a time, so an older read never replaces a newer one). */
    const reloadPki = () =>
      pkiTurn(async () => {
        const now = await ensureHubPki(pkiPlace, pkiOpts);
        if (now.caBundlePem === pki.caBundlePem && now.servingCertPem === pki.servingCertPem) return;
        pki = now;
        await applyTls();
      });
    const reloadPkiLogged = () =>
      void reloadPki().catch((err: unknown) => log.error({ err }, 'reloading the hub PKI another hub changed failed'));
    const stopRelay = relay.listen({
      placements,
      workSetChanged: (namespace, name) => worksets.changed(namespace, name),
      gitRepoChanged: (namespace, name) => gitrepos.changed(namespace, name),
      workStatus: (cluster, owners, works) => {
        for (const [namespace, name] of owners) worksets.changed(namespace, name);
        void ttl.workStatusChanged(
          cluster,
          works.map((name) => ({ name })),
        );
      },
      pkiChanged: reloadPkiLogged,
      leaseReleased: () => leader.poke(),
      reset: () => {
        reloadPkiLogged();
        if (leader.leading) void resync();
      },
    });
    stopListening = async () => {
      await stopWakes();
      await stopRelay();
    };
    await leader.start();
    const app = await buildApp({
      log,
      audit,
      store,
      trust,
      sync,
      placements: relay.placements(placements),
      leading: () => leader.leading,
      onWorkSetChanged: (namespace, name) => {
        worksets.changed(namespace, name);
        relay.workSetChanged(namespace, name);
      },
      // Another replica may lead: it is told (a webhook changes no generation, so its status
      // refresh would not see it); the controller also looks at every GitRepo when it starts leading.
      onGitRepoChanged: (namespace, name) => {
        gitrepos.changed(namespace, name);
        relay.gitRepoChanged(namespace, name);
      },
      secrets,
      gitFileRoot: config.gitFileRoot,
      version: hubVersion,
      advertiseUrl: config.advertiseUrl,
      maxWorkBytes: config.maxWorkBytes,
      tls: { key: pki.servingKeyPem, cert: pki.servingCertPem, ca: pki.caBundlePem, ticketKeys: tickets.keys },
    });
    const tlsServer = app.server as unknown as { setSecureContext(o: object): void; setTicketKeys(keys: Buffer): void };
    applyTls = async () => {
      // A new ticket key as well: no session from before the CAs changed resumes after it. The
      // listener takes it first; storing it may fail (the next start then makes another, as
      // the stored one names other CAs).
      tickets = newTicketKeys(casOf(pki));
      tlsServer.setSecureContext({
        key: pki.servingKeyPem,
        cert: pki.servingCertPem,
        ca: pki.caBundlePem,
        ...sessionOptions(tickets.keys),
        ...tlsServerOptions,
      });
      log.info({ signing: pki.signing.hash, previous: pki.previous?.hash }, 'TLS context reloaded');
      await saveTicketKeys(config.dataDir, tickets).catch((err: unknown) =>
        log.error({ err }, 'storing the new TLS session-ticket key failed; sessions will not resume after a restart'),
      );
    };
    // The ticket key is replaced when it reaches its lifetime (checked hourly).
    const ticketTimer = setInterval(() => {
      const use = (t: TicketKeys) => {
        tickets = t;
        tlsServer.setTicketKeys(t.keys);
        log.info('TLS session-ticket key replaced');
      };
      renewIfOld({ dataDir: config.dataDir, current: tickets, cas: casOf(pki), use }).catch((err: unknown) =>
        log.error({ err }, 'replacing the TLS session-ticket key failed'),
      );
    }, 3_600_000);
    ticketTimer.unref();
    // Finish a rotation that completed while the hub was down.
    await trust.maybeFinishRotation();
    // Replicas: a PKI change, placement or workset text lost on the way (the NOTIFY after an
    // admin call's commit failed, a listener away) is found within a minute: every replica
    // reloads the PKI, and the leader schedules every placement and reconciles every workset.
    const pkiTimer = store.shared
      ? setInterval(() => {
          reloadPkiLogged();
          if (leader.leading) void resync();
        }, 60_000)
      : undefined;
    pkiTimer?.unref();

    let metricsApp: FastifyInstance | undefined;
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping');
      const timer = setTimeout(() => {
        log.warn('in-flight requests did not finish in time; exiting');
        process.exit(1);
      }, durations.shutdownGraceMs);
      timer.unref();
      clearInterval(ticketTimer);
      clearInterval(pkiTimer);
      // Long-polls would hold the close for up to a poll timeout: release them first.
      notifier.close();
      // Another replica takes the duties at once (it is told).
      const led = leader.leading;
      await leader.stop();
      if (led && store.shared) await relay.leaseReleased().catch(() => {});
      await stopListening();
      await metricsApp?.close();
      await app.close();
      // Everything that writes to the store stops (and finishes what it was writing) before the
      // store closes; presence last, as it writes the sightings that were still in memory.
      await audit.close();
      await sweeper.stop();
      ttl.stop();
      await gitrepos.close();
      await gitBodies.close();
      await worksets.close();
      await renders.close();
      await placements.close();
      await presence.close();
      await store.close();
      process.exit(0);
    };
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));

    // A fleet reconnecting after a restart arrives within seconds: connections wait in a queue
    // this deep (the kernel caps it at net.core.somaxconn) instead of being dropped and retried
    // by TCP one to several seconds later (Node's default is 511).
    await app.listen({ host: config.listen.host, port: config.listen.port, backlog: 4096 });
    let metricsLine: string[] = [];
    if (config.metricsListen) {
      const m = Fastify({
        loggerInstance: log.child({ listener: 'metrics' }),
        return503OnClosing: true,
      }) as unknown as FastifyInstance;
      metricsApp = m;
      m.get('/metrics', async (_req, reply) => reply.type(metricsContentType).send(await app.metricsBody()));
      await m.listen({ host: config.metricsListen.host, port: config.metricsListen.port });
      const maddr = m.server.address();
      const mport = typeof maddr === 'object' && maddr ? maddr.port : config.metricsListen.port;
      metricsLine = [`  metrics:       http://${config.metricsListen.host}:${mport}/metrics (no credential)`];
    }
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : config.listen.port;
    const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
    log.info({ port, epoch: store.epoch, caHash: pki.caHash, createdCa: pki.created }, 'hub serving');
    process.stderr.write(
      [
        `outpost-hub ${hubVersion} serving https://${host}:${port}`,
        `  data dir:      ${config.dataDir}${pki.created ? ' (new CA created)' : ''}`,
        `  database:      ${config.database ? redactUrl(config.database) : join(config.dataDir, 'outpost.db')} (schema ${store.schemaVersion})`,
        `  CA cert hash:  ${pki.caHash}`,
        ...metricsLine,
        ...(adminToken
          ? [
              `  admin token:   ${adminToken.file} (${adminToken.made ? 'new' : 'the first admin token'}; keep it secret)`,
            ]
          : []),
        `  health:        curl --cacert ${join(config.dataDir, 'ca.crt')} https://127.0.0.1:${port}/readyz`,
        '',
      ].join('\n'),
    );
  } catch (err) {
    await stopListening().catch(() => {});
    await store.close().catch(() => {});
    throw err;
  }
}
