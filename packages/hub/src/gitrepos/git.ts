// The system `git`, run for GitRepos: never through a shell, never asking anyone (no
// terminal; an askpass that answers nothing, or only a private repository's own credentials
// for its own host; ssh only with a GitRepo's key and pinned host keys), with no
// configuration but its own (no system or user config: HOME is an empty directory the hub
// owns), killed after a timeout, its output bounded and scrubbed of credentials. Each failure
// is a GitError with a stable code that the controller puts in status.
import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { durations, limits } from '@outpost/shared';
import { type CommandRunner, inScratchDir, lastLines, RunnerError, sharedRunner } from '../commands/index.ts';

/** GIT_NO_REF: the remote answered, but has no such branch, tag or HEAD. GIT_AUTH: the remote
 *  wants credentials, or refused the ones given. GIT_CREDENTIALS: the stored ones are not readable. */
export type GitErrorCode =
  | 'GIT_MISSING'
  | 'GIT_TIMEOUT'
  | 'GIT_FAILED'
  | 'GIT_NO_REF'
  | 'GIT_AUTH'
  | 'GIT_CREDENTIALS'
  /** The ssh server's key is not the one pinned (known_hosts). */
  | 'GIT_HOST_KEY';

export class GitError extends Error {
  readonly code: GitErrorCode;
  constructor(code: GitErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export interface GitEnv {
  /** Where `git` is looked for (a PATH). */
  searchPath: string;
  /** An empty directory: git's HOME, so no user configuration is read. */
  home: string;
  timeoutMs?: number;
  /** Aborted: the command is killed at once (the hub is stopping). */
  signal?: AbortSignal;
  /** HTTP basic credentials for the repository's own host (a private repository). */
  auth?: { username: string; password: string; url: string };
  /** An ssh repository's key and the server keys pinned for it (known_hosts text). */
  ssh?: { privateKey: string; knownHosts: string };
  /** Texts never to show (the credentials as they could appear in git's output). */
  secrets?: readonly string[];
  /** Where git is run (a helper process: the hub's event loop never forks); the shared one when absent. */
  runner?: CommandRunner;
}

/**
 * The askpass helper git runs for a user name and password. It answers from its own
 * environment (OUTPOST_GIT_*, set for the git child only), never from its arguments or a
 * file: the secret is on no command line (argv is readable by every user in /proc, a
 * process's environment only by its own user, who can read the hub's key anyway), in no URL
 * and in no file. It answers only the two prompts for the repository's own host (git names
 * the URL in them), so a redirect to another host gets nothing. An http.extraHeader would be
 * sent to any host a redirect leads to; a credential helper would need a file or a socket.
 */
const askpass = `#!/bin/sh
if [ "$1" = "$OUTPOST_GIT_USER_PROMPT" ]; then printf '%s\n' "$OUTPOST_GIT_USERNAME"; exit 0; fi
if [ "$1" = "$OUTPOST_GIT_PASSWORD_PROMPT" ]; then printf '%s\n' "$OUTPOST_GIT_PASSWORD"; exit 0; fi
exit 1
`;

/** The prompts git asks an askpass helper with for `url`'s host (credential.c's credential_describe). */
function prompts(url: string, username: string): { user: string; password: string } {
  // As the URL spells them (git keeps a default port written out; WHATWG's URL drops it).
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)/.exec(url);
  const proto = m?.[1] ?? '';
  const host = m?.[2] ?? '';
  return { user: `Username for '${proto}://${host}': `, password: `Password for '${proto}://${username}@${host}': ` };
}

/** `text` with every secret replaced by "***". */
export function scrub(text: string, secrets: readonly string[] | undefined): string {
  let out = text;
  for (const s of secrets ?? []) if (s) out = out.split(s).join('***');
  return out;
}

/** Runs `git ARGS` in `cwd`; resolves with its standard output, rejects with a GitError
 *  (whose message never holds `env.secrets`). */
export async function runGit(args: string[], env: GitEnv, cwd?: string): Promise<string> {
  if (env.ssh) return runGitSsh(args, env, env.ssh, cwd);
  if (!env.auth) return runGitOnce(args, env, cwd, {});
  const auth = env.auth;
  // The helper in a directory of its own (0700, removed after the command).
  return inScratchDir(env.home, 'auth-', async (dir) => {
    const helper = join(dir, 'askpass');
    await writeFile(helper, askpass, { mode: 0o700 });
    const p = prompts(auth.url, auth.username);
    return runGitOnce(args, env, cwd, {
      GIT_ASKPASS: helper,
      OUTPOST_GIT_USER_PROMPT: p.user,
      OUTPOST_GIT_PASSWORD_PROMPT: p.password,
      OUTPOST_GIT_USERNAME: auth.username,
      OUTPOST_GIT_PASSWORD: auth.password,
    });
  });
}

/** Removes the askpass and ssh key directories a killed hub left under git's HOME. */
export async function sweepGitTemp(home: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(home);
  } catch {
    return;
  }
  for (const e of entries) {
    if (e.startsWith('auth-') || e.startsWith('ssh-')) await rm(join(home, e), { recursive: true, force: true });
  }
}

