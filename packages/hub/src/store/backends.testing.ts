// The store's tests run against both backends: an embedded SQLite database and a real
// PostgreSQL server (test/pg, started once per test file and stopped after it; a new
// database for each store opened). Tests take `backends` and repeat themselves per entry:
//
//   for (const backend of storeBackends()) describe(backend.name, () => { test(…, async () => {
//     const store = await backend.open(); … }) });
import { after } from 'node:test';
import { createDatabase, type PostgresServer, startPostgres } from '../../../../test/pg/index.ts';
import { openPostgresStore, openStore, type Store } from './index.ts';

export interface StoreBackend {
  name: 'sqlite' | 'postgres';
  /** A new, empty, migrated store. */
  open(): Promise<Store>;
}

let server: Promise<PostgresServer> | undefined;
let stopping = false;
let databases = 0;

/** The shared PostgreSQL server of this test file: started on first use, stopped after the
 *  file (storeBackends, called as the file loads, registers that). */
export function postgresServer(): Promise<PostgresServer> {
  if (stopping) throw new Error('the test file is over: its PostgreSQL server is stopped');
  server ??= startPostgres();
  return server;
}

let registered = false;

/** A URL of a new, empty database on the shared server. */
export async function postgresDatabase(): Promise<string> {
  const s = await postgresServer();
  return createDatabase(s.url, `store_${process.pid}_${++databases}`);
}

/** Call as the test file loads (at its top level or in a describe's body). */
export function storeBackends(): StoreBackend[] {
  if (!registered) {
    registered = true;
    after(async () => {
      stopping = true;
      await (await server)?.stop();
    });
  }
  return [
    { name: 'sqlite', open: async () => openStore(':memory:') },
    { name: 'postgres', open: async () => openPostgresStore(await postgresDatabase()) },
  ];
}
