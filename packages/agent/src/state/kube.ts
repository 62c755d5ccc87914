// The agent state as Secrets in the agent's namespace of the spoke cluster, so a restarted
// agent, or another replica, carries on where the last one stopped. Secrets, not
// ConfigMaps: desired works carry Secret manifests, and Secrets are what clusters encrypt
// at rest.
//
//   outpost-agent-state               the index (commit point), gzip JSON, replaced with
//                                     its resourceVersion (optimistic concurrency)
//   outpost-agent-outbox              the status outbox, likewise
//   outpost-work-<h>-g<gen>-<nonce>-<n>  part n of a desired work (h: sha256 of its name)
//   outpost-ledger-<h>-<nonce>-<n>    part n of a work's ledger (h: sha256 of its uid)
//   outpost-held-<nonce>-<n>          part n of the held deletions
//   outpost-outbox-<nonce>-<n>        part n of an outbox too large for one object
//
// Every one carries `outpost.dev/state` (index, outbox, work, ledger, held, outbox-spill),
// so one paginated list (a consistent snapshot at one resourceVersion) loads everything.
// The agent's Role needs get, list, create, update and delete on Secrets in its namespace.
import { describeKubeError, kubeStatus, managedByLabels } from '../kube/errors.ts';
import type { SecretsApi, Secret as V1Secret } from '../kube/secrets.ts';
import type { BackendView, DocName, PartInfo, StateBackend, StoredDoc, WriteResult } from './backend.ts';
import { inParallel } from './blobs.ts';
import { StateError } from './errors.ts';
import { stateLimits } from './limits.ts';
import type { Part } from './model.ts';
import { DurableStateStore, type StateStoreOptions } from './store.ts';

/** The calls this store makes, all on Secrets of one namespace, plus creating that namespace. */
export type StateSecretApi = SecretsApi;

export const stateLabel = 'outpost.dev/state';
export const workUidLabel = 'outpost.dev/work-uid';
export const stateSecretType = 'outpost.dev/agent-state';
export const docSecretNames: Record<DocName, string> = {
  index: 'outpost-agent-state',
  outbox: 'outpost-agent-outbox',
};
const docKeys: Record<DocName, string> = { index: 'index.json.gz', outbox: 'outbox.json.gz' };
const partKey = 'part.gz';
const partLabels = {
  work: 'work',
  ledger: 'ledger',
  held: 'held',
  released: 'released',
  outbox: 'outbox-spill',
} as const;
/** Selects every Secret of the state, and nothing a person labelled by hand without our type. */
const ownSelector = `${stateLabel} in (index,outbox,${Object.values(partLabels).join(',')}),app.kubernetes.io/managed-by=outpost-agent`;
const labelValue = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

export class SecretStateBackend implements StateBackend {
  readonly #api: StateSecretApi;
  readonly namespace: string;
  readonly description: string;
  readonly docBytes: number;
  readonly partBytes: number;

  constructor(api: StateSecretApi, namespace: string, limits: { docBytes?: number; partBytes?: number } = {}) {
    this.#api = api;
    this.namespace = namespace;
    this.description = `Secrets in namespace ${namespace}`;
    this.docBytes = limits.docBytes ?? stateLimits.docBytes;
    this.partBytes = limits.partBytes ?? stateLimits.partBytes;
  }

