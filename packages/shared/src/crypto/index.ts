// Key generation, PEM encoding, CA pinning and certificate requests shared by hub and agent,
// on node:crypto alone. Parsing and issuing certificates (@peculiar/x509) lives apart in
// x509.ts, imported as `@outpost/shared/x509` by the hub and tests only: loading it costs
// about 15 MiB of resident memory, which the agent (budget 100 MiB) does not pay.
// A key type change is one line in `keyAlgorithm`.
import { createHash, KeyObject, sign, webcrypto, X509Certificate } from 'node:crypto';
import { encodeCsrInfo, encodeSignedCsr } from './der.ts';

export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** The key type of every Outpost key: see docs/architecture.md (PKI) for why. */
export const keyAlgorithm = { name: 'ECDSA', namedCurve: 'P-256' } as const;
export const signingAlgorithm = { name: 'ECDSA', hash: 'SHA-256' } as const;

export async function generateKeyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(keyAlgorithm, true, ['sign', 'verify'])) as CryptoKeyPair;
}

/** PEM armour: base64 in lines of 64, ending in a newline. */
export function pemEncode(der: ArrayBuffer | Uint8Array, label: string): string {
  const b64 = Buffer.from(der instanceof ArrayBuffer ? new Uint8Array(der) : der).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END ${label}-----\n`;
}

/** The DER of the first PEM block (any label), or undefined. */
export function pemDecode(pem: string): Buffer | undefined {
  const m = /-----BEGIN [^-]+-----([\s\S]+?)-----END [^-]+-----/.exec(pem);
  return m ? Buffer.from((m[1] as string).replace(/\s+/g, ''), 'base64') : undefined;
}

export async function privateKeyToPem(key: CryptoKey): Promise<string> {
  return pemEncode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

export async function privateKeyFromPem(pem: string): Promise<CryptoKey> {
  const der = pemDecode(pem);
  if (!der) throw new Error('no PEM block in private key');
  return webcrypto.subtle.importKey('pkcs8', der, keyAlgorithm, true, ['sign']);
}

/**
 * kubeadm's CA pin: `sha256:` + hex SHA-256 of the CA certificate's
 * SubjectPublicKeyInfo, so `--ca-cert-hash` values look and work the same.
 */
export function caCertHash(certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

/**
 * A PKCS#10 request for `subject`, signed by `keys` (ECDSA with SHA-256). The subject is
 * the `CN=…, O=…` text of `agentSubject(cluster)`: attributes CN, O, OU, C, L, ST, in the
 * order given, no commas inside values.
 */
export async function createCsr(keys: CryptoKeyPair, subject: string): Promise<string> {
  const spki = Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey));
  const info = encodeCsrInfo(parseSubject(subject), spki);
  const signature = sign('sha256', info, { key: KeyObject.from(keys.privateKey), dsaEncoding: 'der' });
  return pemEncode(encodeSignedCsr(info, signature), 'CERTIFICATE REQUEST');
}

function parseSubject(subject: string): [string, string][] {
  return subject.split(',').map((part) => {
    const eq = part.indexOf('=');
    if (eq < 1) throw new Error(`subject ${JSON.stringify(subject)}: expected KEY=VALUE parts`);
    return [part.slice(0, eq).trim(), part.slice(eq + 1).trim()];
  });
}

/** `sha256:` pins of every certificate in a PEM bundle, in order. */
export function bundleHashes(bundlePem: string): string[] {
  return splitPemCertificates(bundlePem).map(caCertHash);
}

/** The individual certificates of a PEM bundle. */
export function splitPemCertificates(bundlePem: string): string[] {
  return bundlePem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((c) => `${c}\n`) ?? [];
}
