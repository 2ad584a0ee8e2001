import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type Cleanup, startFlotilla, tempDir, type ProcessHandle } from '../../testkit/index.js';
import { api, cli, until, type RunView } from './e2e-helpers.js';

function startServer(t: Cleanup): Promise<ProcessHandle> {
  return startFlotilla(
    ({ port, dataDir }) => ['server', '--http', `127.0.0.1:${port('http')}`, '--listen', `127.0.0.1:${port('grpc')}`, '--coord-listen', `127.0.0.1:${port('coord')}`, '--data-dir', dataDir],
    { t, ports: ['http', 'grpc', 'coord'], ready: async (h) => h.output().includes('ready') },
  );
}

function startAgent(t: Cleanup, server: ProcessHandle, hostname: string): Promise<ProcessHandle> {
  return startFlotilla(
    ['agent', '--hostname', hostname, '--server', `127.0.0.1:${server.port('grpc')}`, '--etcd', `127.0.0.1:${server.port('coord')}`, '--heartbeat-ttl', '2s'],
    { t, name: `agent ${hostname}`, ready: async (h) => h.output().includes('ready') },
  );
}

/** Whether the process whose pid a task wrote into `file` still runs. */
function aliveIn(file: string): boolean {
  if (!existsSync(file)) return false;
  try {
    process.kill(Number(readFileSync(file, 'utf8').trim()), 0);
    return true;
  } catch {
    return false;
  }
}

/** Test cleanup only: kills that process if a failed test left it. */
function killIn(file: string): void {
  if (aliveIn(file)) process.kill(Number(readFileSync(file, 'utf8').trim()), 'SIGKILL');
}

describe('remote tasks (runs_on) on a real agent', () => {
  it('runs on node-b, and kill -9 of the agent mid-task fails the attempt as lost; it is retried on node-b after the agent returns', async (t) => {
    const server = await startServer(t);
    const agent = await startAgent(t, server, 'node-b');
    const apiAddr = `127.0.0.1:${server.port('http')}`;
    const base = `http://${apiAddr}`;
    const dir = await tempDir(t);
    const pidFile = join(dir, 'task.pid');
    t.after(() => killIn(pidFile));
    writeFileSync(join(dir, 'remote.yaml'), `collection: { key: remote }
tasks:
  hello: { command: "echo on $FLOTILLA_AGENT_HOSTNAME", runs_on: node-b }
  slow:
    command: |
      echo "try $FLOTILLA_TRY_NUMBER on $FLOTILLA_AGENT_HOSTNAME"
      if [ "$FLOTILLA_TRY_NUMBER" = 1 ]; then echo $$ > ${pidFile}; sleep 30; fi
      echo finished
    runs_on: node-b
    retries: 2
    retry_delay: 1
workflow:
  - hello -> slow
`);
    assert.equal(cli(['flow', 'submit', join(dir, 'remote.yaml'), '--http', apiAddr]).code, 0);
    const run = await api<{ id: string }>(base, 'POST', '/api/v1/flows/remote/runs');
    const logsOf = async (task: string): Promise<string> => cli(['flow', 'logs', run.id, task, '--http', apiAddr]).stdout;
    await until('slow to print its first line', async () => ((await logsOf('slow')).includes('try 1 on node-b') ? true : undefined));
    assert.equal(await logsOf('hello'), 'on node-b\n');
    await until('the task to record its pid', async () => (aliveIn(pidFile) ? true : undefined), 10_000);
    await agent.kill();
    // The task's watcher sees the agent's pipe close and kills the task's process group: no orphan.
    await until('the task of the agent killed with -9 to be gone', async () => (aliveIn(pidFile) ? undefined : true), 10_000);
    await agent.restart();
    const done = await until('the run to end', async () => {
      const v = await api<RunView>(base, 'GET', `/api/v1/flows/runs/${run.id}`);
      return v.run.state === 'success' || v.run.state === 'failed' ? v : undefined;
    }, 60_000);
    assert.equal(done.run.state, 'success', JSON.stringify(done));
    const slow = done.attempts.filter((a) => a.task_key === 'slow');
    assert.deepEqual(slow.map((a) => a.outcome), ['lost', 'success']);
    assert.match(slow[0]!.reason, /agent node-b (restarted|disconnected)/);
    assert.ok(done.attempts.every((a) => a.host === 'node-b'));
    const events = await api<{ events: { task_key: string; state: string }[] }>(base, 'GET', `/api/v1/flows/runs/${run.id}/events`);
    assert.ok(events.events.some((e) => e.task_key === 'slow' && e.state === 'up_for_retry'));
    assert.match(await logsOf('slow'), /try 2 on node-b\nfinished\n$/);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /flotilla_flow_task_lateness_seconds_count\{flow="remote",task="slow"\} 2\n/);

    // Cancel of a run whose task runs on the agent: cancel_task kills the task's process group there.
    const pid2 = join(dir, 'cancel.pid');
    t.after(() => killIn(pid2));
    writeFileSync(join(dir, 'cancel.yaml'), `collection: { key: remote-cancel }
tasks:
  long: { command: "echo $$ > ${pid2}; echo started; sleep 30", runs_on: node-b }
workflow: []
`);
    assert.equal(cli(['flow', 'submit', join(dir, 'cancel.yaml'), '--http', apiAddr]).code, 0);
    const run2 = await api<{ id: string }>(base, 'POST', '/api/v1/flows/remote-cancel/runs');
    await until('long to start', async () => (cli(['flow', 'logs', run2.id, 'long', '--http', apiAddr]).stdout === 'started\n' ? true : undefined));
    await api(base, 'POST', `/api/v1/flows/runs/${run2.id}/cancel`);
    await until('the task process group on the agent to be killed', async () => (aliveIn(pid2) ? undefined : true), 10_000);
    const cancelled = await until('the cancelled attempt to be recorded', async () => {
      const v = await api<RunView>(base, 'GET', `/api/v1/flows/runs/${run2.id}`);
      return v.attempts[0]?.outcome === 'shutdown' ? v : undefined;
    });
    assert.equal(cancelled.run.state, 'cancelled');
  });
});
