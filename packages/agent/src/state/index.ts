// state/: what the agent remembers across restarts and hub outages — the desired works it
// enforces, the objects each work applied (the ledger, the only basis for deleting), the
// deletions held by the mass-delete breaker, and the status outbox — kept durably either
// as Secrets in the agent's namespace (kube.ts) or as files in a directory (files.ts).
//
// Both are one design (store.ts, outbox.ts) over a small backend interface (backend.ts):
// blobs (gzip JSON, split into parts that fit one object) named by an index whose
// optimistic-concurrency update is the commit point of every change, and an outbox
// document replaced the same way on every append. openStateStore() picks the backend.

import { FileStateStore } from './files.ts';
import { KubeStateStore, type StateSecretApi } from './kube.ts';
import type { DurableStateStore, StateStoreOptions } from './store.ts';

export type StateTarget =
  | { readonly kind: 'dir'; readonly dir: string }
  | {
      readonly kind: 'secret';
      /** A SecretsClient (kube/secrets.ts), or any object with the calls the store makes. */
      readonly api: StateSecretApi;
      /** The agent's namespace (default `outpost-agent`). */
      readonly namespace?: string;
    };

/** Opens (does not load) the state store `target` names. */
export function openStateStore(target: StateTarget, options: StateStoreOptions = {}): DurableStateStore {
  if (target.kind === 'dir') return new FileStateStore(target.dir, options);
  return new KubeStateStore(target.api, target.namespace, options);
}

export type { BackendView, DocName, StateBackend, StoredDoc } from './backend.ts';
export { isStateError, StateError, type StateErrorCode, stateErrorCodes } from './errors.ts';
export { FileStateBackend, FileStateStore } from './files.ts';
export {
  docSecretNames,
  KubeStateStore,
  SecretStateBackend,
  type StateSecretApi,
  stateLabel,
  stateSecretType,
  workUidLabel,
} from './kube.ts';
export { stateDurations, stateLimits } from './limits.ts';
export { compactReports, DurableOutbox, oldestHistory, transitionKey } from './outbox.ts';
export { DurableStateStore, type StateLog, type StateStoreOptions } from './store.ts';
