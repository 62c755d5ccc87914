// Private GitRepos and push webhooks end to end: a real hub process and a real Git server on
// loopback (git http-backend behind a Node bridge) that wants HTTP basic credentials. No
// cluster: what the hub fetched shows in the GitRepo's status and the worksets it wrote.
// Without credentials the repository is refused (status AuthenticationFailed, no workset);
// with them it is fetched; the secret is in no answer, list, YAML answer, status, log line or
// the database file; written again unchanged nothing changes; wrong ones are refused and
// the previous rollout stands. A signed push webhook makes the hub fetch at once (polling
// every hour); unsigned, wrongly signed or for an unknown GitRepo it is the same 401. Over
// ssh (a real sshd on loopback) the pinned host key lets the fetch through; another one is
// HostKeyMismatch and nothing is rolled out.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { type GitServer, makeRepo, startGitServer } from './git-server.ts';
import { adminClient, type HubClient, hubCli, waitFor } from './hub-client.ts';
import { type HubProcess, startHub } from './hub-process.ts';
import { sshdBinary, sshKeyPair, startSshServer } from './ssh-server.ts';

interface GitRepoView {
  metadata: { generation: number; resourceVersion: string };
  spec: { credentials?: unknown; webhook?: unknown };
  status: {
    observedGeneration: number;
    commit?: string;
    conditions: { type: string; status: string; reason: string; message: string }[];
    paths: { path: string; workset: string; commit?: string; error?: string }[];
  };
}

