import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Code, FlotillaError } from '../../../src/core/errors.js';
import { openSqlStore, toPostgresPlaceholders, type SqlStore } from '../../../src/core/sql/index.js';
import { startPostgres, tempDir, type Cleanup } from '../../testkit/index.js';

const migrations = [
  {
    id: 1,
    sqlite: 'CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, done INTEGER NOT NULL, at_ms INTEGER NOT NULL)',
    postgres: 'CREATE TABLE items (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE, done INTEGER NOT NULL, at_ms BIGINT NOT NULL)',
  },
  { id: 2, sqlite: "ALTER TABLE items ADD COLUMN note TEXT NOT NULL DEFAULT 'a;b'", postgres: "ALTER TABLE items ADD COLUMN note TEXT NOT NULL DEFAULT 'a;b'" },
  { id: 3, sql: 'CREATE INDEX items_done ON items (done); CREATE INDEX items_at ON items (at_ms)' },
];

/** One contract, run against SQLite and a real PostgreSQL. */
function contract(name: string, open: (owner: Cleanup) => Promise<SqlStore>): void {
  describe(`SQL store: ${name}`, () => {
    const cleanups: (() => unknown)[] = [];
    const owner: Cleanup = { after: (fn) => cleanups.push(fn) };
    let store: SqlStore;
    before(async () => {
      store = await open(owner);
      await store.migrate('test', migrations);
      await store.migrate('test', migrations); // applied once only
    });
    after(async () => {
      await store?.close();
      for (const fn of cleanups.reverse()) await fn();
    });

    it('runs, reads, and keeps booleans and millisecond times as numbers', async () => {
      const at = Date.UTC(2026, 10, 23, 12, 0, 0);
      const r = await store.run('INSERT INTO items (name, done, at_ms) VALUES (?, ?, ?)', ['first', true, at]);
      assert.equal(r.changes, 1);
      const row = await store.get<{ name: string; done: number; at_ms: number; note: string }>('SELECT name, done, at_ms, note FROM items WHERE name = ?', ['first']);
      assert.deepEqual({ ...row }, { name: 'first', done: 1, at_ms: at, note: 'a;b' });
      assert.equal(await store.get('SELECT * FROM items WHERE name = ?', ['nope']), undefined);
    });

    it('does not treat a ? inside a string literal as a placeholder', async () => {
      await store.run("INSERT INTO items (name, done, at_ms) VALUES ('what?', ?, ?)", [0, 1]);
      assert.equal((await store.all<{ name: string }>("SELECT name FROM items WHERE name = 'what?'")).length, 1);
    });

    it('commits a transaction as a whole and rolls it back on error', async () => {
      await store.transaction(async (tx) => {
        await tx.run('INSERT INTO items (name, done, at_ms) VALUES (?, 0, 0)', ['tx-a']);
        await tx.transaction(async (inner) => inner.run('INSERT INTO items (name, done, at_ms) VALUES (?, 0, 0)', ['tx-b']));
      });
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.run('INSERT INTO items (name, done, at_ms) VALUES (?, 0, 0)', ['tx-c']);
          throw new Error('changed my mind');
        }),
        /changed my mind/,
      );
      const names = (await store.all<{ name: string }>("SELECT name FROM items WHERE name LIKE 'tx-%' ORDER BY name")).map((r) => r.name);
      assert.deepEqual(names, ['tx-a', 'tx-b']);
    });

    it('serializes concurrent transactions without losing an update', async () => {
      await store.run("INSERT INTO items (name, done, at_ms) VALUES ('counter', 0, 0)");
      await Promise.all(
        Array.from({ length: 20 }, () =>
          store.transaction(async (tx) => {
            const row = await tx.get<{ done: number }>("SELECT done FROM items WHERE name = 'counter'" + (tx.dialect === 'postgres' ? ' FOR UPDATE' : ''));
            await tx.run("UPDATE items SET done = ? WHERE name = 'counter'", [Number(row!.done) + 1]);
          }),
        ),
      );
      assert.equal(Number((await store.get<{ done: number }>("SELECT done FROM items WHERE name = 'counter'"))!.done), 20);
    });

    it('reports a constraint violation as ALREADY_EXISTS and bad SQL clearly', async () => {
      await assert.rejects(store.run('INSERT INTO items (name, done, at_ms) VALUES (?, 0, 0)', ['first']), (err: unknown) => {
        assert.ok(err instanceof FlotillaError);
        assert.equal(err.code, Code.ALREADY_EXISTS);
        return true;
      });
      await assert.rejects(store.run('SELEC nonsense'), /SQL failed/);
    });
  });
}

contract('SQLite', async (owner) => openSqlStore(`sqlite:${join(await tempDir(owner), 'db', 'flotilla.db')}`));
contract('PostgreSQL', async (owner) => openSqlStore((await startPostgres({ t: owner })).url));

describe('SQL store URLs', () => {
  it('rejects what it cannot open, with a clear message', async () => {
    await assert.rejects(openSqlStore('mysql://x'), /expected sqlite:PATH or postgres:\/\//);
    await assert.rejects(openSqlStore('sqlite:'), /give a file path/);
    await assert.rejects(openSqlStore('postgres://u:secret@127.0.0.1:1/db'), (err: unknown) => {
      assert.ok(err instanceof FlotillaError);
      assert.equal(err.code, Code.UNAVAILABLE);
      assert.doesNotMatch(err.message, /secret/, 'the password is not shown');
      return true;
    });
  });

  it('translates placeholders for PostgreSQL', () => {
    assert.equal(toPostgresPlaceholders("SELECT ? , '?', \"a?\" , ?"), "SELECT $1 , '?', \"a?\" , $2");
  });
});
