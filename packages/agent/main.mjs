// outpost-agent's entry point. Plain JavaScript on purpose: it turns on Node's compile cache
// before any TypeScript is loaded, so a started agent reuses the type-stripped and compiled
// code of its last start instead of loading the TypeScript stripper again (about 25 MiB of
// resident memory saved, and a faster start). The cache lives in NODE_COMPILE_CACHE when set,
// else in the system temp folder; a read-only or missing folder only costs the saving.
//
// It also tells V8 to favour memory over speed. Without that, one large apply pass grows the
// young generation to its 32 MiB maximum and V8 keeps it; with it the young generation stays
// at 1-2 MiB and collections run more often. V8 reads this flag at every collection, so
// setting it here, after start, takes effect (measured: a 1,000-object work's resident
// memory 134 -> under 100 MiB, see test/bench/results/delivery.json).
//
// And it bounds what glibc's allocator keeps of memory the agent freed, which it can only
// be told through the environment at process start: so, unless any of these is set
// already, the entry point replaces itself (execve: same pid, nothing loaded yet) with
// the same command and these added. By default glibc serves a large block (a response
// body, a state blob) from the heap once a block that large was freed, and keeps freed
// heap memory that sits below a live block; each thread pool thread gets an arena of
// its own. Measured with six operator-like works (17 large CRDs, one 5 MB work): after
// delivery, 32 MiB of the main heap was freed-but-kept memory. The thresholds make large
// blocks separate mappings, returned when freed; two arenas are enough for a process
// whose work is on one thread. musl and other allocators ignore these variables.
import { enableCompileCache } from 'node:module';
import { setFlagsFromString } from 'node:v8';

const allocatorEnv = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_MMAP_THRESHOLD_: '131072',
  MALLOC_TRIM_THRESHOLD_: '131072',
};
if (
  process.platform === 'linux' &&
  typeof process.execve === 'function' &&
  !Object.keys(allocatorEnv).some((k) => k in process.env)
) {
  try {
    process.execve(process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
      ...process.env,
      ...allocatorEnv,
    });
  } catch {
    // Not permitted here (a sandbox, a seccomp profile): run with the allocator's defaults.
  }
}

setFlagsFromString('--optimize-for-size');

try {
  enableCompileCache();
} catch {
  // Older or restricted runtimes: run without the cache.
}
await import('./src/main.ts');
