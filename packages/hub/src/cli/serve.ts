// `outpost-hub serve`: PKI, store, HTTP app, listen, and a clean stop on SIGTERM/SIGINT.
import { join } from 'node:path';
import { durations } from '@outpost/shared';
import pino from 'pino';
import { buildApp } from '../app.ts';
import type { ServeConfig } from '../config/index.ts';
import { ensureHubPki } from '../pki/index.ts';
import { openStore } from '../store/index.ts';
import { hubVersion } from '../version.ts';

export const serveHelp = `Usage: outpost-hub serve [flags]

Runs the hub: HTTPS API for people (/api/v1), agents (/agent/v1), /metrics, /healthz
and /readyz. The first start creates the hub CA and serving certificate in --data-dir;
later starts reuse them. State lives in an embedded SQLite file in --data-dir.

Flags (environment variable in brackets):
  --data-dir DIR        where the CA, keys and database live [OUTPOST_HUB_DATA_DIR]
                        (default ./.outpost-hub)
  --listen HOST:PORT    address to listen on [OUTPOST_HUB_LISTEN] (default 0.0.0.0:8443)
  --advertise-url URL   https URL agents use to reach the hub; its host goes into the
                        serving certificate [OUTPOST_HUB_ADVERTISE_URL]
  --san NAME            extra DNS name or IP for the serving certificate; repeatable or
                        comma-separated [OUTPOST_HUB_SANS]
  --log-level LEVEL     fatal|error|warn|info|debug|trace|silent [OUTPOST_LOG_LEVEL]
  -h, --help            show this help
`;

export async function serve(config: ServeConfig): Promise<void> {
  const log = pino({
    level: config.logLevel,
    base: { component: 'hub' },
    redact: ['req.headers.authorization', '*.token', '*.secret', '*.privateKey', '*.csr'],
  });
  const pki = await ensureHubPki(config.dataDir, { advertiseUrl: config.advertiseUrl, sans: config.sans });
  const store = openStore(join(config.dataDir, 'outpost.db'));
  const app = await buildApp({
    log,
    store,
    version: hubVersion,
    tls: { key: pki.servingKeyPem, cert: `${pki.servingCertPem}${pki.caCertPem}` },
  });

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
    await app.close();
    store.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));

  await app.listen({ host: config.listen.host, port: config.listen.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.listen.port;
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
  log.info({ port, epoch: store.epoch, caHash: pki.caHash, createdCa: pki.created }, 'hub serving');
  process.stderr.write(
    [
      `outpost-hub ${hubVersion} serving https://${host}:${port}`,
      `  data dir:      ${config.dataDir}${pki.created ? ' (new CA created)' : ''}`,
      `  CA cert hash:  ${pki.caHash}`,
      `  health:        curl --cacert ${join(config.dataDir, 'ca.crt')} https://127.0.0.1:${port}/readyz`,
      '',
    ].join('\n'),
  );
}
