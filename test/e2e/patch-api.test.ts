// PATCH on every writable resource of a real `outpost-hub serve` (SQLite, or PostgreSQL with
// OUTPOST_TEST_DATABASE=postgres): RFC 7386 merge patches (JSON and YAML) and RFC 6902 JSON
// patches applied to the stored object, then validated and written as PUT writes:
// preconditions, fields the hub owns refused by name, 404 on a missing object, the audit log.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { agentPaths, type SyncResponse } from '../../packages/shared/src/index.ts';
import {
  adminClient,
  agentClient,
  assertError,
  type HubClient,
  type JoinedCluster,
  joinCluster,
} from './hub-client.ts';
import { type HubProcess, hubMain, startHub } from './hub-process.ts';

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [hubMain, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

interface Obj {
  metadata: {
    name: string;
    uid: string;
    resourceVersion: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: Record<string, unknown>;
}

const configMap = (name: string, value: string) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'demo' },
  data: { k: value },
});

/** One writable resource: where it is put, where it is patched, and a spec edit of its own. */
interface Resource {
  what: string;
  /** The PUT that makes it (also the path PATCH takes). */
  path: string;
  body: Record<string, unknown>;
  /** Other paths that PATCH the same object (a path without a namespace). */
  aliases?: string[];
  missing: { path: string; code: string };
  /** The route as the audit log names it. */
  route: string;
  /** A spec edit (merge patch) and what the answer's spec then shows. */
  specPatch?: { patch: unknown; type?: string; check(spec: Record<string, unknown>): void };
}

const resources: Resource[] = [
  {
    what: 'work',
    path: '/api/v1/clusters/patch-spoke/works/w1',
    body: {
      metadata: { name: 'w1', labels: { keep: 'yes', drop: 'me' } },
      spec: { workload: { manifests: [configMap('a', '1'), configMap('b', '1'), configMap('c', '1')] } },
    },
    missing: { path: '/api/v1/clusters/patch-spoke/works/nope', code: 'WORK_NOT_FOUND' },
    route: 'PATCH /api/v1/clusters/:cluster/works/:name',
    // One manifest of the work, by its index: the others are not sent again.
    specPatch: {
      type: 'application/json-patch+json',
      patch: [
        { op: 'test', path: '/spec/workload/manifests/1/metadata/name', value: 'b' },
        { op: 'replace', path: '/spec/workload/manifests/1/data/k', value: '2' },
      ],
      check(spec) {
        const manifests = (spec.workload as { manifests: { data: { k: string } }[] }).manifests;
        assert.deepEqual(
          manifests.map((m) => m.data.k),
          ['1', '2', '1'],
        );
      },
    },
  },
  {
    what: 'workset',
    path: '/api/v1/namespaces/team/manifestworkreplicasets/ws1',
    aliases: ['/api/v1/worksets/ws1', '/api/v1/namespaces/team/worksets/ws1', '/api/v1/manifestworkreplicasets/ws1'],
    body: {
      metadata: { name: 'ws1', labels: { keep: 'yes', drop: 'me' } },
      spec: {
        manifestWorkTemplate: { workload: { manifests: [configMap('a', '1')] } },
        placementRefs: [{ name: 'p1' }],
      },
    },
    missing: { path: '/api/v1/namespaces/team/manifestworkreplicasets/nope', code: 'WORKSET_NOT_FOUND' },
    route: 'PATCH /api/v1/namespaces/:namespace/manifestworkreplicasets/:name',
    specPatch: {
      patch: { spec: { cascadeDeletionPolicy: 'Foreground' } },
      check: (spec) => assert.equal(spec.cascadeDeletionPolicy, 'Foreground'),
    },
  },
  {
    what: 'placement',
    path: '/api/v1/namespaces/team/placements/p1',
    aliases: ['/api/v1/placements/p1'],
    body: { metadata: { name: 'p1', labels: { keep: 'yes', drop: 'me' } }, spec: { numberOfClusters: 1 } },
    missing: { path: '/api/v1/namespaces/team/placements/nope', code: 'PLACEMENT_NOT_FOUND' },
    route: 'PATCH /api/v1/namespaces/:namespace/placements/:name',
    specPatch: { patch: { spec: { numberOfClusters: 3 } }, check: (spec) => assert.equal(spec.numberOfClusters, 3) },
  },
  {
    what: 'managedclusterset',
    path: '/api/v1/managedclustersets/s1',
    body: {
      metadata: { name: 's1', labels: { keep: 'yes', drop: 'me' } },
      spec: { clusterSelector: { selectorType: 'LabelSelector', labelSelector: { matchLabels: { tier: 'a' } } } },
    },
    missing: { path: '/api/v1/managedclustersets/nope', code: 'CLUSTER_SET_NOT_FOUND' },
    route: 'PATCH /api/v1/managedclustersets/:name',
    specPatch: {
      patch: { spec: { clusterSelector: { labelSelector: { matchLabels: { tier: 'b' } } } } },
      check: (spec) =>
        assert.deepEqual((spec.clusterSelector as { labelSelector: unknown }).labelSelector, {
          matchLabels: { tier: 'b' },
        }),
    },
  },
  {
    what: 'managedclustersetbinding',
    path: '/api/v1/namespaces/team/managedclustersetbindings/s1',
    body: { metadata: { name: 's1', labels: { keep: 'yes', drop: 'me' } }, spec: { clusterSet: 's1' } },
    missing: { path: '/api/v1/namespaces/team/managedclustersetbindings/nope', code: 'CLUSTER_SET_BINDING_NOT_FOUND' },
    route: 'PATCH /api/v1/namespaces/:namespace/managedclustersetbindings/:name',
  },
];

