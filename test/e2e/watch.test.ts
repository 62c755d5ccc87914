// Watches of the admin API on a real `outpost-hub serve`: `?watch=true` streams ADDED,
// MODIFIED and DELETED events in order as newline-delimited JSON and over a WebSocket,
// resumes from an event's resourceVersion after a dropped connection without loss or
// duplicates, filters by label and name, answers 410 WATCH_EXPIRED when history is gone, and
// ends its streams when the hub stops.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { Agent, type Dispatcher, request, WebSocket } from 'undici';
import {
  adminClient,
  anonymousClient,
  assertError,
  type HubClient,
  joinCluster,
  readAdminToken,
} from './hub-client.ts';
import { execOnDatabase, type HubProcess, hubMain, startHub } from './hub-process.ts';

interface Event {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  resourceVersion: string;
  object: {
    kind?: string;
    code?: string;
    metadata: {
      name: string;
      namespace?: string;
      uid: string;
      labels?: Record<string, string>;
      resourceVersion?: string;
    };
    spec?: Record<string, unknown>;
  };
}

/** A watch over HTTP: its events as they come, and a way to drop it. */
class Stream {
  readonly events: Event[] = [];
  ended = false;
  status = 0;
  contentType = '';
  readonly #ac = new AbortController();
  readonly done: Promise<void>;
  #started!: () => void;
  readonly started = new Promise<void>((r) => {
    this.#started = r;
  });

