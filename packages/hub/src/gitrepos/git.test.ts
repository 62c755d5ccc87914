import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { checkout, commitOf, GitError, remoteCommit, runGit } from './git.ts';

const run = promisify(execFile);
let dir: string;
let env: { searchPath: string; home: string };
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gitrepo-git-'));
  env = { searchPath: process.env.PATH ?? '/usr/bin:/bin', home: join(dir, 'home') };
  await mkdir(env.home);
});
after(() => rm(dir, { recursive: true, force: true }));

test('a missing git is GIT_MISSING, not a crash', async () => {
  await assert.rejects(runGit(['version'], { ...env, searchPath: join(dir, 'nowhere') }), (e: unknown) => {
    assert.ok(e instanceof GitError);
    assert.equal(e.code, 'GIT_MISSING');
    return true;
  });
});

test('ls-remote, a shallow checkout of a file:// repository, an unknown branch, an unreachable remote', async () => {
  const work = join(dir, 'work');
  await mkdir(work);
  const g = (...args: string[]) =>
    run('git', args, {
      cwd: work,
      env: {
        ...process.env,
        HOME: env.home,
        GIT_CONFIG_GLOBAL: '/dev/null',
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_AUTHOR_NAME: 't',
        GIT_AUTHOR_EMAIL: 't@t',
        GIT_COMMITTER_NAME: 't',
        GIT_COMMITTER_EMAIL: 't@t',
      },
    });
  await g('init', '--quiet', '-b', 'main');
  await writeFile(join(work, 'a.yaml'), 'x: 1\n');
  await g('add', '.');
  await g('commit', '--quiet', '-m', 'one');
  await g('tag', '-a', 'v1', '-m', 'v1');
  const head = (await g('rev-parse', 'HEAD')).stdout.trim();
  const url = `file://${work}`;
  assert.deepEqual(await remoteCommit(env, url, { branch: 'main' }), { commit: head, ref: 'refs/heads/main' });
  assert.equal((await remoteCommit(env, url, {})).commit, head);
  // An annotated tag is its commit (the peeled ref).
  assert.equal((await remoteCommit(env, url, { revision: 'v1' })).commit, head);
  await assert.rejects(remoteCommit(env, url, { branch: 'nope' }), (e: unknown) => {
    assert.ok(e instanceof GitError && e.code === 'GIT_NO_REF');
    assert.match(e.message, /the repository has no branch nope/);
    return true;
  });
  await assert.rejects(remoteCommit(env, 'http://127.0.0.1:1/x.git', {}), (e: unknown) => {
    assert.ok(e instanceof GitError && e.code === 'GIT_FAILED');
    return true;
  });
  const cache = join(dir, 'cache');
  await mkdir(cache);
  assert.equal(await checkout(env, cache, url, 'refs/heads/main', head), head);
  assert.equal(await readFile(join(cache, 'a.yaml'), 'utf8'), 'x: 1\n');
  assert.equal((await runGit(['rev-parse', '--is-shallow-repository'], env, cache)).trim(), 'true');
  assert.equal(commitOf(`${head}\trefs/heads/main\n`, 'refs/heads/main'), head);
  // A revision by full commit id: fetched by that id, no ref named.
  const byId = join(dir, 'by-id');
  await mkdir(byId);
  const pinned = await remoteCommit(env, url, { revision: head });
  assert.deepEqual(pinned, { commit: head, ref: undefined });
  assert.equal(await checkout(env, byId, url, undefined, head), head);
  assert.equal(await readFile(join(byId, 'a.yaml'), 'utf8'), 'x: 1\n');
});

test('a command that outlives its timeout is killed: GIT_TIMEOUT', async () => {
  // An alias that runs a command for two seconds (git itself is what is killed).
  await assert.rejects(runGit(['-c', 'alias.wait=!sleep 2', 'wait'], { ...env, timeoutMs: 200 }), (e: unknown) => {
    assert.ok(e instanceof GitError);
    assert.equal(e.code, 'GIT_TIMEOUT');
    return true;
  });
});

test('an aborted signal kills a running command at once', async () => {
  const stop = new AbortController();
  const started = performance.now();
  const running = runGit(['-c', 'alias.wait=!sleep 2', 'wait'], { ...env, signal: stop.signal });
  setTimeout(() => stop.abort(), 100);
  await assert.rejects(running, /the hub is stopping/);
  assert.ok(performance.now() - started < 1_500);
});

test("credentials go to the repository's own host only: never to a host a redirect leads to, never in the error", async () => {
  const password = 'a-password-for-this-host-only';
  const seen: { at: string; auth: string | undefined }[] = [];
  const listen = (handle: (req: IncomingMessage, res: ServerResponse) => void) =>
    new Promise<Server>((resolve) => {
      const s = createServer(handle);
      s.listen(0, '127.0.0.1', () => resolve(s));
    });
  // Wants credentials, and refuses every one: git asks once, then gives up.
  const other = await listen((req, res) => {
    seen.push({ at: 'other', auth: req.headers.authorization });
    res.writeHead(401, { 'www-authenticate': 'Basic realm="x"' }).end();
  });
  const own = await listen((req, res) => {
    seen.push({ at: 'own', auth: req.headers.authorization });
    if (req.url?.startsWith('/moved.git')) {
      const port = (other.address() as AddressInfo).port;
      res.writeHead(302, { location: `http://127.0.0.1:${port}${req.url.replace('/moved.git', '/x.git')}` }).end();
    } else res.writeHead(401, { 'www-authenticate': 'Basic realm="x"' }).end();
  });
  try {
    const base = `http://127.0.0.1:${(own.address() as AddressInfo).port}`;
    const authEnv = (url: string) => ({
      ...env,
      auth: { username: 'bot', password, url },
      secrets: [password, Buffer.from(`bot:${password}`).toString('base64')],
    });
    const refused = async (url: string) =>
      assert.rejects(runGit(['ls-remote', '--', url], authEnv(url)), (e: unknown) => {
        assert.ok(e instanceof GitError);
        assert.equal(e.code, 'GIT_AUTH', e.message);
        assert.ok(!e.message.includes(password), e.message);
        return true;
      });
    await refused(`${base}/x.git`);
    const basic = `Basic ${Buffer.from(`bot:${password}`).toString('base64')}`;
    assert.ok(
      seen.some((s) => s.at === 'own' && s.auth === basic),
      JSON.stringify(seen),
    );
    // Redirected to another host (port) that wants credentials: the helper answers nothing there.
    seen.length = 0;
    await refused(`${base}/moved.git`);
    assert.ok(
      seen.some((s) => s.at === 'other'),
      JSON.stringify(seen),
    );
    assert.deepEqual(
      seen.filter((s) => s.at === 'other' && s.auth !== undefined),
      [],
    );
    // The helper's directory is gone with the command.
    assert.deepEqual(
      (await readdir(env.home)).filter((f) => f.startsWith('auth-')),
      [],
    );
  } finally {
    own.closeAllConnections();
    other.closeAllConnections();
    await Promise.all([own, other].map((s) => new Promise((r) => s.close(r))));
  }
});
