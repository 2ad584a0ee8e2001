import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Code, FlotillaError } from '../../../src/core/errors.js';
import { openSqlStore } from '../../../src/core/sql/index.js';
import { GroupCommit } from '../../../src/flows/store/group-commit.js';
import { startHarness } from '../flow-harness.js';

describe('group commit of the scheduler writes', () => {
  it('writes added together commit in one transaction, in order; committed() waits for them; a failed batch rejects only its writes', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'flows-gc-'));
    const sql = await openSqlStore(`sqlite:${join(dir, 'gc.db')}`);
    t.after(async () => {
      await sql.close();
      rmSync(dir, { recursive: true, force: true });
    });
    await sql.run('CREATE TABLE t (i INTEGER PRIMARY KEY, v TEXT NOT NULL)');
    const group = new GroupCommit(sql);
    const writes = Array.from({ length: 50 }, (_, i) => group.add((tx) => tx.run('INSERT INTO t (i, v) VALUES (?, ?)', [i, `v${i}`])));
    writes.push(group.add((tx) => tx.run('UPDATE t SET v = ? WHERE i = 0', ['last'])));
    assert.equal((await sql.all('SELECT * FROM t')).length, 0, 'nothing is written before the group commits');
    await group.committed();
    await Promise.all(writes);
    assert.equal(group.commits, 1, 'one transaction for the 51 writes');
    assert.equal((await sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM t'))!.n, 50);
    assert.equal((await sql.get<{ v: string }>('SELECT v FROM t WHERE i = 0'))!.v, 'last', 'in the order added');

    const bad = group.add((tx) => tx.run('INSERT INTO t (i, v) VALUES (?, ?)', [100, 'x']));
    const dup = group.add((tx) => tx.run('INSERT INTO t (i, v) VALUES (?, ?)', [1, 'duplicate']));
    await assert.rejects(dup, (e: unknown) => e instanceof FlotillaError && e.code === Code.ALREADY_EXISTS);
    await assert.rejects(bad);
    assert.equal(await sql.get('SELECT * FROM t WHERE i = 100'), undefined, 'the failed batch is rolled back as a whole');
    await group.add((tx) => tx.run('INSERT INTO t (i, v) VALUES (?, ?)', [101, 'after']));
    assert.equal((await sql.get<{ v: string }>('SELECT v FROM t WHERE i = 101'))!.v, 'after', 'later batches go on');
  });

  it('every task state event is published only after the change is in the store', async (t) => {
    const h = await startHarness();
    t.after(() => h.close());
    await h.submit(`collection: { key: durable }
tasks:
  a: { command: "true" }
  b: { command: "true" }
  c: { command: "true" }
workflow:
  - a -> b -> c
`);
    const seen: Promise<boolean>[] = [];
    h.service.on('task:state:changed', (e) => {
      // Read right away: the event's change must already be committed (reads see only committed writes
      // once the queue before them is flushed, and the event fires after its own batch commits).
      seen.push(h.service.store.sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM flow_events WHERE run_id = ? AND task_key = ? AND state = ?', [e.runId, e.task, e.state]).then((r) => (r?.n ?? 0) > 0));
    });
    const run = await h.service.createRun('durable');
    assert.equal((await h.waitRun(run!.id)).state, 'success');
    const results = await Promise.all(seen);
    assert.ok(results.length >= 12, `events seen: ${results.length}`);
    assert.ok(results.every(Boolean), 'an event was published before its state change was committed');
  });

  it('an invalid spec is refused with the stable code FLOW_SPEC_INVALID and every problem with its position', async (t) => {
    const h = await startHarness();
    t.after(() => h.close());
    const bundle = { fileName: 'bad.yaml', yaml: 'collection: { key: bad }\ntasks:\n  a: { command: "true", runs_on: [x] }\nworkflow:\n  - a -> b\n', files: {} };
    const err = await h.service.submit(bundle).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof FlotillaError);
    assert.equal(err.code, Code.FLOW_SPEC_INVALID);
    assert.equal(err.httpStatus, 400);
    assert.match(err.message, /bad\.yaml:3:34: task "a": runs_on must be an agent name or a label selector/);
    assert.match(err.message, /bad\.yaml:5:10: workflow: unknown task "b"/);
    assert.equal((err.details?.problems as unknown[]).length, 2);
  });
});
