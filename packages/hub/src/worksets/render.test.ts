import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ManifestWorkReplicaSetSpec } from '../rollout/index.ts';
import { renderWorks } from './render.ts';

describe('renderWorks', () => {
  test("a template's executor reaches every rendered work (validated as the works API validates it)", () => {
    const executor = { subject: { type: 'ServiceAccount', serviceAccount: { namespace: 'team-a', name: 'deployer' } } };
    const spec = {
      manifestWorkTemplate: {
        workload: { manifests: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'a' } }] },
        executor,
      },
      placementRefs: [{ name: 'p', rolloutStrategy: { type: 'All' } }],
      cascadeDeletionPolicy: 'Background',
    } as unknown as ManifestWorkReplicaSetSpec;
    const out = renderWorks('ws', spec, [{ key: 'o:', name: 'rack-1', labels: {}, claims: {} }]);
    const [, rendered] = out.renders[0] ?? [];
    assert.ok(rendered && 'work' in rendered, JSON.stringify(rendered));
    assert.deepEqual(JSON.parse(rendered.work.specText).executor, executor);

    const bad = {
      ...spec,
      manifestWorkTemplate: { ...spec.manifestWorkTemplate, executor: { subject: { type: 'User' } } },
    };
    const refused = renderWorks('ws', bad as unknown as ManifestWorkReplicaSetSpec, [
      { key: 'o:', name: 'rack-1', labels: {}, claims: {} },
    ]);
    const [, error] = refused.renders[0] ?? [];
    assert.ok(error && 'error' in error);
    assert.match(error.error, /^UNSUPPORTED_FIELD: spec\.executor\.subject\.type/);
  });
});
