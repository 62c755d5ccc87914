// join/: `outpost-agent join`, the rack-bootstrap flow.
//   stored state → (already joined? prove it and stop) → discover the hub with the pinned
//   CA → register (or resume a pending registration) → wait for approval with progress →
//   store the credentials → prove them with one mTLS heartbeat.
// A pending registration is stored (its id and the key of its CSR), so running the same
// command again after a timeout or a crash resumes waiting without using the token again.
import {
  agentCommonName,
  agentSubject,
  createCsr,
  durations,
  formatDuration,
  generateKeyPair,
  privateKeyToPem,
  type RegistrationView,
} from '@outpost/shared';
import type { Logger } from 'pino';
import type { JoinConfig } from '../config/index.ts';
import {
  type CredentialStore,
  type Credentials,
  certificateInfo,
  certificateMatchesKey,
  type PendingJoin,
  type StoredState,
} from '../credentials/index.ts';
import { AgentError } from '../errors.ts';
import { HubClient } from '../transport/client.ts';
import { discoverHub } from '../transport/discovery.ts';
import { HubError, isHubError } from '../transport/errors.ts';
import { createRegistration, getRegistration, sendHeartbeat } from '../transport/hub-api.ts';
import { type Clock, DeadlineError, retryTransient, systemClock } from '../transport/retry.ts';
import { agentVersion } from '../version.ts';

export interface JoinDeps {
  config: JoinConfig;
  store: CredentialStore;
  log: Logger;
  /** One human-readable progress line (stderr in the CLI). */
  progress: (line: string) => void;
  clock?: Clock;
  signal?: AbortSignal;
  /** How often a waiting join says so (default 10 s). */
  progressEveryMs?: number;
}

export interface JoinResult {
  outcome: 'joined' | 'already-joined';
  clusterName: string;
  hubUrl: string;
  serial: string;
  notAfter: Date;
  storedIn: string;
}

/** Time the final proof (one heartbeat) gets even when approval came at the last moment. */
const proofGraceMs = 30_000;

function approveHint(name: string): string {
  return `on the hub run \`outpost-hub cluster approve ${name}\``;
}

function sameTarget(cfg: JoinConfig, x: { hubUrl: string; clusterName: string }): boolean {
  return x.hubUrl === cfg.hubUrl && x.clusterName === cfg.clusterName;
}

function elsewhere(cfg: JoinConfig, where: string, x: { hubUrl: string; clusterName: string }, what: string) {
  return new AgentError(
    'AGENT_ALREADY_JOINED_ELSEWHERE',
    `${where} holds ${what} cluster ${x.clusterName} at hub ${x.hubUrl}, not cluster ${cfg.clusterName} at ${cfg.hubUrl}; ` +
      'add --overwrite to replace it (the agent then stops serving the other hub), or pick another --credentials-dir/--namespace',
    { details: { storedHub: x.hubUrl, storedCluster: x.clusterName } },
  );
}

