// drift/: prompt repair of applied objects deleted or edited by hand.
//   watcher.ts  DriftWatcher: watches the ledger's resources, decides what is drift, asks
//               the syncer to re-apply the work (debounced), counts corrections
//   watch.ts    one list + watch kept alive (bookmarks, resume, 410 relist, backoff)
//   writes.ts   the agent's own writes and deletes, told to the watcher (not drift)
//   status.ts   StatusRefresher: a work's status recomputed from the watched objects'
//               latest states (readiness, feedback) within about a second, rate-bounded

export {
  defaultStatusRefresherOptions,
  refreshedStatus,
  type StatusMonitor,
  StatusRefresher,
  type StatusRefresherOptions,
  type StatusWatchSource,
} from './status.ts';
export {
  defaultWatchOptions,
  keepWatching,
  targetKey,
  type WatchHandlers,
  type WatchOptions,
  type WatchTarget,
} from './watch.ts';
export {
  type DriftLog,
  type DriftMonitor,
  DriftWatcher,
  type DriftWatcherDeps,
  type DriftWatcherOptions,
  defaultDriftOptions,
  fingerprint,
  lastEditor,
} from './watcher.ts';
export { recordWrites, type WriteSink } from './writes.ts';
