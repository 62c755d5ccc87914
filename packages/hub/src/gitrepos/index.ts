// gitrepos/: GitRepos, Git repositories of manifests rolled out across the fleet. A GitRepo
// names a repository, a branch or revision, paths and a placement; its controller (a
// singleton duty) polls the remote with the system git, renders each path's YAML/JSON files
// (render.ts) and writes one ManifestWorkReplicaSet per path, which the workset controller
// rolls out as any other. Its works carry the commit and path (outpost.dev/git-commit,
// outpost.dev/git-path). Private repositories (https credentials, ssh keys with a pinned
// host key) and push webhooks: secrets.ts, their secrets sealed at rest. Kustomize, Helm and
// overrides are refused by name (validate.ts, render.ts): not built yet.
export * from './controller.ts';
export * from './secrets.ts';
export * from './types.ts';
export * from './validate.ts';
