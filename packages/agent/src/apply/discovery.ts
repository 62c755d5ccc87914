// apiVersion + kind → resource (plural) and scope, from the apiserver's discovery.
//
// Aggregated discovery (apidiscovery.k8s.io/v2: two requests, `/api` and `/apis`, for the
// whole cluster) is asked for first; an apiserver that answers the plain documents instead
// is read the old way (`/api/v1`, then every group version under `/apis`). The result is
// cached. A kind the cache does not know causes at most one refresh per apply pass (new
// CRDs), shared by every manifest of that pass that needs it. CRDs the applier itself
// just saw become Established are registered directly from their spec, because discovery
// can trail a new CRD by a moment.
import type { GroupVersionKind } from './kube.ts';
import { groupVersionPath, type RetryPolicy, send } from './kube.ts';
import type { KubeRest } from './rest.ts';

export interface ResourceMapping extends GroupVersionKind {
  resource: string;
  namespaced: boolean;
}

const aggregatedAccept =
  'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';

const keyOf = (g: GroupVersionKind) => `${g.group}/${g.version}/${g.kind}`;

/** A CRD's served versions as mappings (group, kind, plural and scope from its spec). */
export function mappingsFromCrd(crd: unknown): ResourceMapping[] {
  const spec = (crd as { spec?: Record<string, unknown> })?.spec;
  const names = spec?.names as { kind?: string; plural?: string } | undefined;
  const group = spec?.group;
  if (typeof group !== 'string' || !names?.kind || !names.plural) return [];
  const versions = Array.isArray(spec?.versions) ? (spec.versions as { name?: string; served?: boolean }[]) : [];
  return versions
    .filter((v) => typeof v.name === 'string' && v.served !== false)
    .map((v) => ({
      group,
      version: v.name as string,
      kind: names.kind as string,
      resource: names.plural as string,
      namespaced: spec?.scope !== 'Cluster',
    }));
}

export interface DiscoveryOptions {
  retry: RetryPolicy;
  /** Group versions read at once on the non-aggregated path. */
  concurrency: number;
  /** A mapping registered from a CRD is dropped when a refresh started this long after it no longer lists it. */
  registeredGraceMs: number;
  now?: () => number;
}

export class Discovery {
  readonly #rest: KubeRest;
  readonly #o: DiscoveryOptions;
  readonly #now: () => number;
  #discovered = new Map<string, ResourceMapping>();
  readonly #registered = new Map<string, { mapping: ResourceMapping; at: number }>();
  /** Refreshes started so far; a pass remembers this number to refresh at most once. */
  #started = 0;
  /** Which refresh (1-based) the cache holds; 0 before the first. */
  #held = 0;
  #inflight: { index: number; done: Promise<void> } | undefined;
  #failure: { index: number; error: unknown } | undefined;

  constructor(rest: KubeRest, opts: DiscoveryOptions) {
    this.#rest = rest;
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
  }

  /** A mark for an apply pass: lookups with it refresh discovery at most once after it. */
  mark(): number {
    return this.#started;
  }

