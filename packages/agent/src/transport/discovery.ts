// Hub discovery with a pinned CA, as kubeadm's --discovery-token-ca-cert-hash works:
// 1. fetch the CA bundle over TLS trusting nothing (anyone could answer this request);
// 2. keep only the bundle's CAs whose SubjectPublicKeyInfo hash was pinned — none means
//    wrong hub or an impostor, and nothing more is sent;
// 3. connect again verifying the serving certificate against the pinned CAs alone, and take
//    the bundle from that answer. Trusting the whole unverified bundle instead would let an
//    impostor add its own CA next to the (public) real one and pass.
import { caCertHash, splitPemCertificates } from '@outpost/shared';
import { AgentError } from '../errors.ts';
import { HubClient, type RequestOptions } from './client.ts';
import { type HubError, isHubError } from './errors.ts';
import { fetchCaBundle } from './hub-api.ts';

export interface DiscoveredHub {
  /** The bundle as served over the verified connection. */
  caBundle: string;
  /** The pinned CAs, PEM: what the join session trusts until the hub hands out its bundle. */
  pinnedCaPem: string;
  /** Pins that matched a CA of the bundle. */
  matchedHashes: string[];
}

interface BundleCa {
  pem: string;
  hash: string;
}

function bundleCas(bundle: string): BundleCa[] {
  const out: BundleCa[] = [];
  for (const pem of splitPemCertificates(bundle)) {
    try {
      out.push({ pem, hash: caCertHash(pem) });
    } catch {
      // Not a certificate we can read; it cannot match a pin either.
    }
  }
  return out;
}

async function withClient<T>(hubUrl: string, ca: string | undefined, fn: (c: HubClient) => Promise<T>): Promise<T> {
  const client = new HubClient(hubUrl, ca === undefined ? { insecureSkipVerify: true } : { ca });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

export function pinMismatch(hubUrl: string, presented: string[], pins: readonly string[]): AgentError {
  const shown = presented.length ? presented.join(', ') : 'no readable CA';
  return new AgentError(
    'AGENT_CA_PIN_MISMATCH',
    `the hub at ${hubUrl} presented CA ${shown}; you pinned ${pins.join(', ')}: wrong --hub or an impostor`,
    { details: { presented, pinned: pins } },
  );
}

/** Explains a failed verification against the pinned CAs in words a person can act on. */
async function untrusted(hubUrl: string, err: HubError, others: BundleCa[], opts: RequestOptions): Promise<AgentError> {
  const code = (err.cause as { code?: string } | undefined)?.code;
  const host = new URL(hubUrl).hostname;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return new AgentError(
      'AGENT_HUB_UNTRUSTED',
      `the hub's serving certificate does not name ${host}: use the URL the hub advertises, or restart the hub with --san ${host}`,
      { cause: err },
    );
  }
  for (const ca of others) {
    const ok = await withClient(hubUrl, ca.pem, (c) => fetchCaBundle(c, opts)).then(
      () => true,
      () => false,
    );
    if (ok) {
      return new AgentError(
        'AGENT_HUB_UNTRUSTED',
        `the hub at ${hubUrl} serves a certificate issued by CA ${ca.hash}, which its bundle lists but you did not pin. ` +
          `During a CA rotation pin both CAs (repeat --ca-cert-hash) after checking ${ca.hash} with the hub's admin`,
        { cause: err, details: { servingCa: ca.hash } },
      );
    }
  }
  return new AgentError(
    'AGENT_HUB_UNTRUSTED',
    `the hub at ${hubUrl} serves a certificate that does not chain to the pinned CA: ${err.message}`,
    { cause: err },
  );
}

export async function discoverHub(
  hubUrl: string,
  pins: readonly string[],
  opts: RequestOptions = {},
): Promise<DiscoveredHub> {
  const unverified = await withClient(hubUrl, undefined, (c) => fetchCaBundle(c, opts));
  const cas = bundleCas(unverified.caBundle);
  const pinned = cas.filter((ca) => pins.includes(ca.hash));
  if (pinned.length === 0)
    throw pinMismatch(
      hubUrl,
      cas.map((c) => c.hash),
      pins,
    );
  const pinnedCaPem = pinned.map((c) => c.pem).join('');

  let verified: string;
  try {
    verified = (await withClient(hubUrl, pinnedCaPem, (c) => fetchCaBundle(c, opts))).caBundle;
  } catch (err) {
    if (isHubError(err) && err.code === 'AGENT_HUB_UNTRUSTED') {
      throw await untrusted(
        hubUrl,
        err,
        cas.filter((ca) => !pins.includes(ca.hash)),
        opts,
      );
    }
    throw err;
  }
  // The hub may have rotated between the two requests; the verified answer is the one that counts.
  const verifiedCas = bundleCas(verified);
  const matched = verifiedCas.filter((ca) => pins.includes(ca.hash)).map((ca) => ca.hash);
  if (matched.length === 0)
    throw pinMismatch(
      hubUrl,
      verifiedCas.map((c) => c.hash),
      pins,
    );
  return { caBundle: verified, pinnedCaPem, matchedHashes: matched };
}
