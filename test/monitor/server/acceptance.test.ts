// Issue 4 acceptance with real processes: `flotilla server` and two `flotilla agent`s, driven with the
// `flotilla cmd` and `flotilla status --agents` commands, against the embedded store and real etcd.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { runFlotilla } from '../../testkit/cluster.js';
import type { Cleanup, ProcessHandle } from '../../testkit/index.js';
import { startEtcd, startFlotilla, tcpReady } from '../../testkit/index.js';
import { eventually, HAVE_ETCD } from './fixtures.js';

interface Server {
  h: ProcessHandle;
  grpc: string;
  http: string;
  coord: string;
}

async function startMonitorServer(t: Cleanup, etcd?: string): Promise<Server> {
  const h = await startFlotilla(
    ({ port, dataDir }) => [
      'server',
      '--listen', `127.0.0.1:${port('grpc')}`,
      '--http', `127.0.0.1:${port('http')}`,
      ...(etcd !== undefined ? ['--etcd', etcd] : ['--coord-listen', `127.0.0.1:${port('coord')}`]),
      '--data-dir', dataDir,
      '--log-samples',
    ],
    { name: 'flotilla server', t, ports: ['grpc', 'http', 'coord'], env: { FLOTILLA_LOG_PRETTY: '0' }, ready: async (p) => tcpReady(p.port('grpc')) },
  );
  return { h, grpc: `127.0.0.1:${h.port('grpc')}`, http: `http://127.0.0.1:${h.port('http')}`, coord: etcd ?? `127.0.0.1:${h.port('coord')}` };
}

async function startAgentProcess(t: Cleanup, name: string, server: Server): Promise<ProcessHandle> {
  // A 2 s heartbeat lease (default 5 s): the kill -9 below is seen sooner.
  return startFlotilla(['agent', '--hostname', name, '--server', server.grpc, '--etcd', server.coord, '--heartbeat-ttl', '2s'], {
    name: `flotilla agent ${name}`,
    t,
    env: { FLOTILLA_LOG_PRETTY: '0' },
    ready: async (p) => p.output().includes(`flotilla agent ${name}`),
  });
}

/** The `msg` of every JSON log line of `out`. */
function messages(out: string): string[] {
  const msgs: string[] = [];
  for (const line of out.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      msgs.push((JSON.parse(line) as { msg?: string }).msg ?? '');
    } catch {
      // a partial line
    }
  }
  return msgs;
}

/** Sample lines `(time, host, metric, value)` of `host` in `out`, as [time ms, metric, value]. */
function samples(out: string, host: string): [number, string, number][] {
  const re = /^\(([^,]+), ([^,]+), (.+), ([^,]+)\)$/;
  return messages(out)
    .map((m) => re.exec(m))
    .filter((m) => m !== null && m[2] === host)
    .map((m) => [Date.parse(m![1]!), m![3]!, Number(m![4])]);
}

/** Output of the current incarnation of `h` only. */
function current(h: ProcessHandle): string {
  const out = h.output();
  return out.slice(out.lastIndexOf(`--- ${h.name}: `));
}

