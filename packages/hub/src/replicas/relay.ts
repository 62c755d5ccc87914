// What one hub replica tells the others so that the leader's duties (leader.ts) follow what
// any replica was asked: an admin call that created a placement or changed a workset, a
// status report an agent sent to another replica, a CA rotation. Cluster changes, sightings
// and drops travel by the store itself (store.clusters.onChange hears every hub's). Texts go
// through Store.tell (PostgreSQL NOTIFY, after the sender's commit); on SQLite nothing is
// sent, as one hub does everything. A told event is a hint: the duty re-reads the store, and
// when texts may have been lost (the listening connection dropped) the leader starts its
// duties over.
import type { Logger } from 'pino';
import type { PlacementRequests } from '../scheduling/index.ts';
import type { Store } from '../store/index.ts';

/** What the leader's duties are told (serve.ts wires them). */
export interface DutyInputs {
  placements: PlacementRequests & { requested(namespace: string, name: string): void };
  workSetChanged(namespace: string, name: string): void;
  /** A GitRepo was written, or its push webhook called, on another replica: fetched now. */
  gitRepoChanged(namespace: string, name: string): void;
  /** Status of `works` of `cluster` was stored; `owners`: their worksets (namespace, name). */
  workStatus(cluster: string, owners: readonly [string, string][], works: readonly string[]): void;
  /** Another replica changed the hub PKI (a rotation began or ended). */
  pkiChanged(): void;
  /** Another replica gave up the duties' lease. */
  leaseReleased(): void;
  /** Texts may have been lost: everything is looked at again. */
  reset(): void;
}

/** Largest body of one text (Store.tell). */
const chunk = 6_000;

const key = (namespace: string, name: string) => `${namespace}/${name}`;
const unkey = (k: string): [string, string] => {
  const cut = k.indexOf('/');
  return [k.slice(0, cut), k.slice(cut + 1)];
};

/** `words` in groups whose texts (joined by spaces) stay within `bytes`. */
function chunks(words: readonly string[], bytes: number): string[][] {
  const out: string[][] = [];
  let part: string[] = [];
  let size = 0;
  for (const w of words) {
    if (part.length && size + w.length + 1 > bytes) {
      out.push(part);
      part = [];
      size = 0;
    }
    part.push(w);
    size += w.length + 1;
  }
  if (part.length) out.push(part);
  return out;
}

export class Relay {
  readonly #store: Store;
  readonly #log: Pick<Logger, 'warn' | 'info'>;
  #inputs: DutyInputs | undefined;

  constructor(store: Store, log: Pick<Logger, 'warn' | 'info'>) {
    this.#store = store;
    this.#log = log;
  }

  #tell(topic: string, body: string): void {
    this.#store.tell(topic, body).catch((err: unknown) => {
      // The leader finds it with its next full pass (a restart, a lost listener).
      this.#log.warn({ err, topic }, 'telling the other hubs failed');
    });
  }

  /** Listens to the other hubs; returns the function that stops listening. */
  listen(inputs: DutyInputs): () => Promise<void> {
    this.#inputs = inputs;
    return this.#store.onTold(
      (topic, body) => this.#heard(topic, body),
      () => {
        this.#log.info('texts from other hubs may have been lost; the duties look at everything again');
        inputs.reset();
      },
    );
  }

  #heard(topic: string, body: string): void {
    const inputs = this.#inputs;
    if (!inputs) return;
    const words = body ? body.split(' ') : [];
    switch (topic) {
      case 'placement':
        inputs.placements.requested(...unkey(words[0] ?? ''));
        break;
      case 'placement-gone':
        inputs.placements.forget(...unkey(words[0] ?? ''));
        break;
      case 'sets':
        inputs.placements.setsChanged();
        break;
      case 'workset':
        inputs.workSetChanged(...unkey(words[0] ?? ''));
        break;
      case 'gitrepo':
        inputs.gitRepoChanged(...unkey(words[0] ?? ''));
        break;
      case 'status': {
        // `cluster owner… |` or `cluster | work…` (a batch's owners and works may come apart).
        const [cluster, ...rest] = words;
        const cut = rest.indexOf('|');
        if (cluster && cut >= 0) inputs.workStatus(cluster, rest.slice(0, cut).map(unkey), rest.slice(cut + 1));
        break;
      }
      case 'pki':
        inputs.pkiChanged();
        break;
      case 'lease':
        inputs.leaseReleased();
        break;
    }
  }

  /** The placement requests of admin calls on this hub, told to the others as well. */
  placements(local: PlacementRequests): PlacementRequests {
    return {
      reconcile: async (namespace, name) => {
        this.#tell('placement', key(namespace, name));
        return local.reconcile(namespace, name);
      },
      forget: (namespace, name) => {
        this.#tell('placement-gone', key(namespace, name));
        local.forget(namespace, name);
      },
      setsChanged: () => {
        this.#tell('sets', '');
        local.setsChanged();
      },
    };
  }

  workSetChanged(namespace: string, name: string): void {
    this.#tell('workset', key(namespace, name));
  }

  gitRepoChanged(namespace: string, name: string): void {
    this.#tell('gitrepo', key(namespace, name));
  }

  /**
   * Status of these works of `cluster` is being stored here (owners: their worksets' keys):
   * call it inside the transaction that stores it, so the texts go when it commits and a
   * text that cannot be sent fails the report (the agent sends it again).
   */
  async workStatus(cluster: string, owners: readonly string[], works: readonly string[]): Promise<void> {
    for (const part of chunks([...new Set(owners)], chunk - cluster.length)) {
      await this.#store.tell('status', `${cluster} ${part.join(' ')} |`);
    }
    for (const part of chunks(works, chunk - cluster.length)) {
      await this.#store.tell('status', `${cluster} | ${part.join(' ')}`);
    }
  }

  pkiChanged(): void {
    this.#tell('pki', '');
  }

  leaseReleased(): Promise<void> {
    return this.#store.tell('lease', '');
  }
}
