// Hub configuration: defaults → environment (OUTPOST_*) → flags → validation → a frozen
// object. The only place in the hub that reads process.env.
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { limits, OutpostError, parseDuration, parseHostPort } from '@outpost/shared';

export interface ServeConfig {
  readonly dataDir: string;
  /** A PostgreSQL database (libpq URL) shared by several hubs; undefined: the embedded SQLite
   *  file in dataDir. */
  readonly database: string | undefined;
  /** The key-encryption key file of the PKI kept in the database (with `database` only). */
  readonly kekFile: string | undefined;
  /** The first admin token: read from here when the database has none, or written here. */
  readonly adminTokenFile: string;
  readonly listen: { readonly host: string; readonly port: number };
  readonly advertiseUrl: string | undefined;
  readonly sans: readonly string[];
  readonly logLevel: string;
  /** Validity of the agent certificates the hub signs. */
  readonly certValidityMs: number;
  /** Largest ManifestWork body accepted, in bytes. */
  readonly maxWorkBytes: number;
  /** Longest hold of an unchanged long-poll. */
  readonly pollTimeoutMs: number;
  /** Polls a cluster may miss before it is Available=Unknown and tainted unreachable. */
  readonly missedPolls: number;
  /** How long after its waiting poll's connection dropped an agent that has not polled
   *  again is Available=Unknown (0: only missed polls count). */
  readonly disconnectGraceMs: number;
  /** Audit rows older than this, or beyond the newest auditMaxRows, are pruned. */
  readonly auditMaxAgeMs: number;
  readonly auditMaxRows: number;
  /** A second, plain-HTTP listener serving /metrics without a credential; off when undefined. */
  readonly metricsListen: { readonly host: string; readonly port: number } | undefined;
  /** Where GitRepos find the system `git` (the process's PATH; git runs with no other of
   *  the environment: gitrepos/git.ts). */
  readonly gitSearchPath: string;
  /** helm and kustomize for GitRepo paths: a path, or a name looked up in gitSearchPath when
   *  a path is rendered (a tool missing is that path's status error, not a failed start). */
  readonly helmPath: string;
  readonly kustomizePath: string;
  /** The directory under which file:// GitRepos may name repositories; none: file:// refused. */
  readonly gitFileRoot: string | undefined;
}

export const serveDefaults = {
  dataDir: './.outpost-hub',
  listen: '0.0.0.0:8443',
  logLevel: 'info',
  certValidity: '14d',
} as const;

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export class ConfigError extends OutpostError {
  constructor(message: string) {
    super('HUB_CONFIG_INVALID', message, 2);
    this.name = 'ConfigError';
  }
}

/** Parses `HOST:PORT`, `[V6]:PORT` or `:PORT` (all interfaces). */
export function parseListen(value: string): { host: string; port: number } {
  const a = parseHostPort(value);
  if ('error' in a && a.error === 'NOT_IPV6') throw new ConfigError(`--listen: ${a.host} is not an IPv6 address`);
  if ('error' in a) {
    throw new ConfigError(`--listen must be HOST:PORT (for example 0.0.0.0:8443), got ${JSON.stringify(value)}`);
  }
  return { host: a.host || '0.0.0.0', port: a.port };
}

function parseAdvertiseUrl(value: string | undefined): string | undefined {
  if (!value) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(
      `--advertise-url must be a URL such as https://hub.example.com:8443, got ${JSON.stringify(value)}`,
    );
  }
  if (url.protocol !== 'https:') throw new ConfigError('--advertise-url must use https');
  return url.origin;
}

/** Parses `16Mi`, `512Ki`, `1Gi`, `20MB` or a plain byte count. */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+)\s*(Ki|Mi|Gi|K|M|G|KB|MB|GB)?$/.exec(text.trim());
  if (!m) return undefined;
  const unit =
    { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, K: 1e3, KB: 1e3, M: 1e6, MB: 1e6, G: 1e9, GB: 1e9 }[m[2] ?? ''] ?? 1;
  return Number(m[1]) * unit;
}

