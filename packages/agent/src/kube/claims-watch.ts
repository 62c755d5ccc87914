// Keeps the cluster's claims (claims.ts) current while the agent leads, and hands each new
// set to `publish`; the agent's runtime sends claims that changed with its next heartbeat.
//
// - The agent's own claims (version, id, nodes, ...) are read at start and every 5 minutes.
// - ClusterClaim objects are listed again whenever a watch on them sees a change (created,
//   changed, deleted: within about a second), and with every read of the agent's own. The
//   watch asks for metadata only: it only says when to list again.
// - The ClusterClaim CRD may be installed, or removed, while the agent runs: its API group
//   is looked at every 10 s, and the watch started or stopped to match.
// A watch the agent may not open (a ClusterRole from before `watch` on clusterclaims was
// granted) or that keeps failing leaves the 5-minute re-read, which still sees every change.
import type { KubeRest, KubeStreamRest } from '../apply/rest.ts';
import { defaultWatchOptions, keepWatching, type WatchOptions } from '../drift/watch.ts';
import { type Clock, systemClock } from '../transport/retry.ts';
import {
  clusterClaims,
  clusterClaimsGroupVersion,
  collectOwnClaims,
  listClusterClaims,
  mergeClaims,
} from './claims.ts';

export interface ClaimsIntervals {
  /** The agent's own claims (and the ClusterClaims with them) are read again this often. */
  rereadMs: number;
  /** Whether the ClusterClaim CRD is served is looked at this often. */
  crdCheckMs: number;
}

export const claimsIntervals: Readonly<ClaimsIntervals> = { rereadMs: 5 * 60_000, crdCheckMs: 10_000 };

export interface ClaimsLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface ClaimsWatchDeps {
  /** Short reads: the agent's own claims, the ClusterClaim lists, discovery. */
  rest: KubeRest;
  /** The watch's long request (it holds a connection for minutes). */
  watchRest: KubeStreamRest;
  log: ClaimsLog;
  /** Called with the claims whenever they differ from the last ones published. */
  publish(claims: Record<string, string>): void;
  clock?: Clock;
  intervals?: Partial<ClaimsIntervals>;
  watchOptions?: WatchOptions;
}

/**
 * Whether the apiserver serves ClusterClaims: true or false from discovery of the group
 * version; undefined when that could not be read (unreachable, refused), so nothing changes.
 */
export async function clusterClaimsServed(rest: KubeRest, signal?: AbortSignal): Promise<boolean | undefined> {
  try {
    const res = await rest.request({ method: 'GET', path: clusterClaimsGroupVersion, signal });
    if (res.status === 404) return false;
    if (res.status !== 200) return undefined;
    const resources = (res.body as { resources?: { name?: string }[] }).resources ?? [];
    return resources.some((r) => r.name === clusterClaims.resource);
  } catch {
    return undefined;
  }
}

/** Keeps the claims current (see the top of this file) until `signal` aborts; never throws. */
export async function keepClaims(d: ClaimsWatchDeps, signal: AbortSignal): Promise<void> {
  const clock = d.clock ?? systemClock;
  const intervals = { ...claimsIntervals, ...d.intervals };
  let own: Record<string, string> | undefined;
  let objects: Record<string, string> = {};
  let published: string | undefined;
  let listDue = true;
  let wake = new AbortController();
  /** Something changed: list the ClusterClaims again (one list for any number of pokes). */
  const poke = () => {
    listDue = true;
    wake.abort();
  };

  // One worker makes every read, so an older list never overwrites a newer one.
  const worker = async () => {
    let rereadAt = Number.NEGATIVE_INFINITY;
    while (!signal.aborted) {
      if (clock.now() >= rereadAt) {
        rereadAt = clock.now() + intervals.rereadMs;
        try {
          own = await collectOwnClaims(d.rest);
        } catch (err) {
          d.log.warn({ err: (err as Error).message }, 'reading the cluster claims failed; trying again later');
        }
        listDue = true;
      }
      if (listDue) {
        listDue = false;
        // Unreadable now (no RBAC, unreachable): keep the last ones known.
        const listed = await listClusterClaims(d.rest);
        if (listed) objects = listed;
      }
      if (own) {
        const claims = mergeClaims(own, objects);
        const text = JSON.stringify(claims);
        if (text !== published) {
          if (published !== undefined) d.log.debug({ claims: Object.keys(claims).length }, 'cluster claims changed');
          published = text;
          d.publish(claims);
        }
      }
      if (listDue || signal.aborted) continue;
      wake = new AbortController();
      await clock
        .sleep(Math.max(0, rereadAt - clock.now()), AbortSignal.any([signal, wake.signal]))
        .catch(() => undefined);
    }
  };

  // The watch runs while the CRD is served.
  const follow = async () => {
    let watching: AbortController | undefined;
    while (!signal.aborted) {
      const served = await clusterClaimsServed(d.rest, signal);
      if (served === true && !watching) {
        watching = new AbortController();
        d.log.debug({}, 'watching ClusterClaims');
        void keepWatching(
          {
            rest: d.watchRest,
            clock,
            options: d.watchOptions ?? defaultWatchOptions,
            log: {
              warn: (obj) => d.log.warn(obj, 'watching ClusterClaims failed; retrying (they are read every 5 minutes)'),
              debug: (obj) => d.log.debug(obj, 'watching ClusterClaims failed; retrying'),
            },
          },
          { ...clusterClaims, metadataOnly: true },
          { listed: poke, event: poke },
          AbortSignal.any([signal, watching.signal]),
        );
      } else if (served === false && watching) {
        d.log.info({}, 'the ClusterClaim CRD is gone; no ClusterClaims are reported');
        watching.abort();
        watching = undefined;
        poke();
      }
      await clock.sleep(intervals.crdCheckMs, signal).catch(() => undefined);
    }
    watching?.abort();
  };

  await Promise.all([worker(), follow()]);
}
