// The hub's PKI: the CAs that sign agent certificates (one signing CA, plus the previous
// one while a rotation is under way) and the serving certificate agents verify. Kept in a
// vault (vault.ts): files in the data dir for one hub, the shared database for replicas.
// Always in the data dir:
//   pki/tls-tickets.key                  the TLS session-ticket key (tickets.ts)
//   ca.crt                               the trust bundle, for `curl --cacert` and humans
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import {
  apiError,
  type CryptoKey,
  caCertHash,
  durations,
  generateKeyPair,
  privateKeyFromPem,
  privateKeyToPem,
  signingAlgorithm,
} from '@outpost/shared';
import { certToPem, x509 } from '@outpost/shared/x509';
import type { SigningCa } from './agent-certs.ts';
import { randomSerial } from './serial.ts';
import { fileVault, type PkiState, type PkiVault, readIfExists } from './vault.ts';

export * from './agent-certs.ts';
export { randomSerial } from './serial.ts';
export * from './vault.ts';

export interface CaEntry extends SigningCa {
  id: string;
  certPem: string;
}

export interface HubPki {
  /** Signs every new agent certificate. */
  signing: CaEntry;
  /** The CA being retired during a rotation; still trusted, still signs the serving cert. */
  previous: CaEntry | undefined;
  /** PEM of every trusted CA, signing first: what agents trust and what verifies them. */
  caBundlePem: string;
  servingCertPem: string;
  servingKeyPem: string;
  /** `sha256:HEX` of the signing CA, the value new agents pass as `--ca-cert-hash`. */
  caHash: string;
  /** True when this call created the first CA (first start). */
  created: boolean;
}

export interface PkiOptions {
  advertiseUrl?: string | undefined;
  sans: readonly string[];
}

const DAY_MS = 86_400_000;

