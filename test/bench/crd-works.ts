// Operator-like works for delivery-crds.bench.ts, generated deterministically: the shape of
// real operator stacks (prometheus-operator, cert-manager and the apps that use them), where
// most bytes are CustomResourceDefinitions whose openAPIV3Schema has thousands of
// properties, each with a description. Every custom resource is filled from its CRD's own
// schema, so it passes the apiserver's strict field validation.

/** A small seeded generator (mulberry32): the same works on every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const words = (
  'container volume secret config selector match label port endpoint relabel metric scrape interval ' +
  'timeout tls bearer token basic auth oauth proxy header retention storage resource limit request ' +
  'affinity toleration topology spread priority security context probe liveness readiness template ' +
  'web remote write read queue shard replica alert rule route receiver inhibit silence path scheme ' +
  'target service account image pull policy argument env key ref name value field mount mode host ' +
  'network dns address certificate issuer duration renew usage subject private encoding algorithm ' +
  'rotation webhook solver challenge order domain zone record annotation group version kind status ' +
  'condition reason message observed generation replicas paused minimum maximum ready available'
).split(' ');

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

function sentence(r: () => number, n: number): string {
  const ws = Array.from({ length: n }, () => pick(r, words));
  return `${cap(ws.join(' '))}.`;
}

/** A description as operators write them: a few sentences, sometimes long. */
const description = (r: () => number) =>
  Array.from({ length: 1 + Math.floor(r() * 4) }, () => sentence(r, 8 + Math.floor(r() * 16))).join(' ');

type Schema = Record<string, unknown>;

/** One schema node of about `budget` bytes of JSON (at least a leaf). */
function node(r: () => number, budget: number, depth: number): Schema {
  const desc = description(r);
  if (budget < 600 || depth >= 7) {
    const leaf = r();
    if (leaf < 0.55) return { description: desc, type: 'string' };
    if (leaf < 0.7) return { description: desc, type: 'integer', format: 'int32', minimum: 0 };
    if (leaf < 0.82) return { description: desc, type: 'boolean' };
    if (leaf < 0.92) return { description: desc, type: 'array', items: { type: 'string' } };
    return { description: desc, type: 'object', additionalProperties: { type: 'string' } };
  }
  const props = objectProps(r, budget - desc.length - 60, depth + 1);
  // Lists of objects are as common in real CRDs as nested objects (containers, volumes, rules).
  if (r() < 0.3) return { description: desc, type: 'array', items: { type: 'object', properties: props } };
  return { description: desc, type: 'object', properties: props };
}

function objectProps(r: () => number, budget: number, depth: number): Record<string, Schema> {
  const out: Record<string, Schema> = {};
  const count = 3 + Math.floor(r() * 10);
  const share = budget / count;
  for (let i = 0; i < count && budget > 0; i++) {
    let name = pick(r, words) + cap(pick(r, words));
    while (out[name]) name += cap(pick(r, words));
    const child = node(r, share * (0.3 + r() * 1.4), depth);
    out[name] = child;
    budget -= JSON.stringify(child).length + name.length + 4;
  }
  return out;
}

/** A `spec` (and `status`) schema of about `bytes` bytes of JSON. */
function specSchema(r: () => number, bytes: number): Schema {
  const properties: Record<string, Schema> = {};
  let size = 0;
  while (size < bytes) {
    let name = pick(r, words) + cap(pick(r, words));
    while (properties[name]) name += cap(pick(r, words));
    const child = node(r, Math.min(bytes - size, 40_000 + r() * 40_000), 1);
    properties[name] = child;
    size += JSON.stringify(child).length + name.length + 4;
  }
  return { description: description(r), type: 'object', properties };
}

export interface CrdKind {
  group: string;
  kind: string;
  plural: string;
  /** Approximate JSON size of the CRD. */
  bytes: number;
  namespaced: boolean;
}

