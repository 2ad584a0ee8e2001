import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type Cleanup, startFlotilla, tempDir, type ProcessHandle } from '../../testkit/index.js';
import { api, cli, until } from './e2e-helpers.js';

function startServer(t: Cleanup): Promise<ProcessHandle> {
  return startFlotilla(
    ({ port, dataDir }) => ['server', '--http', `127.0.0.1:${port('http')}`, '--listen', `127.0.0.1:${port('grpc')}`, '--coord-listen', `127.0.0.1:${port('coord')}`, '--data-dir', dataDir],
    { t, ports: ['http', 'grpc', 'coord'], ready: async (h) => h.output().includes('ready') },
  );
}

function startAgent(t: Cleanup, server: ProcessHandle, hostname: string, labels: string): Promise<ProcessHandle> {
  return startFlotilla(
    ['agent', '--hostname', hostname, '--labels', labels, '--server', `127.0.0.1:${server.port('grpc')}`, '--etcd', `127.0.0.1:${server.port('coord')}`, '--heartbeat-ttl', '2s'],
    { t, name: `agent ${hostname}`, ready: async (h) => h.output().includes('ready') },
  );
}

interface TaskView { task_key: string; state: string; reason: string; host: string }
interface RunView { run: { id: string; state: string }; tasks: TaskView[] }

describe('runs_on by labels on real agents', () => {
  it('runs on a connected agent with the labels, spread over the matching ones; with none it waits queued and says why', async (t) => {
    const server = await startServer(t);
    await Promise.all([startAgent(t, server, 'gpu-a', 'gpu=true,zone=eu'), startAgent(t, server, 'gpu-b', 'gpu=true,zone=us'), startAgent(t, server, 'cpu-a', 'gpu=false')]);
    const apiAddr = `127.0.0.1:${server.port('http')}`;
    const base = `http://${apiAddr}`;
    const dir = await tempDir(t);
    writeFileSync(join(dir, 'gpu.yaml'), `collection: { key: gpu }
tasks:
${[1, 2, 3, 4].map((i) => `  t${i}: { command: "sleep 0.5; echo on $FLOTILLA_AGENT_HOSTNAME", runs_on: { labels: { gpu: "true" } } }`).join('\n')}
  mars:
    command: echo on $FLOTILLA_AGENT_HOSTNAME
    runs_on:
      labels: { zone: mars }
workflow: []
`);
    const submit = cli(['flow', 'submit', join(dir, 'gpu.yaml'), '--http', apiAddr]);
    assert.equal(submit.code, 0, submit.stderr);
    const run = await api<{ id: string }>(base, 'POST', '/api/v1/flows/gpu/runs');
    const view = (): Promise<RunView> => api(base, 'GET', `/api/v1/flows/runs/${run.id}`);
    await until('the gpu tasks to succeed', async () => ((await view()).tasks.filter((x) => x.task_key !== 'mars' && x.state === 'success').length === 4 ? true : undefined));
    const v = await view();
    const hosts = v.tasks.filter((x) => x.task_key !== 'mars').map((x) => x.host);
    assert.deepEqual(new Set(hosts), new Set(['gpu-a', 'gpu-b']), `spread over both gpu agents: ${hosts.join(', ')}`);
    for (const i of [1, 2, 3, 4]) {
      const host = v.tasks.find((x) => x.task_key === `t${i}`)!.host;
      assert.equal(cli(['flow', 'logs', run.id, `t${i}`, '--http', apiAddr]).stdout, `on ${host}\n`);
    }
    const mars = v.tasks.find((x) => x.task_key === 'mars')!;
    assert.equal(mars.state, 'queued');
    assert.equal(mars.reason, 'waiting for a connected agent with labels zone=mars; none is connected');
    assert.equal(v.run.state, 'running');

    // An agent with the label connects: the waiting task runs on it at once (no polling for agents).
    await startAgent(t, server, 'mars-1', 'zone=mars');
    const done = await until('the run to end', async () => {
      const x = await view();
      return x.run.state === 'success' || x.run.state === 'failed' ? x : undefined;
    });
    assert.equal(done.run.state, 'success', JSON.stringify(done));
    assert.equal(done.tasks.find((x) => x.task_key === 'mars')!.host, 'mars-1');
    assert.equal(cli(['flow', 'logs', run.id, 'mars', '--http', apiAddr]).stdout, 'on mars-1\n');
  });

  it('an agent refuses malformed --labels with the reason', () => {
    const r = cli(['agent', '--labels', 'gpu', '--hostname', 'x', '--server', '127.0.0.1:1']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /labels.*"gpu" is not KEY=VALUE/);
  });
});
