import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Manifest } from '@outpost/shared';
import { Problems } from '../placement/validate.ts';
import { compileOverrides, mergePatch, renderWork, validateOverrides } from './overrides.ts';
import { parseTemplate, type RenderProblem, renderString } from './template.ts';
import type { TemplateCluster } from './types.ts';

const rack: TemplateCluster = {
  name: 'rack-7',
  labels: { region: 'eu-west', 'topology.outpost.dev/site': 'lyon', empty: '' },
  claims: { kubeversion: 'v1.30.2+k3s1', 'capacity.cpu': '16' },
};

const render = (s: string, cluster = rack) => {
  const problems: RenderProblem[] = [];
  const value = renderString(s, cluster, 'f', problems);
  return problems.length ? { code: problems[0]?.code, message: problems[0]?.message } : value;
};

describe('template substitution in string values', () => {
  const cases: [string, string, unknown][] = [
    ['no template', 'plain', 'plain'],
    ['cluster name', 'app-{{ .clusterName }}', 'app-rack-7'],
    ['without spaces', '{{.clusterName}}', 'rack-7'],
    ['a label', '{{ .labels.region }}', 'eu-west'],
    ['a label key with dots and a slash', '{{ .labels.topology.outpost.dev/site }}', 'lyon'],
    ['an empty label value', '[{{ .labels.empty }}]', '[]'],
    ['a claim', 'k8s {{ .claims.kubeversion }}', 'k8s v1.30.2+k3s1'],
    ['a dotted claim name', '{{ .claims.capacity.cpu }}', '16'],
    ['several references', '{{ .clusterName }}.{{ .labels.region }}.example.com', 'rack-7.eu-west.example.com'],
    ['a default when missing', '{{ .labels.tier | default "standard" }}', 'standard'],
    ['the value wins over the default', '{{ .labels.region | default "x" }}', 'eu-west'],
    ['a default with escapes', '{{ .claims.none | default "a \\"b\\"" }}', 'a "b"'],
    ['a string literal escapes another engine', '{{ "{{ .Values.image }}" }}', '{{ .Values.image }}'],
    [
      "Prometheus' templates pass through",
      'on {{ $labels.instance }} in {{ .labels.region }}',
      'on {{ $labels.instance }} in eu-west',
    ],
    ['Go template actions pass through', '{{- if eq .x 1 }}y{{ end }}', '{{- if eq .x 1 }}y{{ end }}'],
    ['unclosed foreign braces pass through', 'a {{ b', 'a {{ b'],
    [
      'a missing label is TEMPLATE_UNRESOLVED',
      '{{ .labels.tier }}',
      { code: 'TEMPLATE_UNRESOLVED', message: 'cluster rack-7 has no label "tier" (add | default "…" to allow that)' },
    ],
    [
      'a missing claim is TEMPLATE_UNRESOLVED',
      '{{ .claims.gpu }}',
      { code: 'TEMPLATE_UNRESOLVED', message: 'cluster rack-7 has no claim "gpu" (add | default "…" to allow that)' },
    ],
    [
      'an inherited property is not a label',
      '{{ .labels.constructor }}',
      {
        code: 'TEMPLATE_UNRESOLVED',
        message: 'cluster rack-7 has no label "constructor" (add | default "…" to allow that)',
      },
    ],
  ];
  for (const [name, input, want] of cases) it(name, () => assert.deepEqual(render(input), want));

  const unknown: [string, string][] = [
    ['wrong case', '{{ .ClusterName }}'],
    ['singular root', '{{ .label.region }}'],
    ['unknown root', '{{ .Values.image }}'],
    ['a root without key', '{{ .labels }}'],
    ['unterminated', '{{ .clusterName'],
    ['an unknown function', '{{ .labels.region | upper }}'],
    ['a bad literal', '{{ "open }}'],
  ];
  for (const [name, input] of unknown) {
    it(`TEMPLATE_UNKNOWN_REFERENCE: ${name}`, () => {
      assert.equal((render(input) as { code: string }).code, 'TEMPLATE_UNKNOWN_REFERENCE');
      assert.ok('error' in parseTemplate(input));
    });
  }
});

