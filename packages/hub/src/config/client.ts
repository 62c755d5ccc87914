// Where the admin CLI finds its hub: flags → environment → config file → the local data
// dir (so `outpost-hub token create` just works on the hub's own machine).
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { limits } from '@outpost/shared';
import { ParseError, parseYaml } from '../parse/index.ts';
import { ConfigError, serveDefaults } from './index.ts';

export interface ClientConfig {
  readonly hubUrl: string;
  readonly token: string | undefined;
  /** PEM of the CA bundle to trust; undefined = the system's trust store. */
  readonly caPem: string | undefined;
  readonly output: 'table' | 'json' | 'yaml';
}

export interface ClientFlags {
  hub?: string | undefined;
  token?: string | undefined;
  'ca-cert'?: string | undefined;
  config?: string | undefined;
  'data-dir'?: string | undefined;
  output?: string | undefined;
}

export const clientOptions = {
  hub: { type: 'string' },
  token: { type: 'string' },
  'ca-cert': { type: 'string' },
  config: { type: 'string' },
  'data-dir': { type: 'string' },
  output: { type: 'string', short: 'o' },
} as const;

export const clientHelp = `Connection flags (environment variable in brackets):
  --hub URL          the hub's https URL [OUTPOST_HUB_URL]
  --token TOKEN      an API token (oph_…) [OUTPOST_TOKEN]
  --ca-cert FILE     CA bundle to trust for the hub [OUTPOST_CA_CERT]
  --config FILE      YAML with hub, token, caCert keys [OUTPOST_CONFIG]
                     (default ~/.config/outpost/hub.yaml when it exists)
  --data-dir DIR     on the hub's machine: use DIR/admin.token (or the hub's
                     OUTPOST_HUB_ADMIN_TOKEN_FILE) and DIR/ca.crt
                     (default ./.outpost-hub when it exists)
  -o, --output FMT   table (default), json or yaml
`;

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

export function loadClientConfig(flags: ClientFlags, env: NodeJS.ProcessEnv = process.env): ClientConfig {
  const output = flags.output ?? 'table';
  if (output !== 'table' && output !== 'json' && output !== 'yaml') {
    throw new ConfigError(`--output must be table, json or yaml, got ${JSON.stringify(output)}`);
  }
  const configPath = flags.config ?? env.OUTPOST_CONFIG ?? join(homedir(), '.config/outpost/hub.yaml');
  let file: { hub?: string; token?: string; caCert?: string } = {};
  if (flags.config || env.OUTPOST_CONFIG || existsSync(configPath)) {
    let parsed: unknown;
    try {
      parsed = parseYaml(readText(configPath, 'config file'), { maxBytes: limits.bodyBytes });
    } catch (err) {
      if (err instanceof ParseError) throw new ConfigError(`config file ${configPath}: ${err.message}`);
      throw err;
    }
    if (parsed && typeof parsed === 'object') file = parsed as typeof file;
  }
  const dataDir = resolve(flags['data-dir'] ?? env.OUTPOST_HUB_DATA_DIR ?? serveDefaults.dataDir);
  // The hub's own first admin token: where `serve` keeps it (--admin-token-file).
  const tokenFile = env.OUTPOST_HUB_ADMIN_TOKEN_FILE || join(dataDir, 'admin.token');
  const local = existsSync(tokenFile);

  const hubUrl = flags.hub ?? env.OUTPOST_HUB_URL ?? file.hub ?? 'https://127.0.0.1:8443';
  try {
    if (new URL(hubUrl).protocol !== 'https:') throw new Error('not https');
  } catch {
    throw new ConfigError(`--hub must be an https URL, got ${JSON.stringify(hubUrl)}`);
  }
  const token =
    flags.token ?? env.OUTPOST_TOKEN ?? file.token ?? (local ? readText(tokenFile, 'token file').trim() : undefined);
  const caPath =
    flags['ca-cert'] ?? env.OUTPOST_CA_CERT ?? file.caCert ?? (local ? join(dataDir, 'ca.crt') : undefined);
  const caPem = caPath ? readText(caPath, 'CA file') : undefined;
  return Object.freeze({ hubUrl: hubUrl.replace(/\/+$/, ''), token, caPem, output });
}
