// Sizes, counts and intervals of the durable agent state, in one place. They belong beside
// the project's own limits.ts and durations.ts in @outpost/shared once state/ settles there.

export const stateLimits = {
  /**
   * Largest part of a stored blob (compressed bytes). A Secret holds at most 1 MiB of data
   * and etcd refuses requests over ~1.5 MiB; 768 KiB leaves room for metadata, base64 on
   * the wire and stores such as kine with tighter limits.
   */
  partBytes: 768 * 1024,
  /** Largest index or outbox document (compressed bytes), for the same 1 MiB reason. */
  docBytes: 900 * 1024,
  /**
   * A blob whose compressed form is at most this size is kept inside the index instead of
   * in objects of its own: most ledgers and small works then cost no extra object.
   */
  inlineBytes: 2 * 1024,
  /** Compressed bytes the index may carry inline in all (keeps the index well under docBytes). */
  inlineTotalBytes: 256 * 1024,
  /** Older reports the outbox keeps besides the latest one per work (transitions only). */
  outboxHistory: 20,
  /** Parts created or deleted at once. */
  parallelRequests: 4,
  /** Objects per page when the whole state is listed at load. */
  listPageSize: 8,
} as const;

export const stateDurations = {
  /**
   * Parts nobody references are deleted once this old. Younger ones may be another
   * replica's save in flight (written, index not yet switched); parts this process wrote
   * and did not commit are deleted at once.
   */
  orphanGraceMs: 5 * 60_000,
  /** A file-store lock older than this is taken to be left by a crashed process. */
  fileLockStaleMs: 30_000,
  /** How long a file-store writer waits for the lock. */
  fileLockWaitMs: 10_000,
  /**
   * How long a save keeps retrying while other writers win the race for the index or the
   * outbox. Every lost race is someone else's progress, so this only ends a pathological
   * case; a count would starve a replica behind a busy one.
   */
  conflictRetryMs: 30_000,
  /**
   * The last answered poll is saved in the index at most this often: the index is one
   * Secret of up to several hundred KiB, rewritten whole, so once every 5 minutes while the
   * hub answers, none while it is away, enough for `outpost-agent status` to say when a
   * stopped agent last heard the hub.
   */
  polledRecordMs: 5 * 60_000,
} as const;
