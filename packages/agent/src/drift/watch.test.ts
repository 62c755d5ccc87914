import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KubeObject } from '../apply/kube.ts';
import type { KubeRequest, KubeResponse, KubeStreamResponse, KubeStreamRest } from '../apply/rest.ts';
import { KubeUnreachableError } from '../apply/rest.ts';
import type { Clock } from '../transport/retry.ts';
import { defaultWatchOptions, keepWatching, type WatchEventType, type WatchOptions } from './watch.ts';

/** Now moves only when the loop sleeps (or a fake stream says time passed); every wait is recorded. */
function fakeClock(random = () => 0.5): Clock & { waits: number[]; t: number } {
  const clock = {
    t: 1_000_000,
    waits: [] as number[],
    now: () => clock.t,
    random,
    sleep: async (ms: number, signal?: AbortSignal) => {
      clock.waits.push(ms);
      clock.t += ms;
      await new Promise((r) => setImmediate(r));
      if (signal?.aborted) throw signal.reason;
    },
  };
  return clock;
}

type Step =
  | { list: KubeObject[]; rv: string; status?: number }
  | { watch: unknown[]; status?: number; elapseMs?: number; breakWith?: Error }
  | { throws: Error };

const obj = (name: string, rv: string): KubeObject => ({ metadata: { name, uid: `uid-${name}`, resourceVersion: rv } });
const ev = (type: string, o: KubeObject) => ({ type, object: o });

/** A KubeStreamRest that plays `steps` in order (lists on request(), watches on stream()); aborts after the last. */
class ScriptedRest implements KubeStreamRest {
  readonly calls: { kind: 'list' | 'watch'; query: KubeRequest['query'] }[] = [];
  readonly #steps: Step[];
  readonly #stop: AbortController;
  readonly #clock: { t: number };

  constructor(steps: Step[], stop: AbortController, clock: { t: number }) {
    this.#steps = steps;
    this.#stop = stop;
    this.#clock = clock;
  }

  #next(kind: 'list' | 'watch', req: KubeRequest): Step {
    this.calls.push({ kind, query: req.query });
    const step = this.#steps.shift();
    if (!step) {
      this.#stop.abort();
      throw new Error('script done');
    }
    if ('throws' in step) throw step.throws;
    assert.ok(
      kind === 'list' ? 'list' in step : 'watch' in step,
      `expected a ${kind} step, got ${JSON.stringify(step)}`,
    );
    return step;
  }

  async request(req: KubeRequest): Promise<KubeResponse> {
    const step = this.#next('list', req) as Extract<Step, { list: unknown }>;
    if (step.status && step.status !== 200) {
      return { status: step.status, contentType: 'application/json', body: { kind: 'Status', message: 'nope' } };
    }
    return {
      status: 200,
      contentType: 'application/json',
      body: { metadata: { resourceVersion: step.rv }, items: step.list },
    };
  }

  async stream(req: KubeRequest & { idleTimeoutMs: number }): Promise<KubeStreamResponse> {
    const step = this.#next('watch', req) as Extract<Step, { watch: unknown }>;
    if (step.status && step.status !== 200) {
      return { status: step.status, contentType: 'application/json', body: { kind: 'Status', message: 'gone' } };
    }
    const clock = this.#clock;
    async function* lines() {
      for (const e of step.watch) yield JSON.stringify(e);
      clock.t += step.elapseMs ?? 0;
      if (step.breakWith) throw step.breakWith;
    }
    return { status: 200, contentType: 'application/json', body: undefined, lines: lines() };
  }
}

async function play(steps: Step[], options: Partial<WatchOptions> = {}, random?: () => number) {
  const clock = fakeClock(random);
  const stop = new AbortController();
  const rest = new ScriptedRest(steps, stop, clock);
  const seen: string[] = [];
  const warnings: object[] = [];
  await keepWatching(
    {
      rest,
      clock,
      log: { warn: (o) => warnings.push(o), debug: () => {} },
      options: { ...defaultWatchOptions, ...options },
    },
    { group: 'apps', version: 'v1', resource: 'deployments', namespace: 'shop' },
    {
      listed: (objects) => seen.push(`listed ${objects.map((o) => o.metadata?.name).join(',')}`),
      event: (type: WatchEventType, o) => seen.push(`${type} ${o.metadata?.name}@${o.metadata?.resourceVersion}`),
    },
    stop.signal,
  );
  return { rest, clock, seen, warnings };
}

