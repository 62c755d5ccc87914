// The executor check against small fakes of KubeRest: which reviews are asked, what a no,
// a failed review and an escalation look like, and the answer cache (TTLs, bound, sharing).
// The real-apiserver behaviour (RBAC authorizer, impersonation) is in test/e2e/ocm-fidelity.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ManifestStatus, ManifestWorkExecutor } from '@outpost/shared';
import type { DesiredWork } from '../work/types.ts';
import { KubeApplier } from './applier.ts';
import { deletableByWork, ExecutorAuthorizer, type ExecutorTarget } from './executor.ts';
import { type KubeRequest, type KubeResponse, KubeUnreachableError } from './rest.ts';

const noRetry = { attempts: 1, baseDelayMs: 1 };
const executor: ManifestWorkExecutor = {
  subject: { type: 'ServiceAccount', serviceAccount: { namespace: 'team-a', name: 'deployer' } },
};
const cm = (namespace: string, name = 'c'): ExecutorTarget => ({
  group: '',
  version: 'v1',
  resource: 'configmaps',
  namespace,
  name,
});
const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } };

interface Review {
  user: string;
  groups: string[];
  resourceAttributes: Record<string, string>;
}

/** A fake apiserver that answers reviews with `allow(attributes)` and records them. */
function fakeApi(
  allow: (a: Record<string, string>) => boolean,
  other: (req: KubeRequest) => KubeResponse = () => ({ status: 500, contentType: 'text/plain', body: 'no' }),
) {
  const reviews: Review[] = [];
  const requests: KubeRequest[] = [];
  const rest = {
    async request(req: KubeRequest): Promise<KubeResponse> {
      requests.push(req);
      if (req.path === '/apis/authorization.k8s.io/v1/subjectaccessreviews') {
        const spec = (req.body as { spec: Review }).spec;
        reviews.push(spec);
        return {
          status: 201,
          contentType: 'application/json',
          body: { ...(req.body as object), status: { allowed: allow(spec.resourceAttributes) } },
        };
      }
      return other(req);
    },
  };
  return { rest, reviews, requests };
}

