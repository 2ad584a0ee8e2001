import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startHarness } from '../flow-harness.js';

test('a -> b, [b, c] -> d: b and c overlap, d starts after both succeed', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  const key = await h.submit(`
collection: { key: diamond }
tasks:
  a: { command: "echo a" }
  b: { executor: jobs/b.sh }
  c: { executor: jobs/c.py }
  d: { command: "echo d" }
workflow:
  - a -> b
  - a -> c
  - "[b, c] -> d"
`, { 'jobs/b.sh': 'sleep 0.4; echo b-done\n', 'jobs/c.py': 'import time\ntime.sleep(0.4)\nprint("c-done")\n' });
  const run = (await h.service.createRun(key))!;
  const end = await h.waitRun(run.id);
  assert.equal(end.state, 'success');
  const tasks = new Map((await h.service.store.tasks(run.id)).map((x) => [x.task_key, x]));
  const b = tasks.get('b')!;
  const c = tasks.get('c')!;
  const d = tasks.get('d')!;
  assert.ok(b.started_ms! < c.ended_ms! && c.started_ms! < b.ended_ms!, 'b and c ran at the same time');
  assert.ok(d.started_ms! >= b.ended_ms! && d.started_ms! >= c.ended_ms!, 'd started after b and c');
  const logs = await h.service.store.logs(run.id, { task: 'c' });
  assert.deepEqual(logs.map((l) => l.line), ['c-done']);
});

test('c fails after its retries: up_for_retry between attempts, then d is upstream_failed', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  const key = await h.submit(`
collection: { key: fails }
tasks:
  a: { command: "true" }
  b: { command: "true" }
  c: { command: "echo try $FLOTILLA_TRY_NUMBER; exit 3", retries: 2, retry_delay: 50ms, retry_exponential_backoff: true }
  d: { command: "true" }
workflow: |
  a -> b
  a -> c
  [b, c] -> d
`);
  const run = (await h.service.createRun(key))!;
  const end = await h.waitRun(run.id);
  assert.equal(end.state, 'failed');
  const cStates = h.events.filter((e) => e.task === 'c').map((e) => e.state);
  assert.equal(cStates.filter((s) => s === 'up_for_retry').length, 2);
  assert.equal(cStates.at(-1), 'failed');
  const tasks = new Map((await h.service.store.tasks(run.id)).map((x) => [x.task_key, x]));
  assert.equal(tasks.get('d')!.state, 'upstream_failed');
  assert.equal(tasks.get('c')!.try_number, 3);
  const attempts = (await h.service.store.attempts(run.id)).filter((a) => a.task_key === 'c');
  assert.deepEqual(attempts.map((a) => a.exit_code), [3, 3, 3]);
  assert.deepEqual((await h.service.store.logs(run.id, { task: 'c' })).map((l) => l.line), ['try 1', 'try 2', 'try 3']);
});
