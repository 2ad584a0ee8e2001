import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { etcdctl, freePortRange, startFlotilla, tempDir, type ProcessEnv } from '../testkit/index.js';
import { runFlotilla } from '../testkit/cluster.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** PIDs of live processes whose command line mentions `needle` (the test's own temp dir). */
function processesMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes(needle)) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/** The arguments of a `flotilla up` on free loopback ports: server ports by name, node ports from two ranges. */
async function upArgs(): Promise<(env: ProcessEnv) => string[]> {
  const peerBase = await freePortRange(3);
  const httpBase = await freePortRange(3);
  const xferBase = await freePortRange(3);
  lastPorts = { peerBase, httpBase };
  return ({ port, dataDir }) => [
    'up',
    '--http', `127.0.0.1:${port('http')}`,
    '--listen', `127.0.0.1:${port('grpc')}`,
    '--coord-listen', `127.0.0.1:${port('coord')}`,
    '--peer-port', String(peerBase),
    '--node-http-port', String(httpBase),
    '--xfer-port', String(xferBase),
    '--data-dir', dataDir,
  ];
}
const upPorts = ['http', 'grpc', 'coord'];
let lastPorts = { peerBase: 0, httpBase: 0 };

describe('flotilla up', () => {
  it('starts a server and three nodes, prints their addresses and a status table, and stops cleanly on Ctrl-C', async (t) => {
    const up = await startFlotilla(await upArgs(), { t, ports: upPorts, ready: async (h) => h.output().includes('is up'), readyTimeoutMs: 60_000 });
    const coord = `127.0.0.1:${up.port('coord')}`;
    const http = `http://127.0.0.1:${up.port('http')}`;
    const out = up.output();
    assert.match(out, new RegExp(`dashboard\\s+${http}`));
    assert.match(out, new RegExp(`coordination\\s+${coord}\\s+\\(etcd v3 API\\)`));
    assert.match(out, /is up: a server and 3 nodes/);
    assert.match(out, /Authentication is on\. Admin API token .*:\n\s+flt_[0-9a-f]{12}_[A-Za-z0-9_-]{43}\n/, 'up prints the admin token');
    for (const name of ['node-a', 'node-b', 'node-c']) {
      assert.match(out, new RegExp(`^${name}\\s+127\\.0\\.0\\.1:\\d+\\s+agent,kv,objects\\s+zone-\\d\\s+ACTIVE\\s.*\\skv:v1(,|$)`, 'm'), `${name} is ACTIVE and holds the kv ring`);
    }
    // The coordination store checks tokens too (docs/security.md): etcdctl signs in with the admin token.
    const asAdmin = ['--user', `flotilla:${readFileSync(`${up.dataDir}/server/admin-token`, 'utf8').trim()}`];
    const ring = await etcdctl(coord, [...asAdmin, 'get', '--print-value-only', '/flotilla/rings/kv']);
    const stored = JSON.parse(ring.stdout) as { name: string; version: number; replicas: number; devices: { id: string }[] };
    assert.equal(stored.version, 1);
    assert.equal(stored.replicas, 3);
    assert.deepEqual(stored.devices.map((d) => d.id).sort(), ['node-a', 'node-b', 'node-c']);
    const nodes = await etcdctl(coord, [...asAdmin, 'get', '--prefix', '--keys-only', '/flotilla/nodes/']);
    assert.deepEqual(nodes.stdout.split('\n').filter(Boolean), ['/flotilla/nodes/node-a', '/flotilla/nodes/node-b', '/flotilla/nodes/node-c']);

    const put = await etcdctl(coord, [...asAdmin, 'put', '/tour/hello', 'world']);
    assert.equal(put.stdout.trim(), 'OK');
    const get = await etcdctl(coord, [...asAdmin, 'get', '--prefix', '/tour/']);
    assert.equal(get.stdout, '/tour/hello\nworld\n');
    // Every node runs the agent role: it streams to the server it joined through.
    let agents: { hostname: string; connected: boolean; alive: boolean }[] = [];
    for (let i = 0; i < 100; i++) {
      // `up` turns authentication on: the admin token is in the server's data dir (and printed).
      const r = await fetch(`${http}/api/v1/agents`, { headers: { authorization: `Bearer ${readFileSync(`${up.dataDir}/server/admin-token`, 'utf8').trim()}` } });
      agents = ((await r.json()) as { agents: typeof agents }).agents;
      if (agents.filter((a) => a.connected && a.alive).length === 3) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.deepEqual(agents.filter((a) => a.connected && a.alive).map((a) => a.hostname).sort(), ['node-a', 'node-b', 'node-c']);
    const ready = await fetch(`${http}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: 'ready', checks: { coordination: { ok: true } } });

    // The tour's data round trips, with authentication on: the CLI takes the admin token file; nodes
    // authenticate to each other with the join token (a replicated object reaches other nodes' disks).
    const env = { FLOTILLA_TOKEN: '', FLOTILLA_TOKEN_FILE: join(up.dataDir, 'server', 'admin-token') };
    const { peerBase, httpBase } = lastPorts;
    const kvPut = await runFlotilla(['kv', 'put', 'greeting', 'hello', '--node', `127.0.0.1:${peerBase}`], { env });
    assert.equal(kvPut.code, 0, kvPut.stderr);
    const kvGet = await runFlotilla(['kv', 'get', 'greeting', '--node', `127.0.0.1:${peerBase + 2}`], { env });
    assert.equal(kvGet.stdout.trim(), 'hello', kvGet.stderr);
    const file = join(await tempDir(t), 'photo.bin');
    writeFileSync(file, Buffer.alloc(100_000, 7));
    for (const args of [['obj', 'mb', 'photos'], ['obj', 'put', file, 'photos/'], ['obj', 'stat', 'photos/photo.bin', '--json']]) {
      const r = await runFlotilla([...args, '--node', `127.0.0.1:${httpBase}`], { env });
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      if (args[1] === 'stat') {
        const replicas = (JSON.parse(r.stdout) as { placement: { replicas: { node: string; state: string }[] } }).placement.replicas;
        assert.deepEqual(replicas.map((x) => x.state), ['ok', 'ok', 'ok'], `three valid replicas: ${r.stdout}`);
      }
    }
    const objGet = await runFlotilla(['obj', 'get', 'photos/photo.bin', '-', '--node', `127.0.0.1:${httpBase + 1}`], { env });
    assert.equal(objGet.code, 0, objGet.stderr);
    assert.equal(objGet.stdout.length, 100_000);
    const noToken = await runFlotilla(['obj', 'ls', 'photos', '--node', `127.0.0.1:${httpBase}`], { env: { FLOTILLA_TOKEN: '', FLOTILLA_TOKEN_FILE: '/nonexistent' } });
    assert.notEqual(noToken.code, 0, 'without a token the node refuses');

    assert.equal(processesMentioning(up.dataDir).length, 5, 'up, its server and three nodes are running');
    up.signal('SIGINT');
    const exit = await up.exited;
    assert.equal(exit.code, 0, up.output());
    // Children stop before `up` exits; give the kernel a moment to reap them, then none may be left.
    for (let i = 0; i < 50 && processesMentioning(up.dataDir).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(processesMentioning(up.dataDir), [], 'no process left behind');
  });

  it('leaves no process behind when it is killed outright', async (t) => {
    const up = await startFlotilla(await upArgs(), { t, ports: upPorts, ready: async (h) => h.output().includes('is up'), readyTimeoutMs: 60_000 });
    await up.kill();
    for (let i = 0; i < 100 && processesMentioning(up.dataDir).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(processesMentioning(up.dataDir), [], 'children stop when their parent is gone');
  });

  it('refuses a coordination port that is taken, with a clear message', async (t) => {
    const first = await startFlotilla(({ port, dataDir }) => ['coord', 'serve', '--listen', `127.0.0.1:${port('coord')}`, '--data-dir', dataDir], {
      t,
      ports: ['coord'],
    });
    const args = await upArgs();
    const up = await startFlotilla(
      (env) => args(env).map((a) => (a === `127.0.0.1:${env.port('coord')}` ? `127.0.0.1:${first.port('coord')}` : a)),
      { t, ports: upPorts, ready: async () => true },
    );
    const exit = await up.exited;
    assert.notEqual(exit.code, 0);
    assert.match(up.output(), /flotilla: .*(listen|in use|EADDRINUSE)/i);
    assert.doesNotMatch(up.output(), /\n\s+at /, 'no stack trace');
  });
});