/** `s` as one word of sh (git runs GIT_SSH_COMMAND with the shell). */
const shellWord = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * git over ssh with the GitRepo's key: the key (0600) and the pinned known_hosts in a
 * directory of their own (0700, removed after the command). ssh reads no configuration
 * (-F /dev/null), no agent, no other identity, no other known_hosts; it never asks
 * (BatchMode) and never learns a host key (StrictHostKeyChecking=yes: a key not pinned,
 * or another one, fails the command).
 */
async function runGitSsh(
  args: string[],
  env: GitEnv,
  ssh: { privateKey: string; knownHosts: string },
  cwd: string | undefined,
): Promise<string> {
  return inScratchDir(env.home, 'ssh-', async (dir) => {
    const key = join(dir, 'key');
    const known = join(dir, 'known_hosts');
    await writeFile(key, ssh.privateKey.endsWith('\n') ? ssh.privateKey : `${ssh.privateKey}\n`, { mode: 0o600 });
    await writeFile(known, ssh.knownHosts.endsWith('\n') ? ssh.knownHosts : `${ssh.knownHosts}\n`, { mode: 0o600 });
    const command = [
      'ssh',
      '-F',
      '/dev/null',
      '-o',
      'BatchMode=yes',
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      `UserKnownHostsFile=${shellWord(known)}`,
      '-o',
      'GlobalKnownHostsFile=/dev/null',
      '-o',
      'UpdateHostKeys=no',
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'IdentityAgent=none',
      '-o',
      'PasswordAuthentication=no',
      '-o',
      'KbdInteractiveAuthentication=no',
      '-o',
      `ConnectTimeout=${Math.ceil(durations.gitSshConnectTimeoutMs / 1000)}`,
      '-i',
      shellWord(key),
    ].join(' ');
    return runGitOnce(args, env, cwd, { GIT_SSH_COMMAND: command, GIT_SSH_VARIANT: 'ssh' });
  });
}