/** Writes atomically (temp file + rename) so a crash never leaves half a file. */
export async function writeAtomic(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, data, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

/** A new self-signed CA (not stored yet). */
async function newCa(): Promise<{ id: string; certPem: string; keyPem: string }> {
  const keys = await generateKeyPair();
  const now = Date.now();
  const id = `${new Date(now).toISOString().slice(0, 10).replaceAll('-', '')}-${randomBytes(4).toString('hex')}`;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=outpost-hub-ca-${id}`,
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(now + durations.caValidityDays * DAY_MS),
    keys,
    signingAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { id, certPem: certToPem(cert), keyPem: await privateKeyToPem(keys.privateKey) };
}

async function loadCa(vault: PkiVault, id: string): Promise<CaEntry> {
  const { certPem, keyPem } = await vault.ca(id);
  if (!certPem || !keyPem) {
    throw new Error(
      `hub CA ${id} in ${vault.where} is incomplete (its certificate or key is missing); restore it from backup. ` +
        'Creating a new CA would cut off every agent.',
    );
  }
  const key: CryptoKey = await privateKeyFromPem(keyPem);
  return { id, certPem, key, cert: new x509.X509Certificate(certPem), hash: caCertHash(certPem) };
}

/** The subject alternative names a serving certificate must carry. */
export function servingNames(advertiseUrl: string | undefined, sans: readonly string[]): string[] {
  const names = new Set<string>(['localhost', '127.0.0.1', '::1']);
  if (advertiseUrl) names.add(new URL(advertiseUrl).hostname.replace(/^\[|\]$/g, ''));
  for (const san of sans) if (san) names.add(san);
  return [...names];
}

function servingIssuedBy(certPem: string, issuer: CaEntry): boolean {
  return new x509.X509Certificate(certPem).issuer === issuer.cert.subject;
}

function sansOf(certPem: string): string[] {
  const ext = new x509.X509Certificate(certPem).getExtension(x509.SubjectAlternativeNameExtension);
  return ext?.names.items.map((n) => n.value) ?? [];
}

function servingCertFits(certPem: string, issuer: CaEntry, names: readonly string[], now: number): boolean {
  const cert = new x509.X509Certificate(certPem);
  // Reissue a month before expiry so a long-running hub never serves an expired cert, unless
  // it already lasts as long as its CA (a new one could not last longer: rotate the CA).
  if (cert.notAfter.getTime() - now < 30 * DAY_MS && cert.notAfter.getTime() < issuer.cert.notAfter.getTime() - DAY_MS)
    return false;
  if (cert.issuer !== issuer.cert.subject) return false;
  const have = new Set(sansOf(certPem));
  return names.every((n) => have.has(n));
}

async function issueServingCert(ca: CaEntry, names: readonly string[]): Promise<{ certPem: string; keyPem: string }> {
  const keys = await generateKeyPair();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: 'CN=outpost-hub',
    issuer: ca.cert.subject,
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(Math.min(now + durations.servingCertValidityDays * DAY_MS, ca.cert.notAfter.getTime())),
    publicKey: keys.publicKey,
    signingKey: ca.key,
    signingAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectAlternativeNameExtension(
        names.map((n) => (isIP(n) ? { type: 'ip', value: n } : { type: 'dns', value: n })),
      ),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert, false),
    ],
  });
  return { certPem: certToPem(cert), keyPem: await privateKeyToPem(keys.privateKey) };
}

/** Where a hub keeps its PKI: its vault, and the data dir that gets the trust bundle. */
export interface PkiPlace {
  dataDir: string;
  /** Default: the data dir's files. */
  vault?: PkiVault;
}

const placed = (at: string | PkiPlace) => {
  const p = typeof at === 'string' ? { dataDir: at } : at;
  return { dataDir: p.dataDir, vault: p.vault ?? fileVault(p.dataDir, writeAtomic) };
};

/**
 * Loads the hub PKI, creating the first CA on first start, and (re)issuing the serving
 * certificate when it is missing, near expiry, lacks a requested name, or is not signed by
 * the CA that should sign it (the previous CA during a rotation, else the signing CA).
 * Replicas sharing a vault converge on one CA and one serving certificate: each change is a
 * swap that one of them wins, and the others take what it stored.
 */
export async function ensureHubPki(at: string | PkiPlace, opts: PkiOptions): Promise<HubPki> {
  const { dataDir, vault } = placed(at);
  // pki/ holds the TLS session-ticket key (and, for one hub, the PKI's files).
  await mkdir(join(dataDir, 'pki'), { recursive: true, mode: 0o700 });
  let created = false;
  let state = await vault.state();
  while (!state) {
    const ca = await newCa();
    const first = { signing: ca.id, previous: null };
    if (await vault.swapState(undefined, first, ca)) {
      created = true;
      state = first;
    } else {
      state = await vault.state();
    }
  }
  const signing = await loadCa(vault, state.signing);
  const previous = state.previous ? await loadCa(vault, state.previous) : undefined;
  const servingIssuer = previous ?? signing;

  let names = servingNames(opts.advertiseUrl, opts.sans);
  let serving = await vault.serving();
  for (let tries = 0; !serving || !servingCertFits(serving.certPem, servingIssuer, names, Date.now()); tries++) {
    if (tries > 5) throw new Error(`the serving certificate in ${vault.where} keeps changing under this hub`);
    // Names another replica asked for stay in (the same certificate serves every replica).
    if (serving && servingIssuedBy(serving.certPem, servingIssuer))
      names = [...new Set([...names, ...sansOf(serving.certPem)])];
    const next = await issueServingCert(servingIssuer, names);
    if (await vault.swapServing(serving, next)) {
      serving = next;
      break;
    }
    serving = await vault.serving();
  }
  const caBundlePem = previous ? `${signing.certPem}${previous.certPem}` : signing.certPem;
  const bundle = join(dataDir, 'ca.crt');
  if ((await readIfExists(bundle)) !== caBundlePem) await writeAtomic(bundle, caBundlePem, 0o600);
  return {
    signing,
    previous,
    caBundlePem,
    servingCertPem: serving.certPem,
    servingKeyPem: serving.keyPem,
    caHash: signing.hash,
    created,
  };
}

/**
 * Starts a CA rotation: a new CA signs every certificate from now on; the old one stays
 * trusted (and keeps signing the serving certificate) until `finishCaRotation`.
 */
export async function startCaRotation(at: string | PkiPlace, opts: PkiOptions): Promise<HubPki> {
  const { vault } = placed(at);
  const state = await vault.state();
  if (!state) throw new Error('hub PKI is not initialised');
  const underWay = (s: PkiState) =>
    apiError('CONFLICT', `a CA rotation is already under way (retiring CA ${s.previous})`, {
      reason: 'CA_ROTATION_IN_PROGRESS',
    });
  if (state.previous) throw underWay(state);
  const next = await newCa();
  if (!(await vault.swapState(state, { signing: next.id, previous: state.signing }, next))) {
    // Another replica rotated (or retired) meanwhile.
    const now = await vault.state();
    if (now?.previous) throw underWay(now);
    throw apiError('CONFLICT', 'the hub CA changed while this rotation began; look at the CA status and try again', {
      reason: 'CA_CHANGED',
    });
  }
  return ensureHubPki(at, opts);
}

/**
 * Retires the previous CA `retiring`: no longer trusted, its key destroyed, and the serving
 * certificate reissued under the signing CA. Callers check first that every cluster holds a
 * certificate of the signing CA. `retired` says whether this call retired it (false: there
 * was none to retire, or another replica did it first).
 */
export async function finishCaRotation(
  at: string | PkiPlace,
  opts: PkiOptions,
  retiring?: string,
): Promise<{ pki: HubPki; retired: boolean }> {
  const { vault } = placed(at);
  const state = await vault.state();
  let retired = false;
  if (state?.previous && (retiring === undefined || state.previous === retiring)) {
    // The retired key can sign nothing any more (destroyed with the swap); its certificate
    // stays for the record.
    retired = await vault.swapState(state, { signing: state.signing, previous: null }, undefined, state.previous);
  }
  return { pki: await ensureHubPki(at, opts), retired };
}