export function crd(k: CrdKind, seed: number): Record<string, unknown> {
  const r = seeded(seed);
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${k.plural}.${k.group}`,
      annotations: { 'controller-gen.kubebuilder.io/version': 'v0.16.5' },
    },
    spec: {
      group: k.group,
      names: {
        kind: k.kind,
        listKind: `${k.kind}List`,
        plural: k.plural,
        singular: k.kind.toLowerCase(),
        categories: ['bench'],
      },
      scope: k.namespaced ? 'Namespaced' : 'Cluster',
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [{ name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' }],
          schema: {
            openAPIV3Schema: {
              description: description(r),
              type: 'object',
              properties: {
                apiVersion: { description: description(r), type: 'string' },
                kind: { description: description(r), type: 'string' },
                metadata: { type: 'object' },
                spec: specSchema(r, k.bytes * 0.75),
                status: specSchema(r, k.bytes * 0.2),
              },
              required: ['spec'],
            },
          },
        },
      ],
    },
  };
}

/** A value that fits `schema`: the first few properties of each object, a short list of each array. */
function fill(schema: Schema, r: () => number, depth: number): unknown {
  switch (schema.type) {
    case 'string':
      return `${pick(r, words)}-${Math.floor(r() * 1000)}`;
    case 'integer':
      return Math.floor(r() * 100);
    case 'boolean':
      return r() < 0.5;
    case 'array': {
      const items = (schema.items ?? { type: 'string' }) as Schema;
      return Array.from({ length: 1 + Math.floor(r() * 2) }, () => fill(items, r, depth + 1));
    }
    default: {
      const props = schema.properties as Record<string, Schema> | undefined;
      if (!props) return { [pick(r, words)]: pick(r, words) };
      const out: Record<string, unknown> = {};
      const keys = Object.keys(props);
      const n = depth >= 3 ? 1 : Math.min(keys.length, 2 + Math.floor(r() * 4));
      for (const key of keys.slice(0, n)) out[key] = fill(props[key] as Schema, r, depth + 1);
      return out;
    }
  }
}

/** A custom resource of `definition` (made by `crd`), spec filled from its schema. */
export function customResource(
  definition: Record<string, unknown>,
  name: string,
  namespace: string | undefined,
  seed: number,
): Record<string, unknown> {
  const spec = definition.spec as {
    group: string;
    names: { kind: string };
    versions: { schema: { openAPIV3Schema: { properties: { spec: Schema } } } }[];
  };
  const schema = spec.versions[0]?.schema.openAPIV3Schema.properties.spec as Schema;
  return {
    apiVersion: `${spec.group}/v1`,
    kind: spec.names.kind,
    metadata: { name, ...(namespace ? { namespace } : {}), labels: { 'app.kubernetes.io/part-of': 'bench' } },
    spec: fill(schema, seeded(seed), 0),
  };
}

const ns = (name: string) => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name, labels: { 'app.kubernetes.io/part-of': 'bench' } },
});
const sa = (name: string, namespace: string) => ({
  apiVersion: 'v1',
  kind: 'ServiceAccount',
  metadata: { name, namespace },
});
const clusterRole = (name: string, groups: string[]) => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRole',
  metadata: { name },
  rules: groups.map((g) => ({ apiGroups: [g], resources: ['*'], verbs: ['get', 'list', 'watch', 'update', 'patch'] })),
});
const clusterBinding = (name: string, role: string, account: string, namespace: string) => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRoleBinding',
  metadata: { name },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
  subjects: [{ kind: 'ServiceAccount', name: account, namespace }],
});
const role = (name: string, namespace: string) => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'Role',
  metadata: { name, namespace },
  rules: [
    { apiGroups: [''], resources: ['configmaps', 'secrets', 'leases'], verbs: ['get', 'list', 'create', 'update'] },
  ],
});
const roleBinding = (name: string, namespace: string, account: string) => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'RoleBinding',
  metadata: { name, namespace },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
  subjects: [{ kind: 'ServiceAccount', name: account, namespace }],
});
const deployment = (name: string, namespace: string, account: string) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace, labels: { app: name } },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: {
        serviceAccountName: account,
        securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [
          {
            name,
            image: `registry.example/${name}:v1.2.3`,
            args: ['--log-level=info', `--namespace=${namespace}`, '--metrics-address=:8080'],
            ports: [{ name: 'metrics', containerPort: 8080 }],
            resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
            readinessProbe: { httpGet: { path: '/readyz', port: 8080 } },
            securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
          },
        ],
      },
    },
  },
});
const service = (name: string, namespace: string) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace, labels: { app: name } },
  spec: { selector: { app: name }, ports: [{ name: 'metrics', port: 8080, targetPort: 8080 }] },
});
const configMap = (name: string, namespace: string, r: () => number) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace },
  data: { 'config.yaml': Array.from({ length: 20 }, () => `${pick(r, words)}: ${sentence(r, 6)}`).join('\n') },
});

/** The six works: name → manifests. About 380 objects; the first work about 5 MB. */
export function crdWorks(): { name: string; manifests: Record<string, unknown>[] }[] {
  const r = seeded(17);
  const mon = 'monitoring.bench.example';
  const cm = 'cert-manager.bench.example';
  const monKinds: CrdKind[] = [
    { kind: 'Prometheus', plural: 'prometheuses', bytes: 720_000 },
    { kind: 'PrometheusAgent', plural: 'prometheusagents', bytes: 700_000 },
    { kind: 'Alertmanager', plural: 'alertmanagers', bytes: 700_000 },
    { kind: 'ThanosRuler', plural: 'thanosrulers', bytes: 680_000 },
    { kind: 'AlertmanagerConfig', plural: 'alertmanagerconfigs', bytes: 640_000 },
    { kind: 'ScrapeConfig', plural: 'scrapeconfigs', bytes: 600_000 },
    { kind: 'Receiver', plural: 'receivers', bytes: 440_000 },
    { kind: 'ServiceMonitor', plural: 'servicemonitors', bytes: 300_000 },
    { kind: 'PodMonitor', plural: 'podmonitors', bytes: 280_000 },
    { kind: 'Probe', plural: 'probes', bytes: 260_000 },
    { kind: 'PrometheusRule', plural: 'prometheusrules', bytes: 80_000 },
  ].map((k) => ({ ...k, group: mon, namespaced: true }));
  const cmKinds: CrdKind[] = [
    { kind: 'Certificate', plural: 'certificates', bytes: 90_000, namespaced: true },
    { kind: 'CertificateRequest', plural: 'certificaterequests', bytes: 50_000, namespaced: true },
    { kind: 'Issuer', plural: 'issuers', bytes: 300_000, namespaced: true },
    { kind: 'ClusterIssuer', plural: 'clusterissuers', bytes: 300_000, namespaced: false },
    { kind: 'Order', plural: 'orders', bytes: 40_000, namespaced: true },
    { kind: 'Challenge', plural: 'challenges', bytes: 240_000, namespaced: true },
  ].map((k) => ({ ...k, group: cm }));
  const monCrds = monKinds.map((k, i) => crd(k, 100 + i));
  const cmCrds = cmKinds.map((k, i) => crd(k, 200 + i));
  const byKind = (list: Record<string, unknown>[], kind: string) =>
    list.find((c) => (c.spec as { names: { kind: string } }).names.kind === kind) as Record<string, unknown>;
  let seed = 1000;
  const cr = (list: Record<string, unknown>[], kind: string, name: string, namespace?: string) =>
    customResource(byKind(list, kind), name, namespace, seed++);

  // 1. The monitoring operator: its CRDs (most of the bytes), RBAC, Deployment.
  const operator = [
    ns('monitoring'),
    ...monCrds,
    sa('prometheus-operator', 'monitoring'),
    clusterRole('prometheus-operator', [mon, '', 'apps']),
    clusterBinding('prometheus-operator', 'prometheus-operator', 'prometheus-operator', 'monitoring'),
    role('prometheus-operator', 'monitoring'),
    roleBinding('prometheus-operator', 'monitoring', 'prometheus-operator'),
    deployment('prometheus-operator', 'monitoring', 'prometheus-operator'),
    service('prometheus-operator', 'monitoring'),
    configMap('prometheus-operator-config', 'monitoring', r),
  ];

  // 2. cert-manager: CRDs, three controllers with their RBAC.
  const certManager: Record<string, unknown>[] = [ns('cert-manager'), ...cmCrds];
  for (const c of ['cert-manager', 'cert-manager-cainjector', 'cert-manager-webhook']) {
    certManager.push(sa(c, 'cert-manager'), deployment(c, 'cert-manager', c), service(c, 'cert-manager'));
    certManager.push(role(c, 'cert-manager'), roleBinding(c, 'cert-manager', c));
  }
  for (const part of ['issuers', 'clusterissuers', 'certificates', 'orders', 'challenges', 'ingress-shim', 'approve']) {
    certManager.push(clusterRole(`cert-manager-controller-${part}`, [cm, '']));
    certManager.push(
      clusterBinding(
        `cert-manager-controller-${part}`,
        `cert-manager-controller-${part}`,
        'cert-manager',
        'cert-manager',
      ),
    );
  }
  for (const part of ['view', 'edit', 'cluster-view', 'cainjector', 'webhook:subjectaccessreviews']) {
    certManager.push(clusterRole(`cert-manager-${part}`, [cm]));
  }

  // 3. The monitoring stack: the operator's custom resources and what they scrape with.
  const stack: Record<string, unknown>[] = [
    cr(monCrds, 'Prometheus', 'k8s', 'monitoring'),
    cr(monCrds, 'Alertmanager', 'main', 'monitoring'),
    sa('prometheus-k8s', 'monitoring'),
    clusterRole('prometheus-k8s', ['', 'discovery.k8s.io']),
    clusterBinding('prometheus-k8s', 'prometheus-k8s', 'prometheus-k8s', 'monitoring'),
  ];
  for (let i = 0; i < 50; i++) stack.push(cr(monCrds, 'ServiceMonitor', `monitor-${i}`, 'monitoring'));
  for (let i = 0; i < 24; i++) stack.push(cr(monCrds, 'PodMonitor', `pods-${i}`, 'monitoring'));
  for (let i = 0; i < 30; i++) stack.push(cr(monCrds, 'PrometheusRule', `rules-${i}`, 'monitoring'));
  for (let i = 0; i < 6; i++) stack.push(cr(monCrds, 'Probe', `probe-${i}`, 'monitoring'));

  // 4. Certificates for the apps.
  const certs: Record<string, unknown>[] = [
    ns('certs'),
    cr(cmCrds, 'ClusterIssuer', 'letsencrypt'),
    cr(cmCrds, 'ClusterIssuer', 'internal-ca'),
  ];
  for (let i = 0; i < 6; i++) certs.push(cr(cmCrds, 'Issuer', `issuer-${i}`, 'certs'));
  for (let i = 0; i < 40; i++) certs.push(cr(cmCrds, 'Certificate', `cert-${i}`, 'certs'));

  // 5 and 6. Plain applications: Deployments, Services, ServiceAccounts, config, RBAC.
  const app = (namespace: string, count: number) => {
    const out: Record<string, unknown>[] = [ns(namespace)];
    for (let i = 0; i < count; i++) {
      const name = `${namespace}-svc-${i}`;
      out.push(sa(name, namespace), deployment(name, namespace, name), service(name, namespace));
      out.push(configMap(`${name}-config`, namespace, r), role(name, namespace), roleBinding(name, namespace, name));
    }
    return out;
  };

  return [
    { name: 'monitoring-operator', manifests: operator },
    { name: 'cert-manager', manifests: certManager },
    { name: 'monitoring-stack', manifests: stack },
    { name: 'certificates', manifests: certs },
    { name: 'app-frontend', manifests: app('frontend', 12) },
    { name: 'app-backend', manifests: app('backend', 13) },
  ];
}
