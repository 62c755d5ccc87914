import assert from 'node:assert/strict';
import test from 'node:test';
import { fileRepoProblem, validateGitRepo, workSetNameFor } from './validate.ts';

const base = (spec: Record<string, unknown>, name = 'apps') => ({
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'GitRepo',
  metadata: { name },
  spec: { repo: 'https://git.example.com/fleet.git', placementRef: { name: 'all' }, ...spec },
});

const fields = (input: unknown) => {
  const v = validateGitRepo(input);
  assert.equal(v.ok, false);
  if (v.ok) return [];
  assert.equal(v.error.code, 'GITREPO_INVALID');
  return v.error.details.map((d) => `${d.field}: ${d.message}`);
};

test('a minimal GitRepo is defaulted: paths ["."], no branch (the remote HEAD), paths normalised', () => {
  const v = validateGitRepo(base({ paths: ['./apps/', 'infra//base'] }));
  assert.ok(v.ok);
  if (!v.ok) return;
  assert.deepEqual(v.value.spec.paths, ['apps', 'infra/base']);
  assert.equal(v.value.spec.branch, undefined);
  const d = validateGitRepo(base({}));
  assert.ok(d.ok && d.value.spec.paths[0] === '.');
});

test('ssh without credentials, git:// and credentials in the URL are refused by name', () => {
  assert.match(
    fields(base({ repo: 'ssh://git@example.com/x.git' })).join(),
    /ssh repositories need spec\.credentials: \{sshPrivateKey, knownHosts\}/,
  );
  assert.match(fields(base({ repo: 'git@github.com:o/r.git' })).join(), /ssh repositories need spec\.credentials/);
  assert.match(fields(base({ repo: 'git@-oProxy:r.git' })).join(), /spec\.repo: must be USER@HOST:PATH/);
  assert.match(
    fields(base({ repo: 'ssh://git@example.com/x.git;touch', credentials: { set: true } })).join(),
    /without spaces, quotes or shell characters/,
  );
  assert.match(fields(base({ repo: 'git://example.com/x.git' })).join(), /spec\.repo: must be an http/);
  assert.match(fields(base({ repo: 'https://u:p@example.com/x.git' })).join(), /credentials in the URL/);
  assert.ok(validateGitRepo(base({ repo: 'file:///srv/git/fleet.git' })).ok);
});

test('fields not built yet are refused by name; unknown ones as unknown', () => {
  for (const [k, re] of [
    ['targets', /spec\.targets: UNSUPPORTED_FIELD: .*spec\.overrides/],
    ['kustomize', /spec\.kustomize: UNSUPPORTED_FIELD: not needed: a path whose directory holds a kustomization/],
    ['clientSecretName', /spec\.clientSecretName: UNSUPPORTED_FIELD/],
    ['bogus', /spec\.bogus: unknown field/],
  ] as const) {
    assert.match(fields(base({ [k]: {} })).join('\n'), re);
  }
});

test('branch and revision exclude each other; paths, interval, placementRef and strategy are checked', () => {
  assert.match(
    fields(base({ branch: 'main', revision: 'v1' })).join(),
    /spec\.revision: give branch or revision, not both/,
  );
  assert.match(fields(base({ branch: '-x' })).join(), /spec\.branch: must be a Git branch/);
  assert.match(fields(base({ paths: ['../etc'] })).join(), /spec\.paths\[0\]: must be a relative path/);
  assert.match(fields(base({ paths: ['/abs'] })).join(), /spec\.paths\[0\]/);
  assert.match(fields(base({ paths: ['a', './a'] })).join(), /spec\.paths\[1\]: names a twice/);
  assert.match(
    fields(base({ paths: ['a-b', 'a/b'] })).join(),
    /spec\.paths\[1\]: its workset name apps-a-b is the same/,
  );
  assert.match(fields(base({ pollingInterval: 'soon' })).join(), /spec\.pollingInterval: must be a duration/);
  assert.match(fields(base({ pollingInterval: '1s' })).join(), /spec\.pollingInterval: must be at least 5s/);
  assert.ok(validateGitRepo(base({ pollingInterval: '0' })).ok);
  assert.match(fields(base({ placementRef: undefined })).join(), /spec\.placementRef: is required/);
  assert.match(fields(base({ rolloutStrategy: { type: 'Sometimes' } })).join(), /spec\.rolloutStrategy\.type/);
  const ok = validateGitRepo(base({ rolloutStrategy: { type: 'Progressive', progressive: { maxConcurrency: 1 } } }));
  assert.ok(ok.ok, JSON.stringify(ok));
  assert.match(fields(base({ paused: 'yes' })).join(), /spec\.paused: must be true or false/);
});

test('workset names: the GitRepo name and a slug of the path, within 63 characters', () => {
  assert.equal(workSetNameFor('fleet', '.'), 'fleet-root');
  assert.equal(workSetNameFor('fleet', 'apps'), 'fleet-apps');
  assert.equal(workSetNameFor('fleet', 'Infra/Base_1'), 'fleet-infra-base-1');
  const long = workSetNameFor('fleet', `${'x'.repeat(80)}/y`);
  assert.ok(long.length <= 63, long);
  assert.match(long, /^fleet-x+-[0-9a-f]{8}$/);
  assert.notEqual(long, workSetNameFor('fleet', `${'x'.repeat(80)}/z`));
});

