// The store's statements on a PostgreSQL pool (sql.ts), for several hub replicas sharing one
// database. A statement outside a transaction takes any connection of the pool and commits
// by itself; a transaction holds one connection for its whole body and runs SERIALIZABLE,
// so that it behaves as it does on SQLite (one writer at a time): when PostgreSQL answers
// that it lost a race with another writer (another replica's, or this one's), it rolls back
// and the body runs again, on rows as they are now. The store's statements are written with
// SQLite's parameters (`?`, `@name`); they are numbered ($1 …) here, once per text.
import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { StoreError } from './errors.ts';
import { hasNul, nulText, type Params, type Row, type Sql } from './sql.ts';

/** A statement's text for PostgreSQL and, for `@name` parameters, the names in order. */
interface Translated {
  text: string;
  names: string[] | undefined;
  /** The name it is prepared under on each connection (parsed and planned once there):
   *  12–50 % more statements a second than unnamed ones in the pg-client benchmark. */
  prepared?: string;
}

/** Statements prepared by name: the store's texts are a fixed set, but a text built with a
 *  list of variable length is one per length; past this many, texts run unnamed. */
const preparedLimit = 500;
/** A longer text runs unnamed (each connection would keep its plan). */
const preparedTextBytes = 8_192;

/**
 * `?` and `@name` parameters numbered as PostgreSQL takes them ($1 …), outside quoted
 * strings and identifiers. A text has one kind or the other.
 */
export function numberParameters(text: string): Translated {
  let out = '';
  let n = 0;
  const names: string[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) throw new Error(`unterminated ${c} in statement: ${text}`);
      out += text.slice(i, end + 1);
      i = end;
    } else if (c === '?') {
      out += `$${++n}`;
    } else if (c === '@' && /[A-Za-z_]/.test(text[i + 1] ?? '')) {
      const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i + 1))?.[0] as string;
      let at = names.indexOf(name);
      if (at < 0) at = names.push(name) - 1;
      out += `$${at + 1}`;
      i += name.length;
    } else {
      out += c;
    }
  }
  if (n > 0 && names.length > 0) throw new Error(`a statement takes ? or @name parameters, not both: ${text}`);
  return { text: out, names: names.length ? names : undefined };
}

/** Whether `err` says the database cannot be reached or is going away (not that a statement
 *  is wrong): the network, the server shutting down or starting, a connection lost. */
function unavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  if (/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE)$/.test(code))
    return true;
  // Class 08 (connection exception), 57P01–57P03 (admin shutdown, crash shutdown, cannot
  // connect now), 53300 (too many connections).
  // 25006: a write on a read-only database (a standby not promoted yet).
  if (/^(08...|57P0[123]|53300|25006)$/.test(code)) return true;
  const message = typeof e.message === 'string' ? e.message : '';
  return (
    /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout)/.test(
      message,
    ) ||
    // A standby refuses SERIALIZABLE transactions (0A000, which also names other things).
    /cannot use serializable mode in a hot standby/.test(message)
  );
}

/** The error a caller gets for `err`: STORE_UNAVAILABLE when the database does not answer. */
function storeError(err: unknown): unknown {
  if (!unavailable(err)) return err;
  return new StoreError(
    'STORE_UNAVAILABLE',
    `the database does not answer: ${(err as { message?: string }).message ?? String(err)}`,
  );
}

/** SQLSTATEs of a transaction that lost a race: serialization_failure, deadlock_detected. */
const retried = new Set(['40001', '40P01']);
/** Runs of a transaction body before its failure is the caller's (every work write bumps its
 *  cluster's one revision row: writers of one cluster meet there). */
const attempts = 20;

interface Tx {
  client: pg.PoolClient;
  open: boolean;
  depth: number;
  /** The SQLSTATE of the first statement that failed in it: a body that caught that error
   *  ends with "transaction aborted" (25P02) instead, and is retried all the same. */
  failed?: string;
}