describe('executor check', () => {
  test("asks OCM's verbs for the executor's user and groups, delete only when the work may delete the object", async () => {
    const api = fakeApi(() => true);
    const auth = new ExecutorAuthorizer(api.rest, { retry: noRetry });
    assert.deepEqual(await auth.check(executor, cm('a'), { deletable: true, body }), { ok: true });
    assert.deepEqual(
      api.reviews.map((r) => r.resourceAttributes.verb),
      ['create', 'update', 'patch', 'get', 'delete'],
    );
    const first = api.reviews[0] as Review;
    assert.equal(first.user, 'system:serviceaccount:team-a:deployer');
    assert.deepEqual(first.groups, ['system:serviceaccounts', 'system:serviceaccounts:team-a', 'system:authenticated']);
    assert.deepEqual(first.resourceAttributes, {
      group: '',
      version: 'v1',
      resource: 'configmaps',
      namespace: 'a',
      name: 'c',
      verb: 'create',
    });
    api.reviews.length = 0;
    await auth.check(executor, cm('a', 'orphaned'), { deletable: false, body });
    assert.deepEqual(
      api.reviews.map((r) => r.resourceAttributes.verb),
      ['create', 'update', 'patch', 'get'],
    );
  });

  test('a no stops at the first verb refused and names it; nothing else is asked', async () => {
    const api = fakeApi((a) => a.verb !== 'update');
    const auth = new ExecutorAuthorizer(api.rest, { retry: noRetry });
    const v = await auth.check(executor, cm('b'), { deletable: true, body });
    assert.equal(v.ok, false);
    assert.ok(!v.ok);
    assert.equal(v.reason, 'ExecutorNotAllowed');
    assert.match(
      v.message,
      /^not allowed to apply the resource {2}configmaps, b c: executor system:serviceaccount:team-a:deployer may not update it/,
    );
    assert.deepEqual(
      api.reviews.map((r) => r.resourceAttributes.verb),
      ['create', 'update'],
    );
  });

  test('a review that fails is a failed check, never an allow, and is not cached', async () => {
    let forbid = true;
    const rest = {
      async request(): Promise<KubeResponse> {
        if (forbid)
          return {
            status: 403,
            contentType: 'application/json',
            body: {
              kind: 'Status',
              reason: 'Forbidden',
              message: 'subjectaccessreviews is forbidden: User "agent" cannot create',
            },
          };
        return { status: 201, contentType: 'application/json', body: { status: { allowed: true } } };
      },
    };
    const auth = new ExecutorAuthorizer(rest, { retry: noRetry });
    const v = await auth.check(executor, cm('a'), { deletable: false, body });
    assert.ok(!v.ok);
    assert.equal(v.reason, 'ExecutorCheckFailed');
    assert.match(v.message, /may not create SubjectAccessReviews.*forbidden/);
    assert.equal(auth.size, 0);
    forbid = false;
    assert.deepEqual(await auth.check(executor, cm('a'), { deletable: false, body }), { ok: true });

    const silent = new ExecutorAuthorizer(
      {
        async request(): Promise<KubeResponse> {
          throw new KubeUnreachableError('no answer');
        },
      },
      { retry: noRetry },
    );
    await assert.rejects(silent.check(executor, cm('a'), { deletable: false, body }), KubeUnreachableError);
  });

  test('answers are cached per executor, object and verb: allowed for the long TTL, denied for the short one', async () => {
    let now = 0;
    let allowB = false;
    const api = fakeApi((a) => a.namespace === 'a' || allowB);
    const auth = new ExecutorAuthorizer(api.rest, {
      retry: noRetry,
      now: () => now,
      cache: { allowedTtlMs: 600_000, deniedTtlMs: 30_000 },
    });
    // A work of 1,000 manifests: the first pass asks, the next ones do not.
    const targets = Array.from({ length: 1000 }, (_, i) => cm('a', `c${i}`));
    const pass = () => Promise.all(targets.map((t) => auth.check(executor, t, { deletable: true, body })));
    await pass();
    assert.equal(auth.reviews, 5000);
    now += 300_000;
    await pass();
    assert.equal(auth.reviews, 5000, 'a re-apply within the TTL sends no review');
    // Another executor is another key.
    const other: ManifestWorkExecutor = {
      subject: { type: 'ServiceAccount', serviceAccount: { namespace: 'team-b', name: 'deployer' } },
    };
    await auth.check(other, cm('a', 'c0'), { deletable: false, body });
    assert.equal(auth.reviews, 5004);

    // Denied: reused for deniedTtlMs, then asked again, so a new RoleBinding counts.
    assert.equal((await auth.check(executor, cm('b'), { deletable: false, body })).ok, false);
    const afterDenied = auth.reviews;
    allowB = true;
    now += 29_000;
    assert.equal((await auth.check(executor, cm('b'), { deletable: false, body })).ok, false);
    assert.equal(auth.reviews, afterDenied);
    now += 2_000;
    assert.equal((await auth.check(executor, cm('b'), { deletable: false, body })).ok, true);
    assert.equal(auth.reviews, afterDenied + 4);

    // Allowed answers lapse too: a revoked permission counts after allowedTtlMs.
    now += 600_001;
    const before = auth.reviews;
    await auth.check(executor, cm('a', 'c0'), { deletable: false, body });
    assert.equal(auth.reviews, before + 4);
  });

  test('the cache is bounded, least recently used first; concurrent askers share one review', async () => {
    const api = fakeApi(() => true);
    const auth = new ExecutorAuthorizer(api.rest, { retry: noRetry, cache: { maxEntries: 8 } });
    await auth.check(executor, cm('a', 'x'), { deletable: false, body }); // 4 entries
    await auth.check(executor, cm('a', 'y'), { deletable: false, body }); // 8
    await auth.check(executor, cm('a', 'x'), { deletable: false, body }); // x used again: y is oldest
    await auth.check(executor, cm('a', 'z'), { deletable: false, body }); // evicts y
    assert.equal(auth.size, 8);
    const before = auth.reviews;
    await auth.check(executor, cm('a', 'x'), { deletable: false, body });
    assert.equal(auth.reviews, before, 'x was kept');
    await auth.check(executor, cm('a', 'y'), { deletable: false, body });
    assert.equal(auth.reviews, before + 4, 'y was evicted');

    const shared = new ExecutorAuthorizer(fakeApi(() => true).rest, { retry: noRetry });
    await Promise.all(Array.from({ length: 10 }, () => shared.check(executor, cm('a'), { deletable: false, body })));
    assert.equal(shared.reviews, 4);
  });

  test('RBAC kinds: a dry-run create as the executor; Forbidden is an escalation; existing objects pass', async () => {
    const role = { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'roles', namespace: 'a', name: 'r' };
    const roleBody = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'r' } };
    let answer: KubeResponse = { status: 201, contentType: 'application/json', body: roleBody };
    const api = fakeApi(
      () => true,
      () => answer,
    );
    const auth = new ExecutorAuthorizer(api.rest, { retry: noRetry });
    assert.deepEqual(await auth.check(executor, role, { deletable: true, body: roleBody }), { ok: true });
    const dry = api.requests.find((r) => r.method === 'POST' && r.path.endsWith('/roles')) as KubeRequest;
    assert.equal(dry.path, '/apis/rbac.authorization.k8s.io/v1/namespaces/a/roles');
    assert.equal(dry.query?.dryRun, 'All');
    assert.equal(dry.impersonateUser, 'system:serviceaccount:team-a:deployer');

    answer = {
      status: 409,
      contentType: 'application/json',
      body: { kind: 'Status', reason: 'AlreadyExists', message: 'exists' },
    };
    assert.deepEqual(await auth.check(executor, role, { deletable: true, body: roleBody }), { ok: true });

    answer = {
      status: 403,
      contentType: 'application/json',
      body: {
        kind: 'Status',
        reason: 'Forbidden',
        message:
          'roles.rbac.authorization.k8s.io "r" is forbidden: user "system:serviceaccount:team-a:deployer" is attempting to grant RBAC permissions not currently held',
      },
    };
    const v = await auth.check(executor, role, { deletable: true, body: roleBody });
    assert.ok(!v.ok);
    assert.equal(v.reason, 'ExecutorNotAllowed');
    assert.match(
      v.message,
      /^not allowed to apply the resource rbac\.authorization\.k8s\.io roles, a r, error: permission escalation: .*attempting to grant/,
    );

    // ConfigMaps are not RBAC kinds: no dry run.
    const count = api.requests.length;
    await auth.check(executor, cm('a'), { deletable: true, body });
    assert.ok(api.requests.slice(count).every((r) => r.path.endsWith('subjectaccessreviews')));
  });

  test('RBAC kinds without impersonation: escalate on a role, bind on the role a binding names', async () => {
    const binding = {
      group: 'rbac.authorization.k8s.io',
      version: 'v1',
      resource: 'rolebindings',
      namespace: 'a',
      name: 'rb',
    };
    const bindingBody = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'rb', namespace: 'a' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
      subjects: [],
    };
    let mayBind = false;
    const api = fakeApi(
      (a) => a.verb !== 'bind' || mayBind,
      () => ({
        status: 403,
        contentType: 'application/json',
        body: {
          kind: 'Status',
          reason: 'Forbidden',
          message:
            'serviceaccounts "deployer" is forbidden: User "agent" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "team-a"',
        },
      }),
    );
    const auth = new ExecutorAuthorizer(api.rest, { retry: noRetry });
    const refused = await auth.check(executor, binding, { deletable: true, body: bindingBody });
    assert.ok(!refused.ok);
    assert.match(
      refused.message,
      /permission escalation: the agent may not impersonate .* may not bind clusterroles edit$/,
    );
    const bind = api.reviews.find((r) => r.resourceAttributes.verb === 'bind') as Review;
    assert.deepEqual(bind.resourceAttributes, {
      group: 'rbac.authorization.k8s.io',
      version: 'v1',
      resource: 'clusterroles',
      namespace: 'a',
      name: 'edit',
      verb: 'bind',
    });
    mayBind = true;
    const fresh = new ExecutorAuthorizer(api.rest, { retry: noRetry });
    assert.deepEqual(await fresh.check(executor, binding, { deletable: true, body: bindingBody }), { ok: true });

    const role = { ...binding, resource: 'clusterroles', namespace: '', name: 'r' };
    api.reviews.length = 0;
    await fresh.check(executor, role, { deletable: true, body: { kind: 'ClusterRole' } });
    assert.equal(api.reviews.at(-1)?.resourceAttributes.verb, 'escalate');
  });

  test("deletableByWork follows OCM's deleteOption rule", () => {
    const t = cm('a', 'keep');
    assert.equal(deletableByWork({}, t), true);
    assert.equal(deletableByWork({ deleteOption: { propagationPolicy: 'Foreground' } }, t), true);
    assert.equal(deletableByWork({ deleteOption: { propagationPolicy: 'Orphan' } }, t), false);
    assert.equal(deletableByWork({ deleteOption: { propagationPolicy: 'SelectivelyOrphan' } }, t), true);
    const rules = [{ group: '', resource: 'configmaps', namespace: 'a', name: 'keep' }];
    const selective = {
      deleteOption: { propagationPolicy: 'SelectivelyOrphan' as const, selectivelyOrphans: { orphaningRules: rules } },
    };
    assert.equal(deletableByWork(selective, t), false);
    assert.equal(deletableByWork(selective, cm('a', 'other')), true);
  });
});

