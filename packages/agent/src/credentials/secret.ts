// Credentials in a Secret of the spoke cluster, with the usual names (tls.key, tls.crt,
// ca.crt) plus hub.json. The type stays Opaque: kubernetes.io/tls would refuse the
// pending-only set a join writes before it has a certificate, and a Secret's type cannot
// change later. One Secret update is
// atomic, so the whole set changes at once. Updates carry the resourceVersion they read:
// two writers cannot silently overwrite each other.
import { AgentError } from '../errors.ts';
import { describeKubeError, kubeStatus, managedByLabels } from '../kube/errors.ts';
import type { SecretsApi, Secret as V1Secret } from '../kube/secrets.ts';
import type { Entries, EntryStore } from './index.ts';

/** The calls this store makes: get, create and update of one Secret; create of its namespace. */
export type SecretApi = Pick<SecretsApi, 'get' | 'create' | 'replace' | 'createNamespace'>;

export class SecretEntryStore implements EntryStore {
  readonly #api: SecretApi;
  readonly namespace: string;
  readonly name: string;
  readonly description: string;

  constructor(api: SecretApi, namespace: string, name: string) {
    this.#api = api;
    this.namespace = namespace;
    this.name = name;
    this.description = `Secret ${namespace}/${name}`;
  }

  #failed(action: string, err: unknown): AgentError {
    return new AgentError(
      'AGENT_CREDENTIALS_STORE_FAILED',
      `cannot ${action} ${this.description}: ${describeKubeError(err)}`,
      { cause: err },
    );
  }

  async #read(): Promise<V1Secret | undefined> {
    try {
      return await this.#api.get(this.namespace, this.name);
    } catch (err) {
      if (kubeStatus(err) === 404) return undefined;
      throw this.#failed('read', err);
    }
  }

  async load(): Promise<Entries | undefined> {
    const secret = await this.#read();
    if (!secret?.data) return undefined;
    const out: Entries = {};
    for (const [k, v] of Object.entries(secret.data)) out[k] = Buffer.from(v, 'base64').toString('utf8');
    return Object.keys(out).length ? out : undefined;
  }

  #body(entries: Entries, resourceVersion?: string): V1Secret {
    const data: Record<string, string> = {};
    for (const [k, v] of Object.entries(entries)) data[k] = Buffer.from(v, 'utf8').toString('base64');
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: this.name, namespace: this.namespace, labels: managedByLabels, resourceVersion },
      type: 'Opaque',
      data,
    };
  }

  async #create(entries: Entries): Promise<'created' | 'exists'> {
    const attempt = async () => {
      await this.#api.create(this.namespace, this.#body(entries));
      return 'created' as const;
    };
    try {
      return await attempt();
    } catch (err) {
      if (kubeStatus(err) === 409) return 'exists';
      if (kubeStatus(err) !== 404) throw this.#failed('create', err);
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
      if (kubeStatus(err) !== 409) throw this.#failed(`create namespace ${this.namespace} for`, err);
    }
    try {
      return await attempt();
    } catch (err) {
      if (kubeStatus(err) === 409) return 'exists';
      throw this.#failed('create', err);
    }
  }

  async save(entries: Entries): Promise<void> {
    for (let tries = 0; tries < 5; tries++) {
      const current = await this.#read();
      if (!current) {
        if ((await this.#create(entries)) === 'created') return;
        continue; // someone created it meanwhile: read and replace
      }
      const body = this.#body(entries, current.metadata?.resourceVersion);
      // A Secret's type is immutable: keep whatever a person created it with.
      if (current.type) body.type = current.type;
      try {
        await this.#api.replace(this.namespace, this.name, body);
        return;
      } catch (err) {
        if (kubeStatus(err) === 409 || kubeStatus(err) === 404) continue; // changed or deleted meanwhile
        throw this.#failed('update', err);
      }
    }
    throw this.#failed('update', new Error('it kept changing underneath (5 conflicts in a row)'));
  }
}
