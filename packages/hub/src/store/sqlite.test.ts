import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { SqliteSql } from './sqlite.ts';

function open(): SqliteSql {
  const sql = new SqliteSql(new Database(':memory:'));
  sql.db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)');
  return sql;
}

const value = async (sql: SqliteSql, k: string) =>
  (await sql.get<{ v: number }>('SELECT v FROM t WHERE k = ?', [k]))?.v;

test('a statement from outside an open transaction waits for its commit, and never joins it', async () => {
  const sql = open();
  let release = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const tx = sql.transaction(async () => {
    await sql.run('INSERT INTO t (k, v) VALUES (@k, @v)', { k: 'a', v: 1 });
    await held;
    await sql.run('UPDATE t SET v = 2 WHERE k = ?', ['a']);
    return 'done';
  });
  // Outside the transaction: neither the read nor the write may see or join it.
  const read = value(sql, 'a');
  const write = sql.run('INSERT INTO t (k, v) VALUES (?, ?)', ['b', 1]);
  await nextTurn();
  let settled = false;
  void Promise.all([read, write]).then(() => {
    settled = true;
  });
  await nextTurn();
  assert.equal(settled, false, 'they wait while the transaction holds the connection');
  release();
  assert.equal(await tx, 'done');
  assert.equal(await read, 2, 'the read ran after the commit');
  assert.equal(await write, 1);
  assert.equal(await value(sql, 'b'), 1);
  await sql.close();
});

test('a transaction that throws rolls back what it wrote, and a statement from outside is not rolled back with it', async () => {
  const sql = open();
  let release = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const failing = sql.transaction(async () => {
    await sql.run('INSERT INTO t (k, v) VALUES (?, ?)', ['a', 1]);
    await held;
    throw new Error('boom');
  });
  const outside = sql.run('INSERT INTO t (k, v) VALUES (?, ?)', ['b', 1]);
  release();
  await assert.rejects(failing, /boom/);
  assert.equal(await outside, 1);
  assert.equal(await value(sql, 'a'), undefined);
  assert.equal(await value(sql, 'b'), 1);
  assert.equal(sql.inTransaction(), false);
  await sql.close();
});

test('a transaction inside another is a savepoint: its failure rolls back only its own writes', async () => {
  const sql = open();
  await sql.transaction(async () => {
    assert.equal(sql.inTransaction(), true);
    await sql.run('INSERT INTO t (k, v) VALUES (?, ?)', ['outer', 1]);
    await assert.rejects(
      sql.transaction(async () => {
        await sql.run('INSERT INTO t (k, v) VALUES (?, ?)', ['inner', 1]);
        throw new Error('inner fails');
      }),
      /inner fails/,
    );
    await sql.transaction(() => sql.run('INSERT INTO t (k, v) VALUES (?, ?)', ['kept', 1]));
  });
  assert.deepEqual(
    (await sql.all<{ k: string }>('SELECT k FROM t ORDER BY k')).map((r) => r.k),
    ['kept', 'outer'],
  );
  await sql.close();
});

test('transactions run one after another, in the order they were asked for', async () => {
  const sql = open();
  await sql.run('INSERT INTO t (k, v) VALUES (?, ?)', ['n', 0]);
  // Read-modify-write in each: interleaved, increments would be lost.
  const bump = () =>
    sql.transaction(async () => {
      const v = (await value(sql, 'n')) as number;
      await nextTurn();
      await sql.run('UPDATE t SET v = ? WHERE k = ?', [v + 1, 'n']);
      return v + 1;
    });
  const results = await Promise.all(Array.from({ length: 20 }, bump));
  assert.deepEqual(
    results,
    Array.from({ length: 20 }, (_, i) => i + 1),
  );
  assert.equal(await value(sql, 'n'), 20);
  await sql.close();
});

test('work a transaction left behind runs outside it once it has ended', async () => {
  const sql = open();
  let later: Promise<number> | undefined;
  await sql.transaction(async () => {
    await sql.run('INSERT INTO t (k, v) VALUES (?, ?)', ['a', 1]);
    later = new Promise((resolve, reject) => {
      setTimeout(() => sql.run('UPDATE t SET v = 5 WHERE k = ?', ['a']).then(resolve, reject), 5);
    });
  });
  assert.equal(await later, 1);
  assert.equal(sql.inTransaction(), false);
  // It committed on its own: a rollback of nothing else can take it back.
  await assert.rejects(
    sql.transaction(async () => {
      await sql.run('UPDATE t SET v = 9 WHERE k = ?', ['a']);
      throw new Error('undo');
    }),
  );
  assert.equal(await value(sql, 'a'), 5);
  await sql.close();
});

test('what a transaction starts outside() makes its statements on its own, even while the transaction is open', async () => {
  const sql = open();
  let timerWrite: Promise<number> | undefined;
  let joined: boolean | undefined;
  const tx = sql.transaction(async () => {
    await sql.run('INSERT INTO t (k, v) VALUES (?, ?)', ['a', 1]);
    await new Promise<void>((resolve) => {
      sql.outside(() =>
        setTimeout(() => {
          joined = sql.inTransaction();
          timerWrite = sql.run('INSERT INTO t (k, v) VALUES (?, ?)', ['timer', 1]);
          resolve();
        }, 5),
      );
    });
    throw new Error('roll back');
  });
  await assert.rejects(tx, /roll back/);
  assert.equal(joined, false, 'the timer ran outside the open transaction');
  assert.equal(await timerWrite, 1);
  assert.equal(await value(sql, 'timer'), 1, 'its write is not rolled back with the transaction');
  assert.equal(await value(sql, 'a'), undefined);
  await sql.close();
});
