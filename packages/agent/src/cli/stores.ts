// Opens the credential store a configuration names: a directory, or a Secret reached through
// a kubeconfig file or the pod's service account.
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { CredentialsTarget } from '../config/index.ts';
import { FileEntryStore } from '../credentials/files.ts';
import { CredentialStore } from '../credentials/index.ts';
import { SecretEntryStore } from '../credentials/secret.ts';
import { AgentError } from '../errors.ts';

export function openCredentialStore(target: CredentialsTarget): CredentialStore {
  if (target.kind === 'dir') return new CredentialStore(new FileEntryStore(target.dir));
  const kc = new KubeConfig();
  try {
    if (target.kubeconfig) kc.loadFromFile(target.kubeconfig);
    else kc.loadFromCluster();
  } catch (err) {
    throw new AgentError(
      'AGENT_CREDENTIALS_STORE_FAILED',
      `cannot load ${target.kubeconfig ? `kubeconfig ${target.kubeconfig}` : 'the in-cluster service account'}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return new CredentialStore(new SecretEntryStore(kc.makeApiClient(CoreV1Api), target.namespace, target.secretName));
}
