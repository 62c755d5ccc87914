// credentials/: what `join` stores and `run` loads — the agent's key, its certificate, the
// hub's CA bundle and which hub and cluster they are for — and the two stores that keep
// them: files in a directory (files.ts) or a Secret in the spoke cluster (secret.ts).
// Both stores hold a small set of named entries and replace the whole set at once, so a
// reader never sees a new key beside an old certificate.
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { AgentError } from '../errors.ts';

/** Entry names, identical in the directory and in the Secret. */
export const entryNames = {
  key: 'tls.key',
  cert: 'tls.crt',
  caBundle: 'ca.crt',
  hub: 'hub.json',
  /** A join waiting for approval: its registration id and the key its CSR was made from. */
  pendingKey: 'pending.key',
  pending: 'pending.json',
} as const;

export type Entries = Record<string, string>;

/** A set of named text entries, replaced as a whole. */
export interface EntryStore {
  /** For messages: `directory /x` or `Secret ns/name`. */
  readonly description: string;
  /** Undefined when nothing was ever stored. */
  load(): Promise<Entries | undefined>;
  save(entries: Entries): Promise<void>;
}

export interface HubInfo {
  hubUrl: string;
  clusterName: string;
  /** The pin `join` was given (the first, when several). */
  caCertHash: string;
  caCertHashes: string[];
  joinedAt: string;
  /**
   * When the agent received its current certificate: the renewal point counts the
   * certificate's life from here, as hubs backdate notBefore for clock skew.
   */
  certReceivedAt?: string;
}

export interface Credentials {
  keyPem: string;
  certPem: string;
  /** The hub's bundle exactly as it sent it: its SHA-256 is what heartbeats compare. */
  caBundlePem: string;
  hub: HubInfo;
}

export interface PendingJoin {
  hubUrl: string;
  clusterName: string;
  registrationId: string;
  keyPem: string;
  createdAt: string;
}

/** What a store holds: credentials, a pending join, both (a recovery in progress), or neither. */
export interface StoredState {
  credentials?: Credentials;
  pending?: PendingJoin;
}

export interface CertificateInfo {
  serial: string;
  notBefore: Date;
  notAfter: Date;
  commonName: string | undefined;
}

export function certificateInfo(certPem: string): CertificateInfo {
  const cert = new X509Certificate(certPem);
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1];
  return {
    serial: cert.serialNumber.toLowerCase(),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    commonName: cn,
  };
}

/** True when `certPem` certifies the public half of `keyPem`. */
export function certificateMatchesKey(certPem: string, keyPem: string): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

/** `sha256:` hex of the exact bundle text, as the hub's heartbeat reports it. */
export function caBundleHash(bundlePem: string): string {
  return `sha256:${createHash('sha256').update(bundlePem, 'utf8').digest('hex')}`;
}

function invalid(where: string, what: string): AgentError {
  return new AgentError('AGENT_CREDENTIALS_INVALID', `the credentials in ${where} are unusable: ${what}`);
}

function parseJson<T>(text: string, where: string, entry: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw invalid(where, `${entry} is not JSON`);
  }
}

function str(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0;
}

/** Decodes a store's entries; throws AGENT_CREDENTIALS_INVALID when they are inconsistent. */
export function decodeState(entries: Entries | undefined, where: string): StoredState {
  if (!entries) return {};
  const state: StoredState = {};
  const main = [entryNames.key, entryNames.cert, entryNames.caBundle, entryNames.hub];
  const present = main.filter((n) => entries[n] !== undefined);
  if (present.length > 0) {
    const missing = main.filter((n) => entries[n] === undefined);
    if (missing.length) throw invalid(where, `${missing.join(', ')} missing`);
    const hub = parseJson<Partial<HubInfo>>(entries[entryNames.hub] as string, where, entryNames.hub);
    if (!str(hub.hubUrl) || !str(hub.clusterName) || !str(hub.caCertHash)) {
      throw invalid(where, `${entryNames.hub} lacks hubUrl, clusterName or caCertHash`);
    }
    const creds: Credentials = {
      keyPem: entries[entryNames.key] as string,
      certPem: entries[entryNames.cert] as string,
      caBundlePem: entries[entryNames.caBundle] as string,
      hub: {
        hubUrl: hub.hubUrl,
        clusterName: hub.clusterName,
        caCertHash: hub.caCertHash,
        caCertHashes: Array.isArray(hub.caCertHashes) ? hub.caCertHashes.filter(str) : [hub.caCertHash],
        joinedAt: str(hub.joinedAt) ? hub.joinedAt : '',
        ...(str(hub.certReceivedAt) ? { certReceivedAt: hub.certReceivedAt } : {}),
      },
    };
    try {
      certificateInfo(creds.certPem);
    } catch {
      throw invalid(where, `${entryNames.cert} is not a PEM certificate`);
    }
    if (!certificateMatchesKey(creds.certPem, creds.keyPem)) {
      throw invalid(where, `${entryNames.key} is not the key of ${entryNames.cert}`);
    }
    state.credentials = creds;
  }
  if (entries[entryNames.pending] !== undefined) {
    const p = parseJson<Partial<PendingJoin>>(entries[entryNames.pending] as string, where, entryNames.pending);
    const keyPem = entries[entryNames.pendingKey];
    if (str(p.hubUrl) && str(p.clusterName) && str(p.registrationId) && str(keyPem)) {
      state.pending = {
        hubUrl: p.hubUrl,
        clusterName: p.clusterName,
        registrationId: p.registrationId,
        keyPem,
        createdAt: str(p.createdAt) ? p.createdAt : '',
      };
    }
    // A malformed pending record is dropped rather than refused: it only ever saves a wait.
  }
  return state;
}

export function encodeState(state: StoredState): Entries {
  const out: Entries = {};
  const c = state.credentials;
  if (c) {
    out[entryNames.key] = c.keyPem;
    out[entryNames.cert] = c.certPem;
    out[entryNames.caBundle] = c.caBundlePem;
    out[entryNames.hub] = `${JSON.stringify(c.hub, null, 2)}\n`;
  }
  const p = state.pending;
  if (p) {
    out[entryNames.pendingKey] = p.keyPem;
    const { keyPem: _key, ...rest } = p;
    out[entryNames.pending] = `${JSON.stringify(rest, null, 2)}\n`;
  }
  return out;
}

/** Typed access to an EntryStore. */
export class CredentialStore {
  readonly #entries: EntryStore;

  constructor(entries: EntryStore) {
    this.#entries = entries;
  }

  get description(): string {
    return this.#entries.description;
  }

  async load(): Promise<StoredState> {
    return decodeState(await this.#entries.load(), this.description);
  }

  async save(state: StoredState): Promise<void> {
    await this.#entries.save(encodeState(state));
  }
}
