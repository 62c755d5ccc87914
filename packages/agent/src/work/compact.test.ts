import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ManifestEntry } from '@outpost/shared';
import { desiredBody } from '../apply/kube.ts';
import { compactFieldBytes, compactManifest, compactWork } from './compact.ts';
import type { DesiredWork } from './types.ts';

type Manifest = ManifestEntry['manifest'];

const bigCrd = (): Manifest => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.example.com', annotations: { a: 'b' } },
  spec: {
    group: 'example.com',
    versions: [
      {
        name: 'v1',
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: Object.fromEntries(
              Array.from({ length: 400 }, (_, i) => [
                `field${i}`,
                { type: 'string', description: `field ${i} `.repeat(8) },
              ]),
            ),
          },
        },
      },
    ],
  },
  status: { acceptedNames: { kind: '' } },
});

describe('compact manifests', () => {
  test('a large field is kept compressed; every reader sees the same manifest', () => {
    const plain = bigCrd();
    assert.ok(JSON.stringify(plain.spec).length >= compactFieldBytes);
    const compact = compactManifest(structuredClone(plain));
    assert.notEqual(compact, plain);
    assert.equal(Object.getOwnPropertyDescriptor(compact, 'spec')?.get !== undefined, true);
    // The identity stays plain: every pass reads it.
    assert.equal(Object.getOwnPropertyDescriptor(compact, 'metadata')?.value !== undefined, true);
    assert.equal(JSON.stringify(compact), JSON.stringify(plain));
    assert.deepEqual(structuredClone(compact), plain);
    assert.deepEqual({ ...compact }, plain);
    assert.deepEqual(Object.keys(compact), Object.keys(plain));
    assert.deepEqual(desiredBody(compact, ''), desiredBody(plain, ''));
    // Each read is a fresh copy: a reader cannot change what is held.
    (compact.spec as { group: string }).group = 'changed';
    assert.equal((compact.spec as { group: string }).group, 'example.com');
  });

  test('a manifest without large fields is the same object; compacting twice changes nothing', () => {
    const small: Manifest = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' }, data: { k: 'v' } };
    assert.equal(compactManifest(small), small);
    const once = compactManifest(bigCrd());
    assert.equal(compactManifest(once), once);
  });

  test('compactWork keeps everything but the manifests as they are', () => {
    const work: DesiredWork = {
      name: 'w',
      uid: 'u',
      generation: 3,
      receivedAt: '2026-01-01T00:00:00.000Z',
      deleteOption: { propagationPolicy: 'Orphan' },
      manifests: [
        { key: 'k1', ordinal: 0, manifest: bigCrd() },
        { key: 'k2', ordinal: 1, manifest: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'n' } } },
      ],
    };
    const compact = compactWork(work);
    assert.equal(JSON.stringify(compact), JSON.stringify(work));
    assert.equal(compact.manifests[1]?.manifest, work.manifests[1]?.manifest);
  });
});
