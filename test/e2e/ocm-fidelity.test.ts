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
//  - spec.executor: each manifest is applied only where a SubjectAccessReview says the
//    ServiceAccount may (delete included when the work would delete it); a refused one gets
//    Applied=False and is not on the spoke, and a new RoleBinding lets it in within the
//    retry bound; an RBAC kind granting more than the executor holds is refused as an
//    escalation; deletion is not checked again; another subject type is refused at the hub.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AppsV1Api, CoreV1Api, RbacAuthorizationV1Api, type V1ConfigMap } from '@kubernetes/client-node';
import type { KubeCluster } from '../kube/index.ts';
import { ensureKubeBinaries, startCluster } from '../kube/index.ts';
import { type AgentProcess, joinSpoke, spokeRunArgs, startAgent } from './agent-process.ts';
import { adminClient, assertError, type HubClient, waitFor } from './hub-client.ts';
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

describe('OCM fidelity (OCM YAML through the CLI, real hub, agent and kube-apiserver)', { timeout: 600_000 }, () => {
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

  describe('spec.executor: a SubjectAccessReview for the ServiceAccount before each manifest is applied', () => {
    // The agent runs as system:masters here, so only the executor check can refuse anything.
    const [nsA, nsB, nsD, nsSa] = ['exec-a', 'exec-b', 'exec-d', 'exec-sa'];
    const sa = 'deployer';
    let rbac: RbacAuthorizationV1Api;
    const readIn = async (namespace: string, name: string) => {
      try {
        return await core.readNamespacedConfigMap({ name, namespace });
      } catch {
        return undefined;
      }
    };
    const cmYaml = (name: string, namespace: string) => `      - apiVersion: v1
        kind: ConfigMap
        metadata:
          name: ${name}
          namespace: ${namespace}
        data:
          value: "1"
`;
    const executorYaml = (type = 'ServiceAccount') => `  executor:
    subject:
      type: ${type}
      serviceAccount:
        namespace: ${nsSa}
        name: ${sa}
`;
    /** A Role in `namespace` with `rules`, bound to the executor. */
    const grant = async (
      namespace: string,
      name: string,
      rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[],
    ) => {
      await rbac.createNamespacedRole({ namespace, body: { metadata: { name }, rules } });
      await rbac.createNamespacedRoleBinding({
        namespace,
        body: {
          metadata: { name },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
          subjects: [{ kind: 'ServiceAccount', name: sa, namespace: nsSa }],
        },
      });
    };
    const allVerbs = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'];

    before(async () => {
      rbac = kube.kubeConfig().makeApiClient(RbacAuthorizationV1Api);
      for (const name of [nsA, nsB, nsD, nsSa]) await core.createNamespace({ body: { metadata: { name } } });
      await core.createNamespacedServiceAccount({ namespace: nsSa, body: { metadata: { name: sa } } });
      // ConfigMaps in A only (and Roles there, for the escalation check).
      await grant(nsA, 'cm-writer', [
        { apiGroups: [''], resources: ['configmaps'], verbs: allVerbs },
        { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'], verbs: allVerbs },
      ]);
      // ConfigMaps in D, but not to delete.
      await grant(nsD, 'cm-no-delete', [
        { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'create', 'update', 'patch'] },
      ]);
    });

    test('A is applied and B refused with the condition (not on the spoke); a RoleBinding in B lets it in within the retry bound', async (t) => {
      await applyYaml(
        'exec-cms',
        `apiVersion: work.open-cluster-management.io/v1
kind: ManifestWork
metadata:
  name: exec-cms
  namespace: ${cluster}
spec:
${executorYaml()}  workload:
    manifests:
${cmYaml('exec-cm-a', nsA)}${cmYaml('exec-cm-b', nsB)}`,
      );
      const refused = await waitWork('exec-cms', 'A applied, B refused', (w) => {
        return (
          w.status.observedGeneration === w.metadata.generation &&
          manifest(w, 'exec-cm-a')?.conditions.find((c) => c.type === 'Applied')?.status === 'True' &&
          manifest(w, 'exec-cm-b')?.conditions.find((c) => c.type === 'Applied')?.status === 'False'
        );
      });
      const b = manifest(refused, 'exec-cm-b')?.conditions.find((c) => c.type === 'Applied');
      assert.equal(b?.reason, 'ExecutorNotAllowed');
      assert.match(
        b?.message ?? '',
        new RegExp(
          `^not allowed to apply the resource {2}configmaps, ${nsB} exec-cm-b: executor system:serviceaccount:${nsSa}:${sa} may not create it`,
        ),
      );
      assert.equal(condition(refused, 'Applied')?.status, 'False', 'the work is not Applied');
      assert.equal(condition(refused, 'Applied')?.reason, 'AppliedManifestWorkFailed');
      assert.ok(await readIn(nsA, 'exec-cm-a'), "A's ConfigMap is on the spoke");
      assert.equal(await readIn(nsB, 'exec-cm-b'), undefined, "B's ConfigMap is not");

      const grantedAt = Date.now();
      await grant(nsB, 'cm-writer', [{ apiGroups: [''], resources: ['configmaps'], verbs: allVerbs }]);
      // Bound: a refused manifest is retried at least every 60 s (+ 20 % jitter) and a
      // denied answer is reused at most 30 s, so about 75 s at worst; the rest is slack for
      // a loaded test machine.
      const applied = await waitWork(
        'exec-cms',
        'B applied after the grant',
        (w) => condition(w, 'Applied')?.status === 'True',
        110_000,
      );
      t.diagnostic(`B applied ${Date.now() - grantedAt} ms after its RoleBinding was created`);
      assert.equal(
        manifest(applied, 'exec-cm-b')?.conditions.find((c) => c.type === 'Applied')?.reason,
        'AppliedManifestComplete',
      );
      assert.ok(await readIn(nsB, 'exec-cm-b'), "B's ConfigMap is on the spoke");

      // Deletion is not checked again (as OCM): delete was asked before the apply, so the
      // objects go with the work even once the executor has lost every permission.
      await rbac.deleteNamespacedRoleBinding({ namespace: nsA, name: 'cm-writer' });
      await rbac.deleteNamespacedRoleBinding({ namespace: nsB, name: 'cm-writer' });
      await cli('work', 'delete', 'exec-cms', '--cluster', cluster);
      await waitFor(
        'work exec-cms forgotten',
        async () => ((await getWork('exec-cms')).status === 404 ? true : undefined),
        30_000,
      );
      assert.equal(await readIn(nsA, 'exec-cm-a'), undefined);
      assert.equal(await readIn(nsB, 'exec-cm-b'), undefined);
      await grant(nsA, 'cm-writer-again', [
        { apiGroups: [''], resources: ['configmaps'], verbs: allVerbs },
        { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'], verbs: allVerbs },
      ]);
    });

    test('delete is asked only where the work would delete (Foreground yes, Orphan no)', async () => {
      await applyYaml(
        'exec-fg',
        `apiVersion: work.open-cluster-management.io/v1
kind: ManifestWork
metadata:
  name: exec-fg
  namespace: ${cluster}
spec:
${executorYaml()}  workload:
    manifests:
${cmYaml('exec-cm-fg', nsD)}`,
      );
      const fg = await waitWork('exec-fg', 'refused', (w) => condition(w, 'Applied')?.status === 'False');
      assert.match(
        manifest(fg, 'exec-cm-fg')?.conditions.find((c) => c.type === 'Applied')?.message ?? '',
        /may not delete it/,
      );
      assert.equal(await readIn(nsD, 'exec-cm-fg'), undefined);

      await applyYaml(
        'exec-orphan',
        `apiVersion: work.open-cluster-management.io/v1
kind: ManifestWork
metadata:
  name: exec-orphan
  namespace: ${cluster}
spec:
${executorYaml()}  deleteOption:
    propagationPolicy: Orphan
  workload:
    manifests:
${cmYaml('exec-cm-orphan', nsD)}`,
      );
      await waitApplied('exec-orphan');
      assert.ok(await readIn(nsD, 'exec-cm-orphan'));
      await cli('work', 'delete', 'exec-orphan', '--cluster', cluster);
      await cli('work', 'delete', 'exec-fg', '--cluster', cluster);
      for (const name of ['exec-orphan', 'exec-fg']) {
        await waitFor(
          `work ${name} forgotten`,
          async () => ((await getWork(name)).status === 404 ? true : undefined),
          30_000,
        );
      }
      assert.ok(await readIn(nsD, 'exec-cm-orphan'), 'orphaned, as its delete option says');
    });

    test('RBAC kinds: a Role granting what the executor does not hold is a permission escalation', async () => {
      await applyYaml(
        'exec-rbac',
        `apiVersion: work.open-cluster-management.io/v1
kind: ManifestWork
metadata:
  name: exec-rbac
  namespace: ${cluster}
spec:
${executorYaml()}  workload:
    manifests:
      - apiVersion: rbac.authorization.k8s.io/v1
        kind: Role
        metadata:
          name: cm-reader
          namespace: ${nsA}
        rules:
          - apiGroups: [""]
            resources: [configmaps]
            verbs: [get]
      - apiVersion: rbac.authorization.k8s.io/v1
        kind: Role
        metadata:
          name: secret-reader
          namespace: ${nsA}
        rules:
          - apiGroups: [""]
            resources: [secrets]
            verbs: [get]
`,
      );
      const w = await waitWork('exec-rbac', 'both manifests decided', (v) => {
        const a = manifest(v, 'cm-reader')?.conditions.find((c) => c.type === 'Applied');
        const b = manifest(v, 'secret-reader')?.conditions.find((c) => c.type === 'Applied');
        return a?.status === 'True' && b?.status === 'False';
      });
      assert.match(
        manifest(w, 'secret-reader')?.conditions.find((c) => c.type === 'Applied')?.message ?? '',
        /^not allowed to apply the resource rbac\.authorization\.k8s\.io roles, exec-a secret-reader, error: permission escalation/,
      );
      await assert.rejects(rbac.readNamespacedRole({ namespace: nsA, name: 'secret-reader' }));
      assert.ok(await rbac.readNamespacedRole({ namespace: nsA, name: 'cm-reader' }));
      await cli('work', 'delete', 'exec-rbac', '--cluster', cluster);
    });

    test('an executor of another subject type is refused at the hub naming the field; a work without executor is unchanged', async () => {
      const file = join(dir, 'exec-user.yaml');
      await writeFile(
        file,
        `apiVersion: work.open-cluster-management.io/v1
kind: ManifestWork
metadata:
  name: exec-user
  namespace: ${cluster}
spec:
${executorYaml('User')}  workload:
    manifests:
${cmYaml('exec-cm-user', nsA)}`,
      );
      const res = await run(process.execPath, [
        hubMain,
        'work',
        'apply',
        '-f',
        file,
        '--data-dir',
        hub.dataDir,
        '--hub',
        hub.url,
      ]);
      assert.notEqual(res.code, 0);
      assert.match(res.stderr, /UNSUPPORTED_FIELD/);
      assert.match(res.stderr, /spec\.executor\.subject\.type/);
      const api = await admin.post(`/api/v1/clusters/${cluster}/works`, {
        metadata: { name: 'exec-user' },
        spec: {
          executor: { subject: { type: 'User', serviceAccount: { namespace: nsSa, name: sa } } },
          workload: { manifests: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: nsA } }] },
        },
      });
      assertError(api, 400, 'UNSUPPORTED_FIELD');
      assert.equal((api.body as { details?: { field?: string } }).details?.field, 'spec.executor.subject.type');
      assert.equal((await getWork('exec-user')).status, 404);

      // No executor: the agent's own permissions, no review (B is a namespace the executor never had).
      await applyYaml(
        'exec-none',
        `apiVersion: work.open-cluster-management.io/v1
kind: ManifestWork
metadata:
  name: exec-none
  namespace: ${cluster}
spec:
  workload:
    manifests:
${cmYaml('exec-cm-none', nsD)}`,
      );
      await waitApplied('exec-none');
      assert.ok(await readIn(nsD, 'exec-cm-none'));
      await cli('work', 'delete', 'exec-none', '--cluster', cluster);
      await waitFor(
        'work exec-none forgotten',
        async () => ((await getWork('exec-none')).status === 404 ? true : undefined),
        30_000,
      );
      assert.equal(await readIn(nsD, 'exec-cm-none'), undefined, 'deleted with its work, as before');
    });
  });
});
