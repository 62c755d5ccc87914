// Opens the credential store a configuration names: a directory, or a Secret reached through
// a kubeconfig file or the pod's service account.
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { CredentialsTarget } from '../config/index.ts';
import { FileEntryStore } from '../credentials/files.ts';
import { CredentialStore } from '../credentials/index.ts';
import { SecretEntryStore } from '../credentials/secret.ts';
import { AgentError } from '../errors.ts';

/** A kubeconfig file, or the pod's service account when `file` is undefined. */
export function loadKubeConfig(file: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (file) kc.loadFromFile(file);
    else kc.loadFromCluster();
  } catch (err) {
    throw new AgentError(
      'AGENT_CREDENTIALS_STORE_FAILED',
      `cannot load ${file ? `kubeconfig ${file}` : 'the in-cluster service account'}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return kc;
}

export function openCredentialStore(target: CredentialsTarget): CredentialStore {
  if (target.kind === 'dir') return new CredentialStore(new FileEntryStore(target.dir));
  const kc = loadKubeConfig(target.kubeconfig);
  return new CredentialStore(new SecretEntryStore(kc.makeApiClient(CoreV1Api), target.namespace, target.secretName));
}