describe('mergePatch follows RFC 7386', () => {
  const cases: [string, unknown, unknown, unknown][] = [
    ['objects merge', { a: 1, b: { c: 2, d: 3 } }, { b: { c: 9 } }, { a: 1, b: { c: 9, d: 3 } }],
    ['null deletes', { a: 1, b: 2 }, { b: null }, { a: 1 }],
    ['null for an absent key is a no-op', { a: 1 }, { z: null }, { a: 1 }],
    ['arrays replace whole', { a: [1, 2, 3] }, { a: [4] }, { a: [4] }],
    ['an object replaces a scalar', { a: 1 }, { a: { b: 2 } }, { a: { b: 2 } }],
    ['a scalar replaces an object', { a: { b: 2 } }, { a: 'x' }, { a: 'x' }],
    ['nested nulls inside new objects are dropped', {}, { a: { b: null, c: 1 } }, { a: { c: 1 } }],
    ['a non-object patch replaces the target', { a: 1 }, [1], [1]],
  ];
  for (const [name, target, patch, want] of cases) it(name, () => assert.deepEqual(mergePatch(target, patch), want));

  it('does not mutate its inputs, nor pollute prototypes', () => {
    const target = { a: { b: 1 } };
    const patch = JSON.parse('{"a":{"c":2},"__proto__":{"polluted":true}}') as Record<string, unknown>;
    const out = mergePatch(target, patch) as Record<string, unknown>;
    assert.deepEqual(target, { a: { b: 1 } });
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.deepEqual(Object.keys(out), ['a', '__proto__']);
  });
});

const deployment = (name: string, ns = 'apps'): Manifest => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: ns, labels: { site: '{{ .labels.topology.outpost.dev/site }}' } },
  spec: {
    replicas: 1,
    template: {
      spec: {
        containers: [
          {
            name: 'app',
            image: 'registry.{{ .labels.region }}.example.com/app:1.0',
            args: ['--cluster={{ .clusterName }}'],
          },
        ],
      },
    },
  },
});
const configMap: Manifest = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'cfg-{{ .clusterName }}', namespace: 'apps' },
  data: { rules: 'alert: {{ $labels.instance }} down', k8s: '{{ .claims.kubeversion }}' },
};
const template = {
  workload: { manifests: [deployment('web'), configMap] },
  manifestConfigs: [
    { resourceIdentifier: { group: '', resource: 'configmaps', namespace: 'apps', name: 'cfg-{{ .clusterName }}' } },
  ],
};

const overrides = (input: unknown) => {
  const p = new Problems();
  const out = validateOverrides(input, 'spec.overrides', p, true);
  if (!p.empty) assert.fail(JSON.stringify(p.list));
  return compileOverrides(out);
};

describe('renderWork: one cluster’s work from the template and overrides', () => {
  it('substitutes every string value of the spec, leaving foreign templates and keys alone', () => {
    const r = renderWork(template, rack, [], true);
    if (!r.ok) assert.fail(r.error.message);
    const [dep, cm] = r.value.workload.manifests as [Manifest, Manifest];
    assert.deepEqual(dep.metadata.labels, { site: 'lyon' });
    assert.deepEqual((dep.spec as { template: { spec: { containers: unknown[] } } }).template.spec.containers[0], {
      name: 'app',
      image: 'registry.eu-west.example.com/app:1.0',
      args: ['--cluster=rack-7'],
    });
    assert.equal(cm.metadata.name, 'cfg-rack-7');
    assert.deepEqual(cm.data, { rules: 'alert: {{ $labels.instance }} down', k8s: 'v1.30.2+k3s1' });
    assert.equal(r.value.manifestConfigs[0]?.resourceIdentifier.name, 'cfg-rack-7');
    assert.deepEqual(r.appliedOverrides, []);
    // The template itself is untouched.
    assert.equal(template.workload.manifests[1]?.metadata.name, 'cfg-{{ .clusterName }}');
  });

  it('applies every matching override in order; later ones win', () => {
    const o = overrides([
      {
        name: 'eu',
        clusterSelector: { labelSelector: { matchLabels: { region: 'eu-west' } } },
        patches: [
          {
            manifest: { kind: 'Deployment', name: 'web' },
            patch: { spec: { replicas: 3 }, metadata: { annotations: { zone: 'eu' } } },
          },
        ],
      },
      {
        name: 'big',
        clusterSelector: {
          claimSelector: { matchExpressions: [{ key: 'capacity.cpu', operator: 'In', values: ['16', '32'] }] },
        },
        patches: [
          {
            manifest: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', namespace: 'apps' },
            patch: { spec: { replicas: 5 } },
          },
        ],
      },
      {
        name: 'us',
        clusterSelector: { labelSelector: { matchLabels: { region: 'us-east' } } },
        patches: [{ manifest: { kind: 'Deployment', name: 'web' }, patch: { spec: { replicas: 9 } } }],
      },
    ]);
    const r = renderWork(template, rack, o, true);
    if (!r.ok) assert.fail(r.error.message);
    const dep = r.value.workload.manifests[0] as Manifest;
    assert.equal((dep.spec as { replicas: number }).replicas, 5);
    assert.deepEqual(dep.metadata.annotations, { zone: 'eu' });
    assert.deepEqual(r.appliedOverrides, ['eu', 'big']);
    // Another cluster gets only what matches it.
    const us = renderWork(
      template,
      {
        name: 'r2',
        labels: { region: 'us-east', 'topology.outpost.dev/site': 'nyc' },
        claims: { kubeversion: 'v1.29' },
      },
      o,
      true,
    );
    if (!us.ok) assert.fail(us.error.message);
    assert.equal(((us.value.workload.manifests[0] as Manifest).spec as { replicas: number }).replicas, 9);
    assert.deepEqual(us.appliedOverrides, ['us']);
  });

  it('patches and their manifest selectors are rendered for the cluster too', () => {
    const o = overrides([
      {
        name: 'per-cluster',
        clusterSelector: {},
        patches: [
          {
            manifest: { kind: 'ConfigMap', name: 'cfg-{{ .clusterName }}' },
            patch: { data: { owner: '{{ .clusterName }}@{{ .labels.region }}', rules: null } },
          },
        ],
      },
    ]);
    const r = renderWork(template, rack, o, true);
    if (!r.ok) assert.fail(r.error.message);
    assert.deepEqual((r.value.workload.manifests[1] as Manifest).data, {
      k8s: 'v1.30.2+k3s1',
      owner: 'rack-7@eu-west',
    });
  });

  it('a namespace or apiVersion in the selector must match', () => {
    const o = overrides([
      {
        name: 'wrong-ns',
        clusterSelector: {},
        patches: [
          { manifest: { kind: 'Deployment', name: 'web', namespace: 'other' }, patch: { spec: { replicas: 2 } } },
        ],
      },
    ]);
    const r = renderWork(template, rack, o, true);
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.error.code, 'OVERRIDE_PATCH_UNMATCHED');
    assert.deepEqual(r.error.details, [
      {
        field: 'spec.overrides[0].patches[0].manifest',
        message: 'override wrong-ns patches Deployment other/web, which the template does not contain',
      },
    ]);
  });

  it('a missing label fails this cluster with every problem listed', () => {
    const r = renderWork(template, { name: 'bare', labels: {}, claims: {} }, [], true);
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.error.code, 'TEMPLATE_UNRESOLVED');
    assert.deepEqual(
      r.error.details.map((d) => d.field),
      [
        'spec.manifestWorkTemplate.workload.manifests[0].metadata.labels.site',
        'spec.manifestWorkTemplate.workload.manifests[0].spec.template.spec.containers[0].image',
        'spec.manifestWorkTemplate.workload.manifests[1].data.k8s',
      ],
    );
    assert.match(
      r.error.message,
      /^cannot render the work for cluster bare: spec\.manifestWorkTemplate\.workload\.manifests\[0\]\.metadata\.labels\.site: cluster bare has no label/,
    );
  });
});

