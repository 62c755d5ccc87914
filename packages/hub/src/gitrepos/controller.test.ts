import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { makeRepo } from '../../../../test/e2e/git-server.ts';
import { BodyThread } from '../parse/index.ts';
import { openStore, type Store } from '../store/index.ts';
import { GitRepoController, gitCommitAnnotation, gitRepoLabel } from './controller.ts';
import type { GitRepoStatus } from './types.ts';
import { validateGitRepo } from './validate.ts';

let dir: string;
let repo: Awaited<ReturnType<typeof makeRepo>>;
let url: string;
let store: Store;
let bodies: BodyThread;
let controller: GitRepoController;
const told: string[] = [];
let checks = 0;
let gitCommands = 0;

/** Commits (file path → text; null removes it) to the test's repository; the new commit's id. */
const commit = (files: Record<string, string | null>) => repo.commit('c', files);
const cm = (name: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n`;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gitrepo-controller-'));
  await mkdir(join(dir, 'home'));
  repo = await makeRepo(join(dir, 'repos'), 'r', join(dir, 'home'));
  url = `file://${join(dir, 'repos', 'r.git')}`;
  store = openStore(':memory:');
  bodies = new BodyThread();
  // Counts the breaker's checks (two reads per check), so a test knows one ran.
  const keysOf = bodies.templateKeys.bind(bodies);
  bodies.templateKeys = (spec) => {
    checks++;
    return keysOf(spec);
  };
  controller = new GitRepoController({
    store,
    log: pino({ level: 'silent' }),
    bodies,
    cacheDir: join(dir, 'cache'),
    fileRoot: join(dir, 'repos'),
    // Read once for every git command the controller runs: the test counts its polls so.
    get gitSearchPath() {
      gitCommands++;
      return process.env.PATH ?? '/usr/bin:/bin';
    },
    maxWorkBytes: 16 * 1024 * 1024,
    onWorkSetChanged: (ns, name) => told.push(`${ns}/${name}`),
    active: () => true,
    tickMs: 50,
    statusMs: 200,
  });
  await controller.start();
});
after(async () => {
  await controller.close();
  await bodies.close();
  await store.close();
  await repo.remove();
  await rm(dir, { recursive: true, force: true });
});

