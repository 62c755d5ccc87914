// Registration and the mTLS agent API under faults, against real `outpost-hub serve`
// processes: bad bootstrap tokens, throttling, bad CSRs, hostile names and bodies, name
// clashes and recovery, one cluster acting for another, revocation on a kept-alive
// connection, a hub restart in the middle of a join, renewal and CA rotation.
// Every refusal is checked for its HTTP status, its stable code, and that nothing changed.
import assert from 'node:assert/strict';
import { webcrypto, X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect } from 'node:tls';
import { certToPem, x509 } from '../../packages/shared/src/crypto/x509.ts';
import {
  agentPaths,
  agentSubject,
  type CaBundleResponse,
  type ClusterSelfView,
  type CryptoKey,
  type CryptoKeyPair,
  generateKeyPair,
  type HeartbeatResponse,
  limits,
  type RegistrationView,
  type RenewResponse,
  signingAlgorithm,
  splitPemCertificates,
} from '../../packages/shared/src/index.ts';
import {
  adminClient,
  agentClient,
  anonymousClient,
  assertError,
  createToken,
  type HubClient,
  type JoinedCluster,
  joinCluster,
  newJoiner,
  register,
  waitFor,
} from './hub-client.ts';
import { type HubProcess, startHub } from './hub-process.ts';

interface TokenResource {
  metadata: { name: string };
  spec: { expiration: string; usageLimit: number; description: string; labels: Record<string, string> };
  status: { usageCount: number; phase: string };
}
interface ClusterResource {
  metadata: { name: string; uid: string; resourceVersion: string; labels: Record<string, string> };
  spec: { hubAcceptsClient: boolean };
  status: {
    clusterClaims: { name: string; value: string }[];
    agentVersion?: string;
    lastSeen?: string;
    certificate?: { serial: string; notAfter: string; caHash: string };
  };
}
interface CaStatus {
  signing: { hash: string };
  previous: { hash: string } | null;
  rotation: { state: string; clustersPending: string[] };
}

// --- helpers -------------------------------------------------------------------------

async function tokenUsage(admin: HubClient, id: string): Promise<number> {
  const res = await admin.get<TokenResource>(`/api/v1/bootstraptokens/${id}`);
  assert.equal(res.status, 200, res.text);
  return res.body.status.usageCount;
}

async function assertNoCluster(admin: HubClient, name: string): Promise<void> {
  assertError(await admin.get(`/api/v1/clusters/${encodeURIComponent(name)}`), 404, 'CLUSTER_NOT_FOUND', name);
}

async function clusterNames(admin: HubClient): Promise<string[]> {
  const names: string[] = [];
  let cont = '';
  do {
    const res = await admin.get<{ items: ClusterResource[]; metadata: { continue?: string } }>(
      `/api/v1/clusters?limit=100${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`,
    );
    assert.equal(res.status, 200, res.text);
    names.push(...res.body.items.map((c) => c.metadata.name));
    cont = res.body.metadata.continue ?? '';
  } while (cont);
  return names;
}

async function getCluster(admin: HubClient, name: string): Promise<ClusterResource> {
  const res = await admin.get<ClusterResource>(`/api/v1/clusters/${name}`);
  assert.equal(res.status, 200, res.text);
  return res.body;
}

/** The hub still answers: /readyz and the cluster list. */
async function assertServing(hub: HubProcess, admin: HubClient): Promise<void> {
  const anon = anonymousClient(hub);
  try {
    assert.equal((await anon.get('/readyz')).status, 200);
  } finally {
    await anon.close();
  }
  assert.equal((await admin.get('/api/v1/clusters')).status, 200);
}

function heartbeat(client: HubClient, name: string) {
  return client.post<HeartbeatResponse>(agentPaths.heartbeat(name), {});
}

async function heartbeatWith(hub: HubProcess, id: { certPem: string; keyPem: string }, name: string, ca?: string) {
  const c = agentClient(hub, id, { ca });
  try {
    return await heartbeat(c, name);
  } finally {
    await c.close();
  }
}

function serialOf(pem: string): string {
  return new X509Certificate(pem).serialNumber.toLowerCase();
}

async function csrFor(opts: {
  subject: string;
  keys?: CryptoKeyPair;
  signWith?: CryptoKey;
  alg?: Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>[0]['signingAlgorithm'];
  extensions?: x509.Extension[];
}): Promise<string> {
  const keys = opts.keys ?? (await generateKeyPair());
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: opts.subject,
    keys: {
      publicKey: keys.publicKey,
      privateKey: opts.signWith ?? keys.privateKey,
    } as unknown as CryptoKeyPair as never,
    signingAlgorithm: opts.alg ?? signingAlgorithm,
    extensions: opts.extensions ?? [],
  });
  return `${csr.toString('pem')}\n`;
}

interface RawResult {
  status: number;
  body: { code?: string; cluster?: string };
  reused: boolean;
  session: Buffer | undefined;
}

/**
 * One heartbeat on a brand-new TLS connection made with node:tls, optionally resuming
 * `session` (a TLS session ticket from an earlier connection with the same certificate).
 */
function rawHeartbeat(
  hub: HubProcess,
  id: { certPem: string; keyPem: string },
  name: string,
  opts: { ca?: string; session?: Buffer | undefined } = {},
): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    let session: Buffer | undefined;
    let data = '';
    const socket = connect({
      host: '127.0.0.1',
      port: hub.port,
      ca: opts.ca ?? hub.caCertPem,
      cert: id.certPem,
      key: id.keyPem,
      session: opts.session,
    });
    const timer = setTimeout(() => socket.destroy(new Error('raw heartbeat timed out')), 10_000);
    socket.on('session', (s: Buffer) => {
      session = s;
    });
    let reused = false;
    socket.on('secureConnect', () => {
      reused = socket.isSessionReused();
      socket.write(
        `POST ${agentPaths.heartbeat(name)} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n` +
          'content-length: 2\r\nconnection: close\r\n\r\n{}',
      );
    });
    socket.on('data', (d: Buffer) => {
      data += d.toString();
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0);
      const text = data.slice(data.indexOf('\r\n\r\n') + 4);
      let body: RawResult['body'] = {};
      try {
        body = JSON.parse(text);
      } catch {
        // chunked or empty: status is enough for the callers
        const m = /\{[\s\S]*\}/.exec(text);
        if (m) body = JSON.parse(m[0]);
      }
      resolve({ status, body, reused, session });
    });
  });
}