export async function join(deps: JoinDeps): Promise<JoinResult> {
  const { config: cfg, store, log, progress, signal } = deps;
  const clock = deps.clock ?? systemClock;
  const started = clock.now();
  const deadline = started + cfg.timeoutMs;
  const name = cfg.clusterName;
  const elapsed = () => formatDuration(Math.max(0, clock.now() - started));
  const every = deps.progressEveryMs ?? 10_000;
  let lastRetrySaid = Number.NEGATIVE_INFINITY;
  const retrying = (what: string, until = deadline) => ({
    clock,
    deadline: until,
    signal,
    onRetry: (err: HubError, ms: number) => {
      log.debug({ err: { code: err.code, message: err.message }, retryInMs: Math.round(ms) }, `${what}: retrying`);
      // A hub that is down for minutes gets one line per ~10 s, not one per attempt.
      if (clock.now() - lastRetrySaid < every) return;
      lastRetrySaid = clock.now();
      progress(`${what} (${elapsed()}): ${err.message}; retrying`);
    },
  });
  const timedOut = (what: string, err: DeadlineError) =>
    new AgentError(
      'AGENT_JOIN_TIMEOUT',
      `gave up after ${formatDuration(cfg.timeoutMs)} ${what}: ${err.last.message}`,
      {
        cause: err.last,
        details: { last: err.last.code },
      },
    );

  // 1. What is stored already.
  let state: StoredState;
  try {
    state = await store.load();
  } catch (err) {
    if (!(err instanceof AgentError && err.code === 'AGENT_CREDENTIALS_INVALID' && (cfg.recover || cfg.overwrite))) {
      throw err;
    }
    progress(`replacing unusable stored credentials: ${err.message}`);
    state = {};
  }
  const existing = state.credentials;
  if (existing && !sameTarget(cfg, existing.hub) && !cfg.overwrite) {
    throw elsewhere(cfg, store.description, existing.hub, 'the credentials of');
  }
  if (state.pending && !sameTarget(cfg, state.pending) && !cfg.overwrite) {
    throw elsewhere(cfg, store.description, state.pending, 'a pending join of');
  }
  const pending = state.pending && sameTarget(cfg, state.pending) ? state.pending : undefined;
  // Working credentials stay in place until new ones replace them, whatever happens here.
  const keep: StoredState = existing ? { credentials: existing } : {};

  // 2. Already joined? Then the token is not used at all.
  if (existing && sameTarget(cfg, existing.hub) && !cfg.recover) {
    const problem = await checkCredentials(existing, clock, signal, retrying('checking the stored credentials')).catch(
      (err: unknown) => {
        if (err instanceof DeadlineError) throw timedOut('checking the stored credentials', err);
        throw err;
      },
    );
    const info = certificateInfo(existing.certPem);
    if (problem === undefined) {
      return {
        outcome: 'already-joined',
        clusterName: name,
        hubUrl: cfg.hubUrl,
        serial: info.serial,
        notAfter: info.notAfter,
        storedIn: store.description,
      };
    }
    progress(`the stored credentials of cluster ${name} no longer work (${problem}); joining again with the token`);
  }

  // 3. Discovery: pin the hub's CA.
  const discovered = await retryTransient(() => discoverHub(cfg.hubUrl, cfg.caCertHashes, { signal }), {
    ...retrying('hub discovery'),
  }).catch((err: unknown) => {
    if (err instanceof DeadlineError) throw timedOut(`reaching the hub at ${cfg.hubUrl}`, err);
    throw err;
  });
  log.info({ hub: cfg.hubUrl, pinned: discovered.matchedHashes }, 'hub CA matches the pin');

  const client = new HubClient(cfg.hubUrl, { ca: discovered.pinnedCaPem });
  try {
    // 4. Register, or resume the registration a previous run left pending.
    let registration: { id: string; keyPem: string } | undefined;
    let answer: { view: RegistrationView; retryAfterMs: number | undefined } | undefined;
    if (pending) {
      try {
        answer = await retryTransient(
          () => getRegistration(client, pending.registrationId, { signal }),
          retrying('resuming the pending registration'),
        );
        registration = { id: pending.registrationId, keyPem: pending.keyPem };
        progress(`resuming the pending registration of cluster ${name} (the token is not used again)`);
      } catch (err) {
        if (err instanceof DeadlineError) throw timedOut('resuming the pending registration', err);
        if (!(isHubError(err) && err.code === 'REGISTRATION_NOT_FOUND')) throw err;
        progress(`the hub no longer knows the pending registration of cluster ${name}; registering again`);
      }
    }
    if (!registration || !answer) {
      const keys = await generateKeyPair();
      const keyPem = await privateKeyToPem(keys.privateKey);
      const csr = await createCsr(keys, agentSubject(name));
      try {
        answer = await retryTransient(
          () =>
            createRegistration(
              client,
              {
                token: cfg.token,
                clusterName: name,
                csr,
                labels: { ...cfg.labels },
                claims: { ...cfg.claims },
                agentVersion,
              },
              { signal },
            ),
          retrying('registering'),
        );
      } catch (err) {
        if (err instanceof DeadlineError) throw timedOut('registering', err);
        if (isHubError(err)) {
          throw new HubError(err.code, `the hub refused to register cluster ${name}: ${err.message}`, {
            status: err.status,
            transient: false,
            details: err.details,
          });
        }
        throw err;
      }
      registration = { id: answer.view.id, keyPem };
      if (answer.view.state === 'Pending') {
        const record: PendingJoin = {
          hubUrl: cfg.hubUrl,
          clusterName: name,
          registrationId: registration.id,
          keyPem,
          createdAt: new Date(clock.now()).toISOString(),
        };
        await store.save({ ...keep, pending: record });
      }
      log.info({ cluster: name, state: answer.view.state }, 'registration created');
    }

    // 5. Wait for an admin, polling at the hub's pace, saying so every ~10 s.
    let lastSaid = Number.NEGATIVE_INFINITY;
    let view = answer.view;
    while (view.state === 'Pending') {
      const now = clock.now();
      if (now >= deadline) {
        throw new AgentError(
          'AGENT_JOIN_TIMEOUT',
          `timed out after ${formatDuration(cfg.timeoutMs)} waiting for approval of cluster ${name}. ` +
            `The registration stays pending on the hub: ${approveHint(name)}, then run this command again ` +
            '(it resumes waiting; the token is not used again)',
        );
      }
      if (now - lastSaid >= every) {
        progress(`waiting for approval of cluster ${name} (${elapsed()}): ${approveHint(name)}`);
        lastSaid = now;
      }
      const pollMs =
        answer.retryAfterMs ??
        (view.retryAfterSeconds !== undefined ? view.retryAfterSeconds * 1_000 : durations.registrationPollMs);
      await clock.sleep(Math.min(Math.max(pollMs, 250), deadline - now), signal);
      const id = registration.id;
      try {
        answer = await retryTransient(() => getRegistration(client, id, { signal }), retrying('waiting for approval'));
      } catch (err) {
        if (err instanceof DeadlineError) {
          throw timedOut(`waiting for approval of cluster ${name} (the hub became unreachable)`, err);
        }
        if (isHubError(err) && err.code === 'REGISTRATION_NOT_FOUND') {
          await store.save(keep);
          throw new HubError(
            err.code,
            `the hub dropped the registration of cluster ${name} (was the cluster removed?); run join again with a new token`,
            { status: err.status, transient: false },
          );
        }
        throw err;
      }
      view = answer.view;
    }

    if (view.state === 'Denied') {
      await store.save(keep);
      throw new AgentError(
        'AGENT_JOIN_DENIED',
        `the hub denied cluster ${name}${view.message ? `: ${view.message}` : ''}`,
      );
    }

    // 6. Approved: check what the hub issued, then store it.
    const certPem = view.certificate as string;
    const caBundlePem = view.caBundle as string;
    let info: ReturnType<typeof certificateInfo>;
    try {
      info = certificateInfo(certPem);
    } catch {
      throw new AgentError('AGENT_CERT_MISMATCH', 'the hub approved the registration but sent no readable certificate');
    }
    if (!certificateMatchesKey(certPem, registration.keyPem) || info.commonName !== agentCommonName(name)) {
      throw new AgentError(
        'AGENT_CERT_MISMATCH',
        `the certificate the hub issued is not for this key and cluster ${name} (subject CN ${info.commonName ?? 'none'})`,
      );
    }
    const credentials: Credentials = {
      keyPem: registration.keyPem,
      certPem,
      caBundlePem,
      hub: {
        hubUrl: cfg.hubUrl,
        clusterName: name,
        caCertHash: cfg.caCertHashes[0] as string,
        caCertHashes: [...cfg.caCertHashes],
        joinedAt: new Date(clock.now()).toISOString(),
        certReceivedAt: new Date(clock.now()).toISOString(),
      },
    };
    await store.save({ credentials });
    log.info({ cluster: name, serial: info.serial, notAfter: info.notAfter }, 'credentials stored');

    // 7. Prove them: exit 0 means the agent can authenticate.
    const problem = await checkCredentials(
      credentials,
      clock,
      signal,
      retrying('proving the new credentials', Math.max(deadline, clock.now() + proofGraceMs)),
      cfg.claims,
    ).catch((err: unknown) => {
      if (err instanceof DeadlineError) throw timedOut('proving the new credentials', err);
      throw err;
    });
    if (problem !== undefined) {
      throw new AgentError(
        'AGENT_CREDENTIALS_INVALID',
        `the hub issued a certificate for cluster ${name} but refuses it: ${problem}`,
      );
    }
    return {
      outcome: 'joined',
      clusterName: name,
      hubUrl: cfg.hubUrl,
      serial: info.serial,
      notAfter: info.notAfter,
      storedIn: store.description,
    };
  } finally {
    await client.close();
  }
}

