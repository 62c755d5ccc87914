// TLS sessions that outlive a hub restart (pki/tickets.ts), on a real hub process: an agent's
// connection after a restart resumes its session instead of a full handshake, is still
// identified as that agent, and is still refused when the hub's records say so; after a CA
// rotation no session from before resumes.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect, type TLSSocket } from 'node:tls';
import { agentPaths } from '../../packages/shared/src/index.ts';
import { adminClient, type HubClient, type JoinedCluster, joinCluster } from './hub-client.ts';
import { type HubProcess, startHub } from './hub-process.ts';

interface Exchange {
  status: number;
  body: string;
  resumed: boolean;
  /** The newest session the hub gave on this connection (for the next one). */
  session: Buffer | undefined;
}

/** One HTTP/1.1 request on a new TLS connection as `cluster`, offering `session`. */
async function call(hub: HubProcess, cluster: JoinedCluster, path: string, session?: Buffer): Promise<Exchange> {
  const socket: TLSSocket = connect({
    host: '127.0.0.1',
    port: hub.port,
    ca: hub.caCertPem,
    key: cluster.keyPem,
    cert: cluster.certPem,
    servername: 'localhost',
    ...(session ? { session } : {}),
  });
  let latest: Buffer | undefined;
  socket.on('session', (s: Buffer) => {
    latest = s;
  });
  await once(socket, 'secureConnect');
  const resumed = socket.isSessionReused();
  socket.write(`GET ${path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n`);
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => {
    text += d;
  });
  await once(socket, 'end');
  socket.destroy();
  const status = Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1]);
  return { status, body: text.slice(text.indexOf('\r\n\r\n') + 4), resumed, session: latest };
}

describe('TLS session resumption across hub restarts', { timeout: 120_000 }, () => {
  let hub: HubProcess;
  let admin: HubClient;
  let cluster: JoinedCluster;
  let other: JoinedCluster;
  let third: JoinedCluster;
  const self = (c: JoinedCluster) => agentPaths.cluster(c.name);

  const restart = async () => {
    await admin.close();
    const { dataDir, port } = hub;
    await hub.stop({ keepDataDir: true });
    hub = await startHub({ dataDir, args: ['--listen', `127.0.0.1:${port}`] });
    admin = await adminClient(hub);
  };

  before(async () => {
    hub = await startHub();
    admin = await adminClient(hub);
    cluster = await joinCluster(hub, admin, 'resume-1');
    other = await joinCluster(hub, admin, 'resume-2');
    third = await joinCluster(hub, admin, 'resume-3');
  });
  after(async () => {
    await admin?.close();
    await hub?.stop();
  });

  test('the ticket key is kept in the data dir, readable by the hub alone', async () => {
    const s = await stat(join(hub.dataDir, 'pki', 'tls-tickets.key'));
    assert.equal(s.mode & 0o777, 0o600);
  });

  test('after a restart the agents resume their sessions and are still themselves', async () => {
    const agents = [cluster, other, third];
    const first = [];
    for (const c of agents) {
      const r = await call(hub, c, self(c));
      assert.equal(r.status, 200, r.body);
      assert.equal(r.resumed, false, `${c.name}: a first connection`);
      assert.ok(r.session, 'the hub gave a session ticket');
      first.push(r);
    }
    await restart();
    for (const [i, c] of agents.entries()) {
      const again = await call(hub, c, self(c), first[i]?.session);
      assert.equal(again.resumed, true, `${c.name}: resumed, not a full handshake`);
      assert.equal(again.status, 200, again.body);
      assert.equal((JSON.parse(again.body) as { cluster: string }).cluster, c.name);
    }
    // The hub counts them: an operator sees whether a restart's reconnects resumed.
    const metrics = (await admin.get('/metrics')).text;
    assert.match(metrics, /^outpost_tls_handshakes_total\{resumed="true"\} [3-9]/m, metrics);
    // The identity of a resumed session is its certificate's: it may not act for another cluster.
    const foreign = await call(hub, cluster, self(other), first[0]?.session);
    assert.equal(foreign.resumed, true, 'resumed');
    assert.equal(foreign.status, 403, foreign.body);
    assert.match(foreign.body, /AGENT_IDENTITY_MISMATCH/);
  });

  test("a resumed session is refused once the hub's records revoke the cluster", async () => {
    const first = await call(hub, other, self(other));
    assert.equal(first.status, 200, first.body);
    const denied = await admin.post(`/api/v1/clusters/${other.name}/deny`);
    assert.equal(denied.status, 200, denied.text);
    const again = await call(hub, other, self(other), first.session);
    assert.equal(again.resumed, true);
    assert.ok(again.status === 401 || again.status === 403, `${again.status} ${again.body}`);
    assert.match(again.body, /AGENT_CERT_REVOKED|AGENT_NOT_ACCEPTED/);
  });

  test('no session from before a CA rotation resumes after it', async () => {
    const first = await call(hub, cluster, self(cluster));
    assert.equal(first.status, 200, first.body);
    const rotated = await admin.post('/api/v1/ca/rotate');
    assert.equal(rotated.status, 200, rotated.text);
    const again = await call(hub, cluster, self(cluster), first.session);
    assert.equal(again.resumed, false, 'a full handshake against the new trust');
    assert.equal(again.status, 200, again.body);
  });
});
