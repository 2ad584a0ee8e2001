/**
 * The process a `.sql` task runs in (so that it has its own process group and timeout like every task):
 * `sql-child CONNECTION FILE`. CONNECTION is `sqlite:PATH` or `postgres://...`. Each statement runs in
 * order inside one transaction; rows of statements that return rows are printed as JSON lines. Exit 0 on
 * success, 1 with the database's message on stderr otherwise.
 */
import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import pg from 'pg';
import { splitSqlStatements } from './sql-split.js';

async function main(): Promise<void> {
  const [connection, file] = process.argv.slice(2);
  if (connection === undefined || file === undefined) throw new Error('usage: sql-child CONNECTION FILE');
  const script = readFileSync(file, 'utf8');
  if (connection.startsWith('sqlite:')) {
    const db = new Database(connection.slice('sqlite:'.length));
    try {
      db.pragma('busy_timeout = 5000');
      const statements = splitSqlStatements(script);
      db.transaction(() => {
        for (const sql of statements) {
          const stmt = db.prepare(sql);
          if (stmt.reader) for (const row of stmt.iterate()) process.stdout.write(JSON.stringify(row) + '\n');
          else {
            const r = stmt.run();
            process.stdout.write(`ok: ${r.changes} row(s) changed\n`);
          }
        }
      })();
    } finally {
      db.close();
    }
    return;
  }
  const client = new pg.Client({ connectionString: connection });
  await client.connect();
  try {
    await client.query('BEGIN');
    for (const sql of splitSqlStatements(script)) {
      const r = await client.query(sql);
      if (r.fields.length > 0) for (const row of r.rows) process.stdout.write(JSON.stringify(row) + '\n');
      else process.stdout.write(`ok: ${r.rowCount ?? 0} row(s) changed\n`);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await client.end();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`sql: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