/** A CA the hub has never seen, and a client certificate from it that copies `like`'s subject and serial. */
async function foreignCertificate(like: JoinedCluster): Promise<{ certPem: string; keyPem: string }> {
  const caKeys = await generateKeyPair();
  const now = Date.now();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=outpost-hub-ca-impostor',
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 86_400_000),
    keys: caKeys,
    signingAlgorithm,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true)],
  });
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialOf(like.certPem),
    subject: agentSubject(like.name),
    issuer: ca.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 86_400_000),
    publicKey: like.keys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm,
    extensions: [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth])],
  });
  return { certPem: `${certToPem(cert)}${certToPem(ca)}`, keyPem: like.keyPem };
}

// --- hubs ----------------------------------------------------------------------------

describe('registration and agent API faults', { timeout: 150_000 }, () => {
  let hub: HubProcess; // most cases
  let throttleHub: HubProcess; // wrong secrets: its throttle must not slow the others
  let restartDir: string;
  let restartHub: HubProcess; // restarted in the middle of a join
  let rotationHub: HubProcess; // CA rotation with exactly one joined cluster
  let shortHub: HubProcess; // --cert-validity 10s
  let admin: HubClient;
  let anon: HubClient;
  const clients: HubClient[] = [];
  const hubs: HubProcess[] = [];
  let expiringToken: { id: string; token: string };
  let short: { cluster: JoinedCluster; session: Buffer | undefined; notAfter: number };

  before(async () => {
    restartDir = await mkdtemp(join(tmpdir(), 'outpost-restart-'));
    [hub, throttleHub, restartHub, rotationHub, shortHub] = await Promise.all([
      startHub(),
      startHub(),
      startHub({ dataDir: restartDir }),
      startHub(),
      startHub({ args: ['--cert-validity', '10s'] }),
    ]);
    hubs.push(hub, throttleHub, rotationHub, shortHub);
    admin = await adminClient(hub);
    anon = anonymousClient(hub);
    clients.push(admin, anon);
    // Created first so it has expired by the time its case runs.
    expiringToken = await createToken(admin, { ttl: '2s' });

    // A 10 s certificate, and a TLS session ticket from a connection made while it was valid.
    const shortAdmin = await adminClient(shortHub);
    clients.push(shortAdmin);
    const cluster = await joinCluster(shortHub, shortAdmin, 'short-lived');
    const first = await rawHeartbeat(shortHub, cluster, cluster.name);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    short = {
      cluster,
      session: first.session,
      notAfter: new X509Certificate(cluster.certPem).validToDate.getTime(),
    };
  });

  after(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await Promise.all(hubs.map((h) => h.stop()));
    await restartHub?.stop({ keepDataDir: true });
    await rm(restartDir, { recursive: true, force: true });
  });

  // --- 1. bootstrap tokens --------------------------------------------------------------
  // At most 4 wrong tokens in a row on this hub: a 5th would throttle the cases after it.

  test('a revoked token is refused with HUB_TOKEN_REVOKED and nothing is created', async () => {
    const t = await createToken(admin, { autoApprove: true });
    const del = await admin.delete<TokenResource>(`/api/v1/bootstraptokens/${t.id}`);
    assert.equal(del.status, 200, del.text);
    assert.equal(del.body.status.phase, 'Revoked');
    const joiner = await newJoiner('tok-revoked');
    assertError(await register(anon, t.token, joiner), 401, 'HUB_TOKEN_REVOKED');
    assert.equal(await tokenUsage(admin, t.id), 0);
    await assertNoCluster(admin, joiner.name);
  });

  test('an exhausted token (usage limit 1, used by a join) is refused with HUB_TOKEN_EXHAUSTED', async () => {
    const t = await createToken(admin, { usageLimit: 1 });
    const first = await register(anon, t.token, await newJoiner('tok-exh-1'));
    assert.equal(first.status, 201, first.text);
    assert.equal(first.body.state, 'Pending');
    assert.equal(await tokenUsage(admin, t.id), 1);
    const second = await newJoiner('tok-exh-2');
    assertError(await register(anon, t.token, second), 401, 'HUB_TOKEN_EXHAUSTED');
    assert.equal(await tokenUsage(admin, t.id), 1);
    await assertNoCluster(admin, second.name);
  });

  test('a retried registration (same token, name and CSR) gets the same registration, not a refusal', async () => {
    const t = await createToken(admin, { usageLimit: 1 });
    const joiner = await newJoiner('tok-retry');
    const first = await register(anon, t.token, joiner);
    assert.equal(first.status, 201, first.text);
    // The answer to the first POST was "lost": the agent sends the very same body again.
    const again = await register(anon, t.token, joiner);
    assert.equal(again.status, 201, again.text);
    assert.equal(again.body.id, first.body.id);
    assert.equal(await tokenUsage(admin, t.id), 1, 'the retry does not use the token again');
    // A different key under the same name is still a second join.
    assertError(await register(anon, t.token, await newJoiner('tok-retry')), 401, 'HUB_TOKEN_EXHAUSTED');
  });

  test('a wrong secret for a real token id is refused with HUB_TOKEN_INVALID', async () => {
    const t = await createToken(admin, { autoApprove: true });
    const secret = t.token.split('.')[1] as string;
    const wrong = `${t.id}.${secret.startsWith('0') ? '1' : '0'}${secret.slice(1)}`;
    const joiner = await newJoiner('tok-wrong');
    const res = await register(anon, wrong, joiner);
    assertError(res, 401, 'HUB_TOKEN_INVALID');
    assert.ok(!res.text.includes(secret), 'the answer does not echo the real secret');
    assert.equal(await tokenUsage(admin, t.id), 0);
    await assertNoCluster(admin, joiner.name);
  });

  test('an unknown token id is refused with HUB_TOKEN_INVALID', async () => {
    const ids = new Set(
      (await admin.get<{ items: TokenResource[] }>('/api/v1/bootstraptokens')).body.items.map((t) => t.metadata.name),
    );
    const id = ['zzzzzz', 'zzzzzy', 'zzzzzx'].find((i) => !ids.has(i)) as string;
    const joiner = await newJoiner('tok-unknown');
    assertError(await register(anon, `${id}.0123456789abcdef`, joiner), 401, 'HUB_TOKEN_INVALID');
    await assertNoCluster(admin, joiner.name);
  });

  test('a malformed token is refused with HUB_TOKEN_MALFORMED', async () => {
    const joiner = await newJoiner('tok-malformed');
    for (const token of ['not-a-token', 'ABCDEF.0123456789ABCDEF']) {
      assertError(await register(anon, token, joiner), 400, 'HUB_TOKEN_MALFORMED', token);
    }
    // Not a string at all: refused before it counts as a guess.
    assertError(await register(anon, 12345 as unknown as string, joiner), 400, 'HUB_TOKEN_MALFORMED');
    await assertNoCluster(admin, joiner.name);
  });

  test('an expired token is refused with HUB_TOKEN_EXPIRED', async () => {
    await waitFor(
      'the 2 s token to expire',
      async () => {
        const res = await admin.get<TokenResource>(`/api/v1/bootstraptokens/${expiringToken.id}`);
        return res.body.status.phase === 'Expired' ? true : undefined;
      },
      10_000,
    );
    const joiner = await newJoiner('tok-expired');
    assertError(await register(anon, expiringToken.token, joiner), 401, 'HUB_TOKEN_EXPIRED');
    assert.equal(await tokenUsage(admin, expiringToken.id), 0);
    await assertNoCluster(admin, joiner.name);
  });

  // --- 2. throttling ---------------------------------------------------------------------

  test('5 wrong secrets slow the source down: 429 with Retry-After, doubling, then a correct token works', async () => {
    const tAdmin = await adminClient(throttleHub);
    const tAnon = anonymousClient(throttleHub);
    clients.push(tAdmin, tAnon);
    const good = await createToken(tAdmin, { autoApprove: true, usageLimit: 5 });
    const wrong = `${good.id}.${'x'.repeat(16)}`;
    const joiner = await newJoiner('throttled');

    const strike = async (expectedWait: number) => {
      for (let i = 0; i < limits.tokenFailuresBeforeThrottle; i++) {
        assertError(await register(tAnon, wrong, joiner), 401, 'HUB_TOKEN_INVALID', `wrong secret ${i + 1}`);
      }
      // Now even the correct token must wait.
      const res = await register(tAnon, good.token, joiner);
      const at = Date.now();
      assertError(res, 429, 'HUB_TOO_MANY_ATTEMPTS');
      const retryAfter = Number(res.headers['retry-after']);
      assert.equal(retryAfter, expectedWait, `Retry-After ${String(res.headers['retry-after'])}`);
      assert.equal(await tokenUsage(tAdmin, good.id), 0);
      await assertNoCluster(tAdmin, joiner.name);
      return at + retryAfter * 1000;
    };

    let until = await strike(1);
    await new Promise((r) => setTimeout(r, Math.max(0, until - Date.now()) + 50)); // the hub's own Retry-After
    until = await strike(2); // the second strike in the window doubles the wait
    await new Promise((r) => setTimeout(r, Math.max(0, until - Date.now()) + 50));
    const ok = await register(tAnon, good.token, joiner);
    assert.equal(ok.status, 201, ok.text);
    assert.equal(ok.body.state, 'Approved');
    assert.equal(await tokenUsage(tAdmin, good.id), 1);
  });

  // Regression: only a successful join resets a source's wrong-secret count; a leaked
  // revoked or expired token interleaved with guesses must not keep the source unthrottled.
  test('presenting a revoked token between wrong secrets does not reset the throttle', async () => {
    const tAdmin = await adminClient(throttleHub);
    const tAnon = anonymousClient(throttleHub);
    clients.push(tAdmin, tAnon);
    const revoked = await createToken(tAdmin, {});
    assert.equal((await tAdmin.delete(`/api/v1/bootstraptokens/${revoked.id}`)).status, 200);
    const good = await createToken(tAdmin, { autoApprove: true });
    const wrong = `${good.id}.${'y'.repeat(16)}`;
    const joiner = await newJoiner('throttle-bypass');
    for (let i = 0; i < limits.tokenFailuresBeforeThrottle - 1; i++) {
      assertError(await register(tAnon, wrong, joiner), 401, 'HUB_TOKEN_INVALID');
    }
    assertError(await register(tAnon, revoked.token, joiner), 401, 'HUB_TOKEN_REVOKED');
    assertError(await register(tAnon, wrong, joiner), 401, 'HUB_TOKEN_INVALID'); // the 5th wrong secret in a minute
    const res = await register(tAnon, good.token, joiner);
    assertError(res, 429, 'HUB_TOO_MANY_ATTEMPTS', 'a revoked token reset the wrong-secret count');
    assert.equal(await tokenUsage(tAdmin, good.id), 0);
  });

  // --- 3. CSRs ---------------------------------------------------------------------------

  describe('CSR checks', () => {
    const name = 'csr-victim';
    let token: { id: string; token: string };
    before(async () => {
      token = await createToken(admin, { autoApprove: true, usageLimit: 1 });
    });
    const refused = async (csr: unknown, status: number, code: string) => {
      assertError(await register(anon, token.token, { name, csr: csr as string }), status, code);
      assert.equal(await tokenUsage(admin, token.id), 0, 'token use not counted');
      await assertNoCluster(admin, name);
    };

    test('a CSR signed by another key: CSR_SIGNATURE_INVALID', async () => {
      const a = await generateKeyPair();
      const b = await generateKeyPair();
      await refused(
        await csrFor({ subject: agentSubject(name), keys: a, signWith: b.privateKey }),
        400,
        'CSR_SIGNATURE_INVALID',
      );
    });

    test('a CSR naming another cluster: CSR_SUBJECT_MISMATCH', async () => {
      await refused(await csrFor({ subject: agentSubject('someone-else') }), 400, 'CSR_SUBJECT_MISMATCH');
    });

    test('a CSR with an extra, duplicated or missing subject RDN: CSR_SUBJECT_MISMATCH', async () => {
      for (const subject of [
        `${agentSubject(name)}, OU=evil`,
        `${agentSubject(name)}, O=system:masters`,
        `CN=outpost:cluster:${name}`,
        `${agentSubject(name)}, O=outpost:agents`,
      ]) {
        await refused(await csrFor({ subject }), 400, 'CSR_SUBJECT_MISMATCH');
      }
    });

    test('weak keys (RSA 1024, ECDSA P-521): CSR_KEY_WEAK', async () => {
      const rsa = (await webcrypto.subtle.generateKey(
        { name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
        true,
        ['sign', 'verify'],
      )) as CryptoKeyPair;
      await refused(
        await csrFor({ subject: agentSubject(name), keys: rsa, alg: { name: 'RSASSA-PKCS1-v1_5' } }),
        400,
        'CSR_KEY_WEAK',
      );
      const p521 = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-521' }, true, [
        'sign',
        'verify',
      ])) as CryptoKeyPair;
      await refused(
        await csrFor({ subject: agentSubject(name), keys: p521, alg: { name: 'ECDSA', hash: 'SHA-512' } }),
        400,
        'CSR_KEY_WEAK',
      );
    });

    test('CSRs asking for keyCertSign, serverAuth, CA=true or a SAN: CSR_EXTENSIONS_FORBIDDEN', async () => {
      const cases: [string, x509.Extension][] = [
        [
          'keyCertSign',
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.digitalSignature),
        ],
        ['serverAuth', new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth])],
        [
          'serverAuth+clientAuth',
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth]),
        ],
        ['CA=true', new x509.BasicConstraintsExtension(true)],
        ['SAN', new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'hub.example.com' }])],
      ];
      for (const [what, ext] of cases) {
        const res = await register(anon, token.token, {
          name,
          csr: await csrFor({ subject: agentSubject(name), extensions: [ext] }),
        });
        assertError(res, 400, 'CSR_EXTENSIONS_FORBIDDEN', what);
      }
      assert.equal(await tokenUsage(admin, token.id), 0);
      await assertNoCluster(admin, name);
    });

    test('malformed PEM, not PEM, a certificate instead of a CSR, not a string: CSR_MALFORMED', async () => {
      const cert = (await joinedSomewhere()).certPem;
      for (const csr of [
        '-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgY3Ny\n-----END CERTIFICATE REQUEST-----\n',
        '-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----\n',
        'hello, hub',
        '',
        cert,
      ]) {
        await refused(csr, 400, 'CSR_MALFORMED');
      }
      await refused(42, 400, 'CSR_MALFORMED');
    });

    test('control: the same token accepts a proper P-384 CSR (and counts the use once)', async () => {
      const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, [
        'sign',
        'verify',
      ])) as CryptoKeyPair;
      const csr = await csrFor({ subject: agentSubject(name), keys, alg: { name: 'ECDSA', hash: 'SHA-384' } });
      const res = await register(anon, token.token, { name, csr });
      assert.equal(res.status, 201, res.text);
      assert.equal(res.body.state, 'Approved');
      assert.equal(await tokenUsage(admin, token.id), 1);
    });
  });

  let someCluster: JoinedCluster | undefined;
  async function joinedSomewhere(): Promise<JoinedCluster> {
    someCluster ??= await joinCluster(hub, admin, 'some-cluster');
    return someCluster;
  }

  // --- 4. names and odd values -----------------------------------------------------------

  test('hostile cluster names are refused with CLUSTER_NAME_INVALID and the hub keeps serving', async () => {
    const t = await createToken(admin, { autoApprove: true });
    const before = await clusterNames(admin);
    const csr = (await newJoiner('x')).csr;
    const names = [
      '../etc',
      'ζ-rack',
      'Rack-1',
      'a'.repeat(64),
      "a'; DROP TABLE clusters;--",
      '',
      '-leading',
      'trailing-',
      'a b',
      'nul\u0000byte',
      'a'.repeat(1_000_000),
    ];
    for (const name of names) {
      const res = await register(anon, t.token, { name, csr });
      assertError(res, 400, 'CLUSTER_NAME_INVALID', JSON.stringify(name.slice(0, 40)));
      assert.ok(res.text.length < 2_000, 'the answer does not echo a huge name');
    }
    assert.equal(await tokenUsage(admin, t.id), 0);
    assert.deepEqual(await clusterNames(admin), before);
    await assertServing(hub, admin);
  });

  test('a registration body over 1 MiB (a huge name) is refused with 413 BODY_TOO_LARGE', async () => {
    const t = await createToken(admin, { autoApprove: true });
    const before = await clusterNames(admin);
    const res = await register(anon, t.token, { name: 'a'.repeat(limits.bodyBytes + 10), csr: 'x' });
    assertError(res, 413, 'BODY_TOO_LARGE');
    assert.equal(await tokenUsage(admin, t.id), 0);
    assert.deepEqual(await clusterNames(admin), before);
    await assertServing(hub, admin);
  });

  test('odd but valid descriptions, labels, claims and versions are stored and echoed back exactly', async () => {
    const description = 'Zürich "rack" 7 <script>alert(1)</script> \'quoted\' \\ ζ 🚀 \u2028 &amp;';
    const labels = { 'example.com/role': 'Edge_Node.v-2', env: '', 'a.b-c_d': 'X' };
    const created = await admin.post<TokenResource & { status: { token: string } }>('/api/v1/bootstraptokens', {
      spec: { description, labels: { 'outpost.dev/site': 'fra1' }, autoApprove: true },
    });
    assert.equal(created.status, 201, created.text);
    const got = await admin.get<TokenResource>(`/api/v1/bootstraptokens/${created.body.metadata.name}`);
    assert.match(String(got.headers['content-type']), /^application\/json/);
    assert.equal(got.body.spec.description, description);

    const claims = {
      'kube.version': 'v1.36.3+k3s1',
      'odd.claim': '<script>alert("x")</script> \'\\ ζ 🚀 \u0000 end',
      'unicode/ключ': 'значение',
    };
    const agentVersion = 'v1.0 "β" <b>';
    const joiner = await newJoiner('odd-values');
    const res = await register(anon, created.body.status.token, joiner, { labels, claims, agentVersion });
    assert.equal(res.status, 201, res.text);
    const c = await admin.get<ClusterResource>(`/api/v1/clusters/${joiner.name}`);
    assert.match(String(c.headers['content-type']), /^application\/json/);
    assert.deepEqual(c.body.metadata.labels, { ...labels, 'outpost.dev/site': 'fra1' });
    assert.deepEqual(Object.fromEntries(c.body.status.clusterClaims.map((x) => [x.name, x.value])), claims);
    assert.equal(c.body.status.agentVersion, agentVersion);
  });

  test('a joining cluster may not put itself into a cluster set; the token may', async () => {
    const setLabel = 'cluster.open-cluster-management.io/clusterset';
    const plain = await createToken(admin, { autoApprove: true });
    const self = await register(anon, plain.token, await newJoiner('set-self'), { labels: { [setLabel]: 'prod' } });
    assertError(self, 403, 'CLUSTER_SET_LABEL_FORBIDDEN', 'token create --labels');
    assert.equal(await tokenUsage(admin, plain.id), 0, 'a refused join uses nothing up');
    const created = await admin.post<TokenResource & { status: { token: string } }>('/api/v1/bootstraptokens', {
      spec: { labels: { [setLabel]: 'prod' }, autoApprove: true },
    });
    assert.equal(created.status, 201, created.text);
    const joiner = await newJoiner('set-token');
    const ok = await register(anon, created.body.status.token, joiner, { labels: { [setLabel]: 'prod' } });
    assert.equal(ok.status, 201, ok.text);
    const c = await admin.get<ClusterResource>(`/api/v1/clusters/${joiner.name}`);
    assert.equal(c.body.metadata.labels[setLabel], 'prod');
  });

  // --- 5. name clash and recovery ----------------------------------------------------------

  test('a second join under an existing name is CLUSTER_EXISTS; recovery re-joins it with a new key', async () => {
    const first = await joinCluster(hub, admin, 'rec-a', { labels: { rack: 'r7' } });
    const other = await joinCluster(hub, admin, 'rec-b');
    const beforeRecovery = await getCluster(admin, 'rec-a');
    assert.equal((await heartbeatWith(hub, first, 'rec-a')).status, 200);

    // Someone else tries the same name with a perfectly good token.
    const t = await createToken(admin, { autoApprove: true });
    assertError(await register(anon, t.token, await newJoiner('rec-a')), 409, 'CLUSTER_EXISTS');
    assert.equal(await tokenUsage(admin, t.id), 0);
    assert.equal((await getCluster(admin, 'rec-a')).metadata.uid, beforeRecovery.metadata.uid);

    const rec = await admin.post<{ token: string; expiresAt: string; caCertHashes: string[] }>(
      '/api/v1/clusters/rec-a/recover',
    );
    assert.equal(rec.status, 201, rec.text);
    const recTokenId = rec.body.token.split('.')[0] as string;
    assert.deepEqual(rec.body.caCertHashes, [hub.caHash]);

    // The recovery token is bound to rec-a: not for another existing cluster, nor a new name.
    for (const wrongName of ['rec-b', 'rec-new']) {
      assertError(await register(anon, rec.body.token, await newJoiner(wrongName)), 403, 'HUB_TOKEN_WRONG_CLUSTER');
    }
    await assertNoCluster(admin, 'rec-new');
    assert.equal(await tokenUsage(admin, recTokenId), 0);
    assert.equal((await heartbeatWith(hub, other, 'rec-b')).status, 200, 'rec-b is untouched');

    const fresh = await newJoiner('rec-a');
    const res = await register(anon, rec.body.token, fresh, { labels: { rack: 'changed-by-spoke' } });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.state, 'Approved', 'recovery approves at once');
    assert.ok(res.body.certificate);
    const after = await getCluster(admin, 'rec-a');
    assert.equal(after.metadata.uid, beforeRecovery.metadata.uid);
    assert.deepEqual(after.metadata.labels, beforeRecovery.metadata.labels);
    assert.equal(after.spec.hubAcceptsClient, true);
    assert.equal(after.status.certificate?.serial, serialOf(res.body.certificate));

    assertError(await heartbeatWith(hub, first, 'rec-a'), 401, 'AGENT_CERT_REVOKED', 'old certificate');
    const hb = await heartbeatWith(hub, { certPem: res.body.certificate, keyPem: fresh.keyPem }, 'rec-a');
    assert.equal(hb.status, 200, hb.text);
    assert.equal(hb.body.cluster, 'rec-a');

    // Single use.
    assertError(await register(anon, rec.body.token, await newJoiner('rec-a')), 401, 'HUB_TOKEN_EXHAUSTED');
  });

  test('concurrent joins under one name with five tokens: exactly one wins, the others are CLUSTER_EXISTS', async () => {
    const tokens = await Promise.all(Array.from({ length: 5 }, () => createToken(admin, { autoApprove: true })));
    const joiners = await Promise.all(tokens.map(() => newJoiner('race-name')));
    const results = await Promise.all(tokens.map((t, i) => register(anon, t.token, joiners[i] as (typeof joiners)[0])));
    const winners = results.filter((r) => r.status === 201);
    assert.equal(winners.length, 1, results.map((r) => `${r.status} ${r.text.slice(0, 80)}`).join('\n'));
    for (const r of results.filter((x) => x.status !== 201)) assertError(r, 409, 'CLUSTER_EXISTS');
    const uses = await Promise.all(tokens.map((t) => tokenUsage(admin, t.id)));
    assert.equal(
      uses.reduce((a, b) => a + b, 0),
      1,
      'only the winning token counts a use',
    );
    const winner = winners[0] as (typeof results)[0];
    assert.equal(
      (await getCluster(admin, 'race-name')).status.certificate?.serial,
      serialOf(winner.body.certificate as string),
    );
  });

  test('one single-use token raced for five names: exactly one cluster, the others HUB_TOKEN_EXHAUSTED', async () => {
    const t = await createToken(admin, { autoApprove: true, usageLimit: 1 });
    const joiners = await Promise.all([1, 2, 3, 4, 5].map((i) => newJoiner(`race-token-${i}`)));
    const results = await Promise.all(joiners.map((j) => register(anon, t.token, j)));
    assert.equal(results.filter((r) => r.status === 201).length, 1);
    for (const r of results.filter((x) => x.status !== 201)) assertError(r, 401, 'HUB_TOKEN_EXHAUSTED');
    assert.equal(await tokenUsage(admin, t.id), 1);
    const names = await clusterNames(admin);
    assert.equal(joiners.filter((j) => names.includes(j.name)).length, 1);
  });

  // --- 6. one cluster acting for another ---------------------------------------------------

  describe('agent identity', () => {
    let a: JoinedCluster;
    let b: JoinedCluster;
    let asA: HubClient;
    before(async () => {
      [a, b] = await Promise.all([joinCluster(hub, admin, 'iso-a'), joinCluster(hub, admin, 'iso-b')]);
      asA = agentClient(hub, a);
      clients.push(asA);
    });

    test("cluster A's certificate on cluster B's heartbeat: 403 AGENT_IDENTITY_MISMATCH", async () => {
      const bBefore = await getCluster(admin, 'iso-b');
      assertError(await heartbeat(asA, 'iso-b'), 403, 'AGENT_IDENTITY_MISMATCH');
      assert.equal((await heartbeat(asA, 'iso-a')).status, 200, 'A itself is fine');
      const bAfter = await getCluster(admin, 'iso-b');
      assert.deepEqual(bAfter, bBefore);
    });

    test("cluster A's certificate on cluster B's renewal: 403 AGENT_IDENTITY_MISMATCH, nothing issued", async () => {
      const bBefore = await getCluster(admin, 'iso-b');
      const csr = (await newJoiner('iso-b')).csr;
      assertError(await asA.post(agentPaths.certificate('iso-b'), { csr }), 403, 'AGENT_IDENTITY_MISMATCH');
      assert.equal((await getCluster(admin, 'iso-b')).status.certificate?.serial, bBefore.status.certificate?.serial);
      assert.equal((await heartbeatWith(hub, b, 'iso-b')).status, 200);
    });

    test("a cluster reads its own status without counting as seen, and never another's", async () => {
      assert.equal((await heartbeat(asA, 'iso-a')).status, 200);
      const seen = (await getCluster(admin, 'iso-a')).status.lastSeen;
      assert.ok(seen, 'the heartbeat is a sighting');
      const res = await asA.get<ClusterSelfView>(agentPaths.cluster('iso-a'));
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.cluster, 'iso-a');
      assert.equal(res.body.lastSeen, seen);
      assert.ok(Date.parse(res.body.serverTime) >= Date.parse(seen));
      assert.deepEqual(
        res.body.conditions.map((c) => `${c.type}=${c.status}`),
        ['HubAccepted=True', 'Joined=True', 'Available=True'],
      );
      // Reading is not a sighting, however often.
      for (let i = 0; i < 3; i++) assert.equal((await asA.get(agentPaths.cluster('iso-a'))).status, 200);
      assert.equal((await getCluster(admin, 'iso-a')).status.lastSeen, seen);
      assertError(await asA.get(agentPaths.cluster('iso-b')), 403, 'AGENT_IDENTITY_MISMATCH');
      assertError(await anon.get(agentPaths.cluster('iso-a')), 401, 'AGENT_CERT_REQUIRED');
    });

    test('no client certificate: 401 AGENT_CERT_REQUIRED', async () => {
      assertError(await heartbeat(anon, 'iso-a'), 401, 'AGENT_CERT_REQUIRED');
      assertError(await anon.post(agentPaths.certificate('iso-a'), { csr: a.csr }), 401, 'AGENT_CERT_REQUIRED');
    });

    test('a certificate from a foreign CA with the right subject and serial: 401 AGENT_CERT_REQUIRED', async () => {
      const forged = await foreignCertificate(a);
      assertError(await heartbeatWith(hub, forged, 'iso-a'), 401, 'AGENT_CERT_REQUIRED');
      const c = agentClient(hub, forged);
      clients.push(c);
      assertError(await c.post(agentPaths.certificate('iso-a'), { csr: a.csr }), 401, 'AGENT_CERT_REQUIRED');
    });
  });

  // --- 7. revocation on a kept-alive connection --------------------------------------------

  for (const [how, call] of [
    ['deny', (name: string) => admin.post(`/api/v1/clusters/${name}/deny`)],
    ['remove', (name: string) => admin.delete(`/api/v1/clusters/${name}`)],
  ] as const) {
    test(`${how}: the very next heartbeat on the same kept-alive connection is 401 AGENT_CERT_REVOKED`, async () => {
      const c = await joinCluster(hub, admin, `ka-${how}`);
      const agent = agentClient(hub, c, { connections: 1 });
      clients.push(agent);
      for (let i = 0; i < 3; i++) assert.equal((await heartbeat(agent, c.name)).status, 200);
      assert.equal(agent.connects, 1);
      const res = await call(c.name);
      assert.equal(res.status, 200, res.text);
      assertError(await heartbeat(agent, c.name), 401, 'AGENT_CERT_REVOKED');
      assert.equal(agent.connects, 1, 'the refusal came on the same connection');
    });
  }

  // --- 8. bodies -----------------------------------------------------------------------------

  test('oversized admin body: 413 BODY_TOO_LARGE, nothing created', async () => {
    const before = (await admin.get<{ items: unknown[] }>('/api/v1/bootstraptokens')).body.items.length;
    const res = await admin.post('/api/v1/bootstraptokens', {
      spec: { description: 'x'.repeat(limits.bodyBytes + 1) },
    });
    assertError(res, 413, 'BODY_TOO_LARGE');
    assert.equal((await admin.get<{ items: unknown[] }>('/api/v1/bootstraptokens')).body.items.length, before);
  });

  test('malformed JSON and YAML bodies: 400 BODY_MALFORMED', async () => {
    const before = (await admin.get<{ items: unknown[] }>('/api/v1/bootstraptokens')).body.items.length;
    assertError(
      await anon.call('POST', agentPaths.registrations, { raw: '{"token": "abc", ' }),
      400,
      'BODY_MALFORMED',
      'registration JSON',
    );
    assertError(
      await admin.call('POST', '/api/v1/bootstraptokens', { raw: '{"spec": {"ttl": "1h",}}' }),
      400,
      'BODY_MALFORMED',
      'admin JSON',
    );
    assertError(
      await admin.call('POST', '/api/v1/bootstraptokens', {
        raw: 'spec:\n  ttl: [1h\n  labels: {a: b\n',
        contentType: 'application/yaml',
      }),
      400,
      'BODY_MALFORMED',
      'admin YAML',
    );
    assert.equal((await admin.get<{ items: unknown[] }>('/api/v1/bootstraptokens')).body.items.length, before);
    // Control: well-formed YAML is accepted.
    const ok = await admin.call('POST', '/api/v1/bootstraptokens', {
      raw: 'spec:\n  ttl: 5m\n  description: "from yaml"\n',
      contentType: 'application/yaml',
    });
    assert.equal(ok.status, 201, ok.text);
  });

  test('a YAML alias bomb is refused quickly with 400 and the hub keeps serving', async () => {
    const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    const letters = 'bcdefghijk';
    for (let i = 0; i < letters.length; i++) {
      const prev = i === 0 ? 'a' : letters[i - 1];
      lines.push(`${letters[i]}: &${letters[i]} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const started = Date.now();
    const res = await admin.call('POST', '/api/v1/bootstraptokens', {
      raw: `spec:\n  description: x\n${lines.join('\n')}\n`,
      contentType: 'application/yaml',
      timeoutMs: 10_000,
    });
    assertError(res, 400, 'BODY_MALFORMED');
    assert.ok(Date.now() - started < 5_000, `answered in ${Date.now() - started} ms`);
    await assertServing(hub, admin);
  });

  // --- 9. restart in the middle of a join ----------------------------------------------------

  test('a hub restart between register and approve: the registration survives, approval works', async () => {
    const rAdmin = await adminClient(restartHub);
    const t = await createToken(rAdmin, {});
    const joiner = await newJoiner('restarted');
    const rAnon = anonymousClient(restartHub);
    const reg = await register(rAnon, t.token, joiner);
    await rAnon.close();
    await rAdmin.close();
    assert.equal(reg.status, 201, reg.text);
    assert.equal(reg.body.state, 'Pending');
    assert.equal(reg.headers['retry-after'], String(reg.body.retryAfterSeconds));

    assert.equal(await restartHub.stop({ keepDataDir: true }), 0);
    restartHub = await startHub({ dataDir: restartDir });
    const a2 = await adminClient(restartHub);
    const n2 = anonymousClient(restartHub);
    clients.push(a2, n2);

    const still = await n2.get<RegistrationView>(agentPaths.registration(reg.body.id));
    assert.equal(still.status, 200, still.text);
    assert.equal(still.body.state, 'Pending');
    assert.equal(still.body.certificate, undefined);

    const approved = await a2.post<ClusterResource>('/api/v1/clusters/restarted/approve');
    assert.equal(approved.status, 200, approved.text);
    const done = await n2.get<RegistrationView>(agentPaths.registration(reg.body.id));
    assert.equal(done.body.state, 'Approved');
    const certPem = done.body.certificate as string;
    const bundle = done.body.caBundle as string;
    const leaf = new X509Certificate(certPem);
    const cas = splitPemCertificates(bundle).map((p) => new X509Certificate(p));
    assert.ok(
      cas.some((ca) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey)),
      'the certificate verifies against the CA bundle',
    );
    assert.equal(leaf.subject.replace(/\n/g, ', '), agentSubject('restarted'));
    const hb = await heartbeatWith(restartHub, { certPem, keyPem: joiner.keyPem }, 'restarted', bundle);
    assert.equal(hb.status, 200, hb.text);
    assert.equal(hb.body.renewNow, false);
  });

  // --- 10. renewal and CA rotation ------------------------------------------------------------

  test('renewal with a new key: a new certificate with a new serial that works; refusals change nothing', async () => {
    const c = await joinCluster(hub, admin, 'renew-1');
    const asC = agentClient(hub, c);
    clients.push(asC);
    const next = await newJoiner('renew-1');

    assertError(await asC.post(agentPaths.certificate('renew-1'), { csr: 'junk' }), 400, 'CSR_MALFORMED');
    assertError(
      await asC.post(agentPaths.certificate('renew-1'), { csr: (await newJoiner('renew-2')).csr }),
      400,
      'CSR_SUBJECT_MISMATCH',
    );
    assert.equal((await getCluster(admin, 'renew-1')).status.certificate?.serial, serialOf(c.certPem));

    const res = await asC.post<RenewResponse>(agentPaths.certificate('renew-1'), { csr: next.csr });
    assert.equal(res.status, 200, res.text);
    const newSerial = serialOf(res.body.certificate);
    assert.notEqual(newSerial, serialOf(c.certPem));
    const spki = (pem: string) => Buffer.from(new x509.X509Certificate(pem).publicKey.rawData).toString('hex');
    const wantSpki = Buffer.from(await webcrypto.subtle.exportKey('spki', next.keys.publicKey)).toString('hex');
    assert.equal(spki(res.body.certificate), wantSpki, 'the certificate is for the new key');
    assert.equal((await getCluster(admin, 'renew-1')).status.certificate?.serial, newSerial);

    // A renewal does not revoke the previous certificate (a crash before storing the new one).
    assert.equal((await heartbeat(asC, 'renew-1')).status, 200);
    const hb = await heartbeatWith(hub, { certPem: res.body.certificate, keyPem: next.keyPem }, 'renew-1');
    assert.equal(hb.status, 200, hb.text);
    // Once the new one was used, the previous one is retired.
    assertError(await heartbeat(asC, 'renew-1'), 401, 'AGENT_CERT_REVOKED', 'the superseded certificate');
  });

  test('a cluster holds at most two valid certificates, however often it renews', async () => {
    const c = await joinCluster(hub, admin, 'renew-many');
    const asC = agentClient(hub, c);
    clients.push(asC);
    const issued: { certPem: string; keyPem: string }[] = [];
    for (let i = 0; i < 5; i++) {
      const next = await newJoiner('renew-many');
      const res = await asC.post<RenewResponse>(agentPaths.certificate('renew-many'), { csr: next.csr });
      assert.equal(res.status, 200, res.text);
      issued.push({ certPem: res.body.certificate, keyPem: next.keyPem });
    }
    // Renewing with the same (unrenewed) certificate again and again leaves it and the last one.
    const valid = [];
    for (const cert of [{ certPem: c.certPem, keyPem: c.keyPem }, ...issued]) {
      const hb = await heartbeatWith(hub, cert, 'renew-many');
      if (hb.status === 200) valid.push(serialOf(cert.certPem));
      else assertError(hb, 401, 'AGENT_CERT_REVOKED', 'an earlier renewal');
    }
    assert.deepEqual(valid, [serialOf(c.certPem), serialOf((issued.at(-1) as { certPem: string }).certPem)]);
  });

  describe('CA rotation with one joined cluster', () => {
    let rAdmin: HubClient;
    let c: JoinedCluster;
    let oldCa: string;
    let newCa: string;
    let renewed: { certPem: string; keyPem: string };
    let oldSession: Buffer | undefined;

    const probe = async (ca: string) => {
      const p = anonymousClient(rotationHub, { ca });
      try {
        return (await p.get('/readyz')).status;
      } finally {
        await p.close();
      }
    };

    const caBundleVia = async (ca: string) => {
      const p = anonymousClient(rotationHub, { ca });
      try {
        return await p.get<CaBundleResponse>(agentPaths.caBundle);
      } finally {
        await p.close();
      }
    };

    before(async () => {
      rAdmin = await adminClient(rotationHub);
      clients.push(rAdmin);
      c = await joinCluster(rotationHub, rAdmin, 'rot-1');
      // A cluster that never joined does not hold the rotation open.
      const t = await createToken(rAdmin, {});
      const rAnon = anonymousClient(rotationHub);
      assert.equal((await register(rAnon, t.token, await newJoiner('rot-pending'))).status, 201);
      await rAnon.close();
      oldCa = rotationHub.caCertPem;
    });

    test('rotate: the cluster is asked to renew and the rotation waits for it', async () => {
      const rot = await rAdmin.post<CaStatus>('/api/v1/ca/rotate');
      assert.equal(rot.status, 200, rot.text);
      assert.equal(rot.body.rotation.state, 'InProgress');
      assert.deepEqual(rot.body.rotation.clustersPending, ['rot-1']);
      assert.equal(rot.body.previous?.hash, rotationHub.caHash);
      assert.notEqual(rot.body.signing.hash, rotationHub.caHash);
      const status = await rAdmin.get<CaStatus>('/api/v1/ca');
      assert.deepEqual(status.body.rotation, { state: 'InProgress', clustersPending: ['rot-1'] });
      assertError(await rAdmin.post('/api/v1/ca/rotate'), 409, 'CONFLICT', 'a second rotation');

      const bundle = await caBundleVia(oldCa);
      assert.deepEqual(bundle.body.caHashes, [rot.body.signing.hash, rotationHub.caHash]);
      newCa = splitPemCertificates(bundle.body.caBundle)[0] as string;
      const both = `${oldCa}${newCa}`;

      const hb = await heartbeatWith(rotationHub, c, 'rot-1', both);
      assert.equal(hb.status, 200, hb.text);
      assert.equal(hb.body.renewNow, true);
      const raw = await rawHeartbeat(rotationHub, c, 'rot-1');
      assert.equal(raw.status, 200);
      oldSession = raw.session;
      assert.equal(await probe(both), 200, 'old+new bundle verifies the hub during the rotation');
      assert.equal(await probe(oldCa), 200, 'the serving certificate is still from the old CA');
    });

    test('after the renewal the old CA is retired: bundle, serving certificate and client checks switch', async () => {
      const both = `${oldCa}${newCa}`;
      const next = await newJoiner('rot-1');
      const asOld = agentClient(rotationHub, c, { ca: both });
      clients.push(asOld);
      const res = await asOld.post<RenewResponse>(agentPaths.certificate('rot-1'), { csr: next.csr });
      assert.equal(res.status, 200, res.text);
      // This renewal completes the rotation (rot-1 was the only cluster it waited for), so the
      // bundle it carries is the new CA alone; agents trust the union of the bundles they got.
      assert.ok(res.body.caBundle.includes(newCa.trim()), 'the renewal carries the new CA');
      const leaf = new X509Certificate(res.body.certificate);
      assert.ok(leaf.checkIssued(new X509Certificate(newCa)), 'renewed under the new CA');
      renewed = { certPem: res.body.certificate, keyPem: next.keyPem };

      const status = await waitFor('the old CA to be retired', async () => {
        const s = await rAdmin.get<CaStatus>('/api/v1/ca');
        return s.body.rotation.state === 'None' ? s.body : undefined;
      });
      assert.equal(status.previous, null);
      assert.deepEqual(status.rotation.clustersPending, []);

      const bundle = await caBundleVia(both);
      assert.equal(bundle.status, 200);
      assert.deepEqual(bundle.body.caHashes, [status.signing.hash]);
      assert.equal(splitPemCertificates(bundle.body.caBundle).length, 1);

      assert.equal(await probe(both), 200, 'old+new bundle still verifies the hub');
      assert.equal(await probe(newCa), 200, 'the serving certificate is now from the new CA');
      await assert.rejects(probe(oldCa), /certificate|verify|issuer/i, 'the old CA alone no longer verifies the hub');

      const hb = await heartbeatWith(rotationHub, renewed, 'rot-1', both);
      assert.equal(hb.status, 200, hb.text);
      assert.equal(hb.body.renewNow, false);
      assertError(await heartbeatWith(rotationHub, c, 'rot-1', both), 401, 'AGENT_CERT_REQUIRED', 'old-CA certificate');
    });

    // Resumption must not carry an old verification over a CA retirement: the hub's new TLS
    // context (setSecureContext) does not accept tickets issued before it, so this is a full
    // handshake that fails verification. (Contrast with the expiry case at the end of the file.)
    test('a retired-CA certificate is refused also when it resumes a TLS session from before', async () => {
      assert.ok(oldSession, 'a session ticket was captured before the retirement');
      const res = await rawHeartbeat(rotationHub, c, 'rot-1', { ca: `${oldCa}${newCa}`, session: oldSession });
      assert.equal(res.status, 401, `resumed=${res.reused}; got ${res.status} ${JSON.stringify(res.body)}`);
      assert.equal(res.body.code, 'AGENT_CERT_REQUIRED');
      assert.equal(res.reused, false);
    });
  });

  // --- certificate expiry (runs last: the 10 s certificate has expired by now) --------------------

  // Regression: TLS enforces expiry only in a full handshake; a resumed session keeps the
  // original verdict, so the hub checks the certificate's notAfter on every request.
  test('an expired certificate is refused on a fresh connection and on a resumed TLS session', async () => {
    const { cluster, session, notAfter } = short;
    await waitFor(
      'the 10 s certificate to expire',
      async () => (Date.now() > notAfter + 500 ? true : undefined),
      20_000,
    );
    const fresh = await heartbeatWith(shortHub, cluster, cluster.name);
    assertError(fresh, 401, 'AGENT_CERT_EXPIRED', 'fresh handshake');
    assert.match((fresh.body as unknown as { message: string }).message, /expired/i);
    assert.ok(session, 'a session ticket was captured while the certificate was valid');
    const resumed = await rawHeartbeat(shortHub, cluster, cluster.name, { session });
    assert.equal(
      resumed.status,
      401,
      `resumed=${resumed.reused}; an expired certificate got ${resumed.status} ${JSON.stringify(resumed.body)}`,
    );
    if (resumed.reused) assert.match(JSON.stringify(resumed.body), /AGENT_CERT_EXPIRED/);
  });
});