describe('validateOverrides', () => {
  const problems = (input: unknown) => {
    const p = new Problems();
    validateOverrides(input, 'spec.overrides', p, true);
    return p.list.map((x) => x.field);
  };
  const one = (o: Record<string, unknown>) => [
    { name: 'o', clusterSelector: {}, patches: [{ manifest: { kind: 'K', name: 'n' }, patch: {} }], ...o },
  ];
  const cases: [string, unknown, string[]][] = [
    ['absent is fine', undefined, []],
    ['a valid override', one({}), []],
    ['not a list', {}, ['spec.overrides']],
    ['a bad name', one({ name: 'Bad_Name' }), ['spec.overrides[0].name']],
    ['duplicate names', [...one({}), ...one({})], ['spec.overrides[1].name']],
    ['no patches', one({ patches: [] }), ['spec.overrides[0].patches']],
    [
      'a patch without kind',
      one({ patches: [{ manifest: { name: 'n' }, patch: {} }] }),
      ['spec.overrides[0].patches[0].manifest.kind'],
    ],
    [
      'a patch that is not an object',
      one({ patches: [{ manifest: { kind: 'K', name: 'n' }, patch: [] }] }),
      ['spec.overrides[0].patches[0].patch'],
    ],
    [
      'a patch renaming the manifest',
      one({
        patches: [
          { manifest: { kind: 'K', name: 'n' }, patch: { kind: 'J', metadata: { name: 'm', namespace: 'x' } } },
        ],
      }),
      [
        'spec.overrides[0].patches[0].patch.kind',
        'spec.overrides[0].patches[0].patch.metadata.name',
        'spec.overrides[0].patches[0].patch.metadata.namespace',
      ],
    ],
    [
      'an unknown template reference in a patch',
      one({ patches: [{ manifest: { kind: 'K', name: 'n' }, patch: { data: { x: '{{ .label.region }}' } } }] }),
      ['spec.overrides[0].patches[0].patch.data.x'],
    ],
    [
      'an invalid cluster selector',
      one({ clusterSelector: { labelSelector: { matchExpressions: [{ key: 'a', operator: 'In' }] } } }),
      ['spec.overrides[0].clusterSelector.labelSelector.matchExpressions[0].values'],
    ],
    ['an unknown field', one({ targets: [] }), ['spec.overrides[0].targets']],
  ];
  for (const [name, input, want] of cases) it(name, () => assert.deepEqual(problems(input), want));
});
