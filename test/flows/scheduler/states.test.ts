import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { allTaskStates } from '../../../src/flows/index.js';
import { startHarness } from '../flow-harness.js';

test('every one of the 14 task states is reached, each for its stated reason', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  const marker = join(h.dir, 'arrived.txt');
  const marker2 = join(h.dir, 'arrived2.txt');
  // Branch (skipped), reschedule sensor (up_for_reschedule), deferrable sensor (deferred), retry, failure.
  const key = await h.submit(`
collection: { key: states, retry_delay: 50ms }
tasks:
  pick: { command: "echo left", branch: true }
  left: { command: "echo L" }
  right: { command: "echo R" }
  poll: { sensor: { file: ${marker}, mode: reschedule, poke_interval: 100ms } }
  wait: { sensor: { file: ${marker2}, mode: deferrable } }
  flaky: { command: "exit 1", retries: 1 }
  after: { command: "true" }
workflow:
  - pick -> [left, right]
  - flaky -> after
`);
  const run = (await h.service.createRun(key))!;
  await h.waitTask(run.id, 'poll', 'up_for_reschedule');
  await h.waitTask(run.id, 'wait', 'deferred');
  writeFileSync(marker, 'x');
  writeFileSync(marker2, 'x');
  const end = await h.waitRun(run.id);
  assert.equal(end.state, 'failed');
  const final = new Map((await h.service.store.tasks(run.id)).map((x) => [x.task_key, x]));
  assert.equal(final.get('right')!.state, 'skipped');
  assert.match(final.get('right')!.reason, /branch pick chose left/);
  assert.equal(final.get('left')!.state, 'success');
  assert.equal(final.get('poll')!.state, 'success');
  assert.equal(final.get('wait')!.state, 'success');
  assert.equal(final.get('after')!.state, 'upstream_failed');

  // Redeploy without "right", rerun on the latest version: right is removed, the failure point cleared (none).
  await h.submit(`
collection: { key: states, retry_delay: 50ms }
tasks:
  pick: { command: "echo left", branch: true }
  left: { command: "echo L" }
  poll: { sensor: { file: ${marker}, mode: reschedule, poke_interval: 100ms } }
  wait: { sensor: { file: ${marker2}, mode: deferrable } }
  flaky: { command: "true" }
  after: { command: "true" }
workflow:
  - pick -> left
  - flaky -> after
`);
  await h.service.rerun(run.id, { latest: true });
  assert.equal((await h.waitRun(run.id)).state, 'success');
  assert.equal((await h.service.store.tasks(run.id)).find((x) => x.task_key === 'right')!.state, 'removed');

  // A long task: rerun while running (restarting), then cancel (shutdown).
  const slow = await h.submit(`
collection: { key: slow }
tasks:
  long: { command: "sleep 30" }
workflow: []
`);
  const r2 = (await h.service.createRun(slow))!;
  await h.waitTask(r2.id, 'long', 'running');
  await h.service.rerun(r2.id, { task: 'long' });
  await h.waitTask(r2.id, 'long', 'restarting');
  await h.waitTask(r2.id, 'long', 'scheduled');
  await new Promise((r) => setTimeout(r, 50));
  await h.service.cancelRun(r2.id);
  assert.equal((await h.waitRun(r2.id)).state, 'cancelled');
  assert.equal((await h.service.store.tasks(r2.id))[0]!.state, 'shutdown');

  const reached = new Set(h.events.map((e) => e.state));
  for (const s of allTaskStates) assert.ok(reached.has(s), `state ${s} reached (${[...reached].join(', ')})`);
  const events = await h.service.store.events(run.id);
  assert.ok(events.some((e) => e.state === 'none' && e.reason === 'cleared for a rerun'));
  assert.ok(events.some((e) => e.state === 'up_for_retry' && /exit code 1; retry 1 of 1/.test(e.reason)));
});

/** Alive: exists and is not a zombie (a container's init may be slow to reap the killed children). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

test('a timeout kills the task and every child it spawned; the retry runs after its delay', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  const pids = join(h.dir, 'pids');
  const key = await h.submit(`
collection: { key: timeout }
tasks:
  hang: { executor: jobs/hang.sh, timeout: 300ms, retries: 1, retry_delay: 200ms }
workflow: []
`, { 'jobs/hang.sh': `sleep 60 &\necho $! >> ${pids}\nbash -c 'sleep 60' &\necho $! >> ${pids}\nwait\n` });
  const run = (await h.service.createRun(key))!;
  assert.equal((await h.waitRun(run.id)).state, 'failed');
  const attempts = await h.service.store.attempts(run.id);
  assert.equal(attempts.length, 2);
  assert.match(attempts[0]!.reason, /timed out after 300 ms/);
  const gap = attempts[1]!.started_ms - attempts[0]!.ended_ms!;
  assert.ok(gap >= 200, `the retry waited out retry_delay (200 ms; it started ${gap} ms after the first attempt ended)`);
  assert.ok(existsSync(pids));
  for (const pid of readFileSync(pids, 'utf8').trim().split('\n').map(Number)) {
    assert.ok(!alive(pid), `child ${pid} is gone`);
  }
});