  #get(gvk: GroupVersionKind): ResourceMapping | undefined {
    const k = keyOf(gvk);
    return this.#discovered.get(k) ?? this.#registered.get(k)?.mapping;
  }

  /**
   * The mapping for `gvk`, refreshing discovery first when it is unknown and the cache
   * predates `mark`. Undefined: the cluster does not serve that kind. Throws when
   * discovery itself fails (apiserver unreachable).
   */
  async lookup(gvk: GroupVersionKind, mark: number, signal?: AbortSignal): Promise<ResourceMapping | undefined> {
    // Bounded: each round either answers or waits for a refresh started after `mark`.
    for (let round = 0; round < 3; round++) {
      const hit = this.#get(gvk);
      if (hit) return hit;
      if (this.#held > mark) return undefined;
      // Discovery already failed during this pass: fail fast rather than ask again per manifest.
      if (this.#failure && this.#failure.index > mark) throw this.#failure.error;
      const inflight = this.#inflight;
      if (inflight && inflight.index > mark) await inflight.done;
      else if (inflight) await inflight.done.catch(() => undefined);
      else await this.refresh(signal);
    }
    return this.#get(gvk);
  }

  /** Forgets a kind the apiserver no longer serves, so the next pass looks it up afresh. */
  forget(gvk: GroupVersionKind): void {
    this.#discovered.delete(keyOf(gvk));
    this.#registered.delete(keyOf(gvk));
  }

  /** Registers mappings learnt from a CRD the applier saw Established. */
  register(mappings: readonly ResourceMapping[]): void {
    const at = this.#now();
    for (const m of mappings) this.#registered.set(keyOf(m), { mapping: m, at });
  }

  /** Reads discovery again (one refresh at a time; concurrent callers share it). */
  refresh(signal?: AbortSignal): Promise<void> {
    if (this.#inflight) return this.#inflight.done;
    const index = ++this.#started;
    const startedAt = this.#now();
    const done = this.#load(signal).then(
      (found) => {
        this.#discovered = found;
        this.#held = index;
        this.#failure = undefined;
        for (const [k, r] of this.#registered) {
          if (found.has(k) || startedAt - r.at > this.#o.registeredGraceMs) this.#registered.delete(k);
        }
      },
      (error: unknown) => {
        this.#failure = { index, error };
        throw error;
      },
    );
    const entry = { index, done };
    this.#inflight = entry;
    const clear = () => {
      if (this.#inflight === entry) this.#inflight = undefined;
    };
    done.then(clear, clear);
    return done;
  }

  async #load(signal?: AbortSignal): Promise<Map<string, ResourceMapping>> {
    const found = new Map<string, ResourceMapping>();
    const add = (m: ResourceMapping) => {
      // Several resources can share a kind (rare); the first listed is the primary one.
      if (!found.has(keyOf(m))) found.set(keyOf(m), m);
    };
    const [core, groups] = await Promise.all(
      ['/api', '/apis'].map((path) =>
        send(this.#rest, { method: 'GET', path, accept: aggregatedAccept, signal }, this.#o.retry),
      ),
    );
    if (!core || !groups) throw new Error('discovery: no answer');
    for (const res of [core, groups]) {
      if (res.status !== 200) throw new Error(`discovery: GET ${res === core ? '/api' : '/apis'}: HTTP ${res.status}`);
    }
    if (core.contentType.includes('apidiscovery.k8s.io') && groups.contentType.includes('apidiscovery.k8s.io')) {
      for (const res of [core, groups]) readAggregated(res.body, add);
      return found;
    }
    // Plain discovery: every group version, not only the preferred one, because a manifest
    // may name any served version.
    const gvs: { group: string; version: string }[] = [];
    for (const v of (core.body as { versions?: string[] }).versions ?? []) gvs.push({ group: '', version: v });
    for (const g of (groups.body as { groups?: { name: string; versions?: { version: string }[] }[] }).groups ?? []) {
      for (const v of g.versions ?? []) gvs.push({ group: g.name, version: v.version });
    }
    let next = 0;
    const worker = async () => {
      while (next < gvs.length) {
        const gv = gvs[next++] as { group: string; version: string };
        const res = await send(
          this.#rest,
          { method: 'GET', path: groupVersionPath(gv.group, gv.version), signal },
          this.#o.retry,
        );
        // An aggregated API that is down (503) hides only its own kinds.
        if (res.status !== 200) continue;
        for (const r of (res.body as { resources?: { name: string; kind: string; namespaced: boolean }[] }).resources ??
          []) {
          if (r.name.includes('/')) continue; // subresources
          add({ ...gv, kind: r.kind, resource: r.name, namespaced: r.namespaced });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#o.concurrency, gvs.length) }, worker));
    return found;
  }
}

function readAggregated(body: unknown, add: (m: ResourceMapping) => void): void {
  const items = (body as { items?: unknown[] }).items ?? [];
  for (const item of items as {
    metadata?: { name?: string };
    versions?: {
      version: string;
      resources?: { resource: string; scope?: string; responseKind?: { kind?: string } }[];
    }[];
  }[]) {
    const group = item.metadata?.name ?? '';
    for (const v of item.versions ?? []) {
      for (const r of v.resources ?? []) {
        const kind = r.responseKind?.kind;
        if (!kind) continue;
        add({ group, version: v.version, kind, resource: r.resource, namespaced: r.scope === 'Namespaced' });
      }
    }
  }
}
