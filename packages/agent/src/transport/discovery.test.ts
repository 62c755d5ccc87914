// Pinned discovery against real TLS servers on loopback, with certificates made here: the
// genuine hub, a hub whose bundle has no pinned CA, and an impostor that copies the real
// (public) CA into its bundle but serves a certificate from its own.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { agentPaths, caCertHash } from '@outpost/shared';
import { AgentError } from '../errors.ts';
import { createTestCa, issueServingCert, type TestCa } from '../testing/pki.ts';
import { discoverHub } from './discovery.ts';

let realCa: TestCa;
let otherCa: TestCa;
const servers: Server[] = [];

async function fakeHub(ca: TestCa, bundle: string, opts: { cert?: { certPem: string; keyPem: string } } = {}) {
  const serving = opts.cert ?? (await issueServingCert(ca));
  let requests = 0;
  const server = createServer({ key: serving.keyPem, cert: serving.certPem }, (req, res) => {
    requests++;
    if (req.url === agentPaths.caBundle) {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ caBundle: bundle, caHashes: [] }));
    } else {
      res.statusCode = 404;
      res.end('{"code":"NOT_FOUND","message":"no"}');
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => requests };
}

before(async () => {
  realCa = await createTestCa('real hub CA');
  otherCa = await createTestCa('impostor CA');
});
after(() => {
  for (const s of servers) s.close();
});

function agentError(code: string, pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof AgentError, String(err));
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  };
}

describe('pinned discovery', () => {
  test('the genuine hub: bundle taken from the verified connection', async () => {
    const hub = await fakeHub(realCa, realCa.certPem + otherCa.certPem);
    const pin = caCertHash(realCa.certPem);
    const found = await discoverHub(hub.url, [pin]);
    assert.deepEqual(found.matchedHashes, [pin]);
    assert.equal(found.caBundle, realCa.certPem + otherCa.certPem);
    // Only the pinned CA is trusted during the join, not the whole bundle.
    assert.equal(found.pinnedCaPem, realCa.certPem);
    assert.equal(hub.requests(), 2, 'one unverified and one verified request');
  });

  test('no pinned CA in the bundle: AGENT_CA_PIN_MISMATCH naming both hashes', async () => {
    const hub = await fakeHub(otherCa, otherCa.certPem);
    const pin = caCertHash(realCa.certPem);
    await assert.rejects(
      discoverHub(hub.url, [pin]),
      agentError(
        'AGENT_CA_PIN_MISMATCH',
        new RegExp(
          `the hub at ${hub.url} presented CA ${caCertHash(otherCa.certPem)}; you pinned ${pin}: wrong --hub or an impostor`,
        ),
      ),
    );
    assert.equal(hub.requests(), 1, 'nothing more is sent');
  });

  test('an impostor listing the real CA but serving its own certificate is refused', async () => {
    const hub = await fakeHub(otherCa, realCa.certPem + otherCa.certPem);
    await assert.rejects(
      discoverHub(hub.url, [caCertHash(realCa.certPem)]),
      agentError('AGENT_HUB_UNTRUSTED', new RegExp(`issued by CA ${caCertHash(otherCa.certPem)}.*you did not pin`)),
    );
  });

  test('pinning both CAs (a CA rotation) accepts the hub whose serving CA is either', async () => {
    const hub = await fakeHub(otherCa, realCa.certPem + otherCa.certPem);
    const found = await discoverHub(hub.url, [caCertHash(realCa.certPem), caCertHash(otherCa.certPem)]);
    assert.equal(found.matchedHashes.length, 2);
  });

  test('a serving certificate without the dialled name says which --san is missing', async () => {
    const cert = await issueServingCert(realCa, [{ type: 'dns', value: 'hub.example.invalid' }]);
    const hub = await fakeHub(realCa, realCa.certPem, { cert });
    await assert.rejects(
      discoverHub(hub.url, [caCertHash(realCa.certPem)]),
      agentError('AGENT_HUB_UNTRUSTED', /does not name 127\.0\.0\.1: .*--san 127\.0\.0\.1/),
    );
  });
});
