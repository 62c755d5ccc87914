// test/kube: real, isolated Kubernetes API servers (kube-apiserver + etcd, built from Go
// modules by build.sh and cached outside the clone) for integration and end-to-end tests.
// Start one with startCluster(); several may share one etcd from startEtcd().

export type {
  EtcdHandle,
  KubeBinaries,
  KubeCluster,
  StartClusterOptions,
  StartEtcdOptions,
  WaitForOptions,
} from './cluster.ts';
export { ensureKubeBinaries, startCluster, startEtcd, waitFor } from './cluster.ts';
