// OCM fidelity end to end: OCM-shaped ManifestWork YAML applied unchanged through the CLI to
// a real hub, a real agent (periodic re-apply 10 minutes away, so only watches act in time)
// and a real kube-apiserver, with hand edits made by kubectl.
//  - Resource identifiers without `group` (OCM: the core group) select what they name: a
//    SelectivelyOrphan rule keeps its object when the work is deleted; feedback rules and
//    ignoreFields take effect.
//  - A manifest whose work names no update strategy has hand edits of its declared fields
//    taken back (OCM's default, Update); an explicit ServerSideApply reports the conflict.
//  - A status-only change of an applied object (a Deployment's status, written here by hand:
//    the test cluster runs no controllers) reaches the hub's work status without a re-apply.
//  - conditionRules (WellKnownConditions) make a work Complete; a Complete manifest is no
//    longer written; ttlSecondsAfterFinished deletes a work that long after it is Complete.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AppsV1Api, CoreV1Api, type V1ConfigMap } from '@kubernetes/client-node';
import type { KubeCluster } from '../kube/index.ts';
import { ensureKubeBinaries, startCluster } from '../kube/index.ts';
import { type AgentProcess, joinSpoke, spokeRunArgs, startAgent } from './agent-process.ts';
import { adminClient, type HubClient, waitFor } from './hub-client.ts';
import { type HubProcess, hubMain, startHub } from './hub-process.ts';

const cluster = 'spoke-o';
const ns = 'fidelity';

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message: string;
}
interface WorkView {
  metadata: { generation: number };
  status: {
    conditions?: Condition[];
    observedGeneration?: number;
    corrections?: number;
    resourceStatus?: {
      manifests?: {
        resourceMeta: { name: string; kind: string };
        conditions: Condition[];
        statusFeedback?: { values: { name: string; fieldValue: Record<string, unknown> }[] };
      }[];
    };
  };
}