const put = async (spec: Record<string, unknown>) => {
  const v = validateGitRepo({
    metadata: { name: 'fleet' },
    spec: { repo: url, branch: 'main', pollingInterval: '0', placementRef: { name: 'p' }, ...spec },
  });
  assert.ok(v.ok, JSON.stringify(v));
  if (!v.ok) return;
  const write = {
    name: 'fleet',
    namespace: 'default',
    labels: {},
    annotations: {},
    spec: v.value.spec as unknown as Record<string, unknown>,
  };
  const at = new Date().toISOString();
  await store.transaction(async () => {
    if (!(await store.gitrepos.replace(write, at))) await store.gitrepos.create(write, at);
  });
  controller.changed('default', 'fleet');
};
const statusWhen = async (what: string, ok: (s: GitRepoStatus) => boolean) => {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const row = await store.gitrepos.get('default', 'fleet');
    const s = row?.status as GitRepoStatus | null | undefined;
    if (s && row && s.observedGeneration === row.generation && ok(s)) return s;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

test('paths become owned worksets; a kustomization naming a remote resource and a foreign workset are status errors; a removed path deletes its workset', async () => {
  // A workset of the name a path would take, made by someone else: never overwritten.
  await store.transaction(() =>
    store.worksets.create(
      {
        name: 'fleet-theirs',
        namespace: 'default',
        labels: {},
        annotations: {},
        spec: {
          manifestWorkTemplate: { workload: { manifests: [] } },
          placementRefs: [{ name: 'p', rolloutStrategy: { type: 'All' } }],
          cascadeDeletionPolicy: 'Background',
        },
      },
      new Date().toISOString(),
    ),
  );
  const c1 = await commit({
    'apps/a.yaml': cm('a'),
    'apps/b.yaml': cm('b'),
    'kust/kustomization.yaml': 'resources: [https://example.com/deploy.yaml]\n',
    'theirs/x.yaml': cm('x'),
  });
  await put({ paths: ['apps', 'kust', 'theirs'] });
  const s = await statusWhen('rendered', (st) => st.commit === c1 && st.paths.some((p) => p.error));
  const byPath = new Map(s.paths.map((p) => [p.path, p]));
  assert.equal(byPath.get('apps')?.commit, c1);
  assert.equal(byPath.get('apps')?.error, undefined);
  assert.match(
    byPath.get('kust')?.error ?? '',
    /^Unsupported: kust: kust\/kustomization\.yaml: "https:\/\/example\.com\/deploy\.yaml" is a URL: remote resources are not fetched/,
  );
  assert.match(byPath.get('theirs')?.error ?? '', /WorkSetConflict: .*fleet-theirs exists and is not this GitRepo's/);
  const rendered = s.conditions.find((c) => c.type === 'Rendered');
  assert.equal(rendered?.status, 'False');
  const apps = await store.worksets.get('default', 'fleet-apps');
  assert.equal(apps?.labels[gitRepoLabel], 'fleet');
  assert.equal(apps?.annotations[gitCommitAnnotation], c1);
  assert.equal(await store.worksets.get('default', 'fleet-kust'), undefined);
  assert.deepEqual((await store.worksets.get('default', 'fleet-theirs'))?.labels, {});
  assert.ok(told.includes('default/fleet-apps'));

  // A commit that changes nothing of apps keeps its commit annotation (its works stay as they are).
  const c2 = await commit({ 'theirs/y.yaml': cm('y') });
  await put({ paths: ['apps', 'kust', 'theirs'], pollingInterval: '5s' });
  await statusWhen('the second commit', (st) => st.commit === c2);
  assert.equal((await store.worksets.get('default', 'fleet-apps'))?.annotations[gitCommitAnnotation], c1);

  // Paused: the workset is paused with the workset's own pause.
  await put({ paths: ['apps'], paused: true });
  await statusWhen('paused', (st) => st.conditions.some((c) => c.reason === 'Paused'));
  assert.equal((await store.worksets.specHead('default', 'fleet-apps'))?.head.paused, true);
  await put({ paths: ['apps'] });
  await statusWhen('resumed', (st) => st.conditions.find((c) => c.type === 'Rendered')?.status === 'True');
  assert.notEqual((await store.worksets.specHead('default', 'fleet-apps'))?.head.paused, true);

  // A path no longer asked for: its workset goes; the foreign one stays.
  await commit({ 'infra/z.yaml': cm('z') });
  await put({ paths: ['infra'] });
  await statusWhen('infra rendered', (st) => st.paths[0]?.path === 'infra' && st.paths[0].commit !== undefined);
  assert.equal(await store.worksets.get('default', 'fleet-apps'), undefined);
  assert.ok(await store.worksets.get('default', 'fleet-infra'));
  assert.ok(await store.worksets.get('default', 'fleet-theirs'));

  // Deleted: its worksets go.
  await store.transaction(() => store.gitrepos.delete('default', 'fleet'));
  controller.changed('default', 'fleet');
  const deadline = Date.now() + 10_000;
  while (await store.worksets.get('default', 'fleet-infra')) {
    assert.ok(Date.now() < deadline, 'the workset of a deleted GitRepo is deleted');
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(await store.worksets.get('default', 'fleet-theirs'));
});

test('the deletion breaker: a commit deleting most of a path waits for its confirmation; small deletions and maxDeleteShare 1 do not', async () => {
  const files: Record<string, string | null> = {};
  for (let i = 0; i < 10; i++) files[`bulk/cm-${i}.yaml`] = cm(`bulk-${i}`);
  const c1 = await commit(files);
  const overrides = [
    {
      name: 'eu',
      clusterSelector: { labelSelector: { matchLabels: { region: 'eu' } } },
      patches: [{ manifest: { kind: 'ConfigMap', name: 'bulk-0' }, patch: { data: { region: 'eu' } } }],
    },
  ];
  await put({ paths: ['bulk'], overrides });
  await statusWhen('bulk rendered', (st) => st.paths[0]?.commit === c1);
  const specOf = async () =>
    JSON.parse(Buffer.concat((await store.worksets.specBytes('default', 'fleet-bulk')) ?? []).toString('utf8'));
  const spec = await specOf();
  assert.equal(spec.overrides?.[0]?.name, 'eu', 'spec.overrides reaches the workset');
  const keys = async () =>
    (
      (await specOf()) as { manifestWorkTemplate: { workload: { manifests: { metadata: { name: string } }[] } } }
    ).manifestWorkTemplate.workload.manifests.map((m) => m.metadata.name);

  // 8 of 10 removed (and one added): held; the workset keeps commit c1 and its 10 manifests.
  const gone: Record<string, null | string> = { 'bulk/new.yaml': cm('bulk-new') };
  for (let i = 2; i < 10; i++) gone[`bulk/cm-${i}.yaml`] = null;
  const c2 = await commit(gone);
  controller.changed('default', 'fleet');
  const held = await statusWhen('held', (st) => st.paths[0]?.held?.commit === c2);
  assert.equal(held.paths[0]?.held?.deleting, 8);
  assert.equal(held.paths[0]?.held?.of, 10);
  assert.equal(held.paths[0]?.held?.objects.length, 8);
  assert.ok(held.paths[0]?.held?.objects.includes('ConfigMap bulk-9'), JSON.stringify(held.paths[0]?.held));
  assert.match(
    held.paths[0]?.error ?? '',
    /^DeletionsHeld: commit [0-9a-f]{12} would delete 8 of the 10 objects of bulk/,
  );
  const rendered = held.conditions.find((c) => c.type === 'Rendered');
  assert.equal(rendered?.reason, 'DeletionsHeld');
  assert.equal(held.conditions.find((c) => c.type === 'Ready')?.reason, 'DeletionsHeld');
  assert.equal(held.commit, c2, 'the commit fetched is shown');
  assert.equal(held.paths[0]?.commit, c1, 'the path still carries the previous commit');
  assert.equal((await keys()).length, 10);

  // Looked at again (a breaker check ran): still held, nothing was confirmed.
  const checked = async () => {
    const before = checks;
    controller.changed('default', 'fleet');
    const deadline = Date.now() + 10_000;
    while (checks < before + 2) {
      assert.ok(Date.now() < deadline, 'the breaker looked again');
      await new Promise((r) => setTimeout(r, 20));
    }
    await statusWhen('its status written', () => true);
  };
  // Polled again with nothing changed: not rendered again (a held path waits for a
  // confirmation, which is part of what the controller remembers), still held.
  const before = checks;
  const commands = gitCommands;
  controller.changed('default', 'fleet');
  const until = Date.now() + 10_000;
  while (gitCommands === commands) {
    assert.ok(Date.now() < until, 'the remote was asked again');
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 500));
  await statusWhen('still held', (st) => st.paths[0]?.held?.commit === c2);
  assert.equal(gitCommands - commands, 1, 'only ls-remote: nothing fetched or checked out again');
  assert.equal(checks, before, 'no breaker check without a change');
  assert.equal((await keys()).length, 10);

  // A confirmation of other deletions (another digest) or of another commit confirms nothing.
  const digest = held.paths[0]?.held?.digest ?? '';
  assert.match(digest, /^[0-9a-f]{32}$/);
  const confirm = async (value: unknown) => {
    const row = await store.gitrepos.get('default', 'fleet');
    assert.ok(row);
    await store.transaction(() =>
      store.gitrepos.replace(
        { ...row, annotations: { 'outpost.dev/deletions-confirmed': JSON.stringify(value) } } as Parameters<
          typeof store.gitrepos.replace
        >[0],
        new Date().toISOString(),
      ),
    );
  };
  for (const wrong of [
    { commit: c2, paths: { bulk: '0'.repeat(32) } },
    { commit: c2, paths: { other: digest } },
    'not json',
  ]) {
    await confirm(wrong);
    await checked();
    assert.equal((await keys()).length, 10, JSON.stringify(wrong));
  }

  // A commit to another directory meanwhile: held at that commit, the same deletions (digest).
  const c3 = await commit({ 'elsewhere/x.yaml': cm('elsewhere') });
  controller.changed('default', 'fleet');
  const again = await statusWhen('held at the later commit', (st) => st.paths[0]?.held?.commit === c3);
  assert.equal(again.paths[0]?.held?.digest, digest);

  // Confirmed as confirm-deletions records it (at the commit the admin saw): the same
  // deletions at the later commit roll out.
  await confirm({ commit: c2, paths: { bulk: digest } });
  controller.changed('default', 'fleet');
  const done = await statusWhen('confirmed', (st) => st.paths[0]?.commit === c3 && !st.paths[0]?.held);
  assert.equal(done.conditions.find((c) => c.type === 'Rendered')?.status, 'True');
  assert.deepEqual((await keys()).sort(), ['bulk-0', 'bulk-1', 'bulk-new']);

  // Deleting at most five objects is never held, whatever their share.
  await commit({ 'bulk/cm-1.yaml': null, 'bulk/new.yaml': null });
  controller.changed('default', 'fleet');
  await statusWhen('two of three deleted', (st) => st.paths[0]?.commit !== c3 && !st.paths[0]?.held);
  assert.deepEqual(await keys(), ['bulk-0']);

  // maxDeleteShare 1: never held.
  const many: Record<string, string | null> = {};
  for (let i = 0; i < 8; i++) many[`bulk/m-${i}.yaml`] = cm(`m-${i}`);
  const c4 = await commit(many);
  await put({ paths: ['bulk'], maxDeleteShare: 1 });
  await statusWhen('eight more', (st) => st.paths[0]?.commit === c4);
  const none: Record<string, string | null> = {};
  for (let i = 0; i < 8; i++) none[`bulk/m-${i}.yaml`] = null;
  const c5 = await commit(none);
  controller.changed('default', 'fleet');
  await statusWhen('eight deleted unheld', (st) => st.paths[0]?.commit === c5);
  assert.deepEqual(await keys(), ['bulk-0']);
  await store.transaction(() => store.gitrepos.delete('default', 'fleet'));
  controller.changed('default', 'fleet');
});

test('the breaker counts the items of a kind: List (as the agent applies them)', async () => {
  const list = (n: number) =>
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: Array.from({ length: n }, (_, i) => ({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: `item-${i}` },
      })),
    });
  const c1 = await commit({ 'lists/all.json': list(8) });
  await put({ paths: ['lists'] });
  await statusWhen('the list rendered', (st) => st.paths[0]?.commit === c1);
  const c2 = await commit({ 'lists/all.json': list(1) });
  controller.changed('default', 'fleet');
  const s = await statusWhen('held', (st) => st.paths[0]?.held?.commit === c2);
  assert.deepEqual({ deleting: s.paths[0]?.held?.deleting, of: s.paths[0]?.held?.of }, { deleting: 7, of: 8 });
  await store.transaction(() => store.gitrepos.delete('default', 'fleet'));
  controller.changed('default', 'fleet');
});