/** What in git's error output says the remote wants (other) credentials. */
const authFailure =
  /Authentication failed|could not read (Username|Password)|terminal prompts disabled|returned error: 40[13]|HTTP Basic: Access denied|Invalid username or password|Permission denied \(/i;
/** What in ssh's error output says the server's key is not the pinned one. */
const hostKeyFailure = /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No \S+ host key is known/i;

async function runGitOnce(
  args: string[],
  env: GitEnv,
  cwd: string | undefined,
  extra: Record<string, string>,
): Promise<string> {
  const timeoutMs = env.timeoutMs ?? durations.gitCommandTimeoutMs;
  let r: Awaited<ReturnType<CommandRunner['run']>>;
  try {
    r = await (env.runner ?? sharedRunner).run({
      file: 'git',
      args,
      cwd,
      env: {
        PATH: env.searchPath,
        HOME: env.home,
        XDG_CONFIG_HOME: env.home,
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_CONFIG_GLOBAL: '/dev/null',
        GIT_TERMINAL_PROMPT: '0',
        GIT_ASKPASS: 'true',
        SSH_ASKPASS: 'true',
        GIT_SSH_COMMAND: 'false',
        // file:// repositories may be owned by another user.
        GIT_CONFIG_COUNT: '1',
        GIT_CONFIG_KEY_0: 'safe.directory',
        GIT_CONFIG_VALUE_0: '*',
        LC_ALL: 'C',
        ...extra,
      },
      timeoutMs,
      // Read to the end (git is not cut off mid-answer); more than the limit fails below.
      maxStdout: limits.gitOutputBytesMax,
      overflow: 'drain',
      maxStderr: 64 * 1024,
      signal: env.signal,
    });
  } catch (err) {
    if (env.signal?.aborted) throw new GitError('GIT_FAILED', `git ${args[0]} stopped: the hub is stopping`);
    if (err instanceof RunnerError) throw new GitError('GIT_FAILED', `git ${args[0]}: ${err.message}`);
    throw err;
  }
  if (r.error) {
    throw r.error.code === 'ENOENT'
      ? new GitError('GIT_MISSING', 'git is not installed on the hub (no git in its PATH)')
      : new GitError('GIT_FAILED', `git ${args[0]}: ${r.error.message}`);
  }
  if (env.signal?.aborted) throw new GitError('GIT_FAILED', `git ${args[0]} stopped: the hub is stopping`);
  if (r.killed === 'timeout') {
    throw new GitError('GIT_TIMEOUT', `git ${args[0]} did not finish within ${Math.round(timeoutMs / 1000)}s`);
  }
  if (r.code !== 0) {
    const said = scrub(r.stderr.toString('utf8'), env.secrets);
    const why = lastLines(said, 500) || `exit ${r.code}`;
    const failed = hostKeyFailure.test(said) ? 'GIT_HOST_KEY' : authFailure.test(said) ? 'GIT_AUTH' : 'GIT_FAILED';
    throw new GitError(failed, scrub(`git ${args[0]} failed: ${why}`, env.secrets));
  }
  if (r.outBytes > limits.gitOutputBytesMax) {
    throw new GitError('GIT_FAILED', `git ${args[0]}: more output than ${limits.gitOutputBytesMax} bytes`);
  }
  return r.stdout.toString('utf8');
}

/** What the remote's ref names, as `git ls-remote` lists it: the commit (a tag's peeled commit). */
export function commitOf(lsRemote: string, ref: string): string | undefined {
  let found: string | undefined;
  for (const line of lsRemote.split('\n')) {
    const [sha, name] = line.split('\t');
    if (!sha || !name) continue;
    if (name === `${ref}^{}`) return sha;
    if (name === ref) found = sha;
  }
  return found;
}

/**
 * The commit the remote holds for a GitRepo's branch or revision (ls-remote, which fetches
 * nothing): a full commit id is itself; a tag its commit; a branch its head; neither the
 * remote's HEAD. Rejects with GIT_NO_REF when the remote has no such ref.
 */
export async function remoteCommit(
  env: GitEnv,
  repo: string,
  want: { branch?: string | undefined; revision?: string | undefined },
): Promise<{ commit: string; ref: string | undefined }> {
  if (want.revision && /^[0-9a-f]{40}$/.test(want.revision)) return { commit: want.revision, ref: undefined };
  const refs = want.revision
    ? [`refs/tags/${want.revision}`, `refs/heads/${want.revision}`]
    : want.branch
      ? [`refs/heads/${want.branch}`]
      : ['HEAD'];
  const listed = await runGit(['ls-remote', '--', repo, ...refs, ...refs.map((r) => `${r}^{}`)], env);
  for (const ref of refs) {
    const commit = commitOf(listed, ref);
    if (commit) return { commit, ref };
  }
  const what = want.revision ? `revision ${want.revision}` : want.branch ? `branch ${want.branch}` : 'a HEAD';
  throw new GitError('GIT_NO_REF', `the repository has no ${what}`);
}

/**
 * A shallow checkout of `commit` in `dir` (created before; kept between fetches so that a
 * commit already there is not fetched again): `git init`, fetch that one commit at depth 1,
 * check it out clean.
 */
export async function checkout(env: GitEnv, dir: string, repo: string, ref: string | undefined, commit: string) {
  await runGit(['init', '--quiet', dir], env);
  // Fetch by ref where there is one (every server serves refs; not every one serves a bare commit id).
  const what = ref ? `+${ref}:refs/outpost/fetched` : commit;
  await runGit(['fetch', '--quiet', '--depth', '1', '--no-tags', '--', repo, what], env, dir);
  const fetched = (await runGit(['rev-parse', 'FETCH_HEAD^{commit}'], env, dir)).trim();
  if (fetched !== commit) {
    // The branch moved between ls-remote and fetch: roll out what was fetched, next poll sees it.
    commit = fetched;
  }
  await runGit(['-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--force', '--detach', commit], env, dir);
  await runGit(['clean', '--quiet', '-d', '-f', '-x'], env, dir);
  return commit;
}