/**
 * One mTLS heartbeat with stored credentials. Undefined when it worked, else why not (a
 * terminal refusal, an expired certificate, a hub no longer trusted). Transient failures
 * are retried until the deadline (then DeadlineError).
 */
async function checkCredentials(
  creds: Credentials,
  clock: Clock,
  signal: AbortSignal | undefined,
  retry: Parameters<typeof retryTransient>[1],
  claims?: Readonly<Record<string, string>>,
): Promise<string | undefined> {
  const info = certificateInfo(creds.certPem);
  if (info.notAfter.getTime() <= clock.now()) return `the certificate expired at ${info.notAfter.toISOString()}`;
  const client = new HubClient(creds.hub.hubUrl, {
    ca: creds.caBundlePem,
    identity: { keyPem: creds.keyPem, certPem: creds.certPem },
  });
  try {
    await retryTransient(
      () =>
        sendHeartbeat(
          client,
          creds.hub.clusterName,
          { agentVersion, ...(claims && Object.keys(claims).length ? { claims: { ...claims } } : {}) },
          { signal },
        ),
      retry,
    );
    return undefined;
  } catch (err) {
    if (isHubError(err) && !err.transient) return `${err.message} (${err.code})`;
    throw err;
  } finally {
    await client.close();
  }
}