test("file:// repositories only under the hub's --git-file-root, symbolic links resolved: else FileRepoRefused, nothing fetched", async () => {
  const outside = await mkdtemp(join(tmpdir(), 'gitrepo-outside-'));
  try {
    const other = await makeRepo(outside, 'secret', join(dir, 'home'));
    await other.commit('c', { 'apps/x.yaml': cm('x') });
    // A link under the root to a repository outside it.
    await symlink(join(outside, 'secret.git'), join(dir, 'repos', 'link.git'));
    for (const repoUrl of [`file://${join(outside, 'secret.git')}`, `file://${join(dir, 'repos', 'link.git')}`]) {
      await put({ repo: repoUrl, paths: ['apps'] });
      const s = await statusWhen(`refused ${repoUrl}`, (st) =>
        st.conditions.some((c) => c.type === 'Fetched' && c.reason === 'FileRepoRefused'),
      );
      assert.match(s.conditions.find((c) => c.type === 'Fetched')?.message ?? '', /must be under/);
      assert.equal(s.commit, undefined, 'nothing fetched');
      assert.equal(await store.worksets.get('default', 'fleet-apps'), undefined);
    }
    await other.remove();
  } finally {
    await store.transaction(() => store.gitrepos.delete('default', 'fleet'));
    controller.changed('default', 'fleet');
    await rm(outside, { recursive: true, force: true });
  }
});