// bigint (COUNT(*), BIGINT columns) as a number, as better-sqlite3 gives it: every integer
// the store keeps is far below 2^53.
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 ? Number : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export class PostgresSql implements Sql {
  readonly dialect = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #translated = new Map<string, Translated>();
  #prepared = 0;
  readonly #context = new AsyncLocalStorage<Tx>();

  constructor(config: pg.PoolConfig, opts: { onError?: (err: unknown) => void } = {}) {
    this.#pool = new pg.Pool({
      // A server that does not answer a connection within 10 s, or a statement within 30 s,
      // counts as down (readiness fails, requests get 503) instead of holding requests;
      // keepalive (after 10 s idle) finds a connection a partition cut silently; idle
      // connections do not keep a stopping process alive.
      connectionTimeoutMillis: 10_000,
      query_timeout: 30_000,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      allowExitOnIdle: true,
      ...config,
      types,
    });
    // An idle connection the server dropped (a restart, a failover): the pool makes another
    // when one is needed; without a listener the error would end the process.
    this.#onError = opts.onError ?? (() => {});
    this.#pool.on('error', (err) => this.#onError(err));
  }

  readonly #onError: (err: unknown) => void;

  get pool(): pg.Pool {
    return this.#pool;
  }

  async #query(text: string, params: Params): Promise<pg.QueryResult> {
    let t = this.#translated.get(text);
    if (!t) {
      t = numberParameters(text);
      if (this.#prepared < preparedLimit && t.text.length <= preparedTextBytes)
        t.prepared = `outpost_${++this.#prepared}`;
      this.#translated.set(text, t);
    }
    const values = t.names
      ? t.names.map((name) => {
          const v = (params as Record<string, unknown>)[name];
          // As better-sqlite3 does: a parameter left out is a mistake, not a NULL.
          if (v === undefined) throw new Error(`statement parameter @${name} is missing: ${text}`);
          return v;
        })
      : (params as unknown[]).map((v) => (v === undefined ? null : v));
    const query = t.prepared ? { name: t.prepared, text: t.text, values } : { text: t.text, values };
    const tx = this.#context.getStore();
    if (!tx?.open) {
      return this.#pool.query(query).catch((err: unknown) => {
        throw storeError(err);
      });
    }
    return tx.client.query(query).catch((err: unknown) => {
      const code = (err as { code?: string }).code;
      // A lost race is what counts, even after another error the body caught.
      if (code && (retried.has(code) || tx.failed === undefined)) tx.failed = code;
      throw storeError(err);
    });
  }

  async all<T = Row>(text: string, params: Params = []): Promise<T[]> {
    if (hasNul(params)) return [];
    return (await this.#query(text, params)).rows as T[];
  }

  async get<T = Row>(text: string, params: Params = []): Promise<T | undefined> {
    if (hasNul(params)) return undefined;
    return (await this.#query(text, params)).rows[0] as T | undefined;
  }

  async run(text: string, params: Params = []): Promise<number> {
    if (hasNul(params)) throw nulText();
    return (await this.#query(text, params)).rowCount ?? 0;
  }

  outside<T>(fn: () => T): T {
    return this.#context.exit(fn);
  }

  inTransaction(): boolean {
    return this.#context.getStore()?.open === true;
  }

  async transaction<T>(fn: () => Promise<T> | T): Promise<T> {
    const outer = this.#context.getStore();
    if (outer?.open) {
      const name = `s${++outer.depth}`;
      await outer.client.query(`SAVEPOINT ${name}`);
      try {
        const value = await fn();
        await outer.client.query(`RELEASE SAVEPOINT ${name}`);
        return value;
      } catch (err) {
        await outer.client.query(`ROLLBACK TO SAVEPOINT ${name}`);
        throw err;
      } finally {
        outer.depth--;
      }
    }
    for (let attempt = 1; ; attempt++) {
      const client = await this.#pool.connect().catch((err: unknown) => {
        throw storeError(err);
      });
      const tx: Tx = { client, open: true, depth: 0 };
      let broken: unknown;
      // A connection that ends while checked out (a failover, the server killed) emits an
      // error event: without a listener it would end the process. The statement under way
      // fails as well, and the connection is not reused.
      const onLost = (err: Error) => {
        broken = err;
        this.#onError(err);
      };
      client.on('error', onLost);
      try {
        await client.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
        const value = await this.#context.run(tx, fn);
        await client.query('COMMIT');
        return value;
      } catch (err) {
        // A connection that is gone or silent is dropped, not asked to roll back (that would
        // wait for it again); the server rolls back what it had.
        if (broken === undefined && unavailable(err)) broken = err;
        if (broken === undefined) {
          await client.query('ROLLBACK').catch((e: unknown) => {
            broken = e;
          });
        }
        const code = (err as { code?: unknown }).code;
        const lost = (typeof code === 'string' && retried.has(code)) || retried.has(tx.failed ?? '');
        if (!lost) throw storeError(err);
        if (attempt >= attempts) {
          // Still losing after every run: a 503 to try again later, not an internal error.
          throw new StoreError(
            'STORE_CONTENDED',
            `the transaction lost to other writers ${attempts} times in a row (SQLSTATE ${String(code ?? tx.failed)})`,
          );
        }
      } finally {
        tx.open = false;
        client.off('error', onLost);
        // A connection that could not roll back, or was lost, is closed, not reused.
        client.release(broken instanceof Error ? broken : undefined);
      }
      // Apart, so that the writers that raced do not meet again at once.
      await sleep(Math.random() * 5 * attempt);
    }
  }

  /**
   * Calls `onMessage` with the payload of every NOTIFY on `channel`, on a connection of its
   * own (LISTEN holds a session). A lost connection is made again (after 0.5 s, up to 5 s
   * apart); once it is back, `onReset` is called: what was sent meanwhile is lost, so the
   * listener looks at everything again. A connection that stops answering (a silent
   * partition) is found by a query every `checkMs`. Returns the function that stops it.
   */
  listen(
    channel: string,
    onMessage: (payload: string) => void,
    onReset: () => void,
    opts: { checkMs?: number; onError?: (err: unknown) => void } = {},
  ): () => Promise<void> {
    const checkMs = opts.checkMs ?? 10_000;
    const config = this.#pool.options;
    let stopped = false;
    let client: pg.Client | undefined;
    let timer: NodeJS.Timeout | undefined;
    let lost = false;
    let delay = 500;
    const connect = async (): Promise<void> => {
      if (stopped) return;
      const c = new pg.Client({ ...config, keepAlive: true, application_name: `outpost-hub ${channel}` });
      const drop = (err?: unknown) => {
        if (client !== c) return;
        client = undefined;
        clearInterval(timer);
        if (err) (opts.onError ?? this.#onError)(err);
        c.end().catch(() => {});
        if (stopped) return;
        lost = true;
        setTimeout(() => void connect(), delay).unref();
        delay = Math.min(delay * 2, 5_000);
      };
      c.on('error', (err) => drop(err));
      c.on('end', () => drop());
      c.on('notification', (n) => {
        if (n.channel !== channel) return;
        try {
          onMessage(n.payload ?? '');
        } catch (err) {
          // A listener's bug must not end the process (it would inside pg's event).
          (opts.onError ?? this.#onError)(err);
        }
      });
      client = c;
      try {
        await c.connect();
        await c.query(`LISTEN ${channel}`);
      } catch (err) {
        drop(err);
        return;
      }
      if (stopped) {
        await c.end().catch(() => {});
        return;
      }
      delay = 500;
      timer = setInterval(() => {
        const check = c.query('SELECT 1');
        const late = setTimeout(() => drop(new Error(`the ${channel} listener's connection did not answer`)), checkMs);
        late.unref();
        check.then(
          () => clearTimeout(late),
          (err: unknown) => {
            clearTimeout(late);
            drop(err);
          },
        );
      }, checkMs);
      timer.unref();
      if (lost) {
        lost = false;
        onReset();
      }
    };
    void connect();
    return async () => {
      stopped = true;
      clearInterval(timer);
      const c = client;
      client = undefined;
      await c?.end().catch(() => {});
    };
  }

  /** Sends `payload` on `channel` to every listener (every replica): when the caller's
   *  transaction commits, or at once outside one. */
  async notify(channel: string, payload: string): Promise<void> {
    await this.run('SELECT pg_notify(?, ?)', [channel, payload]);
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