const password = 'Pr1vate-Passw0rd-e2e-7f3a';
const token = 'tok_e2e_5b2d9c1e8f7a6b4c3d2e1f00';
const hookSecret = 'hook-secret-e2e-1c9b7d5f3a';
const cm = (name: string, value: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: default\ndata:\n  value: "${value}"\n`;

describe('private GitRepos and push webhooks (real hub, a Git server wanting credentials)', {
  timeout: 300_000,
}, () => {
  let hub: HubProcess;
  let admin: HubClient;
  let git: GitServer;
  let tokenGit: GitServer;
  let repo: Awaited<ReturnType<typeof makeRepo>>;
  let dir: string;
  const base = '/api/v1/namespaces/default/gitrepos';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outpost-gitrepo-auth-'));
    const home = join(dir, 'home');
    await mkdir(home);
    await mkdir(join(dir, 'repos'));
    repo = await makeRepo(join(dir, 'repos'), 'private', home);
    git = await startGitServer(join(dir, 'repos'), home, { username: 'fleet-bot', password });
    tokenGit = await startGitServer(join(dir, 'repos'), home, { username: 'x-access-token', password: token });
    hub = await startHub({ args: ['--log-level', 'debug'] });
    admin = await adminClient(hub);
    const placement = await admin.call('PUT', '/api/v1/namespaces/default/placements/nobody', {
      json: {
        metadata: { name: 'nobody' },
        spec: { predicates: [{ requiredClusterSelector: { labelSelector: { matchLabels: { none: 'none' } } } }] },
      },
    });
    assert.equal(placement.status, 201, placement.text);
  });

  after(async () => {
    await admin?.close();
    await hub?.stop();
    await git?.stop();
    await tokenGit?.stop();
    await repo?.remove();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const gitRepo = (name: string) => ({
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'GitRepo',
    metadata: { name },
    spec: {
      repo: git.url('private'),
      branch: 'main',
      paths: ['apps'],
      pollingInterval: '5s',
      placementRef: { name: 'nobody' },
    } as Record<string, unknown>,
  });
  const get = async (name: string) => (await admin.get<GitRepoView>(`${base}/${name}`)).body;
  const fetched = (g: GitRepoView) => g.status.conditions.find((c) => c.type === 'Fetched');
  const workset = async (name: string) => {
    const res = await admin.get<{ metadata: { annotations?: Record<string, string> } }>(
      `/api/v1/namespaces/default/manifestworkreplicasets/${name}`,
    );
    return res.status === 200 ? res.body : undefined;
  };
  /** Nothing the hub said or holds names a secret (answers are checked where they are made). */
  const secrets = [password, token, hookSecret, Buffer.from(`fleet-bot:${password}`).toString('base64')];
  const noSecretIn = (what: string, text: string) => {
    for (const s of secrets) {
      assert.ok(!text.includes(s), `${what} holds a secret`);
    }
  };
  /** `outpost-hub ARGS` against the hub; its standard output (exit 0 asserted). */
  const cli = async (...args: string[]) => {
    const r = await hubCli(hub, ...args);
    assert.equal(r.code, 0, r.err);
    return r.out;
  };

  test('(a) without credentials a private repository is refused: AuthenticationFailed, nothing rolled out', async () => {
    await repo.commit('one', { 'apps/a.yaml': cm('private-a', 'one') });
    const res = await admin.call('PUT', `${base}/anon`, { json: gitRepo('anon') });
    assert.equal(res.status, 201, res.text);
    const g = await waitFor(
      'the fetch refused',
      async () => {
        const g = await get('anon');
        return fetched(g)?.status === 'False' ? g : undefined;
      },
      30_000,
    );
    assert.equal(fetched(g)?.reason, 'AuthenticationFailed', JSON.stringify(g.status));
    assert.match(fetched(g)?.message ?? '', /nothing changes on the clusters/);
    assert.equal(await workset('anon-apps'), undefined);
    assert.equal((await admin.delete(`${base}/anon`)).status, 200);
  });

  let first = '';
  test('(b) with a user name and password it is fetched; the password is in no answer, log or database file', async () => {
    first = await repo.commit('two', { 'apps/a.yaml': cm('private-a', 'two') });
    const body = gitRepo('fleet');
    body.spec.credentials = { username: 'fleet-bot', password };
    const res = await admin.call('PUT', `${base}/fleet`, { json: body });
    assert.equal(res.status, 201, res.text);
    noSecretIn('the PUT answer', res.text);
    assert.deepEqual((res.body as GitRepoView).spec.credentials, { type: 'basic', set: true });
    const g = await waitFor(
      'the private repository fetched',
      async () => {
        const g = await get('fleet');
        return g.status.commit === first && g.status.paths[0]?.commit === first ? g : undefined;
      },
      30_000,
    );
    assert.equal(fetched(g)?.status, 'True', JSON.stringify(g.status));
    assert.equal((await workset('fleet-apps'))?.metadata.annotations?.['outpost.dev/git-commit'], first);

    // Every way of reading it shows only that they are set.
    for (const p of [`${base}/fleet`, base, '/api/v1/gitrepos', '/api/v1/gitrepos/fleet']) {
      const r = await admin.get(p);
      assert.equal(r.status, 200, r.text);
      noSecretIn(`GET ${p}`, r.text);
      assert.match(r.text, /"credentials":\{"type":"basic","set":true\}/);
    }
    const yaml = await admin.call('GET', `${base}/fleet`, { headers: { accept: 'application/yaml' } });
    assert.equal(yaml.status, 200, yaml.text);
    noSecretIn('the YAML answer', yaml.text);
    assert.match(yaml.text, /set: true/);
    const watched = await admin.get(`${base}?watch=true&resourceVersion=0&timeoutSeconds=1`, { timeoutMs: 10_000 });
    noSecretIn('the watch', watched.text);
    noSecretIn('gitrepo get', await cli('gitrepo', 'get', 'fleet', '-o', 'yaml'));
    noSecretIn('gitrepo status', await cli('gitrepo', 'status', 'fleet'));

    // Applied again unchanged: nothing changes (the sealed value is kept, not sealed anew).
    const again = await admin.call('PUT', `${base}/fleet`, { json: body });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.headers['x-outpost-changed'], 'false');
    assert.equal((again.body as GitRepoView).metadata.generation, g.metadata.generation);
    // What GET shows, sent back (an edit of another field), keeps them.
    const shown = await get('fleet');
    const edited = await admin.call('PUT', `${base}/fleet`, {
      json: {
        ...shown,
        metadata: { name: 'fleet' },
        spec: { ...shown.spec, pollingInterval: '6s' },
        status: undefined,
      },
    });
    assert.equal(edited.status, 200, edited.text);
    const patched = await admin.patch<GitRepoView>(`${base}/fleet`, { spec: { pollingInterval: '5s' } });
    assert.equal(patched.status, 200, patched.text);
    assert.deepEqual(patched.body.spec.credentials, { type: 'basic', set: true });
    const second = await repo.commit('three', { 'apps/a.yaml': cm('private-a', 'three') });
    await waitFor(
      'the next commit fetched with the kept credentials',
      async () => {
        const g = await get('fleet');
        return g.status.paths[0]?.commit === second ? g : undefined;
      },
      30_000,
    );
    first = second;

    // The database holds them sealed only.
    if (!process.env.OUTPOST_TEST_DATABASE || process.env.OUTPOST_TEST_DATABASE === 'sqlite') {
      for (const f of await readdir(hub.dataDir)) {
        if (f.startsWith('outpost.db')) noSecretIn(f, (await readFile(join(hub.dataDir, f))).toString('latin1'));
      }
    }
  });

  test('(c) wrong credentials: AuthenticationFailed, the secret absent from status, the previous rollout stands', async () => {
    const body = gitRepo('fleet');
    body.spec.credentials = { username: 'fleet-bot', password: `${password}-wrong` };
    const res = await admin.call('PUT', `${base}/fleet`, { json: body });
    assert.equal(res.status, 200, res.text);
    const g = await waitFor(
      'the wrong credentials refused',
      async () => {
        const g = await get('fleet');
        return g.status.observedGeneration === g.metadata.generation && fetched(g)?.status === 'False' ? g : undefined;
      },
      30_000,
    );
    assert.equal(fetched(g)?.reason, 'AuthenticationFailed', JSON.stringify(g.status));
    assert.ok(!JSON.stringify(g).includes(`${password}-wrong`));
    assert.equal(g.status.paths[0]?.commit, first);
    assert.equal((await workset('fleet-apps'))?.metadata.annotations?.['outpost.dev/git-commit'], first);
    // Back to the right ones.
    body.spec.credentials = { username: 'fleet-bot', password };
    assert.equal((await admin.call('PUT', `${base}/fleet`, { json: body })).status, 200);
  });

  test('(d) a token (sent as the basic-auth password of x-access-token), applied from a file by the CLI', async () => {
    const body = gitRepo('tokened');
    body.spec.repo = tokenGit.url('private');
    body.spec.credentials = { token };
    const file = join(dir, 'tokened.json');
    await writeFile(file, JSON.stringify(body));
    const applied = await cli('gitrepo', 'apply', '-f', file);
    assert.match(applied, /tokened created/);
    noSecretIn('gitrepo apply', applied);
    await waitFor(
      'the repository fetched with the token',
      async () => {
        const g = await get('tokened');
        return fetched(g)?.status === 'True' && g.status.paths[0]?.commit ? g : undefined;
      },
      30_000,
    );
    // The same file again: nothing changes.
    assert.match(await cli('gitrepo', 'apply', '-f', file), /tokened unchanged/);
    const shown = await cli('gitrepo', 'get', 'tokened');
    assert.match(shown, /credentials: +token set/);
    noSecretIn('gitrepo get', shown);
    assert.equal((await admin.delete(`${base}/tokened`)).status, 200);
  });

  test('(e) a signed push webhook fetches at once; unsigned, wrongly signed or unknown: the same 401', async () => {
    const body = gitRepo('hooked');
    body.spec.credentials = { username: 'fleet-bot', password };
    body.spec.webhook = { secret: hookSecret };
    body.spec.pollingInterval = '1h';
    const res = await admin.call('PUT', `${base}/hooked`, { json: body });
    assert.equal(res.status, 201, res.text);
    noSecretIn('the PUT answer', res.text);
    assert.deepEqual((res.body as GitRepoView).spec.webhook, { set: true });
    await waitFor(
      'the first fetch',
      async () => {
        const g = await get('hooked');
        return g.status.paths[0]?.commit === first ? g : undefined;
      },
      30_000,
    );
    const pushed = await repo.commit('four', { 'apps/a.yaml': cm('private-a', 'four') });

    const payload = Buffer.from(JSON.stringify({ ref: 'refs/heads/main', after: pushed }));
    const hmac = (b: Buffer, s = hookSecret) => createHmac('sha256', s).update(b).digest('hex');
    // No bearer token: the signature is the authentication.
    const post = async (name: string, headers: Record<string, string>, b: Buffer = payload) => {
      const r = await request(`${hub.url}${base}/${name}/webhook`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: b,
        dispatcher: admin.agent,
      });
      const text = await r.body.text();
      return { status: r.statusCode, text };
    };
    const refusedAlike = async (name: string, headers: Record<string, string>, b?: Buffer) => {
      const r = await post(name, headers, b);
      assert.equal(r.status, 401, r.text);
      assert.equal(JSON.parse(r.text).code, 'WEBHOOK_UNAUTHORIZED');
      return r.text;
    };
    const bad = await refusedAlike('hooked', {
      'x-hub-signature-256': `sha256=${hmac(payload, 'not-the-secret-000')}`,
    });
    await refusedAlike('hooked', {});
    await refusedAlike('hooked', { 'x-gitlab-token': 'not-the-secret-000' });
    // A signature replayed with another body.
    await refusedAlike('hooked', { 'x-hub-signature-256': `sha256=${hmac(payload)}` }, Buffer.from('{"ref":"x"}'));
    // An unknown GitRepo and one without a webhook answer exactly as a bad signature does.
    const unknown = await refusedAlike('no-such-repo', { 'x-hub-signature-256': `sha256=${hmac(payload)}` });
    const noHook = await refusedAlike('fleet', { 'x-hub-signature-256': `sha256=${hmac(payload)}` });
    assert.equal(unknown, bad);
    assert.equal(noHook, bad);
    // None of these fetched (polling is hourly).
    assert.notEqual((await get('hooked')).status.commit, pushed);

    const good = await post('hooked', { 'x-hub-signature-256': `sha256=${hmac(payload)}`, 'x-github-event': 'push' });
    assert.equal(good.status, 202, good.text);
    await waitFor(
      'the pushed commit fetched after the webhook',
      async () => {
        const g = await get('hooked');
        return g.status.paths[0]?.commit === pushed ? g : undefined;
      },
      20_000,
    );

    // Gitea's and GitLab's signatures too.
    const next = await repo.commit('five', { 'apps/a.yaml': cm('private-a', 'five') });
    const gitea = await post('hooked', { 'x-gitea-signature': hmac(payload) });
    assert.equal(gitea.status, 202, gitea.text);
    await waitFor(
      'fetched after the Gitea webhook',
      async () => {
        const g = await get('hooked');
        return g.status.paths[0]?.commit === next ? g : undefined;
      },
      20_000,
    );
    const last = await repo.commit('six', { 'apps/a.yaml': cm('private-a', 'six') });
    const gitlab = await post('hooked', { 'x-gitlab-token': hookSecret, 'x-gitlab-event': 'Push Hook' });
    assert.equal(gitlab.status, 202, gitlab.text);
    await waitFor(
      'fetched after the GitLab webhook',
      async () => {
        const g = await get('hooked');
        return g.status.paths[0]?.commit === last ? g : undefined;
      },
      20_000,
    );
    // A burst is coalesced, and answered 202 each.
    const burst = await Promise.all(Array.from({ length: 20 }, () => post('hooked', { 'x-gitlab-token': hookSecret })));
    assert.deepEqual(new Set(burst.map((b) => b.status)), new Set([202]));
    // An oversized body is refused before it is read whole.
    const big = await post('hooked', { 'x-gitlab-token': hookSecret }, Buffer.alloc(3 * 1024 * 1024, 32));
    assert.equal(big.status, 413, big.text);
  });

  test('(f) ssh: fetched with the pinned host key; another host key is HostKeyMismatch, nothing rolled out', async (t) => {
    const sshd = await sshdBinary();
    if (!sshd) {
      // CI has it (scripts/test installs it): missing there is a failure, not a skip.
      assert.notEqual(process.env.CI, 'true', 'sshd is missing (scripts/toolchain.sh outpost_ensure_sshd)');
      t.skip('sshd is not installed (outpost_ensure_sshd installs it)');
      return;
    }
    const server = await startSshServer(sshd);
    try {
      const keyLine = server.clientKey.split('\n')[1] ?? '';
      secrets.push(keyLine);
      const body = gitRepo('sshed');
      body.spec.repo = server.url(join(dir, 'repos', 'private.git'));
      body.spec.credentials = { sshPrivateKey: server.clientKey, knownHosts: server.knownHosts };
      const res = await admin.call('PUT', `${base}/sshed`, { json: body });
      assert.equal(res.status, 201, res.text);
      noSecretIn('the PUT answer', res.text);
      assert.deepEqual((res.body as GitRepoView).spec.credentials, { type: 'ssh', set: true });
      const g = await waitFor(
        'fetched over ssh',
        async () => {
          const g = await get('sshed');
          return g.status.paths[0]?.commit ? g : fetched(g)?.status === 'False' ? g : undefined;
        },
        30_000,
      );
      assert.equal(fetched(g)?.status, 'True', `${JSON.stringify(g.status)}\n${server.output()}`);
      assert.ok(await workset('sshed-apps'));

      // The same server, but known_hosts pins another key: refused before anything is sent.
      const other = await sshKeyPair(dir, 'other_host_key');
      const [type, key] = other.publicKey.split(' ');
      const mitm = gitRepo('mitm');
      mitm.spec.repo = body.spec.repo;
      mitm.spec.credentials = {
        sshPrivateKey: server.clientKey,
        knownHosts: `[127.0.0.1]:${server.port} ${type} ${key}`,
      };
      assert.equal((await admin.call('PUT', `${base}/mitm`, { json: mitm })).status, 201);
      const refused = await waitFor(
        'the wrong host key refused',
        async () => {
          const g = await get('mitm');
          return fetched(g)?.status === 'False' ? g : undefined;
        },
        30_000,
      );
      assert.equal(fetched(refused)?.reason, 'HostKeyMismatch', JSON.stringify(refused.status));
      assert.equal(await workset('mitm-apps'), undefined);
      noSecretIn('the status', JSON.stringify(refused));
      // An ssh URL without credentials, or with a token, is refused.
      const bare = gitRepo('sshbare');
      bare.spec.repo = body.spec.repo;
      const noCreds = await admin.call('PUT', `${base}/sshbare`, { json: bare });
      assert.equal(noCreds.status, 400, noCreds.text);
      assert.match(noCreds.text, /ssh repositories need spec\.credentials/);
      bare.spec.credentials = { token };
      const tokened = await admin.call('PUT', `${base}/sshbare`, { json: bare });
      assert.equal(tokened.status, 400, tokened.text);
      assert.match(tokened.text, /an ssh repository needs \{sshPrivateKey, knownHosts\}/);
      noSecretIn('the refusal', tokened.text);
      for (const n of ['sshed', 'mitm']) assert.equal((await admin.delete(`${base}/${n}`)).status, 200);
      // The key files lived only for their commands: with no ssh GitRepo left, none remain.
      await waitFor(
        'no ssh key directory left',
        async () => {
          const left = await readdir(join(hub.dataDir, 'gitrepos', '.home'));
          return left.some((f) => f.startsWith('ssh-')) ? undefined : true;
        },
        30_000,
      );
    } finally {
      await server.stop();
    }
  });

  test('(g) the hub logged no secret', async () => {
    noSecretIn('the hub log', hub.output());
  });
});
