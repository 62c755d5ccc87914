// @peculiar/x509 for what needs a full X.509 library: the hub's CA, issuing and inspecting
// certificates, and tests. Imported as `@outpost/shared/x509`, never from the package
// index, so the agent does not load it (see crypto/index.ts).
// @peculiar/x509 resolves its ASN.1 helpers through tsyringe, which needs this polyfill
// loaded first (ESM evaluates imports in order).
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** PEM text ending in a newline, so certificates can be concatenated into bundles. */
export function certToPem(cert: x509.X509Certificate): string {
  return `${cert.toString('pem')}\n`;
}

export { x509 };
