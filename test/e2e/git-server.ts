// A Git server on loopback for tests, with no internet: bare repositories under a directory,
// served over smart HTTP by `git http-backend` behind a small Node CGI bridge. Stopped (or
// never started) it is an unreachable remote. Also the helpers a test needs to make commits.
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** git with no user or system configuration (the test machine's must not matter). */
const gitEnv = (home: string) => ({
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: home,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'Outpost Test',
  GIT_AUTHOR_EMAIL: 'test@outpost.invalid',
  GIT_COMMITTER_NAME: 'Outpost Test',
  GIT_COMMITTER_EMAIL: 'test@outpost.invalid',
  GIT_TERMINAL_PROMPT: '0',
});

export interface GitServer {
  /** http://127.0.0.1:PORT/NAME.git while it runs. */
  url(repo: string): string;
  /** Serves again (on the same port when it is free). */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** HTTP requests received so far (a `git ls-remote` over smart HTTP makes two). */
  requests(): number;
}

/** Serves the bare repositories under `root` (GIT_PROJECT_ROOT) over smart HTTP; with
 *  `auth`, only to requests with that user and password (HTTP basic), as a private forge does. */
export async function startGitServer(
  root: string,
  home: string,
  auth?: { username: string; password: string },
): Promise<GitServer> {
  let server: Server | undefined;
  let port = 0;
  const expected = auth && `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
  let requests = 0;
  const listen = async () => {
    const s = createServer((req, res) => {
      requests++;
      if (expected && req.headers.authorization !== expected) {
        req.resume();
        res.writeHead(401, { 'www-authenticate': 'Basic realm="outpost-test"', 'content-type': 'text/plain' });
        res.end('authentication required\n');
        return;
      }
      const u = new URL(req.url ?? '/', 'http://127.0.0.1');
      const child = spawn('git', ['http-backend'], {
        env: {
          ...gitEnv(home),
          GIT_PROJECT_ROOT: root,
          GIT_HTTP_EXPORT_ALL: '1',
          PATH_INFO: decodeURIComponent(u.pathname),
          QUERY_STRING: u.search.slice(1),
          REQUEST_METHOD: req.method ?? 'GET',
          CONTENT_TYPE: req.headers['content-type'] ?? '',
          REMOTE_ADDR: '127.0.0.1',
          REMOTE_USER: '',
          ...(req.headers['content-length'] ? { CONTENT_LENGTH: req.headers['content-length'] } : {}),
          ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] } : {}),
          ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
        },
        stdio: ['pipe', 'pipe', 'ignore'],
      });
      req.pipe(child.stdin);
      // The CGI answer: headers (Status: among them) up to a blank line, then the body.
      let head = Buffer.alloc(0);
      let inBody = false;
      child.stdout.on('data', (chunk: Buffer) => {
        if (inBody) {
          res.write(chunk);
          return;
        }
        head = Buffer.concat([head, chunk]);
        const cut = head.indexOf('\r\n\r\n');
        const cutLf = head.indexOf('\n\n');
        const at = cut >= 0 ? cut : cutLf;
        if (at < 0) return;
        const sep = cut >= 0 ? 4 : 2;
        let status = 200;
        for (const line of head.subarray(0, at).toString('latin1').split(/\r?\n/)) {
          const i = line.indexOf(':');
          if (i <= 0) continue;
          const k = line.slice(0, i).trim();
          const v = line.slice(i + 1).trim();
          if (k.toLowerCase() === 'status') status = Number.parseInt(v, 10);
          else res.setHeader(k, v);
        }
        res.statusCode = status;
        inBody = true;
        const rest = head.subarray(at + sep);
        if (rest.length) res.write(rest);
      });
      child.on('close', () => {
        if (!inBody) res.statusCode = 500;
        res.end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
    port = (s.address() as AddressInfo).port;
    server = s;
  };
  await listen();
  return {
    url: (repo) => `http://127.0.0.1:${port}/${repo}.git`,
    start: listen,
    requests: () => requests,
    async stop() {
      const s = server;
      server = undefined;
      if (!s) return;
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    },
  };
}

/** A bare repository `NAME.git` under `root` and a working copy that pushes to it. */
export async function makeRepo(root: string, name: string, home: string) {
  const bare = join(root, `${name}.git`);
  const work = await mkdtemp(join(tmpdir(), 'outpost-git-work-'));
  const env = gitEnv(home);
  const git = async (cwd: string, ...args: string[]) => (await run('git', args, { cwd, env })).stdout.trim();
  await mkdir(bare, { recursive: true });
  await git(bare, 'init', '--quiet', '--bare');
  await git(bare, 'symbolic-ref', 'HEAD', 'refs/heads/main');
  await git(work, 'init', '--quiet');
  await git(work, 'checkout', '--quiet', '-b', 'main');
  return {
    /** The working copy (its files are those of the last commit). */
    dir: work,
    /** Writes (or, with null, removes) files, commits and pushes; the new commit's id. */
    async commit(message: string, files: Record<string, string | null>): Promise<string> {
      for (const [p, text] of Object.entries(files)) {
        if (text === null) await rm(join(work, p), { force: true });
        else {
          await mkdir(dirname(join(work, p)), { recursive: true });
          await writeFile(join(work, p), text);
        }
      }
      await git(work, 'add', '--all');
      await git(work, 'commit', '--quiet', '-m', message);
      await git(work, 'push', '--quiet', bare, 'HEAD:refs/heads/main');
      return git(work, 'rev-parse', 'HEAD');
    },
    async remove() {
      await rm(work, { recursive: true, force: true });
    },
  };
}