function run(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('OCM fidelity (OCM YAML through the CLI, real hub, agent and kube-apiserver)', { timeout: 300_000 }, () => {
  let kube: KubeCluster;
  let hub: HubProcess;
  let admin: HubClient;
  let agent: AgentProcess;
  let core: CoreV1Api;
  let apps: AppsV1Api;
  let kubectlBin: string;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outpost-fidelity-'));
    kubectlBin = (await ensureKubeBinaries()).kubectl;
    kube = await startCluster({ name: cluster });
    core = kube.kubeConfig().makeApiClient(CoreV1Api);
    apps = kube.kubeConfig().makeApiClient(AppsV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    // No controller-manager makes the namespace's default ServiceAccount, which a Pod needs.
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'default' } } });
    hub = await startHub({ args: ['--poll-timeout', '5s'] });
    admin = await adminClient(hub);
    await joinSpoke(hub, admin, cluster, kube.kubeconfigPath);
    agent = startAgent(spokeRunArgs(kube.kubeconfigPath, '10m'));
    await agent.waitForOutput(/serving cluster spoke-o/);
  });

  after(async () => {
    await agent?.stop();
    await admin?.close();
    await hub?.stop();
    await kube?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const cli = async (...args: string[]) => {
    const res = await run(process.execPath, [hubMain, ...args, '--data-dir', hub.dataDir, '--hub', hub.url]);
    assert.equal(res.code, 0, `outpost-hub ${args.join(' ')}: ${res.stderr}`);
    return res.stdout;
  };
  const applyYaml = async (name: string, yaml: string) => {
    const file = join(dir, `${name}.yaml`);
    await writeFile(file, yaml);
    return cli('work', 'apply', '-f', file);
  };
  const kubectl = async (...args: string[]) => {
    const res = await run(kubectlBin, ['--kubeconfig', kube.kubeconfigPath, '-n', ns, ...args]);
    assert.equal(res.code, 0, `kubectl ${args.join(' ')}: ${res.stderr}`);
    return res.stdout;
  };
  const getWork = async (name: string) => admin.get<WorkView>(`/api/v1/clusters/${cluster}/works/${name}`);
  const condition = (w: WorkView, type: string) => w.status.conditions?.find((c) => c.type === type);
  const manifest = (w: WorkView, name: string) =>
    w.status.resourceStatus?.manifests?.find((m) => m.resourceMeta.name === name);
  const feedbackOf = (w: WorkView, name: string, value: string) =>
    manifest(w, name)?.statusFeedback?.values.find((v) => v.name === value)?.fieldValue;
  const waitWork = (name: string, what: string, ok: (w: WorkView) => boolean, timeoutMs = 30_000) =>
    waitFor(
      `work ${name}: ${what}`,
      async () => {
        const res = await getWork(name);
        return res.status === 200 && ok(res.body) ? res.body : undefined;
      },
      timeoutMs,
    );
  const waitApplied = (name: string) =>
    waitWork(name, 'Applied at its generation', (w) => {
      return w.status.observedGeneration === w.metadata.generation && condition(w, 'Applied')?.status === 'True';
    });
  const readCm = async (name: string): Promise<V1ConfigMap | undefined> => {
    try {
      return await core.readNamespacedConfigMap({ name, namespace: ns });
    } catch {
      return undefined;
    }
  };

  test('a SelectivelyOrphan rule without group keeps its object when the work is deleted', async () => {
    const out = await applyYaml(
      'keep',
      `apiVersion: work.open-cluster-management.io/v1
kind: ManifestWork
metadata:
  name: keep
  namespace: ${cluster}
spec:
  workload:
    manifests:
      - apiVersion: v1
        kind: ConfigMap
        metadata:
          name: keep-me
          namespace: ${ns}
        data:
          value: "1"
      - apiVersion: v1
        kind: ConfigMap
        metadata:
          name: go-away
          namespace: ${ns}
        data:
          value: "1"
  deleteOption:
    propagationPolicy: SelectivelyOrphan
    selectivelyOrphans:
      orphaningRules:
        - resource: configmaps
          namespace: ${ns}
          name: keep-me
`,
    );
    assert.match(out, /keep created/);
    await waitApplied('keep');
    assert.ok(await readCm('keep-me'));
    await cli('work', 'delete', 'keep', '--cluster', cluster);
    await waitFor(
      'work keep forgotten',
      async () => ((await getWork('keep')).status === 404 ? true : undefined),
      30_000,
    );
    assert.equal(await readCm('go-away'), undefined, 'the object without a rule is gone');
    assert.equal((await readCm('keep-me'))?.data?.value, '1', 'the object the rule names stays');
  });

  test('feedback rules and ignoreFields without group take effect', async () => {
    const yaml = (value: string) => `apiVersion: work.open-cluster-management.io/v1
kind: ManifestWork
metadata:
  name: tuned
  namespace: ${cluster}
spec:
  workload:
    manifests:
      - apiVersion: v1
        kind: ConfigMap
        metadata:
          name: tuned
          namespace: ${ns}
        data:
          value: "${value}"
          knob: "from-the-hub"
  manifestConfigs:
    - resourceIdentifier:
        resource: configmaps
        namespace: ${ns}
        name: tuned
      feedbackRules:
        - type: JSONPaths
          jsonPaths:
            - name: value
              path: .data.value
      updateStrategy:
        type: ServerSideApply
        serverSideApply:
          ignoreFields:
            - condition: OnSpokeChange
              jsonPaths:
                - .data.knob
`;
    await applyYaml('tuned', yaml('1'));
    const first = await waitApplied('tuned');
    assert.deepEqual(feedbackOf(first, 'tuned', 'value'), { type: 'String', string: '1' });
    await kubectl('patch', 'configmap', 'tuned', '--type', 'merge', '-p', '{"data":{"knob":"by-hand"}}');
    // A new generation is applied after the hand edit: the ignored field stays as the spoke set it.
    await applyYaml('tuned', yaml('2'));
    const second = await waitWork(
      'tuned',
      'Applied with value 2',
      (w) => w.status.observedGeneration === w.metadata.generation && condition(w, 'Applied')?.status === 'True',
    );
    assert.deepEqual(feedbackOf(second, 'tuned', 'value'), { type: 'String', string: '2' });
    const live = await readCm('tuned');
    assert.equal(live?.data?.value, '2');
    assert.equal(live?.data?.knob, 'by-hand');
  });

  test('a hand edit is taken back where the work names no strategy; ServerSideApply reports the conflict', async (t) => {
    await applyYaml(
      'edits',
      `apiVersion: work.open-cluster-management.io/v1
kind: ManifestWork
metadata:
  name: edits
  namespace: ${cluster}
spec:
  workload:
    manifests:
      - apiVersion: v1
        kind: ConfigMap
        metadata:
          name: plain
          namespace: ${ns}
        data:
          value: "1"
      - apiVersion: v1
        kind: ConfigMap
        metadata:
          name: strict
          namespace: ${ns}
        data:
          value: "1"
  manifestConfigs:
    - resourceIdentifier:
        resource: configmaps
        namespace: ${ns}
        name: strict
      updateStrategy:
        type: ServerSideApply
`,
    );
    const applied = await waitApplied('edits');
    assert.equal(applied.status.corrections ?? 0, 0);

    const editedAt = Date.now();
    await kubectl('patch', 'configmap', 'plain', '--type', 'merge', '-p', '{"data":{"value":"by-hand"}}');
    await waitFor(
      'plain taken back',
      async () => ((await readCm('plain'))?.data?.value === '1' ? true : undefined),
      20_000,
    ).catch((err: Error) => {
      // What the agent did meanwhile, for whoever reads a failure.
      const lines = agent
        .stdout()
        .split('\n')
        .filter((l) => /drift|edits|plain/.test(l));
      t.diagnostic(lines.slice(-20).join('\n'));
      throw err;
    });
    t.diagnostic(`taken back ${Date.now() - editedAt} ms after kubectl patch`);
    const corrected = await waitWork('edits', 'a correction counted', (w) => (w.status.corrections ?? 0) >= 1);
    assert.equal(corrected.status.corrections, 1);
    assert.equal(condition(corrected, 'Degraded')?.status, 'False');

    await kubectl('patch', 'configmap', 'strict', '--type', 'merge', '-p', '{"data":{"value":"by-hand"}}');
    const degraded = await waitWork(
      'edits',
      'the conflict reported',
      (w) => condition(w, 'Degraded')?.status === 'True',
    );
    assert.match(condition(degraded, 'Degraded')?.message ?? '', /strict.*conflict.*kubectl-patch/s);
    const strict = manifest(degraded, 'strict')?.conditions.find((c) => c.type === 'Applied');
    assert.equal(strict?.reason, 'ApplyConflict');
    assert.equal((await readCm('strict'))?.data?.value, 'by-hand', 'ServerSideApply without force leaves it');
    assert.equal((await readCm('plain'))?.data?.value, '1');
  });

  test('conditionRules WellKnownConditions: a Pod that succeeded makes the work Complete, and is no longer updated', async () => {
    const yaml = (team: string) => `apiVersion: work.open-cluster-management.io/v1
kind: ManifestWork
metadata:
  name: once
  namespace: ${cluster}
spec:
  workload:
    manifests:
      - apiVersion: v1
        kind: Pod
        metadata:
          name: once
          namespace: ${ns}
          labels: {team: ${team}}
        spec:
          containers:
            - name: once
              image: registry.invalid/once:1
  manifestConfigs:
    - resourceIdentifier:
        resource: pods
        namespace: ${ns}
        name: once
      conditionRules:
        - type: WellKnownConditions
          condition: Complete
`;
    await applyYaml('once', yaml('a'));
    const applied = await waitApplied('once');
    assert.equal(condition(applied, 'Complete')?.status, 'False');
    await kubectl(
      'patch',
      'pod',
      'once',
      '--subresource=status',
      '--type',
      'merge',
      '-p',
      '{"status":{"phase":"Succeeded"}}',
    );
    const complete = await waitWork('once', 'Complete', (w) => condition(w, 'Complete')?.status === 'True', 10_000);
    assert.equal(
      manifest(complete, 'once')?.conditions.find((c) => c.type === 'Complete')?.message,
      'Pod is in phase Succeeded',
    );
    // A new generation: the completed Pod is read, not written.
    await applyYaml('once', yaml('b'));
    const next = await waitApplied('once');
    assert.match(
      manifest(next, 'once')?.conditions.find((c) => c.type === 'Applied')?.message ?? '',
      /complete: no longer updated/,
    );
    const pod = await core.readNamespacedPod({ name: 'once', namespace: ns });
    assert.equal(pod.metadata?.labels?.team, 'a');
  });

  test('deleteOption.ttlSecondsAfterFinished: a work Complete for that long is deleted under its delete option', async () => {
    await applyYaml(
      'ttl',
      `apiVersion: work.open-cluster-management.io/v1
kind: ManifestWork
metadata:
  name: ttl
  namespace: ${cluster}
spec:
  workload:
    manifests:
      - apiVersion: v1
        kind: Pod
        metadata:
          name: ttl
          namespace: ${ns}
        spec:
          containers:
            - name: ttl
              image: registry.invalid/ttl:1
  # Orphan: no kubelet runs here to finish a Pod's deletion.
  deleteOption:
    propagationPolicy: Orphan
    ttlSecondsAfterFinished: 1
  manifestConfigs:
    - resourceIdentifier:
        resource: pods
        namespace: ${ns}
        name: ttl
      conditionRules:
        - type: WellKnownConditions
          condition: Complete
`,
    );
    const applied = await waitApplied('ttl');
    assert.equal(condition(applied, 'Complete')?.status, 'False');
    await kubectl(
      'patch',
      'pod',
      'ttl',
      '--subresource=status',
      '--type',
      'merge',
      '-p',
      '{"status":{"phase":"Failed"}}',
    );
    await waitFor(
      'work ttl deleted after its TTL',
      async () => ((await getWork('ttl')).status === 404 ? true : undefined),
      30_000,
    );
    const left = await core.listNamespacedPod({ namespace: ns, fieldSelector: 'metadata.name=ttl' });
    assert.equal(left.items.length, 1, 'the Pod stays: the work orphans it');
  });

  test("a Deployment's status change reaches the hub's work status without a re-apply", async (t) => {
    await applyYaml(
      'web',
      `apiVersion: work.open-cluster-management.io/v1
kind: ManifestWork
metadata:
  name: web
  namespace: ${cluster}
spec:
  workload:
    manifests:
      - apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
          namespace: ${ns}
        spec:
          replicas: 2
          selector:
            matchLabels: {app: web}
          template:
            metadata:
              labels: {app: web}
            spec:
              containers:
                - name: web
                  image: registry.invalid/web:1
  manifestConfigs:
    - resourceIdentifier:
        group: apps
        resource: deployments
        namespace: ${ns}
        name: web
      feedbackScrapeType: Watch
      feedbackRules:
        - type: WellKnownStatus
`,
    );
    const applied = await waitApplied('web');
    // No controllers run in the test cluster: the Deployment never becomes ready by itself.
    assert.equal(condition(applied, 'Available')?.status, 'False');
    const logs = (msg: string) =>
      agent
        .stdout()
        .split('\n')
        .filter((l) => l.includes(`"msg":"${msg}"`))
        .map((l) => JSON.parse(l) as { work?: string })
        .filter((e) => e.work === 'web').length;
    const reports = () => logs('work status changed');
    const generation = (await apps.readNamespacedDeployment({ name: 'web', namespace: ns })).metadata?.generation ?? 1;
    const before = reports();
    const patchedAt = Date.now();
    await kubectl(
      'patch',
      'deployment',
      'web',
      '--subresource=status',
      '--type',
      'merge',
      '-p',
      JSON.stringify({
        status: {
          observedGeneration: generation,
          replicas: 2,
          updatedReplicas: 2,
          readyReplicas: 2,
          availableReplicas: 2,
        },
      }),
    );
    const ready = await waitWork(
      'web',
      'Available with 2 ready replicas',
      (w) => {
        return condition(w, 'Available')?.status === 'True' && feedbackOf(w, 'web', 'ReadyReplicas')?.integer === 2;
      },
      10_000,
    );
    t.diagnostic(`the hub showed it ${Date.now() - patchedAt} ms after the status patch`);
    assert.equal(condition(ready, 'Progressing')?.status, 'False');
    assert.equal(ready.status.observedGeneration, applied.status.observedGeneration, 'no new generation');
    assert.equal(reports() - before, 1, 'one status report, from the watch');
    assert.equal(logs('drift detected; re-applying the work'), 0, 'a status change is not drift');
  });
});
