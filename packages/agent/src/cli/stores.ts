// Opens the credential store a configuration names: a directory, or a Secret reached through
// a kubeconfig file or the pod's service account.
import { KubeConfigRest, type KubeRest } from '../apply/rest.ts';
import type { CredentialsTarget } from '../config/index.ts';
import { FileEntryStore } from '../credentials/files.ts';
import { CredentialStore } from '../credentials/index.ts';
import { SecretEntryStore } from '../credentials/secret.ts';
import { type KubeConnection, loadInCluster, loadKubeconfigFile } from '../kube/config.ts';
import { SecretsClient } from '../kube/secrets.ts';

type SecretTarget = Extract<CredentialsTarget, { kind: 'secret' }>;

/** The cluster connection of a Secret store: its kubeconfig file, or the pod's service account. */
export function kubeConnection(target: SecretTarget): KubeConnection {
  return target.kubeconfig ? loadKubeconfigFile(target.kubeconfig) : loadInCluster(target.inCluster ?? {});
}

/**
 * The credential store, and a `close` for the connections it opened. A Secret store talks
 * through `rest` when given (`run` shares one pool between all its stores and the applier).
 */
export function openCredentialStore(
  target: CredentialsTarget,
  rest?: KubeRest,
): { store: CredentialStore; close: () => Promise<void> } {
  if (target.kind === 'dir')
    return { store: new CredentialStore(new FileEntryStore(target.dir)), close: async () => {} };
  const own = rest ? undefined : new KubeConfigRest(kubeConnection(target), { connections: 2 });
  const api = new SecretsClient(rest ?? (own as KubeConfigRest));
  const store = new CredentialStore(new SecretEntryStore(api, target.namespace, target.secretName));
  return { store, close: async () => await own?.close() };
}
