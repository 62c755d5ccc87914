// Where the hub PKI is kept. One hub on SQLite keeps it in its data directory, as files
// (fileVault). Hub replicas sharing a PostgreSQL database keep it in that database
// (databaseVault), so that every replica serves the same CA and serving certificate and
// signs with the same CA key; the private keys are sealed there with AES-256-GCM under a
// key-encryption key (KEK) that each replica reads from a file (a Kubernetes Secret) and
// the database never holds. Threat model in docs/architecture.md ("The hub PKI").
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { OutpostError } from '@outpost/shared';
import type { ServingRow, Store } from '../store/index.ts';

/** Which CA signs, and which one is being retired (null when no rotation is under way). */
export interface PkiState {
  signing: string;
  previous: string | null;
}

export interface PemPair {
  certPem: string;
  keyPem: string;
}

export interface PkiVault {
  /** Where it is, for messages. */
  readonly where: string;
  state(): Promise<PkiState | undefined>;
  /**
   * Makes `next` the state when it is still `expected` (undefined: none yet), storing the
   * new CA `ca` with it; false when another hub changed the state first.
   */
  swapState(
    expected: PkiState | undefined,
    next: PkiState,
    ca?: { id: string } & PemPair,
    dropKeyOf?: string,
  ): Promise<boolean>;
  /** A CA's certificate and key (no key once it was retired); undefined when there is none. */
  ca(id: string): Promise<{ certPem: string | undefined; keyPem: string | undefined }>;
  serving(): Promise<PemPair | undefined>;
  /** Stores a serving certificate when the stored one is still `expected`; whether it did. */
  swapServing(expected: PemPair | undefined, next: PemPair): Promise<boolean>;
}

/** A file's text; undefined when there is no such file. */
export async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * The PKI as files under the data dir (one hub):
 *   pki/cas/<id>/ca.crt, ca.key (0600)   one folder per CA, never rewritten
 *   pki/state.json                       { signing, previous } — switched by one atomic rename
 *   pki/serving.crt, pki/serving.key     the hub's TLS certificate
 */
export function fileVault(
  dataDir: string,
  writeAtomic: (path: string, data: string, mode: number) => Promise<void>,
): PkiVault {
  const pki = join(dataDir, 'pki');
  const cas = join(pki, 'cas');
  const stateFile = join(pki, 'state.json');
  const servingCert = join(pki, 'serving.crt');
  const servingKey = join(pki, 'serving.key');
  return {
    where: pki,
    async state() {
      const text = await readIfExists(stateFile);
      return text === undefined ? undefined : (JSON.parse(text) as PkiState);
    },
    async swapState(_expected, next, ca, dropKeyOf) {
      if (ca) {
        await mkdir(join(cas, ca.id), { recursive: true, mode: 0o700 });
        // Key first: a crash between the two writes leaves no certificate without its key.
        await writeAtomic(join(cas, ca.id, 'ca.key'), ca.keyPem, 0o600);
        // Certificates are public, but everything in the data directory is 0600 (store/data-dir.ts).
        await writeAtomic(join(cas, ca.id, 'ca.crt'), ca.certPem, 0o600);
      }
      await writeAtomic(stateFile, `${JSON.stringify(next)}\n`, 0o600);
      // After the switch: a crash before this leaves the retired key, never a CA without one.
      if (dropKeyOf) await rm(join(cas, dropKeyOf, 'ca.key'), { force: true });
      return true;
    },
    async ca(id) {
      return {
        certPem: await readIfExists(join(cas, id, 'ca.crt')),
        keyPem: await readIfExists(join(cas, id, 'ca.key')),
      };
    },
    async serving() {
      const certPem = await readIfExists(servingCert);
      const keyPem = await readIfExists(servingKey);
      return certPem && keyPem ? { certPem, keyPem } : undefined;
    },
    async swapServing(_expected, next) {
      await writeAtomic(servingKey, next.keyPem, 0o600);
      await writeAtomic(servingCert, next.certPem, 0o600);
      return true;
    },
  };
}

/** A key-encryption key: 32 bytes, and the fingerprint sealed values name it by. */
export interface Kek {
  readonly key: Buffer;
  /** `sha256:` and the first 16 hex digits of SHA-256 of the key: safe to print. */
  readonly fingerprint: string;
}

export function kekFrom(key: Buffer): Kek {
  if (key.length !== 32) throw new Error('a key-encryption key is 32 bytes');
  return { key, fingerprint: `sha256:${createHash('sha256').update(key).digest('hex').slice(0, 16)}` };
}

