// test/pg: real, private PostgreSQL servers (Debian's postgresql-15 binaries, provided by
// `outpost_ensure_postgres` in scripts/toolchain.sh) for the store's PostgreSQL tests.
// Start one with startPostgres(); tests sharing it take a database each from createDatabase().

export type { PgBinaries, PostgresServer, StartPostgresOptions } from './server.ts';
export { createDatabase, locatePgBinaries, startPostgres } from './server.ts';
