// Key generation, PEM encoding and CA pinning shared by hub and agent.
// Everything goes through WebCrypto (node:crypto's webcrypto) and @peculiar/x509, so a
// key type change is one line in `keyAlgorithm`.
// @peculiar/x509 resolves its ASN.1 helpers through tsyringe, which needs this polyfill
// loaded first (ESM evaluates imports in order).
import 'reflect-metadata';
import { createHash, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** The key type of every Outpost key: see docs/architecture.md (PKI) for why. */
export const keyAlgorithm = { name: 'ECDSA', namedCurve: 'P-256' } as const;
export const signingAlgorithm = { name: 'ECDSA', hash: 'SHA-256' } as const;

export async function generateKeyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(keyAlgorithm, true, ['sign', 'verify'])) as CryptoKeyPair;
}

export async function privateKeyToPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return `${x509.PemConverter.encode(der, 'PRIVATE KEY')}\n`;
}

export async function privateKeyFromPem(pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decode(pem)[0];
  if (!der) throw new Error('no PEM block in private key');
  return webcrypto.subtle.importKey('pkcs8', der, keyAlgorithm, true, ['sign']);
}

/**
 * kubeadm's CA pin: `sha256:` + hex SHA-256 of the CA certificate's
 * SubjectPublicKeyInfo, so `--ca-cert-hash` values look and work the same.
 */
export function caCertHash(certPem: string): string {
  const cert = new x509.X509Certificate(certPem);
  return `sha256:${createHash('sha256').update(Buffer.from(cert.publicKey.rawData)).digest('hex')}`;
}

/** A PKCS#10 request for `subject` (for example `agentSubject(cluster)`), signed by `keys`. */
export async function createCsr(keys: CryptoKeyPair, subject: string): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: subject, keys, signingAlgorithm });
  return `${csr.toString('pem')}\n`;
}

/** `sha256:` pins of every certificate in a PEM bundle, in order. */
export function bundleHashes(bundlePem: string): string[] {
  return splitPemCertificates(bundlePem).map(caCertHash);
}

/** The individual certificates of a PEM bundle. */
export function splitPemCertificates(bundlePem: string): string[] {
  return bundlePem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((c) => `${c}\n`) ?? [];
}

/** PEM text ending in a newline, so certificates can be concatenated into bundles. */
export function certToPem(cert: x509.X509Certificate): string {
  return `${cert.toString('pem')}\n`;
}

export { x509 };