/** A new random KEK as its file holds it (base64 and a newline). */
export function newKekText(): string {
  return `${randomBytes(32).toString('base64')}\n`;
}

/** Reads a KEK file: 32 bytes as base64 or hex text (surrounding white space ignored). */
export async function readKek(file: string): Promise<Kek | undefined> {
  const text = (await readIfExists(file))?.trim();
  if (text === undefined) return undefined;
  const key = /^[0-9a-fA-F]{64}$/.test(text)
    ? Buffer.from(text, 'hex')
    : /^[A-Za-z0-9+/]{43}=$/.test(text)
      ? Buffer.from(text, 'base64')
      : undefined;
  if (!key) {
    throw new OutpostError(
      'HUB_KEY_INVALID',
      `the key file ${file} must hold 32 bytes as base64 (44 characters) or hex (64 digits); ` +
        'make one with: head -c 32 /dev/urandom | base64',
      1,
    );
  }
  return kekFrom(key);
}

const sealVersion = 'v1';

/** `text` sealed under `kek` for the purpose `label` (bound in: a sealed value cannot be
 *  moved to another purpose, such as a retired CA's key presented as the signing one's).
 *  `domain` names what holds it: the hub PKI, or GitRepo secrets (gitrepos/secrets.ts). */
export function seal(kek: Kek, label: string, text: string, domain = 'outpost-pki'): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', kek.key, iv);
  c.setAAD(Buffer.from(`${domain}:${label}`));
  const body = Buffer.concat([c.update(text, 'utf8'), c.final(), c.getAuthTag()]);
  return [sealVersion, kek.fingerprint, iv.toString('base64url'), body.toString('base64url')].join('.');
}

/** The fingerprint of the KEK a sealed value needs. */
export function sealedBy(sealed: string): string {
  return sealed.split('.')[1] ?? '';
}

export function unseal(kek: Kek, label: string, sealed: string, domain = 'outpost-pki'): string {
  const [version, fingerprint, iv, body] = sealed.split('.');
  if (version !== sealVersion || !fingerprint || !iv || !body) {
    throw new OutpostError('HUB_KEY_MISMATCH', `a sealed key of the hub PKI (${label}) is not readable`, 1);
  }
  if (fingerprint !== kek.fingerprint) throw kekMismatch(kek, fingerprint);
  const data = Buffer.from(body, 'base64url');
  const d = createDecipheriv('aes-256-gcm', kek.key, Buffer.from(iv, 'base64url'));
  d.setAAD(Buffer.from(`${domain}:${label}`));
  d.setAuthTag(data.subarray(data.length - 16));
  try {
    return Buffer.concat([d.update(data.subarray(0, data.length - 16)), d.final()]).toString('utf8');
  } catch {
    throw new OutpostError('HUB_KEY_MISMATCH', `the sealed key of the hub PKI (${label}) fails its integrity check`, 1);
  }
}

export function kekMismatch(kek: Kek, wanted: string): OutpostError {
  return new OutpostError(
    'HUB_KEY_MISMATCH',
    `the hub PKI in the database is sealed under the key ${wanted}, and this hub's key file holds ${kek.fingerprint}: ` +
      'give every hub on one database the same key file (--kek-file)',
    1,
  );
}

/** The PKI in the shared database, its private keys sealed under `kek`. */
export function databaseVault(store: Pick<Store, 'pki'>, kek: Kek, where: string): PkiVault {
  const servingLabel = 'serving';
  const sealServing = (p: PemPair): ServingRow => ({
    certPem: p.certPem,
    keySealed: seal(kek, servingLabel, p.keyPem),
  });
  /** The stored row a pair came from: a swap compares rows, and sealing again would differ. */
  const rowOf = new WeakMap<PemPair, ServingRow>();
  return {
    where,
    state: () => store.pki.state(),
    swapState: (expected, next, ca, dropKeyOf) =>
      store.pki.swapState(
        expected,
        next,
        ca && { id: ca.id, certPem: ca.certPem, keySealed: seal(kek, `ca/${ca.id}`, ca.keyPem) },
        dropKeyOf,
      ),
    async ca(id) {
      const row = await store.pki.ca(id);
      return {
        certPem: row?.certPem,
        keyPem: row?.keySealed ? unseal(kek, `ca/${id}`, row.keySealed) : undefined,
      };
    },
    async serving() {
      const row = await store.pki.serving();
      if (!row) return undefined;
      const pair = { certPem: row.certPem, keyPem: unseal(kek, servingLabel, row.keySealed) };
      rowOf.set(pair, row);
      return pair;
    },
    swapServing: (expected, next) => store.pki.swapServing(expected && rowOf.get(expected), sealServing(next)),
  };
}
