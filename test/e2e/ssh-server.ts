// A real OpenSSH server on loopback for tests: Debian's sshd (scripts/toolchain.sh
// outpost_ensure_sshd installs it, never starting the system's service), started on a free
// 127.0.0.1 port with a configuration, a host key and an authorized_keys of its own, serving
// Git only (a forced command: git-shell, which runs git-upload-pack and nothing else). The
// client key it accepts and its host key's known_hosts line are made here too.
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The sshd binary: OUTPOST_SSHD_BIN, else Debian's; undefined when there is none. */
export async function sshdBinary(): Promise<string | undefined> {
  for (const bin of [process.env.OUTPOST_SSHD_BIN, '/usr/sbin/sshd']) {
    if (!bin) continue;
    try {
      await run(bin, ['-V']).catch((e: { stderr?: string }) => {
        // `sshd -V` prints its version on stderr and exits 1 on older versions.
        if (!/OpenSSH/.test(e.stderr ?? '')) throw e;
      });
      return bin;
    } catch {}
  }
  return undefined;
}

/** A new ed25519 key pair: the private key's text and the public key's line. */
export async function sshKeyPair(dir: string, name: string): Promise<{ privateKey: string; publicKey: string }> {
  const file = join(dir, name);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file]);
  return { privateKey: await readFile(file, 'utf8'), publicKey: (await readFile(`${file}.pub`, 'utf8')).trim() };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface SshServer {
  port: number;
  user: string;
  /** The known_hosts line that pins this server's host key. */
  knownHosts: string;
  /** The private key the server lets in (its public key is in authorized_keys). */
  clientKey: string;
  /** ssh://USER@127.0.0.1:PORT/ABSOLUTE-PATH */
  url(path: string): string;
  output(): string;
  stop(): Promise<void>;
}

export async function startSshServer(sshd: string): Promise<SshServer> {
  const dir = await mkdtemp(join(tmpdir(), 'outpost-sshd-'));
  const host = await sshKeyPair(dir, 'host_key');
  const client = await sshKeyPair(dir, 'client_key');
  const user = userInfo().username;
  // Only Git: git-shell runs git-upload-pack (fetches) and refuses anything else.
  await writeFile(
    join(dir, 'authorized_keys'),
    `restrict,command="git-shell -c \\"$SSH_ORIGINAL_COMMAND\\"" ${client.publicKey}\n`,
    { mode: 0o600 },
  );
  const port = await freePort();
  const config = [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${join(dir, 'host_key')}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    `AllowUsers ${user}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    'PermitUserEnvironment no',
    'AllowTcpForwarding no',
    'X11Forwarding no',
    'LogLevel VERBOSE',
  ].join('\n');
  await writeFile(join(dir, 'sshd_config'), `${config}\n`, { mode: 0o600 });
  // sshd running as root wants its privilege-separation directory.
  if (process.getuid?.() === 0) await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  let out = '';
  const proc = spawn(sshd, ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`sshd exited: ${out}`);
    const up = await new Promise<boolean>((r) => {
      const c = connect(port, '127.0.0.1', () => {
        c.destroy();
        r(true);
      });
      c.once('error', () => r(false));
    });
    if (up) break;
    if (Date.now() > deadline) throw new Error(`sshd did not listen on ${port}: ${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const [type, key] = host.publicKey.split(' ');
  return {
    port,
    user,
    knownHosts: `[127.0.0.1]:${port} ${type} ${key}`,
    clientKey: client.privateKey,
    url: (path) => `ssh://${user}@127.0.0.1:${port}${path}`,
    output: () => out,
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