/** A postgres:// (or postgresql://) URL as libpq takes it; anything else is refused by name. */
export function parseDatabaseUrl(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(
      '--database must be a PostgreSQL URL such as postgres://outpost@db.example.com:5432/outpost, ' +
        `got something that is not a URL (${redactUrl(value)})`,
    );
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError(
      `--database must be a postgres:// or postgresql:// URL (leave it out for the embedded SQLite file), got ${url.protocol}//…`,
    );
  }
  if (!url.hostname && !url.searchParams.get('host')) throw new ConfigError('--database: the URL names no host');
  return value;
}

/** A URL without its password, for messages and logs. */
export function redactUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.password) url.password = '***';
    for (const key of ['password', 'sslpassword']) if (url.searchParams.has(key)) url.searchParams.set(key, '***');
    return url.toString();
  } catch {
    return '(not a URL)';
  }
}

function splitList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export const serveOptions = {
  'data-dir': { type: 'string' },
  database: { type: 'string' },
  'kek-file': { type: 'string' },
  'admin-token-file': { type: 'string' },
  listen: { type: 'string' },
  'advertise-url': { type: 'string' },
  san: { type: 'string', multiple: true },
  'log-level': { type: 'string' },
  'cert-validity': { type: 'string' },
  'max-work-size': { type: 'string' },
  'poll-timeout': { type: 'string' },
  'missed-polls': { type: 'string' },
  'disconnect-grace': { type: 'string' },
  'audit-max-age': { type: 'string' },
  'audit-max-rows': { type: 'string' },
  'metrics-listen': { type: 'string' },
  'helm-path': { type: 'string' },
  'kustomize-path': { type: 'string' },
  'git-file-root': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** --git-file-root: an absolute directory (resolved), or undefined (file:// refused). */
function gitFileRoot(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (/[\0\n]/.test(value) || resolve(value) === '/') {
    throw new ConfigError(
      '--git-file-root must be a directory that holds only the Git repositories GitRepos may read (not /)',
    );
  }
  return resolve(value);
}

function parseFlags(argv: readonly string[]) {
  try {
    return parseArgs({ args: [...argv], options: serveOptions, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

export function loadServeConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ServeConfig | 'help' {
  const values = parseFlags(argv);
  if (values.help) return 'help';
  const logLevel = values['log-level'] ?? env.OUTPOST_LOG_LEVEL ?? serveDefaults.logLevel;
  if (!logLevels.includes(logLevel)) {
    throw new ConfigError(`--log-level must be one of ${logLevels.join(', ')}, got ${JSON.stringify(logLevel)}`);
  }
  const sans = [...splitList(env.OUTPOST_HUB_SANS), ...(values.san ?? []).flatMap((s) => splitList(s))];
  for (const san of sans) {
    if (
      !isIP(san) &&
      !/^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i.test(san)
    ) {
      throw new ConfigError(`--san ${JSON.stringify(san)} is neither an IP address nor a DNS name`);
    }
  }
  const validityText = values['cert-validity'] ?? env.OUTPOST_HUB_CERT_VALIDITY ?? serveDefaults.certValidity;
  const certValidityMs = parseDuration(validityText);
  if (certValidityMs === undefined || certValidityMs < 10_000 || certValidityMs > 366 * 86_400_000) {
    throw new ConfigError(
      `--cert-validity must be a duration from 10s to 366d (for example 14d), got ${JSON.stringify(validityText)}`,
    );
  }
  const maxWorkText = values['max-work-size'] ?? env.OUTPOST_HUB_MAX_WORK_SIZE;
  const maxWorkBytes = maxWorkText === undefined ? limits.workBytes : parseSize(maxWorkText);
  if (maxWorkBytes === undefined || maxWorkBytes < 1024 || maxWorkBytes > 1024 ** 3) {
    throw new ConfigError(
      `--max-work-size must be a size from 1Ki to 1Gi (for example 16Mi), got ${JSON.stringify(maxWorkText)}`,
    );
  }
  const pollText = values['poll-timeout'] ?? env.OUTPOST_HUB_POLL_TIMEOUT ?? '30s';
  const pollTimeoutMs = parseDuration(pollText);
  if (pollTimeoutMs === undefined || pollTimeoutMs < 1_000 || pollTimeoutMs > 300_000) {
    throw new ConfigError(`--poll-timeout must be a duration from 1s to 5m, got ${JSON.stringify(pollText)}`);
  }
  const missedText = values['missed-polls'] ?? env.OUTPOST_HUB_MISSED_POLLS ?? '3';
  const missedPolls = Number(missedText);
  if (!Number.isInteger(missedPolls) || missedPolls < 1 || missedPolls > 100) {
    throw new ConfigError(`--missed-polls must be an integer from 1 to 100, got ${JSON.stringify(missedText)}`);
  }
  const graceText = values['disconnect-grace'] ?? env.OUTPOST_HUB_DISCONNECT_GRACE ?? '30s';
  const disconnectGraceMs = parseDuration(graceText);
  if (disconnectGraceMs === undefined || disconnectGraceMs > 600_000) {
    throw new ConfigError(`--disconnect-grace must be a duration from 0 to 10m, got ${JSON.stringify(graceText)}`);
  }
  const auditAgeText = values['audit-max-age'] ?? env.OUTPOST_HUB_AUDIT_MAX_AGE ?? '90d';
  const auditMaxAgeMs = parseDuration(auditAgeText);
  if (auditMaxAgeMs === undefined || auditMaxAgeMs < 3_600_000 || auditMaxAgeMs > 3660 * 86_400_000) {
    throw new ConfigError(`--audit-max-age must be a duration from 1h to 3660d, got ${JSON.stringify(auditAgeText)}`);
  }
  const auditRowsText = values['audit-max-rows'] ?? env.OUTPOST_HUB_AUDIT_MAX_ROWS ?? String(limits.auditMaxRows);
  const auditMaxRows = Number(auditRowsText);
  if (!Number.isInteger(auditMaxRows) || auditMaxRows < 10 || auditMaxRows > 1e9) {
    throw new ConfigError(
      `--audit-max-rows must be an integer from 10 to 1000000000, got ${JSON.stringify(auditRowsText)}`,
    );
  }
  const database = parseDatabaseUrl(values.database ?? env.OUTPOST_HUB_DATABASE);
  const dataDir = resolve(values['data-dir'] ?? env.OUTPOST_HUB_DATA_DIR ?? serveDefaults.dataDir);
  const kekText = values['kek-file'] ?? env.OUTPOST_HUB_KEK_FILE;
  if (kekText !== undefined && !database) {
    throw new ConfigError(
      '--kek-file seals the hub PKI kept in a PostgreSQL database: give --database too (a hub on SQLite keeps its PKI in --data-dir)',
    );
  }
  const kekFile = database ? resolve(kekText || resolve(dataDir, 'pki.kek')) : undefined;
  const metricsListenText = values['metrics-listen'] ?? env.OUTPOST_HUB_METRICS_LISTEN;
  const metricsListen = metricsListenText ? Object.freeze(parseListen(metricsListenText)) : undefined;
  const toolPath = (flag: string, value: string | undefined, name: string) => {
    if (value === undefined || value === '') return name;
    if (/[\0\n]/.test(value)) throw new ConfigError(`--${flag} must be a path or a command name`);
    return value.includes('/') ? resolve(value) : value;
  };
  return Object.freeze({
    metricsListen,
    helmPath: toolPath('helm-path', values['helm-path'] ?? env.OUTPOST_HUB_HELM_PATH, 'helm'),
    kustomizePath: toolPath('kustomize-path', values['kustomize-path'] ?? env.OUTPOST_HUB_KUSTOMIZE_PATH, 'kustomize'),
    gitSearchPath: env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    gitFileRoot: gitFileRoot(values['git-file-root'] ?? env.OUTPOST_HUB_GIT_FILE_ROOT),
    auditMaxAgeMs,
    auditMaxRows,
    certValidityMs,
    maxWorkBytes,
    pollTimeoutMs,
    missedPolls,
    disconnectGraceMs,
    dataDir,
    database,
    kekFile,
    adminTokenFile: resolve(
      values['admin-token-file'] || env.OUTPOST_HUB_ADMIN_TOKEN_FILE || resolve(dataDir, 'admin.token'),
    ),
    listen: Object.freeze(parseListen(values.listen ?? env.OUTPOST_HUB_LISTEN ?? serveDefaults.listen)),
    advertiseUrl: parseAdvertiseUrl(values['advertise-url'] ?? env.OUTPOST_HUB_ADVERTISE_URL),
    sans: Object.freeze(sans),
    logLevel,
  });
}
