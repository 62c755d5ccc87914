// The command helper: commands run from it (their parent is the helper, not the hub), the
// event loop pays next to nothing to start them, and it does what the hub's own spawns did:
// the whole process group killed at the timeout or on abort, a missing program reported as
// ENOENT, output bounded; a helper that dies fails its commands and is replaced; it goes
// with the hub and does not hold the hub open.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CommandRunner, type CommandSpec, RunnerError } from './runner.ts';

const runner = new CommandRunner();
after(() => runner.close());

const env = { PATH: '/usr/local/bin:/usr/bin:/bin', LC_ALL: 'C' };
const sh = (script: string, o: Partial<CommandSpec> = {}): CommandSpec => ({
  file: '/bin/sh',
  args: ['-c', script],
  env,
  timeoutMs: 30_000,
  maxStdout: 1 << 20,
  overflow: 'kill',
  maxStderr: 64 * 1024,
  ...o,
});

/** `pid` runs (a zombie, killed and not yet reaped by whoever adopted it, does not). */
const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
};

/** The children of `pid` (those its main thread started, as Node's spawns are). */
const childrenOf = (pid: number) =>
  readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number);

/** Waits (bounded) until `pid` is gone. */
async function gone(pid: number, what: string): Promise<void> {
  for (let i = 0; i < 200 && alive(pid); i++) await sleep(50);
  assert.ok(!alive(pid), `${what} (${pid}) is gone`);
}

/** The pid a command printed on its first line (a grandchild it started). */
const firstPid = (out: Buffer) => Number(out.toString().split('\n')[0]);

test('commands are children of the helper, with exactly the environment given', async () => {
  const r = await runner.run(sh('echo $PPID; echo "$SECRET"; env | wc -l', { env: { ...env, SECRET: 's3' } }));
  assert.equal(r.code, 0);
  const [ppid, secret, count] = r.stdout.toString().trim().split('\n');
  assert.equal(Number(ppid), runner.helperPid);
  assert.notEqual(Number(ppid), process.pid);
  assert.equal(secret, 's3');
  // PATH, LC_ALL and SECRET, and what sh sets itself (PWD, maybe SHLVL and _).
  assert.ok(Number(count) <= 6, `${count} variables`);
});

test('at the timeout, or on abort, the whole process group is killed', async () => {
  const started = performance.now();
  const slow = await runner.run(sh('sleep 30 & echo $!; sleep 30', { timeoutMs: 300 }));
  assert.equal(slow.killed, 'timeout');
  assert.equal(slow.signal, 'SIGKILL');
  assert.ok(performance.now() - started < 10_000, 'the grandchild did not hold the run open');
  await gone(firstPid(slow.stdout), 'the grandchild');

  const stop = new AbortController();
  setTimeout(() => stop.abort(), 200);
  const stopped = await runner.run(sh('sleep 30 & echo $!; sleep 30', { signal: stop.signal }));
  assert.equal(stopped.killed, 'kill');
  await gone(firstPid(stopped.stdout), 'the grandchild');

  // Aborted before it is sent: killed as soon as it starts.
  const early = await runner.run(sh('sleep 30', { signal: AbortSignal.abort() }));
  assert.equal(early.killed, 'kill');
});

test('a program that is not there is ENOENT; a failure keeps its exit code and error output', async () => {
  const missing = await runner.run({ ...sh(''), file: 'no-such-program-here', args: [] });
  assert.equal(missing.error?.code, 'ENOENT');
  const failed = await runner.run(sh('echo said >&2; exit 3'));
  assert.equal(failed.code, 3);
  assert.equal(failed.stderr.toString(), 'said\n');
  assert.equal(failed.error, undefined);
});

test('output is bounded: past maxStdout the command is killed, or the rest is read and dropped', async () => {
  const loud = await runner.run({ ...sh(''), file: 'yes', args: [], maxStdout: 1 << 16 });
  assert.equal(loud.killed, 'overflow');
  assert.ok(loud.stdout.length <= 1 << 16);
  assert.ok(loud.outBytes > 1 << 16);

  const drained = await runner.run(
    sh('head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2', {
      maxStdout: 1000,
      maxStderr: 1000,
      overflow: 'drain',
    }),
  );
  assert.equal(drained.code, 0);
  assert.equal(drained.killed, undefined);
  assert.equal(drained.outBytes, 1 << 20);
  assert.equal(drained.errBytes, 1 << 20);
  assert.ok(drained.stdout.length < 1000 + (1 << 17), `${drained.stdout.length} bytes kept`);
  assert.ok(drained.stderr.length < 1000 + (1 << 17), `${drained.stderr.length} bytes kept`);
});

test('output as large as the work limit (16 MiB) comes back whole', async (t) => {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const started = performance.now();
  const r = await runner.run(sh('head -c 16777216 /dev/zero | tr "\\0" x', { maxStdout: 16 << 20, timeoutMs: 60_000 }));
  assert.equal(r.code, 0);
  assert.equal(r.stdout.length, 16 << 20);
  assert.equal(r.stdout.at(-1), 'x'.charCodeAt(0));
  const took = Math.round(performance.now() - started);
  h.disable();
  t.diagnostic(`16 MiB of output through the helper in ${took} ms, event loop max ${(h.max / 1e6).toFixed(1)} ms`);
});