describe('PATCH', { timeout: 180_000 }, () => {
  let hub: HubProcess;
  let admin: HubClient;
  let spoke: JoinedCluster;

  before(async () => {
    hub = await startHub();
    admin = await adminClient(hub);
    spoke = await joinCluster(hub, admin, 'patch-spoke');
    for (const r of resources) {
      const res = await admin.call('PUT', r.path, { json: r.body });
      assert.equal(res.status, 201, `${r.what}: ${res.text}`);
    }
  });

  after(async () => {
    await admin?.close();
    await hub?.stop();
  });

  const read = async (path: string) => {
    const res = await admin.get<Obj>(path);
    assert.equal(res.status, 200, res.text);
    return res.body;
  };

  for (const r of resources) {
    describe(r.what, () => {
      test('a merge patch sets and removes (null) labels; the resourceVersion moves; the audit log has it', async () => {
        const before = await read(r.path);
        const res = await admin.patch<Obj>(r.path, { metadata: { labels: { added: 'x', drop: null } } });
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(res.body.metadata.labels, { keep: 'yes', added: 'x' });
        assert.notEqual(res.body.metadata.resourceVersion, before.metadata.resourceVersion);
        assert.deepEqual((await read(r.path)).metadata.labels, { keep: 'yes', added: 'x' });
        assert.deepEqual(res.body.spec, before.spec, 'the spec is as it was');
        const events = await admin.get<{ items: { action: string; resource: string; result: string }[] }>(
          '/api/v1/auditevents?limit=50',
        );
        assert.ok(
          events.body.items.some((e) => e.action === r.route && e.resource === r.path && e.result === '200'),
          JSON.stringify(events.body.items.slice(0, 5)),
        );
      });

      test('YAML and plain JSON bodies are merge patches too; annotations are kept', async () => {
        const yaml = await admin.call<Obj>('PATCH', r.path, {
          raw: 'metadata:\n  annotations:\n    note: "0755"\n',
          contentType: 'application/yaml',
        });
        assert.equal(yaml.status, 200, yaml.text);
        assert.deepEqual(yaml.body.metadata.annotations, { note: '0755' });
        const json = await admin.call<Obj>('PATCH', r.path, {
          json: { metadata: { annotations: { note: null } } },
          contentType: 'application/json',
        });
        assert.equal(json.status, 200, json.text);
        assert.deepEqual(json.body.metadata.annotations ?? {}, {});
      });

      if (r.specPatch) {
        const { patch, type, check } = r.specPatch;
        test('a spec field changes; the rest of the spec stays', async () => {
          const res = await admin.patch<Obj>(r.path, patch, type ? { contentType: type } : {});
          assert.equal(res.status, 200, res.text);
          check(res.body.spec);
          check((await read(r.path)).spec);
        });
      }

      test('a stale resourceVersion or another uid is 409 CONFLICT; the current ones pass', async () => {
        const now = await read(r.path);
        const stale = String(Number(now.metadata.resourceVersion) - 1);
        assertError(
          await admin.patch(r.path, { metadata: { resourceVersion: stale, labels: { x: 'stale' } } }),
          409,
          'CONFLICT',
        );
        assertError(
          await admin.patch(r.path, { metadata: { uid: 'another-uid', labels: { x: 'stale' } } }),
          409,
          'CONFLICT',
        );
        assert.equal((await read(r.path)).metadata.labels?.x, undefined, 'nothing written');
        // The current ones pass; the workset controller may write status in between (a new
        // resourceVersion): read again and retry, as a client would, a few times.
        let ok = await admin.patch<Obj>(r.path, {
          metadata: { resourceVersion: now.metadata.resourceVersion, uid: now.metadata.uid, labels: { x: 'ok' } },
        });
        for (let attempt = 1; ok.status === 409 && attempt < 5; attempt++) {
          const again = await read(r.path);
          ok = await admin.patch<Obj>(r.path, {
            metadata: { resourceVersion: again.metadata.resourceVersion, uid: again.metadata.uid, labels: { x: 'ok' } },
          });
        }
        assert.equal(ok.status, 200, ok.text);
        const jsonTest = await admin.patch(r.path, [{ op: 'test', path: '/metadata/resourceVersion', value: stale }], {
          contentType: 'application/json-patch+json',
        });
        assertError(jsonTest, 409, 'CONFLICT', 'a failed JSON patch test');
      });

      test('status, uid, generation and a name other than the path are refused by name (400 VALIDATION_FAILED)', async () => {
        const before = await read(r.path);
        const refusals: [unknown, string, string?][] = [
          [{ status: { conditions: [] } }, 'status'],
          [{ metadata: { uid: null } }, 'metadata.uid'],
          [{ metadata: { generation: 7 } }, 'metadata.generation'],
          [{ metadata: { creationTimestamp: '2020-01-01T00:00:00Z' } }, 'metadata.creationTimestamp'],
          [{ metadata: { name: 'other' } }, 'metadata.name'],
          [[{ op: 'replace', path: '/metadata/uid', value: 'x' }], 'metadata.uid', 'application/json-patch+json'],
          [[{ op: 'add', path: '/status', value: {} }], 'status', 'application/json-patch+json'],
        ];
        for (const [patch, field, type] of refusals) {
          const res = await admin.patch(r.path, patch, type ? { contentType: type } : {});
          assertError(res, 400, 'VALIDATION_FAILED', JSON.stringify(patch));
          assert.equal((res.body as { details: { field: string } }).details.field, field, res.text);
        }
        // Nothing written (the workset controller may write status meanwhile, which moves the
        // resourceVersion: the object itself is compared).
        const now = await read(r.path);
        assert.deepEqual([now.metadata.labels, now.spec], [before.metadata.labels, before.spec]);
      });

      test('a missing object is 404 with its own code', async () => {
        assertError(await admin.patch(r.missing.path, { metadata: { labels: { a: 'b' } } }), 404, r.missing.code);
      });

      for (const alias of r.aliases ?? []) {
        test(`the same object patched through ${alias}`, async () => {
          const res = await admin.patch<Obj>(alias, { metadata: { labels: { alias: 'yes' } } });
          assert.equal(res.status, 200, res.text);
          assert.equal((await read(r.path)).metadata.labels?.alias, 'yes');
        });
      }
    });
  }

  test('one manifest of a work of megabytes: a patch of a few hundred bytes, and the agent is sent that manifest alone', async () => {
    const manifests = Array.from({ length: 300 }, (_, i) => ({
      ...configMap(`big-${i}`, 'v1'),
      data: { k: 'v1', pad: 'x'.repeat(10_000) },
    }));
    const path = '/api/v1/clusters/patch-spoke/works/big';
    const put = await admin.call('PUT', path, {
      json: { metadata: { name: 'big' }, spec: { workload: { manifests } } },
    });
    assert.equal(put.status, 201, put.text.slice(0, 300));
    const agent = agentClient(hub, spoke);
    try {
      const first = await agent.post<SyncResponse>(agentPaths.sync('patch-spoke'), { revision: 0, inventory: {} });
      assert.equal(first.status, 200, first.text.slice(0, 300));
      const patch = [{ op: 'replace', path: '/spec/workload/manifests/150/data/k', value: 'v2' }];
      const res = await admin.patch<Obj>(path, patch, { contentType: 'application/json-patch+json' });
      assert.equal(res.status, 200, res.text.slice(0, 300));
      assert.equal(res.headers['x-outpost-work-changed'], 'true');
      const shown = (res.body.spec.workload as { manifests: { data: { k: string } }[] }).manifests;
      assert.deepEqual(
        shown.flatMap((m, i) => (m.data.k === 'v2' ? [i] : [])),
        [150],
      );
      const next = await agent.post<SyncResponse>(agentPaths.sync('patch-spoke'), {
        revision: first.body.revision,
        hubEpoch: first.body.hubEpoch,
        waitSeconds: 0,
      });
      assert.equal(next.status, 200, next.text.slice(0, 300));
      const update = next.body.works.find((w) => w.name === 'big');
      assert.ok(update && !update.full, JSON.stringify(next.body).slice(0, 300));
      assert.deepEqual(
        update.manifests.map((m) => (m.manifest.metadata as { name: string }).name),
        ['big-150'],
      );
      assert.ok(next.text.length < 50_000, `${next.text.length} bytes sent to the agent`);
      // The same patch again changes nothing.
      const again = await admin.patch(path, patch, { contentType: 'application/json-patch+json' });
      assert.equal(again.headers['x-outpost-work-changed'], 'false');
    } finally {
      await agent.close();
    }
  });

  test('the CLI: `NOUN patch NAME -p` sends a merge patch (JSON or YAML), `--type json` a JSON patch', async () => {
    const conn = ['--data-dir', hub.dataDir, '--hub', hub.url];
    const merge = await cli(['placement', 'patch', 'p1', '-n', 'team', '-p', 'spec: {numberOfClusters: 2}', ...conn]);
    assert.equal(merge.code, 0, merge.stderr);
    assert.equal(merge.stdout, 'placement p1 patched\n');
    assert.equal((await read('/api/v1/namespaces/team/placements/p1')).spec.numberOfClusters, 2);
    const json = await cli([
      'work',
      'patch',
      'w1',
      '--cluster',
      'patch-spoke',
      '--type',
      'json',
      '-p',
      '[{"op":"replace","path":"/spec/workload/manifests/2/data/k","value":"cli"}]',
      '-o',
      'json',
      ...conn,
    ]);
    assert.equal(json.code, 0, json.stderr);
    const work = JSON.parse(json.stdout) as { spec: { workload: { manifests: { data: { k: string } }[] } } };
    assert.equal(work.spec.workload.manifests[2]?.data.k, 'cli');
    const refused = await cli(['clusterset', 'patch', 's1', '-p', '{"status":{}}', ...conn]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /VALIDATION_FAILED/);
  });

  test('a patch that makes an invalid object is refused as a PUT of it would be', async () => {
    assertError(
      await admin.patch('/api/v1/namespaces/team/placements/p1', { spec: { numberOfClusters: -1 } }),
      400,
      'PLACEMENT_INVALID',
    );
    assertError(
      await admin.patch('/api/v1/clusters/patch-spoke/works/w1', { spec: { workload: { manifests: [{}] } } }),
      400,
      'WORK_MANIFEST_INVALID',
    );
    assertError(
      await admin.patch('/api/v1/namespaces/team/managedclustersetbindings/s1', { spec: { clusterSet: 'other' } }),
      400,
      'CLUSTER_SET_BINDING_INVALID',
    );
    assertError(
      await admin.call('PATCH', '/api/v1/namespaces/team/placements/p1', { raw: 'x', contentType: 'text/plain' }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
  });
});
