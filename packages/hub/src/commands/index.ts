// External commands (git, kustomize, helm) run from a small helper process, so that their
// spawns never fork the hub on its event loop: runner.ts (the hub's side), helper.ts (the
// helper), protocol.ts (their messages); scratch.ts (a command's private directory, the last
// lines of its error output).
export { type CommandResult, CommandRunner, type CommandSpec, RunnerError, sharedRunner } from './runner.ts';
export { inScratchDir, lastLines } from './scratch.ts';