describe('KubeApplier with an executor', () => {
  const aggregated = {
    kind: 'APIGroupDiscoveryList',
    items: [
      {
        metadata: {},
        versions: [
          {
            version: 'v1',
            resources: [{ resource: 'configmaps', scope: 'Namespaced', responseKind: { kind: 'ConfigMap' } }],
          },
        ],
      },
    ],
  };
  const aggCt = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';
  const quiet = { debug() {}, info() {}, warn() {}, error() {} };
  const cmEntry = (namespace: string, ordinal: number) => ({
    key: `|ConfigMap|${namespace}|c`,
    ordinal,
    manifest: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace }, data: { v: '1' } },
  });

  /** A spoke where the executor may write ConfigMaps in `a` only; records every write. */
  function spoke(reviews: 'answer' | 'forbidden') {
    const writes: KubeRequest[] = [];
    const rest = {
      async request(req: KubeRequest): Promise<KubeResponse> {
        if (req.path === '/api' || req.path === '/apis') {
          return {
            status: 200,
            contentType: aggCt,
            body: req.path === '/api' ? aggregated : { kind: 'APIGroupDiscoveryList', items: [] },
          };
        }
        if (req.path.endsWith('/subjectaccessreviews')) {
          if (reviews === 'forbidden') {
            return {
              status: 403,
              contentType: 'application/json',
              body: { kind: 'Status', reason: 'Forbidden', message: 'forbidden' },
            };
          }
          const attrs = (req.body as { spec: Review }).spec.resourceAttributes;
          return {
            status: 201,
            contentType: 'application/json',
            body: { status: { allowed: attrs.namespace === 'a' } },
          };
        }
        if (req.method === 'GET') return { status: 404, contentType: 'application/json', body: { kind: 'Status' } };
        writes.push(req);
        const m = req.body as { metadata: { name: string; namespace: string } };
        return {
          status: 201,
          contentType: 'application/json',
          body: { ...m, metadata: { ...m.metadata, uid: `uid-${m.metadata.namespace}` } },
        };
      },
    };
    return { rest, writes };
  }
  const work = (withExecutor: boolean): DesiredWork => ({
    name: 'w',
    uid: 'u',
    generation: 1,
    manifests: [cmEntry('a', 0), cmEntry('b', 1)],
    ...(withExecutor ? { executor } : {}),
  });
  const applied = (m: ManifestStatus | undefined) => m?.conditions.find((c) => c.type === 'Applied');

  test('a manifest the executor may not write is not sent; it fails alone with ExecutorNotAllowed', async () => {
    const { rest, writes } = spoke('answer');
    const result = await new KubeApplier({ rest, log: quiet }, { retry: noRetry }).apply(work(true), []);
    assert.deepEqual(
      writes.map((w) => w.path),
      ['/api/v1/namespaces/a/configmaps/c'],
    );
    const [a, b] = result.status.resourceStatus.manifests;
    assert.equal(applied(a)?.status, 'True');
    assert.equal(applied(b)?.status, 'False');
    assert.equal(applied(b)?.reason, 'ExecutorNotAllowed');
    assert.equal(result.status.conditions.find((c) => c.type === 'Applied')?.status, 'False');
    assert.deepEqual(
      result.applied.map((o) => o.namespace),
      ['a'],
    );
  });

  test('a review the agent may not make applies nothing: ExecutorCheckFailed; without executor no review is asked', async () => {
    const denied = spoke('forbidden');
    const result = await new KubeApplier({ rest: denied.rest, log: quiet }, { retry: noRetry }).apply(work(true), []);
    assert.equal(denied.writes.length, 0);
    for (const m of result.status.resourceStatus.manifests) {
      assert.equal(applied(m)?.reason, 'ExecutorCheckFailed');
    }
    const plain = spoke('forbidden');
    const ok = await new KubeApplier({ rest: plain.rest, log: quiet }, { retry: noRetry }).apply(work(false), []);
    assert.equal(plain.writes.length, 2);
    assert.equal(ok.status.conditions.find((c) => c.type === 'Applied')?.status, 'True');
  });
});
