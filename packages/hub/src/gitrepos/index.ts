// gitrepos/: GitRepos, Git repositories of manifests rolled out across the fleet. A GitRepo
// names a repository, a branch or revision, paths and a placement; its controller (a
// singleton duty) polls the remote with the system git, renders each path (render.ts: its
// YAML/JSON files, or `kustomize build` / `helm template` of its directory, sandboxed in
// tools.ts) and writes one ManifestWorkReplicaSet per path, which the workset controller
// rolls out as any other. Its works carry the commit and path (outpost.dev/git-commit,
// outpost.dev/git-path). A commit that would delete most of a path's objects waits for an
// admin (breaker.ts). Private repositories (https credentials, ssh keys with a pinned host
// key) and push webhooks: secrets.ts, their secrets sealed at rest. Remote kustomize
// resources and chart repositories are refused by name (validate.ts, tools.ts).
export * from './breaker.ts';
export * from './controller.ts';
export * from './secrets.ts';
export * from './types.ts';
export * from './validate.ts';
