// The Helm charts in deploy/charts and the plain manifests rendered from them: helm lint,
// helm template with default and changed values, structural checks of what renders
// (restricted security context, the agent's leader-election identity, control-plane
// scheduling, least-privilege RBAC), a server-side dry run of every rendered object against
// a real kube-apiserver (which also checks the pod templates against the `restricted`
// Pod Security level), and deploy/manifests (and the agent's copy in
// packages/agent/src/install) matching a fresh deploy/render.sh.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { ensureHelm } from '../helm/index.ts';
import { ensureKubeBinaries, type KubeCluster, startCluster } from '../kube/index.ts';
import { type RunResult, run, runOk } from '../kube/run.ts';

const repo = join(import.meta.dirname, '../..');
const chartsDir = join(repo, 'deploy/charts');

// Rendered objects are read loosely: the checks below say what they expect.
// biome-ignore lint/suspicious/noExplicitAny: parsed YAML, checked field by field
type Obj = Record<string, any>;

interface Variant {
  chart: 'outpost-hub' | 'outpost-agent';
  release: string;
  namespace: string;
  values?: Record<string, unknown>;
}

const variants = {
  hub: { chart: 'outpost-hub', release: 'outpost-hub', namespace: 'outpost-hub' },
  hubCustom: {
    chart: 'outpost-hub',
    release: 'fleet',
    namespace: 'fleet-system',
    values: {
      hub: {
        advertiseUrl: 'https://hub.example.com:8443',
        extraSans: ['hub.example.com', '10.0.0.5'],
        certValidity: '30d',
        maxWorkSize: '32Mi',
        pollTimeout: '45s',
        missedPolls: 5,
        logLevel: 'debug',
      },
      persistence: { enabled: false },
      podAnnotations: { 'example.com/scrape': 'true' },
      nodeSelector: { 'kubernetes.io/os': 'linux' },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'outpost', effect: 'NoSchedule' }],
      serviceAccount: { name: 'hub-sa' },
    },
  },
  hubReplicas: {
    chart: 'outpost-hub',
    release: 'ha',
    namespace: 'ha-system',
    values: { replicas: 3, database: { urlSecret: { name: 'outpost-db', key: 'uri' } } },
  },
  agent: { chart: 'outpost-agent', release: 'outpost-agent', namespace: 'outpost-agent' },
  agentClusterAdmin: {
    chart: 'outpost-agent',
    release: 'edge',
    namespace: 'edge-agent',
    values: {
      rbac: { clusterAdmin: true },
      agent: {
        pollWait: '20s',
        resyncInterval: '10m',
        maxDeleteShare: 0.25,
        leaseDuration: '30s',
        logLevel: 'debug',
        listen: 'off',
      },
      // Helm merges maps: null, not {}, removes a default.
      nodeSelector: null,
    },
  },
} as const satisfies Record<string, Variant>;
type VariantName = keyof typeof variants;

function parseDocs(text: string): Obj[] {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) return [];
  for (const doc of docs) assert.deepEqual(doc.errors, [], 'rendered YAML must parse');
  return docs.map((d) => d.toJS() as Obj | null).filter((o): o is Obj => o !== null);
}