test('a helper that dies fails its running commands, kills their process groups, and is replaced', async () => {
  const own = new CommandRunner();
  try {
    await own.run(sh('true'));
    const first = own.helperPid;
    assert.ok(first);
    const running = own.run(sh('sleep 30 & sleep 30'));
    // The command has started (the helper said so) before the helper is killed.
    let group: number | undefined;
    for (let i = 0; i < 200 && !group; i++) {
      await sleep(20);
      group = childrenOf(first)[0];
    }
    assert.ok(group, 'the command runs');
    process.kill(first, 'SIGKILL');
    await assert.rejects(running, (e: unknown) => {
      assert.ok(e instanceof RunnerError);
      assert.equal(e.code, 'COMMAND_RUNNER_STOPPED');
      return true;
    });
    await gone(group, 'the command of the dead helper');
    const again = await own.run(sh('echo $PPID'));
    assert.equal(again.code, 0);
    assert.ok(own.helperPid && own.helperPid !== first, 'a new helper');
    assert.equal(Number(again.stdout.toString()), own.helperPid);
  } finally {
    await own.close();
  }
});

test('close() kills the running commands and the helper', async () => {
  const own = new CommandRunner();
  const running = own.run(sh('sleep 30 & echo $!; sleep 30'));
  await own.run(sh('true'));
  const helper = own.helperPid;
  assert.ok(helper);
  await own.close();
  await assert.rejects(running, RunnerError);
  await gone(helper, 'the helper');
});

/** A small hub stand-in: a process that runs commands through a runner of its own. */
function standIn(script: string) {
  const url = new URL('./runner.ts', import.meta.url).href;
  const code = `import { CommandRunner } from ${JSON.stringify(url)};\nconst runner = new CommandRunner();\n${script}`;
  return spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
}

/** The first line a stand-in prints; it failing first fails the test (no wait for ever). */
async function firstLine(p: ReturnType<typeof standIn>): Promise<string> {
  const exited = once(p, 'exit').then(([code]) => {
    throw new Error(`the stand-in exited (${code}) before saying anything`);
  });
  const [data] = (await Promise.race([once(p.stdout, 'data'), exited])) as [Buffer];
  return data.toString().trim();
}

test('the helper goes with the hub, killing its commands, and never holds the hub open', async () => {
  // A hub killed outright (no close()): its helper sees the channel close.
  const hub = standIn(`
    runner.run({ file: '/bin/sh', args: ['-c', 'sleep 30 & echo $!; sleep 30'], env: {}, timeoutMs: 60000, maxStdout: 1000, overflow: 'kill', maxStderr: 1000 });
    setInterval(() => {}, 1000);
    const { readFileSync } = await import('node:fs');
    for (let i = 0; i < 200; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const p = runner.helperPid;
      const kids = p ? readFileSync('/proc/' + p + '/task/' + p + '/children', 'utf8').trim() : '';
      if (kids) { console.log(p, kids.split(' ')[0]); break; }
    }
  `);
  const [helper, command] = (await firstLine(hub)).split(' ').map(Number) as [number, number];
  hub.kill('SIGKILL');
  await gone(helper, 'the helper');
  await gone(command, 'its command');

  // A hub with nothing else to do exits once its commands are done (the idle helper is unref'd).
  const idle = standIn(`
    const r = await runner.run({ file: '/bin/sh', args: ['-c', 'echo ok'], env: {}, timeoutMs: 60000, maxStdout: 1000, overflow: 'kill', maxStderr: 1000 });
    console.log(runner.helperPid, r.stdout.toString().trim());
  `);
  const exited = once(idle, 'exit');
  const [idleHelper, said] = (await firstLine(idle)).split(' ');
  assert.equal(said, 'ok');
  const [code] = await exited;
  assert.equal(code, 0);
  await gone(Number(idleHelper), 'the idle helper');
});

test('the event loop is not blocked by the spawns: a hub of 300 MiB running 200 commands', async (t) => {
  // Memory touched, as a busy hub's heap is: a fork copies the page tables of all of it.
  const ballast = Array.from({ length: 300 }, () => Buffer.alloc(1 << 20, 1));
  const n = 200;
  const git = { file: 'git', args: ['--version'], env, timeoutMs: 30_000, maxStdout: 4096, maxStderr: 4096 };
  await runner.run({ ...git, overflow: 'kill' });

  /** Runs the n commands, 8 at a time; returns the time spent in the call that starts each
   *  (the event loop's own cost) and the event loop's delay meanwhile. */
  const measure = async (start: () => Promise<unknown>) => {
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    let inCall = 0;
    let next = 0;
    const lane = async () => {
      while (next++ < n) {
        const t0 = performance.now();
        const p = start();
        inCall += performance.now() - t0;
        await p;
      }
    };
    await Promise.all(Array.from({ length: 8 }, lane));
    h.disable();
    return { inCall, p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
  };
  const viaSpawn = await measure(
    () =>
      new Promise<void>((resolve, reject) => {
        const c = spawn('git', ['--version'], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
        c.stdout.resume();
        c.stderr.resume();
        c.on('error', reject);
        c.on('close', () => resolve());
      }),
  );
  const viaHelper = await measure(() => runner.run({ ...git, overflow: 'kill' }));
  const f = (m: { inCall: number; p99: number; max: number }) =>
    `${(m.inCall / n).toFixed(3)} ms per start, event loop p99 ${m.p99.toFixed(1)} / max ${m.max.toFixed(1)} ms`;
  t.diagnostic(`spawn from this process (${ballast.length} MiB): ${f(viaSpawn)}`);
  t.diagnostic(`through the helper: ${f(viaHelper)}`);
  // Only the relation, with a wide margin: a spawn of this process forks 300 MiB (several
  // milliseconds each), a message to the helper costs some microseconds.
  assert.ok(
    viaHelper.inCall * 5 < viaSpawn.inCall,
    `${viaHelper.inCall} ms in run() vs ${viaSpawn.inCall} ms in spawn()`,
  );
  ballast.length = 0;
});