describe('keepWatching', () => {
  test('lists, then watches from the list resourceVersion with bookmarks; resumes a finished watch where it was', async () => {
    const { rest, seen, clock } = await play([
      { list: [obj('a', '5')], rv: '10' },
      {
        watch: [ev('MODIFIED', obj('a', '11')), ev('BOOKMARK', { metadata: { resourceVersion: '15' } })],
        elapseMs: 300_000,
      },
      { watch: [ev('DELETED', obj('a', '16'))] },
    ]);
    assert.deepEqual(seen, ['listed a', 'MODIFIED a@11', 'DELETED a@16']);
    const [list, w1, w2] = rest.calls;
    assert.equal(list?.kind, 'list');
    assert.equal(list?.query?.limit, '500');
    assert.equal(w1?.kind, 'watch');
    assert.equal(w1?.query?.resourceVersion, '10');
    assert.equal(w1?.query?.allowWatchBookmarks, 'true');
    assert.equal(w1?.query?.watch, '1');
    // 300 s × (1 + random 0.5): client-go's spread of watch timeouts.
    assert.equal(w1?.query?.timeoutSeconds, '450');
    assert.equal(w2?.query?.resourceVersion, '15', 'resumed after the bookmark, without a new list');
    assert.deepEqual(clock.waits, [], 'a watch that ended normally is resumed at once');
  });

  test('410 Gone, as an answer or as an ERROR event, lists again', async () => {
    const { rest, seen, clock } = await play([
      { list: [obj('a', '5')], rv: '10' },
      { watch: [ev('ADDED', obj('b', '12')), ev('ERROR', { kind: 'Status', code: 410, message: 'too old' })] },
      { list: [obj('a', '5'), obj('b', '12')], rv: '40' },
      { watch: [ev('MODIFIED', obj('b', '41'))], elapseMs: 20_000 },
      { watch: [], status: 410 },
      { list: [], rv: '90' },
    ]);
    assert.deepEqual(seen, ['listed a', 'ADDED b@12', 'listed a,b', 'MODIFIED b@41', 'listed ']);
    assert.deepEqual(
      rest.calls.map((c) => `${c.kind}${c.query?.resourceVersion ? `@${c.query.resourceVersion}` : ''}`),
      ['list', 'watch@10', 'list', 'watch@40', 'watch@41', 'list', 'watch@90'],
    );
    assert.deepEqual(clock.waits, [], 'a 410 after a working watch relists at once');
  });

  test('failures back off with full jitter, doubling up to the cap; a working watch resets the backoff', async () => {
    const boom = new KubeUnreachableError('refused');
    const { rest, clock, warnings } = await play(
      [
        { throws: boom }, // list
        { list: [], rv: '', status: 403 }, // list refused
        { list: [], rv: '', status: 403 },
        { list: [], rv: '7' },
        { watch: [], status: 500 },
        { watch: [] }, // ends at once without anything: a failure too
        { watch: [ev('ADDED', obj('a', '8'))], breakWith: new KubeUnreachableError('reset') },
        { watch: [], status: 500 },
      ],
      { backoff: { baseMs: 100, maxMs: 1_000 } },
      () => 0.99,
    );
    // random 0.99 of min(1000, 100·2^n), then back to the start after the watch delivered an event.
    assert.deepEqual(
      clock.waits.map((w) => Math.round(w)),
      [99, 198, 396, 792, 990, 99, 198],
    );
    assert.equal(rest.calls.at(-1)?.query?.resourceVersion, '8', 'a broken watch resumes from its last event');
    // The same problem twice is said once at warn (a lasting 403 does not flood the log).
    assert.equal(warnings.length, 6);
  });

  test('stops when its signal aborts, also while waiting', async () => {
    const clock = fakeClock();
    const stop = new AbortController();
    const rest: KubeStreamRest = {
      request: async () => {
        stop.abort();
        throw new KubeUnreachableError('refused');
      },
      stream: async () => assert.fail('no watch after abort'),
    };
    await keepWatching(
      { rest, clock, log: { warn: () => {}, debug: () => {} }, options: defaultWatchOptions },
      { group: '', version: 'v1', resource: 'namespaces', namespace: '' },
      { listed: () => {}, event: () => {} },
      stop.signal,
    );
    assert.deepEqual(clock.waits, []);
  });
});