function one(objs: Obj[], kind: string, name?: string): Obj {
  const found = objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  assert.equal(found.length, 1, `expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0] as Obj;
}

function envOf(container: Obj): Map<string, Obj> {
  return new Map((container.env as Obj[]).map((e) => [e.name as string, e]));
}

let helm: string;
let tmp: string;
const rendered = new Map<VariantName, { text: string; objs: Obj[] }>();

async function render(v: Variant): Promise<string> {
  const args = ['template', v.release, join(chartsDir, v.chart), '--namespace', v.namespace];
  if (v.values) {
    // JSON is YAML, so a values file can be written without a YAML writer.
    const file = join(tmp, `${v.release}-${v.namespace}.values.json`);
    await writeFile(file, JSON.stringify(v.values));
    args.push('--values', file);
  }
  return runOk(helm, args);
}

// A cold build of helm takes a few minutes on 2 cores, of Kubernetes longer; then instant.
before(
  async () => {
    [helm] = await Promise.all([ensureHelm(), ensureKubeBinaries()]);
    tmp = await mkdtemp(join(tmpdir(), 'outpost-charts-'));
    for (const [name, v] of Object.entries(variants) as [VariantName, Variant][]) {
      const text = await render(v);
      rendered.set(name, { text, objs: parseDocs(text) });
    }
  },
  { timeout: 30 * 60_000 },
);

after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

function objs(name: VariantName): Obj[] {
  const r = rendered.get(name);
  assert.ok(r, `${name} was rendered`);
  return r.objs;
}

describe('helm lint', () => {
  for (const chart of ['outpost-hub', 'outpost-agent']) {
    test(`${chart} passes helm lint --strict`, { timeout: 60_000 }, async () => {
      await runOk(helm, ['lint', '--strict', join(chartsDir, chart)]);
    });
  }
});

describe('rendered objects', () => {
  test('every namespaced object lands in the release namespace', () => {
    const clusterScoped = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding']);
    for (const [name, v] of Object.entries(variants) as [VariantName, Variant][]) {
      for (const o of objs(name)) {
        if (clusterScoped.has(o.kind)) assert.equal(o.metadata.namespace, undefined);
        else assert.equal(o.metadata.namespace, v.namespace, `${name}: ${o.kind} ${o.metadata.name}`);
      }
    }
  });

  test('pods run under the restricted Pod Security profile with a writable /tmp only', () => {
    for (const name of Object.keys(variants) as VariantName[]) {
      const workload = objs(name).find((o) => o.kind === 'Deployment' || o.kind === 'DaemonSet');
      assert.ok(workload, `${name} has a workload`);
      const pod = workload.spec.template.spec;
      assert.equal(pod.securityContext.runAsNonRoot, true);
      assert.equal(pod.securityContext.runAsUser, 65532);
      assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
      assert.equal(pod.hostNetwork, undefined);
      for (const c of pod.containers as Obj[]) {
        const sc = c.securityContext;
        assert.equal(sc.allowPrivilegeEscalation, false, `${name}/${c.name}`);
        assert.equal(sc.readOnlyRootFilesystem, true);
        assert.equal(sc.runAsNonRoot, true);
        assert.equal(sc.runAsUser, 65532);
        assert.deepEqual(sc.capabilities.drop, ['ALL']);
        assert.equal(sc.capabilities.add, undefined);
        assert.equal(sc.seccompProfile.type, 'RuntimeDefault');
        assert.ok(c.resources.requests.memory && c.resources.requests.cpu, 'requests set');
        assert.ok(c.resources.limits.memory, 'memory limit set');
        const tmpMount = (c.volumeMounts as Obj[]).find((m) => m.mountPath === '/tmp');
        assert.ok(tmpMount, `${name}: /tmp is mounted`);
        const tmpVolume = (pod.volumes as Obj[]).find((vol) => vol.name === tmpMount.name);
        assert.ok(tmpVolume?.emptyDir, '/tmp is an emptyDir');
      }
    }
  });

  test('the hub: one replica, Recreate, its data on a claim, HTTPS probes and Service', () => {
    const o = objs('hub');
    const deploy = one(o, 'Deployment', 'outpost-hub');
    assert.equal(deploy.spec.replicas, 1);
    assert.equal(deploy.spec.strategy.type, 'Recreate');
    const pod = deploy.spec.template.spec;
    assert.equal(pod.automountServiceAccountToken, false, 'the hub never calls the Kubernetes API');
    const [c] = pod.containers as Obj[];
    assert.ok(c);
    assert.deepEqual(c.args, ['serve']);
    assert.equal(c.livenessProbe.httpGet.path, '/healthz');
    assert.equal(c.livenessProbe.httpGet.scheme, 'HTTPS');
    assert.equal(c.readinessProbe.httpGet.path, '/readyz');
    assert.equal(c.readinessProbe.httpGet.scheme, 'HTTPS');
    assert.equal(c.ports[0].containerPort, 8443);
    const env = envOf(c);
    assert.equal(env.get('OUTPOST_HUB_LISTEN')?.value, '0.0.0.0:8443');
    const dataDir = String(env.get('OUTPOST_HUB_DATA_DIR')?.value);
    const dataMount = (c.volumeMounts as Obj[]).find((m) => m.name === 'data');
    assert.ok(dataMount && dataDir.startsWith(`${dataMount.mountPath}/`), 'the data dir is on the volume');
    const sans = String(env.get('OUTPOST_HUB_SANS')?.value).split(',');
    assert.ok(sans.includes('outpost-hub.outpost-hub.svc'), `the Service name is a SAN: ${sans}`);
    assert.equal(env.has('OUTPOST_HUB_ADVERTISE_URL'), false);
    const claim = one(o, 'PersistentVolumeClaim');
    assert.equal(pod.volumes.find((v: Obj) => v.name === 'data').persistentVolumeClaim.claimName, claim.metadata.name);
    assert.equal(claim.metadata.annotations['helm.sh/resource-policy'], 'keep');
    const svc = one(o, 'Service', 'outpost-hub');
    assert.equal(svc.spec.ports[0].port, 8443);
    assert.deepEqual(svc.spec.selector, deploy.spec.selector.matchLabels);
    assert.equal(o.filter((x) => x.kind.includes('Role')).length, 0, 'the hub needs no RBAC');
  });

  test('hub replicas: PostgreSQL from a Secret, the keys Secret mounted, a PDB, spread over nodes, no claim', () => {
    const o = objs('hubReplicas');
    const deploy = one(o, 'Deployment', 'ha-outpost-hub');
    assert.equal(deploy.spec.replicas, 3);
    assert.equal(deploy.spec.strategy.type, 'RollingUpdate');
    assert.equal(deploy.spec.strategy.rollingUpdate.maxUnavailable, 0);
    const pod = deploy.spec.template.spec;
    const [c] = pod.containers as Obj[];
    const env = envOf(c as Obj);
    assert.deepEqual(env.get('OUTPOST_HUB_DATABASE')?.valueFrom, { secretKeyRef: { name: 'outpost-db', key: 'uri' } });
    const keys = one(o, 'Secret', 'ha-outpost-hub-keys');
    assert.equal(keys.metadata.annotations['helm.sh/resource-policy'], 'keep');
    const kek = Buffer.from(Buffer.from(keys.data.kek, 'base64').toString(), 'base64');
    assert.equal(kek.length, 32, 'the kek file holds 32 bytes as base64');
    assert.match(Buffer.from(keys.data['admin-token'], 'base64').toString(), /^oph_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    const keysVolume = pod.volumes.find((v: Obj) => v.secret?.secretName === keys.metadata.name);
    const keysMount = ((c as Obj).volumeMounts as Obj[]).find((m) => m.name === keysVolume.name);
    assert.equal(env.get('OUTPOST_HUB_KEK_FILE')?.value, `${keysMount?.mountPath}/kek`);
    assert.equal(env.get('OUTPOST_HUB_ADMIN_TOKEN_FILE')?.value, `${keysMount?.mountPath}/admin-token`);
    assert.ok(pod.volumes.find((v: Obj) => v.name === 'data').emptyDir, 'no shared volume: the state is in PostgreSQL');
    assert.equal(o.filter((x) => x.kind === 'PersistentVolumeClaim').length, 0);
    const pdb = one(o, 'PodDisruptionBudget');
    assert.equal(pdb.spec.maxUnavailable, 1);
    assert.deepEqual(pdb.spec.selector.matchLabels, deploy.spec.selector.matchLabels);
    const spread = pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm;
    assert.equal(spread.topologyKey, 'kubernetes.io/hostname');
    assert.deepEqual(spread.labelSelector.matchLabels, deploy.spec.selector.matchLabels);
    // One hub alone has neither.
    assert.equal(objs('hub').filter((x) => x.kind === 'PodDisruptionBudget' || x.kind === 'Secret').length, 0);
  });

  test('replicas without a database, or a bad anti-affinity, are refused by name', async () => {
    const r = await run(helm, ['template', 'x', join(chartsDir, 'outpost-hub'), '--set', 'replicas=2']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /replicas > 1 needs database\.urlSecret\.name/);
    const bad = await run(helm, [
      'template',
      'x',
      join(chartsDir, 'outpost-hub'),
      '--set',
      'replicas=2,database.urlSecret.name=db,podAntiAffinity=always',
    ]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /podAntiAffinity must be soft, hard or none/);
  });

  test('an agent listener the kubelet could not probe (loopback, port 0, no port) is refused by name', async () => {
    const refused = async (value: string, message: RegExp) => {
      const r = await run(helm, [
        'template',
        'x',
        join(chartsDir, 'outpost-agent'),
        '--set-string',
        `agent.listen=${value}`,
      ]);
      assert.notEqual(r.code, 0, value);
      assert.match(r.stderr, message, value);
    };
    await refused('127.0.0.1:9469', /agent\.listen "127\.0\.0\.1:9469" is loopback/);
    await refused('[::1]:9469', /is loopback/);
    await refused(':0', /a port 0 \(any free port\) cannot be probed/);
    await refused('9469', /agent\.listen must be HOST:PORT or :PORT/);
  });

  test('ServiceMonitors when asked: the hub’s credential-free metrics port, the agents’ listener; refused without them', async () => {
    const template = (chart: string, set: string) => run(helm, ['template', 'x', join(chartsDir, chart), '--set', set]);
    const hubOut = await template(
      'outpost-hub',
      'metrics.port=9464,metrics.serviceMonitor.enabled=true,metrics.serviceMonitor.labels.release=prom',
    );
    assert.equal(hubOut.code, 0, hubOut.stderr);
    const hub = parseDocs(hubOut.stdout);
    const monitor = one(hub, 'ServiceMonitor');
    assert.equal(monitor.metadata.labels.release, 'prom');
    assert.deepEqual(monitor.spec.endpoints, [{ port: 'http-metrics', path: '/metrics', interval: '30s' }]);
    const service = one(hub, 'Service');
    assert.deepEqual(monitor.spec.selector.matchLabels, service.spec.selector, 'it selects the hub Service');
    assert.ok((service.spec.ports as Obj[]).some((p) => p.name === 'http-metrics' && p.port === 9464));
    const container = one(hub, 'Deployment').spec.template.spec.containers[0];
    assert.equal(envOf(container).get('OUTPOST_HUB_METRICS_LISTEN')?.value, ':9464');
    assert.ok((container.ports as Obj[]).some((p) => p.name === 'http-metrics' && p.containerPort === 9464));
    // By default no credential-free port at all.
    const plain = parseDocs((await template('outpost-hub', 'hub.logLevel=info')).stdout);
    assert.equal(
      envOf(one(plain, 'Deployment').spec.template.spec.containers[0]).get('OUTPOST_HUB_METRICS_LISTEN'),
      undefined,
    );
    assert.equal(plain.filter((o) => o.kind === 'ServiceMonitor').length, 0);

    const agentOut = await template('outpost-agent', 'serviceMonitor.enabled=true');
    assert.equal(agentOut.code, 0, agentOut.stderr);
    const agent = parseDocs(agentOut.stdout);
    const headless = one(agent, 'Service', 'x-outpost-agent-metrics');
    assert.equal(headless.spec.clusterIP, 'None');
    assert.deepEqual(headless.spec.ports, [
      { name: 'http-metrics', port: 9469, targetPort: 'http-metrics', protocol: 'TCP' },
    ]);
    assert.deepEqual(
      one(agent, 'ServiceMonitor').spec.selector.matchLabels,
      one(agent, 'DaemonSet').spec.selector.matchLabels,
    );

    const noPort = await template('outpost-hub', 'metrics.serviceMonitor.enabled=true');
    assert.notEqual(noPort.code, 0);
    assert.match(noPort.stderr, /metrics\.serviceMonitor\.enabled needs metrics\.port/);
    const noListener = await template('outpost-agent', 'serviceMonitor.enabled=true,agent.listen=off');
    assert.notEqual(noListener.code, 0);
    assert.match(noListener.stderr, /serviceMonitor\.enabled needs agent\.listen/);
  });

  test('hub values become its OUTPOST_* settings and pod placement', () => {
    const o = objs('hubCustom');
    const deploy = one(o, 'Deployment', 'fleet-outpost-hub');
    const pod = deploy.spec.template.spec;
    const env = envOf(pod.containers[0]);
    assert.equal(env.get('OUTPOST_HUB_ADVERTISE_URL')?.value, 'https://hub.example.com:8443');
    const sans = String(env.get('OUTPOST_HUB_SANS')?.value).split(',');
    assert.ok(sans.includes('hub.example.com') && sans.includes('10.0.0.5'));
    assert.ok(sans.includes('fleet-outpost-hub.fleet-system.svc.cluster.local'));
    assert.equal(env.get('OUTPOST_HUB_CERT_VALIDITY')?.value, '30d');
    assert.equal(env.get('OUTPOST_HUB_MAX_WORK_SIZE')?.value, '32Mi');
    assert.equal(env.get('OUTPOST_HUB_POLL_TIMEOUT')?.value, '45s');
    assert.equal(env.get('OUTPOST_HUB_MISSED_POLLS')?.value, '5');
    assert.equal(env.get('OUTPOST_LOG_LEVEL')?.value, 'debug');
    assert.equal(o.filter((x) => x.kind === 'PersistentVolumeClaim').length, 0);
    assert.ok(pod.volumes.find((v: Obj) => v.name === 'data').emptyDir);
    assert.equal(deploy.spec.template.metadata.annotations['example.com/scrape'], 'true');
    assert.deepEqual(pod.nodeSelector, { 'kubernetes.io/os': 'linux' });
    assert.equal(pod.tolerations[0].key, 'dedicated');
    assert.equal(pod.serviceAccountName, 'hub-sa');
    assert.equal(one(o, 'ServiceAccount').metadata.name, 'hub-sa');
  });

  test('the agent: a DaemonSet on control-plane nodes with POD_NAME as its identity', () => {
    const o = objs('agent');
    const ds = one(o, 'DaemonSet', 'outpost-agent');
    const pod = ds.spec.template.spec;
    assert.deepEqual(pod.nodeSelector, { 'node-role.kubernetes.io/control-plane': '' });
    for (const key of ['node-role.kubernetes.io/control-plane', 'node-role.kubernetes.io/master']) {
      assert.ok(
        (pod.tolerations as Obj[]).some(
          (t) => t.key === key && t.effect === 'NoSchedule' && (t.operator === 'Exists' || t.operator === undefined),
        ),
        `tolerates ${key}:NoSchedule`,
      );
    }
    const [c] = pod.containers as Obj[];
    assert.ok(c);
    assert.deepEqual(c.args, ['run', '--listen=:9469']);
    // The listener's port, probed: liveness only asks whether the process answers.
    assert.deepEqual(c.ports, [{ name: 'http-metrics', containerPort: 9469, protocol: 'TCP' }]);
    assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'http-metrics' });
    assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'http-metrics' });
    const env = envOf(c);
    assert.equal(env.get('POD_NAME')?.valueFrom.fieldRef.fieldPath, 'metadata.name');
    assert.equal(env.get('OUTPOST_AGENT_NAMESPACE')?.valueFrom.fieldRef.fieldPath, 'metadata.namespace');
    assert.equal(env.get('NODE_COMPILE_CACHE')?.value, '/tmp/node-compile-cache');
    // `outpost-agent status` in the pod asks the listener on the chart's port.
    assert.equal(env.get('OUTPOST_AGENT_URL')?.value, 'http://127.0.0.1:9469');
    assert.deepEqual(c.resources.requests.memory, '128Mi');
    assert.deepEqual(c.resources.limits.memory, '256Mi');
    assert.equal(pod.serviceAccountName, one(o, 'ServiceAccount').metadata.name);
  });

  test('agent values become run flags; a cleared nodeSelector still tolerates control planes', () => {
    const ds = one(objs('agentClusterAdmin'), 'DaemonSet', 'edge-outpost-agent');
    const pod = ds.spec.template.spec;
    assert.deepEqual(pod.containers[0].args, [
      'run',
      '--poll-wait=20s',
      '--resync-interval=10m',
      '--max-delete-share=0.25',
      '--lease-duration=30s',
      '--listen=off',
    ]);
    // No listener: no port, no probes.
    assert.equal(pod.containers[0].ports, undefined);
    assert.equal(pod.containers[0].livenessProbe, undefined);
    assert.equal(pod.containers[0].readinessProbe, undefined);
    assert.equal(envOf(pod.containers[0]).get('OUTPOST_LOG_LEVEL')?.value, 'debug');
    assert.equal(pod.nodeSelector, undefined);
    assert.equal(pod.tolerations.length, 2);
  });

  test('agent RBAC: secrets and leases in its namespace, a modest ClusterRole by default', () => {
    const o = objs('agent');
    const sa = one(o, 'ServiceAccount').metadata.name;
    const role = one(o, 'Role');
    assert.equal(role.metadata.namespace, 'outpost-agent');
    const rule = (group: string, resource: string) =>
      (role.rules as Obj[]).find((r) => r.apiGroups.includes(group) && r.resources.includes(resource));
    assert.deepEqual(new Set(rule('', 'secrets')?.verbs), new Set(['get', 'list', 'create', 'update', 'delete']));
    assert.deepEqual(new Set(rule('coordination.k8s.io', 'leases')?.verbs), new Set(['get', 'create', 'update']));
    assert.equal(
      (role.rules as Obj[]).some((r) => r.resources.includes('configmaps')),
      false,
      'no ConfigMaps in the Role',
    );
    const binding = one(o, 'RoleBinding');
    assert.deepEqual(binding.roleRef, {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'Role',
      name: role.metadata.name,
    });
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: sa, namespace: 'outpost-agent' }]);

    const clusterRole = one(o, 'ClusterRole');
    const granted = new Set<string>();
    for (const r of clusterRole.rules as Obj[]) {
      assert.ok(!r.verbs.includes('*') && !(r.resources ?? []).includes('*'), 'no wildcards');
      assert.ok(!(r.apiGroups ?? []).includes('rbac.authorization.k8s.io'), 'cannot grant itself more');
      for (const g of r.apiGroups ?? []) for (const res of r.resources) granted.add(`${g}/${res}`);
    }
    for (const kind of [
      '/namespaces',
      '/configmaps',
      'apps/deployments',
      'apiextensions.k8s.io/customresourcedefinitions',
    ]) {
      assert.ok(granted.has(kind), `ClusterRole grants ${kind}`);
    }
    const crb = one(o, 'ClusterRoleBinding');
    assert.equal(crb.roleRef.name, clusterRole.metadata.name);
    assert.deepEqual(crb.subjects, [{ kind: 'ServiceAccount', name: sa, namespace: 'outpost-agent' }]);
  });

  test('rbac.clusterAdmin binds cluster-admin instead of the modest ClusterRole', () => {
    const o = objs('agentClusterAdmin');
    assert.equal(o.filter((x) => x.kind === 'ClusterRole').length, 0);
    const crb = one(o, 'ClusterRoleBinding');
    assert.deepEqual(crb.roleRef, {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: 'cluster-admin',
    });
    assert.deepEqual(crb.subjects, [{ kind: 'ServiceAccount', name: 'edge-outpost-agent', namespace: 'edge-agent' }]);
    assert.equal(one(o, 'Role').metadata.namespace, 'edge-agent', 'the namespace Role stays');
  });
});

describe('the ClusterClaim CRD', () => {
  const crdFile = join(chartsDir, 'outpost-agent/crds/clusterclaims.cluster.open-cluster-management.io.yaml');

  test('the agent chart ships OCM’s ClusterClaim CRD in crds/: same name, group, version, scope and schema', async () => {
    const [crd, ...more] = parseDocs(await readFile(crdFile, 'utf8'));
    assert.equal(more.length, 0);
    assert.ok(crd);
    assert.equal(crd.apiVersion, 'apiextensions.k8s.io/v1');
    assert.equal(crd.kind, 'CustomResourceDefinition');
    assert.equal(crd.metadata.name, 'clusterclaims.cluster.open-cluster-management.io');
    assert.equal(crd.spec.group, 'cluster.open-cluster-management.io');
    assert.equal(crd.spec.scope, 'Cluster');
    assert.deepEqual(crd.spec.names, {
      kind: 'ClusterClaim',
      listKind: 'ClusterClaimList',
      plural: 'clusterclaims',
      singular: 'clusterclaim',
    });
    assert.equal(crd.spec.versions.length, 1);
    const [v] = crd.spec.versions;
    assert.deepEqual([v.name, v.served, v.storage], ['v1alpha1', true, true]);
    const { description: _, ...value } = v.schema.openAPIV3Schema.properties.spec.properties.value;
    assert.deepEqual(value, { type: 'string', maxLength: 1024, minLength: 1 });
    // helm template leaves crds/ out; helm install creates it (and never upgrades or deletes it).
    assert.equal(objs('agent').filter((o) => o.kind === 'CustomResourceDefinition').length, 0);
  });

  test('join --install carries it after the Namespace; the plain manifests keep it in a file of its own', async () => {
    const [crd] = parseDocs(await readFile(crdFile, 'utf8'));
    const installed = parseDocs(await readFile(join(repo, 'packages/agent/src/install/manifests.yaml'), 'utf8'));
    assert.deepEqual(
      installed.slice(0, 2).map((o) => o.kind),
      ['Namespace', 'CustomResourceDefinition'],
    );
    assert.deepEqual(installed[1], crd);
    // A `kubectl delete -f outpost-agent.yaml` must not take the CRD (and every ClusterClaim,
    // perhaps OCM's) along.
    const agent = parseDocs(await readFile(join(repo, 'deploy/manifests/outpost-agent.yaml'), 'utf8'));
    assert.equal(agent.filter((o) => o.kind === 'CustomResourceDefinition').length, 0);
    const crds = parseDocs(await readFile(join(repo, 'deploy/manifests/outpost-agent-crds.yaml'), 'utf8'));
    assert.deepEqual(crds, [crd]);
  });

  test('the agent may get, list and watch ClusterClaims', () => {
    const rule = (one(objs('agent'), 'ClusterRole').rules as Obj[]).find((r) =>
      (r.resources ?? []).includes('clusterclaims'),
    );
    assert.deepEqual(rule?.apiGroups, ['cluster.open-cluster-management.io']);
    assert.deepEqual(new Set(rule?.verbs), new Set(['get', 'list', 'watch']));
  });
});

describe('deploy/manifests', () => {
  test('match a fresh deploy/render.sh', { timeout: 60_000 }, async () => {
    const out = join(tmp, 'manifests');
    const env = { ...process.env, OUTPOST_HELM_BIN_DIR: join(helm, '..') };
    const r = await new Promise<RunResult>((resolve, reject) => {
      const child = spawn('bash', [join(repo, 'deploy/render.sh'), out, join(out, 'agent-install.yaml')], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (c: string) => {
        stderr += c;
      });
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout: '', stderr }));
    });
    assert.equal(r.code, 0, r.stderr);
    for (const file of ['outpost-hub.yaml', 'outpost-agent.yaml', 'outpost-agent-crds.yaml']) {
      const committed = await readFile(join(repo, 'deploy/manifests', file), 'utf8');
      const fresh = await readFile(join(out, file), 'utf8');
      assert.ok(committed === fresh, `deploy/manifests/${file} is stale: run deploy/render.sh`);
    }
    // The copy `outpost-agent join --install` applies, inside the agent's sources.
    const installed = await readFile(join(repo, 'packages/agent/src/install/manifests.yaml'), 'utf8');
    const fresh = await readFile(join(out, 'agent-install.yaml'), 'utf8');
    assert.ok(installed === fresh, 'packages/agent/src/install/manifests.yaml is stale: run deploy/render.sh');
  });
});

describe('server-side dry run on a real kube-apiserver', () => {
  let cluster: KubeCluster;
  let kubectl: string;

  before(
    async () => {
      kubectl = (await ensureKubeBinaries()).kubectl;
      cluster = await startCluster({ name: 'charts' });
      // A dry run needs the namespaces to exist. Labelled `restricted`, the apiserver's
      // Pod Security admission warns about any pod template that would be refused.
      const namespaces = new Set(Object.values(variants).map((v) => v.namespace));
      const docs = [...namespaces].map((name) =>
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: {
            name,
            labels: {
              'pod-security.kubernetes.io/enforce': 'restricted',
              'pod-security.kubernetes.io/warn': 'restricted',
            },
          },
        }),
      );
      await runOk(
        kubectl,
        ['--kubeconfig', cluster.kubeconfigPath, 'apply', '--server-side', '-f', '-'],
        docs.join('\n---\n'),
      );
    },
    { timeout: 120_000 },
  );

  after(() => cluster?.stop());

  function apply(yamlText: string): Promise<RunResult> {
    const args = ['--kubeconfig', cluster.kubeconfigPath, 'apply', '--server-side', '--dry-run=server', '-f', '-'];
    return run(kubectl, args, yamlText);
  }

  async function dryRun(yamlText: string, expected: number): Promise<void> {
    const r = await apply(yamlText);
    assert.equal(r.code, 0, `kubectl apply failed:\n${r.stderr}${r.stdout}`);
    assert.equal(r.stderr.trim(), '', 'no warnings (Pod Security, deprecations)');
    const applied = r.stdout.split('\n').filter((l) => l.endsWith('(server dry run)'));
    assert.equal(applied.length, expected, `every object accepted:\n${r.stdout}`);
  }

  for (const name of Object.keys(variants) as VariantName[]) {
    test(`accepts every object of ${name}`, { timeout: 60_000 }, async () => {
      const r = rendered.get(name);
      assert.ok(r);
      await dryRun(r.text, r.objs.length);
    });
  }

  for (const file of ['outpost-hub.yaml', 'outpost-agent-crds.yaml', 'outpost-agent.yaml']) {
    test(`accepts every object of deploy/manifests/${file}`, { timeout: 60_000 }, async () => {
      const text = await readFile(join(repo, 'deploy/manifests', file), 'utf8');
      await dryRun(text, parseDocs(text).length);
    });
  }

  test('a pod template breaking the restricted level is reported (the check has teeth)', async () => {
    const v = variants.agent;
    const text = await render({
      ...v,
      release: 'loose',
      values: { securityContext: { allowPrivilegeEscalation: true } },
    });
    const r = await apply(text);
    assert.match(r.stderr, /would violate PodSecurity "restricted:latest": allowPrivilegeEscalation/);
  });

  test('helm install prints notes on the admin token, the CA hash and the join', { timeout: 60_000 }, async () => {
    const install = async (v: Variant) => {
      const values: string[] = [];
      if (v.values) {
        const file = join(tmp, `${v.release}-install.values.json`);
        await writeFile(file, JSON.stringify(v.values));
        values.push('--values', file);
      }
      return runOk(helm, [
        'install',
        v.release,
        join(chartsDir, v.chart),
        '--namespace',
        v.namespace,
        '--dry-run=server',
        '--kubeconfig',
        cluster.kubeconfigPath,
        ...values,
      ]);
    };
    const hubNotes = (await install(variants.hub)).split('NOTES:')[1] ?? '';
    assert.match(hubNotes, /CA cert hash/);
    assert.match(hubNotes, /exec deploy\/outpost-hub -- cat \/var\/lib\/outpost-hub\/data\/admin\.token/);
    const haNotes = (await install(variants.hubReplicas)).split('NOTES:')[1] ?? '';
    assert.match(haNotes, /get secret ha-outpost-hub-keys -o jsonpath='\{\.data\.admin-token\}'/);
    assert.match(haNotes, /3 replicas share the database/);
    const agentNotes = (await install(variants.agent)).split('NOTES:')[1] ?? '';
    assert.match(agentNotes, /outpost-agent join .*--namespace outpost-agent/s);
  });
});
