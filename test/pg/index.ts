// test/pg: real, private PostgreSQL servers (Debian's postgresql-15 binaries, provided by
// `outpost_ensure_postgres` in scripts/toolchain.sh) for the store's PostgreSQL tests.
// Start one with startPostgres(); tests sharing it take a database each from createDatabase().
// Fault tests stop, crash or freeze a server, and promote a streaming standby (startStandby).

export type {
  PgBinaries,
  PostgresServer,
  StandbyServer,
  StartPostgresOptions,
  StartStandbyOptions,
} from './server.ts';
export {
  copyDatabase,
  createDatabase,
  dropDatabase,
  locatePgBinaries,
  startPostgres,
  startStandby,
} from './server.ts';
