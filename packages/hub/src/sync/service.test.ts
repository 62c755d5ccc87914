import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SyncRequest } from '@outpost/shared';
import pino from 'pino';
import { type ClusterRow, openStore } from '../store/index.ts';
import { DesiredNotifier } from './notifier.ts';
import { Presence } from './presence.ts';
import { SyncService } from './service.ts';

const at = '2026-01-01T00:00:00.000Z';
const configMap = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' } });

test('a work that names an executor is not sent to an agent that does not say it honours executors', async () => {
  const store = openStore(':memory:');
  await store.clusters.insert({
    name: 'c1',
    uid: 'u-c1',
    labels: {},
    hubAcceptsClient: true,
    claims: {},
    agentVersion: null,
    createdAt: at,
  });
  const cluster = (await store.clusters.get('c1')) as ClusterRow;
  const sync = new SyncService({
    store,
    log: pino({ level: 'silent' }),
    notifier: new DesiredNotifier(),
    presence: new Presence(store),
    maxWaitMs: 10,
    missedPolls: 3,
  });
  const write = (name: string, spec: Record<string, unknown>) =>
    store.works.write({ cluster: 'c1', name, labels: {}, annotations: {}, spec, manifests: [configMap(name)] }, at);
  await write('plain', {});
  const executor = { subject: { type: 'ServiceAccount', serviceAccount: { namespace: 'ns', name: 'sa' } } };
  await write('checked', { executor });

  const poll = (req: SyncRequest) => sync.sync(cluster, req);
  // An old agent: no features. It gets the plain work only, and holding that, it is not sent
  // the checked one on later polls either.
  const old = await poll({ revision: 0, inventory: {} });
  assert.deepEqual(
    old.works.map((w) => w.name),
    ['plain'],
  );
  const plain = old.works[0];
  const again = await poll({ revision: old.revision, waitSeconds: 0 });
  assert.deepEqual(again.works, []);
  // A change of the checked work is still withheld.
  await write('checked', { executor, deleteOption: { propagationPolicy: 'Orphan' } });
  const changed = await poll({ revision: again.revision });
  assert.deepEqual(changed.works, []);

  // Once the work no longer names an executor, the old agent gets it whole (it held none).
  await write('checked', {});
  const freed = await poll({ revision: changed.revision });
  assert.deepEqual(
    freed.works.map((w) => [w.name, w.full, w.executor]),
    [['checked', true, undefined]],
  );
  await write('checked', { executor });
  const back = await poll({ revision: freed.revision });
  assert.deepEqual(back.works, [], 'an executor again: withheld again, and the agent keeps what it holds');

  // The upgraded agent starts with its inventory and names the feature: it gets the work.
  const upgraded = await poll({
    revision: back.revision,
    features: ['executor'],
    inventory: {
      plain: { uid: plain?.uid as string, generation: plain?.generation as number },
      checked: { uid: freed.works[0]?.uid as string, generation: freed.works[0]?.generation as number },
    },
  });
  assert.deepEqual(
    upgraded.works.map((w) => [w.name, w.full, w.executor]),
    [['checked', false, executor]],
    'a delta from the generation it holds',
  );
  await store.close();
});