test('overrides, templating and maxDeleteShare: a workset’s overrides (same validation), a boolean, a share from 0 to 1', () => {
  const overrides = [
    {
      name: 'eu',
      clusterSelector: { labelSelector: { matchLabels: { region: 'eu' } } },
      patches: [{ manifest: { kind: 'ConfigMap', name: 'app' }, patch: { data: { region: 'eu' } } }],
    },
  ];
  const v = validateGitRepo(base({ overrides, templating: true, maxDeleteShare: 0.25 }));
  assert.ok(v.ok, JSON.stringify(v));
  if (!v.ok) return;
  assert.equal(v.value.spec.overrides?.[0]?.name, 'eu');
  assert.equal(v.value.spec.templating, true);
  assert.equal(v.value.spec.maxDeleteShare, 0.25);
  const plain = validateGitRepo(base({ templating: false, overrides: [] }));
  assert.ok(plain.ok && plain.value.spec.templating === undefined && plain.value.spec.overrides === undefined);
  assert.match(
    fields(base({ overrides: [{ name: 'x', clusterSelector: {}, patches: [] }] })).join(),
    /spec\.overrides\[0\]\.patches/,
  );
  assert.match(fields(base({ overrides: {} })).join(), /spec\.overrides: must be a list/);
  assert.match(fields(base({ templating: 'yes' })).join(), /spec\.templating: must be true or false/);
  for (const bad of [-0.1, 1.5, '50%', Number.NaN, null]) {
    assert.match(fields(base({ maxDeleteShare: bad })).join(), /spec\.maxDeleteShare: must be a number from 0 to 1/);
  }
  for (const good of [0, 1]) assert.ok(validateGitRepo(base({ maxDeleteShare: good })).ok);
});

test('spec.helm: releaseName, namespace, values and valuesFiles checked; remote charts and unknown fields refused by name', () => {
  const v = validateGitRepo(
    base({
      paths: ['charts/web'],
      helm: {
        releaseName: 'web',
        namespace: 'apps',
        values: { replicas: 2 },
        valuesFiles: ['values-prod.yaml', '../common.yaml'],
      },
    }),
  );
  assert.ok(v.ok, JSON.stringify(v));
  if (v.ok) {
    assert.deepEqual(v.value.spec.helm, {
      releaseName: 'web',
      namespace: 'apps',
      values: { replicas: 2 },
      valuesFiles: ['values-prod.yaml', '../common.yaml'],
    });
  }
  // An empty spec.helm is kept as absent.
  const empty = validateGitRepo(base({ helm: {} }));
  assert.ok(empty.ok && empty.value.spec.helm === undefined);
  for (const [helm, re] of [
    [
      { repo: 'https://charts.example.com' },
      /spec\.helm\.repo: UNSUPPORTED_FIELD: chart repositories are not supported/,
    ],
    [{ chart: 'nginx' }, /spec\.helm\.chart: UNSUPPORTED_FIELD: remote charts are not supported/],
    [{ valuesFrom: [] }, /spec\.helm\.valuesFrom: UNSUPPORTED_FIELD/],
    [{ templateValues: {} }, /spec\.helm\.templateValues: UNSUPPORTED_FIELD: .*spec\.overrides/],
    [{ postRenderer: 'x' }, /spec\.helm\.postRenderer: UNSUPPORTED_FIELD/],
    [{ atomic: true }, /spec\.helm\.atomic: unknown field/],
    [{ releaseName: 'Not_A_Name' }, /spec\.helm\.releaseName: must be a Helm release name/],
    [{ releaseName: 'x'.repeat(54) }, /spec\.helm\.releaseName: must be a Helm release name/],
    [{ namespace: 'a/b' }, /spec\.helm\.namespace: must be a namespace name/],
    [{ values: [1] }, /spec\.helm\.values: must be an object/],
    [{ values: { big: 'x'.repeat(300_000) } }, /spec\.helm\.values: must be at most/],
    [{ valuesFiles: ['/etc/passwd'] }, /spec\.helm\.valuesFiles\[0\]: must be a file of the repository/],
    [{ valuesFiles: ['https://example.com/v.yaml'] }, /spec\.helm\.valuesFiles\[0\]: must be a file of the repository/],
    [{ valuesFiles: ['../../../x.yaml'] }, /spec\.helm\.valuesFiles\[0\]: leaves the repository/],
    [{ valuesFiles: 'values.yaml' }, /spec\.helm\.valuesFiles: must be a list/],
    ['chart', /spec\.helm: must be an object/],
  ] as const) {
    assert.match(fields(base({ paths: ['charts/web'], helm })).join('\n'), re);
  }
  // One release name for several paths would collide: the default is per path.
  assert.match(
    fields(base({ paths: ['a', 'b'], helm: { releaseName: 'web' } })).join(),
    /spec\.helm\.releaseName: names one release/,
  );
});

test('file:// repositories: refused without a --git-file-root, and outside it as written', () => {
  assert.match(fileRepoProblem('file:///srv/git/a.git', undefined) ?? '', /off on this hub/);
  assert.equal(fileRepoProblem('file:///srv/git/a.git', '/srv/git'), undefined);
  assert.match(fileRepoProblem('file:///srv/git/../etc/a.git', '/srv/git') ?? '', /must be under \/srv\/git/);
  assert.match(fileRepoProblem('file:///srv/gitother/a.git', '/srv/git') ?? '', /must be under/);
  assert.equal(fileRepoProblem('https://git.example.com/a.git', undefined), undefined);
});