  constructor(hub: HubProcess, dispatcher: Dispatcher, token: string, path: string) {
    this.done = (async () => {
      try {
        const res = await request(`${hub.url}${path}`, {
          dispatcher,
          headers: { authorization: `Bearer ${token}` },
          signal: this.#ac.signal,
          bodyTimeout: 0,
        });
        this.status = res.statusCode;
        this.contentType = String(res.headers['content-type'] ?? '');
        this.#started();
        let rest = '';
        for await (const chunk of res.body) {
          rest += chunk.toString();
          let cut = rest.indexOf('\n');
          while (cut >= 0) {
            this.events.push(JSON.parse(rest.slice(0, cut)) as Event);
            rest = rest.slice(cut + 1);
            cut = rest.indexOf('\n');
          }
        }
        if (this.status !== 200) this.events.push(JSON.parse(rest) as Event);
      } catch (err) {
        if (!this.#ac.signal.aborted) throw err;
      } finally {
        this.ended = true;
        this.#started();
      }
    })();
  }

  drop(): void {
    this.#ac.abort();
  }

  async until(n: number, what: string, ms = 10_000): Promise<Event[]> {
    const deadline = Date.now() + ms;
    while (this.events.length < n) {
      if (Date.now() > deadline || this.ended) {
        throw new Error(`${what}: ${this.events.length} of ${n} events: ${JSON.stringify(this.events)}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.events;
  }
}

const summary = (events: Event[]) =>
  events.map((e) => `${e.type} ${e.object.metadata.namespace ?? ''}/${e.object.metadata.name}`);

/** The events of what the test changed: the hub's own status writes (a placement's
 *  decisions) are MODIFIED events too, left out here when labels and spec stayed. */
function userChanges(events: Event[]): Event[] {
  const last = new Map<string, string>();
  return events.filter((e) => {
    const key = `${e.object.metadata.namespace}/${e.object.metadata.name}`;
    const shape = JSON.stringify([e.object.metadata.labels, e.object.spec]);
    const same = e.type === 'MODIFIED' && last.get(key) === shape;
    last.set(key, shape);
    return !same;
  });
}

/** Waits until `s` has `n` events of what the test changed (userChanges). */
async function untilChanges(s: Stream, n: number, what: string, ms = 10_000): Promise<Event[]> {
  const deadline = Date.now() + ms;
  while (userChanges(s.events).length < n) {
    if (Date.now() > deadline || s.ended) throw new Error(`${what}: ${JSON.stringify(s.events)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return userChanges(s.events);
}

describe('watch', { timeout: 180_000 }, () => {
  let hub: HubProcess;
  let admin: HubClient;
  let token: string;
  const streams: Stream[] = [];

  // Streams hold their connections: a pool of their own, so that calls still find one.
  let streaming: Agent;
  const watch = (path: string) => {
    const s = new Stream(hub, streaming, token, path);
    streams.push(s);
    return s;
  };
  const placement = (name: string, labels: Record<string, string> = {}, n = 1) => ({
    apiVersion: 'cluster.open-cluster-management.io/v1beta1',
    kind: 'Placement',
    metadata: { name, namespace: 'team-a', labels },
    spec: { numberOfClusters: n },
  });
  const put = async (name: string, labels: Record<string, string> = {}, n = 1) => {
    const res = await admin.call('PUT', `/api/v1/namespaces/team-a/placements/${name}`, {
      json: placement(name, labels, n),
    });
    assert.ok(res.status === 200 || res.status === 201, res.text);
  };
  const remove = async (name: string) => {
    const res = await admin.delete(`/api/v1/namespaces/team-a/placements/${name}`);
    assert.equal(res.status, 200, res.text);
  };
  const listVersion = async (path: string) => {
    const res = await admin.get<{ metadata: { resourceVersion: string } }>(path);
    assert.equal(res.status, 200, res.text);
    assert.match(res.body.metadata.resourceVersion, /^\d+$/);
    return res.body.metadata.resourceVersion;
  };

  before(async () => {
    hub = await startHub();
    admin = await adminClient(hub);
    token = await readAdminToken(hub.dataDir);
    streaming = new Agent({ connect: { ca: hub.caCertPem }, connections: 32 });
  });

  after(async () => {
    for (const s of streams) s.drop();
    await admin?.close();
    await streaming?.close();
    await hub?.stop();
  });

  test('from a list: create, change, delete in order, each once, over HTTP', async () => {
    const from = await listVersion('/api/v1/namespaces/team-a/placements');
    const s = watch(`/api/v1/namespaces/team-a/placements?watch=true&resourceVersion=${from}`);
    await s.started;
    assert.equal(s.status, 200);
    assert.equal(s.contentType, 'application/json;stream=watch');
    await put('p1', { app: 'web' });
    await untilChanges(s, 1, 'created');
    await put('p1', { app: 'web' }, 2);
    await untilChanges(s, 2, 'changed');
    await remove('p1');
    const events = await untilChanges(s, 3, 'deleted');
    assert.deepEqual(summary(events), ['ADDED team-a/p1', 'MODIFIED team-a/p1', 'DELETED team-a/p1']);
    assert.equal(events[1]?.object.spec?.numberOfClusters, 2, 'an event shows the object as changed');
    assert.equal(events[2]?.object.kind, 'Placement');
    const versions = s.events.map((e) => Number(e.resourceVersion));
    assert.ok(
      versions.every((v, i) => i === 0 || v > (versions[i - 1] ?? 0)),
      `resourceVersions rise: ${versions}`,
    );
    assert.ok(versions[0] !== undefined && versions[0] > Number(from));
    s.drop();
  });

  test('a dropped watch resumes from its last event: nothing lost, nothing twice', async () => {
    const from = await listVersion('/api/v1/placements');
    const first = watch(`/api/v1/placements?watch=true&resourceVersion=${from}`);
    await put('r1');
    await put('r2');
    await untilChanges(first, 2, 'before the drop');
    const seen = [...first.events];
    first.drop();
    await first.done;
    // While nobody watches.
    await put('r3');
    await put('r1', { moved: 'yes' });
    await remove('r2');
    const last = seen.at(-1)?.resourceVersion;
    const second = watch(`/api/v1/placements?watch=true&resourceVersion=${last}`);
    await put('r4');
    await untilChanges(second, 4, 'after the resume');
    await new Promise((r) => setTimeout(r, 600));
    const all = [...seen, ...second.events];
    const versions = all.map((e) => e.resourceVersion);
    assert.equal(new Set(versions).size, versions.length, `no event twice: ${versions}`);
    assert.deepEqual(summary(userChanges(all)), [
      'ADDED team-a/r1',
      'ADDED team-a/r2',
      'ADDED team-a/r3',
      'MODIFIED team-a/r1',
      'DELETED team-a/r2',
      'ADDED team-a/r4',
    ]);
    second.drop();
    for (const n of ['r1', 'r3', 'r4']) await remove(n);
  });

  test('without a resourceVersion: every object now (ADDED), then its changes; by label and by name', async () => {
    await put('l1', { tier: 'front' });
    await put('l2', { tier: 'back' });
    await put('l3', { tier: 'front' });
    const s = watch('/api/v1/namespaces/team-a/placements?watch=true&labelSelector=tier%3Dfront');
    const initial = await untilChanges(s, 2, 'the objects now');
    assert.deepEqual(summary(initial), ['ADDED team-a/l1', 'ADDED team-a/l3']);
    // Leaves the selection: DELETED for this watch; back in: ADDED; l2 joins: ADDED.
    await put('l1', { tier: 'back' });
    await untilChanges(s, 3, 'l1 leaves');
    await put('l1', { tier: 'front' });
    await untilChanges(s, 4, 'l1 comes back');
    await put('l2', { tier: 'front' });
    const events = await untilChanges(s, 5, 'l2 joins');
    assert.deepEqual(summary(events.slice(2)), ['DELETED team-a/l1', 'ADDED team-a/l1', 'ADDED team-a/l2']);

    const one = watch('/api/v1/placements?watch=true&fieldSelector=metadata.name%3Dl3');
    await untilChanges(one, 1, 'l3 now');
    await put('l2', { tier: 'front', x: 'y' });
    await put('l3', { tier: 'front', x: 'y' });
    const l3 = await untilChanges(one, 2, 'l3 changed');
    assert.deepEqual(summary(l3), ['ADDED team-a/l3', 'MODIFIED team-a/l3']);
    s.drop();
    one.drop();
    for (const n of ['l1', 'l2', 'l3']) await remove(n);
  });

  test('the same events over a WebSocket; refused without a token', async () => {
    const from = await listVersion('/api/v1/clusters');
    const url = `${hub.url.replace(/^https/, 'wss')}/api/v1/clusters?resourceVersion=${from}`;
    const ws = new WebSocket(url, { dispatcher: streaming, headers: { authorization: `Bearer ${token}` } } as never);
    const got: Event[] = [];
    ws.addEventListener('message', (m) => got.push(JSON.parse(String(m.data)) as Event));
    await new Promise((resolve, reject) => {
      ws.addEventListener('open', resolve);
      ws.addEventListener('error', reject);
    });
    await joinCluster(hub, admin, 'ws-one', { labels: { site: 'a' } });
    const labelled = await admin.patch('/api/v1/clusters/ws-one', { metadata: { labels: { site: 'b' } } });
    assert.equal(labelled.status, 200, labelled.text);
    // Changes close together may come as one event: wait for the last state.
    const mine = () => got.filter((e) => e.object.metadata.name === 'ws-one');
    const deadline = Date.now() + 10_000;
    while (mine().at(-1)?.object.metadata.labels?.site !== 'b' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(mine()[0]?.type, 'ADDED', JSON.stringify(got));
    assert.ok(
      mine()
        .slice(1)
        .every((e) => e.type === 'MODIFIED'),
      JSON.stringify(got),
    );
    assert.deepEqual(mine().at(-1)?.object.metadata.labels, { site: 'b' });
    ws.close();

    const anon = new WebSocket(`${hub.url.replace(/^https/, 'wss')}/api/v1/clusters`, {
      dispatcher: streaming,
    } as never);
    const refused = await new Promise<string>((resolve) => {
      anon.addEventListener('open', () => resolve('open'));
      anon.addEventListener('error', () => resolve('refused'));
    });
    assert.equal(refused, 'refused', 'a socket without a token is never opened');
  });

  test('works of one cluster are watched there; the cluster must exist', async () => {
    await joinCluster(hub, admin, 'works-one');
    const from = await listVersion('/api/v1/clusters/works-one/works');
    const s = watch(`/api/v1/clusters/works-one/works?watch=true&resourceVersion=${from}`);
    const work = {
      apiVersion: 'work.open-cluster-management.io/v1',
      kind: 'ManifestWork',
      metadata: { name: 'w1' },
      spec: {
        workload: {
          manifests: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'default' } }],
        },
      },
    };
    const created = await admin.post('/api/v1/clusters/works-one/works', work);
    assert.equal(created.status, 201, created.text);
    await s.until(1, 'work created');
    const deleted = await admin.delete('/api/v1/clusters/works-one/works/w1');
    assert.equal(deleted.status, 200, deleted.text);
    const events = await s.until(2, 'work created and marked deleted');
    assert.deepEqual(
      events.map((e) => e.type),
      ['ADDED', 'MODIFIED'],
    );
    const marked = events[1]?.object.metadata as { deletionTimestamp?: string } | undefined;
    assert.ok(marked?.deletionTimestamp, 'a work marked for deletion shows when');
    s.drop();
    const missing = watch('/api/v1/clusters/nope/works?watch=true');
    await missing.done;
    assert.equal(missing.status, 404);
    // A failed watch is an ordinary error answer (its body: the error, not an event).
    assert.equal((missing.events[0] as unknown as { code: string }).code, 'CLUSTER_NOT_FOUND');
  });

  test('history gone or never had: 410 WATCH_EXPIRED; bad parameters refused by name', async () => {
    const latest = Number(await listVersion('/api/v1/placements'));
    const ahead = await admin.get(`/api/v1/placements?watch=true&resourceVersion=${latest + 1000}`);
    assertError(ahead, 410, 'WATCH_EXPIRED');
    await put('h1');
    await execOnDatabase(
      hub.dataDir,
      `INSERT INTO hub_meta (key, value) VALUES ('changes.trimmed', '${latest + 1}')
         ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
    );
    assertError(await admin.get(`/api/v1/placements?watch=true&resourceVersion=${latest}`), 410, 'WATCH_EXPIRED');
    const yamlOnly = await admin.get('/api/v1/placements?watch=true', { headers: { accept: 'application/yaml' } });
    // Refused in the format asked for (YAML), as every error of the API is.
    assert.equal(yamlOnly.status, 406, yamlOnly.text);
    assert.match(yamlOnly.text, /^code: NOT_ACCEPTABLE$/m);
    for (const [query, what] of [
      ['watch=true&limit=5', 'limit'],
      ['watch=true&fieldSelector=spec.x%3D1', 'fieldSelector'],
      ['watch=true&resourceVersion=abc', 'resourceVersion'],
      ['watch=true&timeoutSeconds=0', 'timeoutSeconds'],
      ['resourceVersion=3', 'resourceVersion'],
      ['allowWatchBookmarks=true', 'allowWatchBookmarks'],
      ['watch=maybe', 'watch'],
    ] as const) {
      const res = await admin.get(`/api/v1/placements?${query}`);
      assertError(res, 400, 'VALIDATION_FAILED', query);
      assert.match(res.text, new RegExp(what), query);
    }
    await remove('h1');
  });

  test('timeoutSeconds ends the stream; an unauthenticated watch is refused', async () => {
    const s = watch('/api/v1/placements?watch=true&timeoutSeconds=1&allowWatchBookmarks=true');
    await s.done;
    assert.equal(s.status, 200);
    const anon = anonymousClient(hub);
    assertError(await anon.get('/api/v1/placements?watch=true'), 401, 'AUTH_REQUIRED');
    await anon.close();
  });

  test('`placement list -w` and `workset status -w` print each change as it comes', async () => {
    const conn = ['--hub', hub.url, '--token', token, '--ca-cert', join(hub.dataDir, 'ca.crt')];
    const follow = (args: string[]) => {
      const p = spawn(process.execPath, [hubMain, ...args, ...conn], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (d: Buffer) => {
        out += d.toString();
      });
      p.stderr.on('data', (d: Buffer) => {
        out += d.toString();
      });
      const until = async (text: string) => {
        const deadline = Date.now() + 15_000;
        while (!out.includes(text)) {
          if (Date.now() > deadline) throw new Error(`no ${JSON.stringify(text)} in: ${out}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      return { p, until, output: () => out };
    };
    const list = follow(['placement', 'list', '-w', '-n', 'team-a']);
    try {
      await list.until('NAME');
      await put('cw1', { a: 'b' });
      await list.until('cw1');
      await remove('cw1');
      await list.until('team-a/cw1 deleted');
    } finally {
      list.p.kill();
    }

    const ws = {
      apiVersion: 'work.open-cluster-management.io/v1alpha1',
      kind: 'ManifestWorkReplicaSet',
      metadata: { name: 'ws1', namespace: 'default' },
      spec: {
        placementRefs: [{ name: 'none' }],
        manifestWorkTemplate: {
          workload: {
            manifests: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'default' } }],
          },
        },
      },
    };
    const created = await admin.post('/api/v1/namespaces/default/manifestworkreplicasets', ws);
    assert.equal(created.status, 201, created.text);
    const status = follow(['workset', 'status', 'ws1', '-w']);
    try {
      await status.until('ws1');
      const before = status.output().length;
      const paused = await admin.post('/api/v1/namespaces/default/manifestworkreplicasets/ws1/pause');
      assert.equal(paused.status, 200, paused.text);
      const deadline = Date.now() + 15_000;
      while (!/paused/i.test(status.output().slice(before)) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.match(status.output().slice(before), /paused/i, status.output());
    } finally {
      status.p.kill();
    }
  });

  test('resourceVersion=0 lists first; fieldSelector by name and namespace, other fields refused', async () => {
    await put('f1', { k: 'v' });
    const zero = watch(
      '/api/v1/placements?watch=true&resourceVersion=0&fieldSelector=metadata.name%3Df1,metadata.namespace%3Dteam-a',
    );
    const [first] = await untilChanges(zero, 1, 'f1 as it is now');
    assert.equal(first?.type, 'ADDED');
    assert.equal(first?.object.metadata.name, 'f1');
    await put('f1', { k: 'w' });
    await untilChanges(zero, 2, 'f1 changed');
    zero.drop();
    const other = watch(
      '/api/v1/placements?watch=true&fieldSelector=metadata.name%3Df1,metadata.namespace%3Delsewhere',
    );
    await other.started;
    await put('f1', { k: 'x' });
    await new Promise((r) => setTimeout(r, 800));
    assert.deepEqual(other.events, [], 'another namespace: nothing');
    other.drop();
    const refused = await admin.get('/api/v1/placements?watch=true&fieldSelector=metadata.name%3Df1,spec.x%3D1');
    assertError(refused, 400, 'VALIDATION_FAILED');
    assert.match(refused.text, /fieldSelector/);
    await remove('f1');
  });

  test('a watch that lists while objects come and go sends each once, and no DELETED it never ADDED', async () => {
    for (let i = 0; i < 40; i++) await put(`race-${String(i).padStart(2, '0')}`);
    const churn = (async () => {
      for (let i = 0; i < 10; i++) {
        await put(`race-new-${i}`);
        await remove(`race-${String(i).padStart(2, '0')}`);
      }
    })();
    const s = watch('/api/v1/namespaces/team-a/placements?watch=true&labelSelector=');
    await churn;
    await new Promise((r) => setTimeout(r, 1_500));
    s.drop();
    const added = new Map<string, number>();
    for (const e of s.events) {
      const uid = e.object.metadata.uid;
      if (e.type === 'ADDED') added.set(uid, (added.get(uid) ?? 0) + 1);
      if (e.type === 'DELETED') assert.ok(added.has(uid), `DELETED ${e.object.metadata.name} was never ADDED`);
    }
    for (const [uid, n] of added) assert.equal(n, 1, `ADDED ${n} times: ${uid}`);
    const names = new Set(s.events.filter((e) => e.type !== 'DELETED').map((e) => e.object.metadata.name));
    for (let i = 0; i < 10; i++) assert.ok(names.has(`race-new-${i}`), `race-new-${i} seen`);
    for (let i = 0; i < 40; i++)
      await admin.delete(`/api/v1/namespaces/team-a/placements/race-${String(i).padStart(2, '0')}`);
    for (let i = 0; i < 10; i++) await remove(`race-new-${i}`);
  });

  test('one token holds at most 200 watches (429 TOO_MANY_WATCHES)', async () => {
    const wide = new Agent({ connect: { ca: hub.caCertPem }, connections: 250 });
    const many = Array.from({ length: 200 }, () => {
      const m = new Stream(hub, wide, token, '/api/v1/managedclustersets?watch=true');
      streams.push(m);
      return m;
    });
    for (const m of many) await m.started;
    assert.ok(many.every((m) => m.status === 200));
    const over = await admin.get('/api/v1/managedclustersets?watch=true');
    assertError(over, 429, 'TOO_MANY_WATCHES');
    for (const m of many) m.drop();
    for (const m of many) await m.done;
    await wide.close();
    // Ended watches count no more.
    let again = 0;
    for (let i = 0; i < 50 && again !== 200; i++) {
      const one = watch('/api/v1/managedclustersets?watch=true&timeoutSeconds=1');
      await one.done;
      again = one.status;
    }
    assert.equal(again, 200);
  });

  test('the hub stops at once with watches open; they end', async () => {
    const open = [watch('/api/v1/placements?watch=true'), watch('/api/v1/clusters?watch=true')];
    for (const s of open) await s.started;
    // And a client that asks for a watch of a large object and never reads its answer.
    const big = 'x'.repeat(6 * 1024 * 1024);
    const ws = await admin.post(
      '/api/v1/namespaces/default/manifestworkreplicasets',
      {
        apiVersion: 'work.open-cluster-management.io/v1alpha1',
        kind: 'ManifestWorkReplicaSet',
        metadata: { name: 'big', namespace: 'default' },
        spec: {
          placementRefs: [{ name: 'none' }],
          manifestWorkTemplate: {
            workload: {
              manifests: [
                { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'default' }, data: { big } },
              ],
            },
          },
        },
      },
      { timeoutMs: 60_000 },
    );
    assert.equal(ws.status, 201, ws.text.slice(0, 300));
    const stalled = tlsConnect({ host: '127.0.0.1', port: hub.port, ca: hub.caCertPem, servername: 'localhost' });
    await new Promise((r) => stalled.once('secureConnect', r));
    stalled.write(
      `GET /api/v1/manifestworkreplicasets?watch=true HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`,
    );
    stalled.pause();
    stalled.on('error', () => {});
    await new Promise((r) => setTimeout(r, 2_000));
    const started = Date.now();
    assert.equal(await hub.stop({ signal: 'SIGTERM', keepDataDir: false }), 0);
    const took = Date.now() - started;
    for (const s of open) await s.done;
    assert.ok(open.every((s) => s.ended));
    // Well under the stop's 10 s grace (which ends the process with exit code 1).
    assert.ok(took < 8_000, `stopped in ${took} ms`);
    stalled.destroy();
    hub = undefined as unknown as HubProcess;
  });
});
