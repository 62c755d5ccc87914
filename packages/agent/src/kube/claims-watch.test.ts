// keepClaims against a small fake apiserver (discovery, ClusterClaim lists, one watch stream
// the test feeds): a CRD that appears later is picked up, a watched change is listed and
// published at once, a change the watch cannot see waits for the periodic re-read, and the
// same claims are never published twice.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KubeRequest, KubeResponse, KubeStreamResponse, KubeStreamRest } from '../apply/rest.ts';
import { defaultWatchOptions } from '../drift/watch.ts';
import { agentVersion } from '../version.ts';
import { claimNames } from './claims.ts';
import { keepClaims } from './claims-watch.ts';

const groupVersion = '/apis/cluster.open-cluster-management.io/v1alpha1';
const listPath = `${groupVersion}/clusterclaims`;

/** The cluster: whether the CRD is served, its ClusterClaims, whether a watch is allowed. */
class FakeCluster implements KubeStreamRest {
  crd = false;
  watchStatus = 200;
  claims = new Map<string, string>();
  rv = 1;
  lists = 0;
  watches = 0;
  #feeds = new Set<{ lines: string[]; wake: () => void }>();

  async request(req: KubeRequest): Promise<KubeResponse> {
    const json = (status: number, body: unknown = {}): KubeResponse => ({
      status,
      contentType: 'application/json',
      body,
    });
    if (req.path === groupVersion) {
      return this.crd ? json(200, { resources: [{ name: 'clusterclaims', kind: 'ClusterClaim' }] }) : json(404);
    }
    if (req.path === listPath) {
      if (!this.crd) return json(404);
      this.lists++;
      return json(200, {
        metadata: { resourceVersion: String(this.rv) },
        items: [...this.claims].map(([name, value]) => ({
          metadata: { name, resourceVersion: String(this.rv) },
          spec: { value },
        })),
      });
    }
    return json(404);
  }

  async stream(req: KubeRequest & { idleTimeoutMs: number }): Promise<KubeStreamResponse> {
    assert.equal(req.path, listPath);
    this.watches++;
    if (this.watchStatus !== 200) return { status: this.watchStatus, contentType: 'application/json', body: {} };
    const feed = { lines: [] as string[], wake: () => {} };
    this.#feeds.add(feed);
    const signal = req.signal;
    const feeds = this.#feeds;
    async function* lines(): AsyncIterable<string> {
      try {
        while (!signal?.aborted) {
          const line = feed.lines.shift();
          if (line !== undefined) {
            yield line;
            continue;
          }
          await new Promise<void>((resolve) => {
            feed.wake = resolve;
            signal?.addEventListener('abort', () => resolve(), { once: true });
          });
        }
      } finally {
        feeds.delete(feed);
      }
    }
    return { status: 200, contentType: 'application/json', body: undefined, lines: lines() };
  }

  /** Changes a ClusterClaim (undefined: deletes it), telling the watches when `tell`. */
  set(name: string, value: string | undefined, tell = true): void {
    const type = value === undefined ? 'DELETED' : this.claims.has(name) ? 'MODIFIED' : 'ADDED';
    if (value === undefined) this.claims.delete(name);
    else this.claims.set(name, value);
    this.rv++;
    if (!tell) return;
    const line = JSON.stringify({ type, object: { metadata: { name, resourceVersion: String(this.rv) } } });
    for (const f of this.#feeds) {
      f.lines.push(line);
      f.wake();
    }
  }
}

const silent = { info() {}, warn() {}, debug() {} };

function start(cluster: FakeCluster, intervals: { rereadMs: number; crdCheckMs: number }) {
  const published: Record<string, string>[] = [];
  const stop = new AbortController();
  const done = keepClaims(
    {
      rest: cluster,
      watchRest: cluster,
      log: silent,
      publish: (c) => published.push(c),
      intervals,
      watchOptions: { ...defaultWatchOptions, backoff: { baseMs: 5, maxMs: 20 } },
    },
    stop.signal,
  );
  const last = () => published.at(-1);
  /** Bounded poll until the last published claims pass `check`. */
  const until = async (what: string, check: (c: Record<string, string>) => boolean, timeoutMs = 5_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!check(last() ?? {})) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(last())}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const end = () => {
    stop.abort();
    return done;
  };
  return { published, stop: end, until };
}

describe('keepClaims', () => {
  test('a CRD installed later is picked up; watched changes are published at once, each once', async () => {
    const cluster = new FakeCluster();
    // The re-read is far away: only the CRD check and the watch can make these changes visible.
    const c = start(cluster, { rereadMs: 60 * 60_000, crdCheckMs: 20 });
    try {
      await c.until('the agent’s own claims', (x) => x[claimNames.agentVersion] === agentVersion);
      assert.deepEqual(Object.keys(c.published[0] ?? {}), [claimNames.agentVersion]);

      cluster.crd = true;
      cluster.set('site.example.com', 'fra1', false);
      await c.until('the ClusterClaim once the CRD is served', (x) => x['site.example.com'] === 'fra1');
      await c.until('the watch', () => cluster.watches === 1);

      cluster.set('site.example.com', 'muc2');
      await c.until('the changed value', (x) => x['site.example.com'] === 'muc2');
      cluster.set('rack', 'r9');
      await c.until('a new ClusterClaim', (x) => x.rack === 'r9');
      cluster.set('site.example.com', undefined);
      await c.until('the deleted one gone', (x) => !('site.example.com' in x));

      // The CRD removed: its claims go with it.
      cluster.crd = false;
      await c.until('no ClusterClaims', (x) => !('rack' in x));
      const texts = c.published.map((x) => JSON.stringify(x));
      for (let i = 1; i < texts.length; i++) assert.notEqual(texts[i], texts[i - 1], 'the same claims twice in a row');
      assert.equal(texts.length, 6, texts.join('\n'));
    } finally {
      await c.stop();
    }
  });

  test('a watch the agent may not open leaves the periodic re-read, which still sees changes', async () => {
    const cluster = new FakeCluster();
    cluster.crd = true;
    cluster.watchStatus = 403;
    cluster.set('rack', 'r1', false);
    const c = start(cluster, { rereadMs: 100, crdCheckMs: 20 });
    try {
      await c.until('the ClusterClaim', (x) => x.rack === 'r1');
      await c.until('a refused watch', () => cluster.watches >= 1);
      cluster.set('rack', 'r2', false);
      await c.until('the change, by the re-read', (x) => x.rack === 'r2');
    } finally {
      await c.stop();
    }
  });
});