async function agentConfig(server: Server, host: string): Promise<{ interval: number; metrics: string[] }> {
  const r = await runFlotilla(['cmd', '--host', host, '--action', 'get_config', '--server', server.grpc, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { result: { interval: number; metrics: string[] } }).result;
}

async function acceptance(t: Cleanup, server: Server, opts: { restartServer: boolean }): Promise<void> {
  const a = await startAgentProcess(t, 'node-a', server);
  const b = await startAgentProcess(t, 'node-b', server);
  const log = (): string[] => messages(server.h.output());

  // Two agents stream; the server logs their samples (time, hostname, metric, value) and their heartbeats.
  await eventually('both alive and streaming', () =>
    log().includes('[+] node node-a alive') && log().includes('[+] node node-b alive') && samples(server.h.output(), 'node-a').length > 0 && samples(server.h.output(), 'node-b').length > 0,
  20_000);

  // A command changes node-a's interval only.
  const r = await runFlotilla(['cmd', '--host', 'node-a', '--action', 'set_interval', '--payload', '{"interval":2}', '--server', server.grpc]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^node-a: set_interval ok: interval set to 2s \(command [0-9a-f-]+\)\n$/);
  assert.equal((await agentConfig(server, 'node-a')).interval, 2);
  assert.equal((await agentConfig(server, 'node-b')).interval, 5);

  // Bad commands: one clear line, non-zero exit.
  for (const [args, pattern] of [
    [['--host', 'node-q', '--action', 'ping'], /^flotilla: \[not_found\] unknown host "node-q" \(known: node-a, node-b\)\n$/],
    [['--host', 'node-a', '--action', 'reboot'], /^flotilla: \[invalid_argument\] unknown action "reboot"/],
    [['--host', 'node-a', '--action', 'set_interval', '--payload', '{"interval":-1}'], /^flotilla: \[invalid_argument\] bad payload for set_interval: "interval"/],
    [['--host', 'node-a', '--action', 'set_interval', '--payload', 'nope'], /^flotilla: \[invalid_argument\] payload of set_interval is not valid JSON/],
  ] as [string[], RegExp][]) {
    const res = await runFlotilla(['cmd', ...args, '--server', server.grpc]);
    assert.notEqual(res.code, 0, args.join(' '));
    assert.match(res.stderr, pattern);
    assert.equal(res.stderr.trimEnd().split('\n').length, 1);
  }

  // The global view, as a table and as JSON, and over HTTP.
  const table = await runFlotilla(['status', '--agents', '--server', server.grpc]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^HOST\s+ALIVE\s+STREAM\s+LAST SEEN\s+SAMPLES\s+DROPPED\s+INTERVAL\s+METRICS\n/);
  assert.match(table.stdout, /\nnode-a\s+alive\s+connected\s+\S+ ago\s+\d+\s+0\s+2s\s+cpu,memory,disk,network,filesystem\n/);
  const agentsHttp = (await (await fetch(`${server.http}/api/v1/agents`)).json()) as { agents: { hostname: string; connected: boolean }[] };
  assert.deepEqual(agentsHttp.agents.map((x) => [x.hostname, x.connected]), [['node-a', true], ['node-b', true]]);

  // kill -9 of node-b: its lease expires, the server logs it dead; a command to it fails clearly.
  await b.kill();
  await eventually('node-b dead', () => log().includes('[-] node node-b dead'), 20_000);
  const toDead = await runFlotilla(['cmd', '--host', 'node-b', '--action', 'ping', '--server', server.grpc]);
  assert.equal(toDead.code, 1);
  assert.match(toDead.stderr, /^flotilla: \[failed_precondition\] node-b is not connected \(last seen .*, heartbeat dead\)\n$/);
  const json = await runFlotilla(['status', '--agents', '--json', '--server', server.grpc]);
  const view = (JSON.parse(json.stdout) as { agents: { hostname: string; alive: boolean; connected: boolean }[] }).agents;
  assert.deepEqual(view.map((x) => [x.hostname, x.alive, x.connected]), [['node-a', true, true], ['node-b', false, false]]);
  // Restarted, it is alive again.
  await b.restart();
  await eventually('node-b alive again', () => log().filter((m) => m === '[+] node node-b alive').length === 2, 20_000);

  if (!opts.restartServer) return;
  // The server restarted mid-stream: agents reconnect by themselves, and the samples taken while it was
  // down arrive after the reconnect.
  await server.h.stop();
  const downFrom = Date.now();
  await sleep(4000);
  const downTo = Date.now();
  await server.h.restart();
  await eventually(
    'node-a backlog delivered',
    () => samples(current(server.h), 'node-a').some(([time]) => time >= downFrom && time <= downTo),
    30_000,
  );
  await eventually('both reconnected', () => {
    const msgs = messages(current(server.h));
    return msgs.includes('agent node-a connected') && msgs.includes('agent node-b connected');
  }, 30_000);
  assert.ok(a.running && b.running);
}

// The two cases share nothing (each its own store, server and agents): they run at the same time.
describe('monitoring acceptance (real processes)', { concurrency: 2 }, () => {
  it('embedded store: stream, command, heartbeats, kill -9, bad input, server restart', { timeout: 180_000 }, async (t) => {
    const server = await startMonitorServer(t);
    await acceptance(t, server, { restartServer: true });
  });

  it('real etcd: the same without the server restart', { timeout: 180_000, skip: !HAVE_ETCD && process.env.CI !== 'true' ? 'etcd is not installed' : false }, async (t) => {
    const etcd = await startEtcd({ t });
    const server = await startMonitorServer(t, etcd.endpoint);
    await acceptance(t, server, { restartServer: false });
  });
});