  #failed(action: string, err: unknown): StateError {
    const status = kubeStatus(err);
    // No answer, the server busy or failing, or a throttle: worth another try later.
    const transient = status === undefined || status === 429 || status >= 500;
    return new StateError(
      'AGENT_STATE_STORE_FAILED',
      `cannot ${action} in ${this.description}: ${describeKubeError(err)}`,
      {
        transient,
        cause: err,
      },
    );
  }

  async view(): Promise<BackendView> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#list();
      } catch (err) {
        // 410: the continue token expired between pages (etcd compacted); list again.
        if (kubeStatus(err) !== 410 || attempt >= 2) throw this.#failed('list the agent state', err);
      }
    }
  }

  async #list(): Promise<BackendView> {
    const secrets: V1Secret[] = [];
    let cont: string | undefined;
    do {
      const page = await this.#api.list(this.namespace, {
        labelSelector: ownSelector,
        limit: stateLimits.listPageSize,
        ...(cont ? { continue: cont } : {}),
      });
      secrets.push(...page.items);
      cont = page.metadata?.continue || undefined;
    } while (cont);
    const byName = new Map<string, V1Secret>();
    // Only what this store wrote: the orphan scan must never touch anyone else's Secret.
    for (const s of secrets) if (s.metadata?.name && s.type === stateSecretType) byName.set(s.metadata.name, s);
    const doc = (name: DocName): StoredDoc | undefined => {
      const s = byName.get(docSecretNames[name]);
      return s ? this.#docOf(name, s) : undefined;
    };
    const docs = new Set(Object.values(docSecretNames));
    const parts: PartInfo[] = [...byName.values()]
      .filter((s) => !docs.has(s.metadata?.name as string))
      .map((s) => {
        const created = s.metadata?.creationTimestamp;
        return { name: s.metadata?.name as string, createdAt: created ? new Date(created).getTime() : undefined };
      });
    return {
      index: doc('index'),
      outbox: doc('outbox'),
      parts,
      readPart: async (name) => {
        const data = byName.get(name)?.data?.[partKey];
        return data === undefined ? undefined : Buffer.from(data, 'base64');
      },
    };
  }

  #docOf(name: DocName, s: V1Secret): StoredDoc | undefined {
    const data = s.data?.[docKeys[name]];
    const version = s.metadata?.resourceVersion;
    if (data === undefined || version === undefined) return undefined;
    return { bytes: Buffer.from(data, 'base64'), version };
  }

  async #read(name: string): Promise<V1Secret | undefined> {
    try {
      return await this.#api.get(this.namespace, name);
    } catch (err) {
      if (kubeStatus(err) === 404) return undefined;
      throw this.#failed(`read Secret ${name}`, err);
    }
  }

  async readDoc(name: DocName): Promise<StoredDoc | undefined> {
    const s = await this.#read(docSecretNames[name]);
    return s ? this.#docOf(name, s) : undefined;
  }

  async writeDoc(name: DocName, bytes: Buffer, version: string | undefined): Promise<WriteResult> {
    const secretName = docSecretNames[name];
    const body: V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: secretName,
        namespace: this.namespace,
        labels: { ...managedByLabels, [stateLabel]: name },
        ...(version !== undefined ? { resourceVersion: version } : {}),
      },
      type: stateSecretType,
      data: { [docKeys[name]]: bytes.toString('base64') },
    };
    try {
      const written =
        version === undefined ? await this.#create(body) : await this.#api.replace(this.namespace, secretName, body);
      const rv = written.metadata?.resourceVersion;
      if (rv === undefined) throw new Error('the API server returned no resourceVersion');
      return { ok: true, version: rv };
    } catch (err) {
      // 409: changed (or created) by another writer; 404: deleted meanwhile. Either way the
      // caller reads again and retries.
      const status = kubeStatus(err);
      if (status === 409 || status === 404) return { ok: false };
      if (err instanceof StateError) throw err;
      throw this.#failed(`write Secret ${secretName}`, err);
    }
  }

  /** Creates a Secret, and the namespace first when it is missing. */
  async #create(body: V1Secret): Promise<V1Secret> {
    try {
      return await this.#api.create(this.namespace, body);
    } catch (err) {
      if (kubeStatus(err) !== 404) throw err;
    }
    // 404 on create: the namespace is missing. Create it rather than read it first, which
    // would need get on namespaces as well.
    try {
      await this.#api.createNamespace({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: this.namespace, labels: managedByLabels },
      });
    } catch (err) {
      if (kubeStatus(err) !== 409) throw this.#failed(`create namespace ${this.namespace}`, err);
    }
    return await this.#api.create(this.namespace, body);
  }

  async writeParts(parts: Part[]): Promise<void> {
    await inParallel(parts, stateLimits.parallelRequests, async (p) => {
      const labels: Record<string, string> = { ...managedByLabels, [stateLabel]: partLabels[p.meta.kind] };
      if (p.meta.workUid !== undefined && labelValue.test(p.meta.workUid)) labels[workUidLabel] = p.meta.workUid;
      const annotations: Record<string, string> = { 'outpost.dev/part': `${p.index + 1}/${p.count}` };
      if (p.meta.workName !== undefined) annotations['outpost.dev/work'] = p.meta.workName;
      const data = p.data.toString('base64');
      const body: V1Secret = {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: p.name, namespace: this.namespace, labels, annotations },
        type: stateSecretType,
        data: { [partKey]: data },
      };
      try {
        await this.#create(body);
      } catch (err) {
        // A retried create whose first attempt went through: the name is unique per write.
        if (kubeStatus(err) === 409 && (await this.#read(p.name))?.data?.[partKey] === data) return;
        if (err instanceof StateError) throw err;
        throw this.#failed(`create Secret ${p.name}`, err);
      }
    });
  }

  async readParts(names: string[]): Promise<(Buffer | undefined)[]> {
    const out: (Buffer | undefined)[] = new Array(names.length).fill(undefined);
    await inParallel([...names.keys()], stateLimits.parallelRequests, async (i) => {
      const data = (await this.#read(names[i] as string))?.data?.[partKey];
      out[i] = data === undefined ? undefined : Buffer.from(data, 'base64');
    });
    return out;
  }

  async deleteParts(names: string[]): Promise<void> {
    await inParallel(names, stateLimits.parallelRequests, async (name) => {
      try {
        await this.#api.delete(this.namespace, name);
      } catch (err) {
        if (kubeStatus(err) !== 404) throw this.#failed(`delete Secret ${name}`, err);
      }
    });
  }
}

/** The agent state in Secrets of `namespace` (default `outpost-agent`). */
export class KubeStateStore extends DurableStateStore {
  readonly backend: SecretStateBackend;

  constructor(
    api: StateSecretApi,
    namespace = 'outpost-agent',
    options: StateStoreOptions & { docBytes?: number; partBytes?: number } = {},
  ) {
    const backend = new SecretStateBackend(api, namespace, options);
    super(backend, options);
    this.backend = backend;
  }
}
