// renew/: certificate rotation — when (timing.ts: a random point when 20–30 % of the life
// remains, drawn once per certificate) and how: a NEW key generated here, a CSR for it over
// the current mTLS identity, and a check that the hub's answer certifies that key.
import { createHash } from 'node:crypto';
import { agentCommonName, agentSubject, createCsr, generateKeyPair, privateKeyToPem } from '@outpost/shared';
import { type Credentials, certificateInfo, certificateMatchesKey } from '../credentials/index.ts';
import { AgentError } from '../errors.ts';
import type { HubClient, RequestOptions } from '../transport/client.ts';
import { renewCertificate } from '../transport/hub-api.ts';
import { renewalTime } from './timing.ts';

export { renewalTime } from './timing.ts';

/**
 * A stable draw in [0, 1) for a certificate, from its serial: the renewal point stays the
 * same across restarts of the agent, yet differs between certificates issued together.
 */
export function serialFraction(serial: string): number {
  return Number.parseInt(createHash('sha256').update(serial).digest('hex').slice(0, 8), 16) / 2 ** 32;
}

/** When the certificate of `creds` was received, if known: renewal counts its life from then. */
export function certReceivedAt(creds: Credentials): number | undefined {
  const at = creds.hub.certReceivedAt ? Date.parse(creds.hub.certReceivedAt) : Number.NaN;
  return Number.isNaN(at) ? undefined : at;
}

/**
 * When to renew `certPem` (epoch ms). Hubs backdate notBefore to absorb clock skew (the
 * Outpost hub by 5 minutes), which for a short-lived certificate would put the renewal
 * point before it was even issued; when the agent knows when it received the certificate
 * (`receivedAt`), the life counts from then. And never sooner than a tenth of the remaining
 * life after receipt, so a hub that issues nearly expired certificates cannot make the
 * agent renew in a tight loop.
 */
export function renewalTimeFor(
  certPem: string,
  opts: { draw?: (serial: string) => number; receivedAt?: number | undefined } = {},
): number {
  const info = certificateInfo(certPem);
  const notAfter = info.notAfter.getTime();
  const start = Math.min(Math.max(info.notBefore.getTime(), opts.receivedAt ?? 0), notAfter);
  const at = renewalTime(start, notAfter, (opts.draw ?? serialFraction)(info.serial));
  if (opts.receivedAt === undefined) return at;
  return Math.max(at, opts.receivedAt + (notAfter - opts.receivedAt) * 0.1);
}

/** Asks the hub for a certificate for a fresh key; returns the credentials to switch to. */
export async function renewCredentials(
  client: HubClient,
  current: Credentials,
  opts: RequestOptions = {},
): Promise<Credentials> {
  const cluster = current.hub.clusterName;
  const keys = await generateKeyPair();
  const keyPem = await privateKeyToPem(keys.privateKey);
  const csr = await createCsr(keys, agentSubject(cluster));
  const res = await renewCertificate(client, cluster, csr, opts);
  let cn: string | undefined;
  try {
    cn = certificateInfo(res.certificate).commonName;
  } catch {
    throw new AgentError('AGENT_CERT_MISMATCH', 'the hub renewed the certificate but sent no readable certificate');
  }
  if (!certificateMatchesKey(res.certificate, keyPem) || cn !== agentCommonName(cluster)) {
    throw new AgentError(
      'AGENT_CERT_MISMATCH',
      `the renewed certificate is not for the new key and cluster ${cluster} (subject CN ${cn ?? 'none'})`,
    );
  }
  return { ...current, keyPem, certPem: res.certificate, caBundlePem: res.caBundle };
}
