import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OutpostError } from '@outpost/shared';
import { ParseError } from './errors.ts';
import { BodyThread, RawBody } from './off-thread.ts';

test('BodyThread: concurrent parses each get their own document; a stopped worker fails what it had not answered', async () => {
  const thread = new BodyThread();
  try {
    const docs = Array.from({ length: 20 }, (_, i) => `name: doc-${i}\nmode: 0755\nitems: [${i}, ${i + 1}]\n`);
    const parsed = await Promise.all(docs.map((d) => thread.yaml(d, 1 << 20)));
    assert.deepEqual(
      parsed,
      docs.map((_, i) => ({ name: `doc-${i}`, mode: 493, items: [i, i + 1] })),
    );
    await assert.rejects(thread.yaml('a: [1, 2', 1 << 20), (err: unknown) => err instanceof ParseError);
    const big = `${Array.from({ length: 40_000 }, (_, i) => `k${i}: v`).join('\n')}\n`;
    const unanswered = thread.yaml(big, 16 << 20);
    await thread.close();
    await assert.rejects(unanswered, (err: unknown) => err instanceof ParseError && err.code === 'BODY_MALFORMED');
    // A new worker is started on the next parse.
    assert.deepEqual(await thread.yaml('x: 1', 1 << 20), { x: 1 });
  } finally {
    await thread.close();
  }
});

test("BodyThread: with a check, a document the route would refuse is refused on the thread, with the route's error", async () => {
  const thread = new BodyThread();
  try {
    const flat = `${Array.from({ length: 5_000 }, (_, i) => `k${i}: v`).join('\n')}\n`;
    await assert.rejects(
      thread.yaml(flat, 16 << 20, 'placement'),
      (err: unknown) =>
        err instanceof OutpostError &&
        err.code === 'PLACEMENT_INVALID' &&
        err.statusCode === 400 &&
        Array.isArray(err.details) &&
        err.details.length > 0,
    );
    const ok =
      'apiVersion: cluster.open-cluster-management.io/v1beta1\nkind: Placement\nmetadata:\n  name: p\nspec: {}\n';
    assert.deepEqual(await thread.yaml(ok, 1 << 20, 'placement'), {
      apiVersion: 'cluster.open-cluster-management.io/v1beta1',
      kind: 'Placement',
      metadata: { name: 'p' },
      spec: {},
    });
  } finally {
    await thread.close();
  }
});

test('BodyThread: a workset body (YAML and large JSON on the thread, small JSON in-process) comes back with its spec as canonical text and without its template', async () => {
  const thread = new BodyThread();
  try {
    const yaml =
      'apiVersion: work.open-cluster-management.io/v1alpha1\nkind: ManifestWorkReplicaSet\nmetadata:\n  name: ws\n  resourceVersion: "7"\n  uid: u-1\nspec:\n  placementRefs: [{name: p}]\n  manifestWorkTemplate:\n    workload:\n      manifests:\n        - {kind: ConfigMap, apiVersion: v1, metadata: {name: a, namespace: demo}}\n';
    const manifest = {
      kind: 'ConfigMap',
      apiVersion: 'v1',
      metadata: { name: 'a', namespace: 'n', labels: { big: 'x'.repeat(60) } },
    };
    const json = (n: number) => ({
      metadata: { name: 'ws' },
      spec: {
        placementRefs: [{ name: 'p' }],
        manifestWorkTemplate: { workload: { manifests: Array(n).fill(manifest) } },
      },
    });
    const fromYaml = await thread.workset(new RawBody('yaml', Buffer.from(yaml)), 'ws', 1 << 20);
    assert.equal(fromYaml.metadata.name, 'ws');
    // No namespace in the body: left to the API (the path's, else "default").
    assert.equal(fromYaml.metadata.namespace, undefined);
    assert.deepEqual(fromYaml.preconditions, { resourceVersion: '7', uid: 'u-1' });
    // As validated: defaults filled in.
    const refs = [{ name: 'p', rolloutStrategy: { type: 'All' } }];
    assert.deepEqual(fromYaml.spec, { placementRefs: refs, cascadeDeletionPolicy: 'Background' });
    const text = (w: { specParts: { content: string | Uint8Array }[] }) =>
      Buffer.concat(w.specParts.map((p) => Buffer.from(p.content))).toString();
    assert.equal(
      text(fromYaml),
      '{"cascadeDeletionPolicy":"Background","manifestWorkTemplate":{"workload":{"manifests":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"demo"}}]}},"placementRefs":[{"name":"p","rolloutStrategy":{"type":"All"}}]}',
    );
    for (const n of [1, 2_000]) {
      const body = json(n);
      const out = await thread.workset(new RawBody('json', Buffer.from(JSON.stringify(body))), undefined, 16 << 20);
      const expected = { ...body.spec, placementRefs: refs, cascadeDeletionPolicy: 'Background' };
      assert.deepEqual(JSON.parse(text(out)), expected, `${n} manifests`);
      assert.equal(out.specBytes, Buffer.byteLength(text(out)));
      assert.equal(out.specParts.length, Math.ceil(out.specBytes / (512 * 1024)), 'in parts of 512 KiB');
    }
    await assert.rejects(
      thread.workset(new RawBody('yaml', Buffer.from('kind: x\n')), undefined, 1 << 20),
      (err: unknown) => (err as OutpostError).code === 'WORKSET_INVALID',
    );
  } finally {
    await thread.close();
  }
});
