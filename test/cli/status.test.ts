/** `flotilla status` and `flotilla health` against a real server and nodes. */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { freePort } from '../testkit/index.js';
import { allSee, peerClients, runFlotilla, startNode, startServer, suiteOwner, type NodeHandle, type ServerHandle } from '../testkit/cluster.js';

describe('flotilla status and flotilla health', () => {
  const owner = suiteOwner();
  let server: ServerHandle;
  let a: NodeHandle;
  let b: NodeHandle;

  before(async () => {
    server = await startServer(owner);
    a = await startNode(owner, 'node-a', ['--join', server.grpc, '--zone', 'z1']);
    b = await startNode(owner, 'node-b', ['--server', server.grpc, '--zone', 'z2', '--roles', 'kv']);
    await allSee(peerClients(owner), [server.grpc], { 'node-a': 'ACTIVE', 'node-b': 'ACTIVE' }, 10_000);
  });

  it('prints the service list as a table', async () => {
    const r = await runFlotilla(['status', '--server', server.grpc]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^NAME\s+ADDRESS\s+ROLES\s+ZONE\s+STATUS\s+RTT\s+BACKEND\s+CAPACITY\/FREE\s+READ\/WRITE MB\/s\s+RINGS$/);
    assert.equal(lines.length, 3);
    assert.match(lines[1]!, new RegExp(`^node-a\\s+${a.peer.replace(/\./g, '\\.')}\\s+agent,kv,objects\\s+z1\\s+ACTIVE\\s+[\\d.]+ms\\s+dir\\s+\\S+/\\S+\\s+[\\d.]+/[\\d.]+\\s+-$`));
    assert.match(lines[2]!, /^node-b\s+\S+\s+kv\s+z2\s+ACTIVE\s/);
  });

  it('prints JSON with --json, also when asked through FLOTILLA_SERVER', async () => {
    const r = await runFlotilla(['status', '--json'], { env: { FLOTILLA_SERVER: server.grpc } });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { observer: string; coordinationReachable: boolean; members: { name: string; status: string; zone: string; backend: { capacityBytes: number } }[] };
    assert.equal(out.observer, 'server');
    assert.equal(out.coordinationReachable, true);
    assert.deepEqual(out.members.map((m) => [m.name, m.status, m.zone]), [['node-a', 'ACTIVE', 'z1'], ['node-b', 'ACTIVE', 'z2']]);
    assert.ok(out.members[0]!.backend.capacityBytes > 0);
  });

  it('answers from a node too (its own view)', async () => {
    const r = await runFlotilla(['status', '--json', '--server', b.peer]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { observer: string }).observer, 'node-b');
  });

  it('fails with one line when the server cannot be reached or the address is bad', async () => {
    const port = await freePort();
    const r = await runFlotilla(['status', '--server', `127.0.0.1:${port}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^flotilla: \\[unavailable\\] cannot reach 127\\.0\\.0\\.1:${port} \\(ListMembers\\)`));
    const r2 = await runFlotilla(['status', '--server', 'not-an-address']);
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /invalid --server "not-an-address"/);
  });

  it('health checks many processes, one line each, exit 0 when all are healthy', async () => {
    const r = await runFlotilla(['health', server.grpc, a.peer, b.peer]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[0]!, /^127\.0\.0\.1:\d+\s+ok\s+server server\s+v\d+\.\d+\.\d+\s+up \S+\s+rtt [\d.]+ ms$/);
    assert.match(lines[1]!, /\s+ok\s+node node-a\s/);
    assert.match(lines[2]!, /\s+ok\s+node node-b\s/);
  });

  it('health exits 1 and says why when any target is unhealthy', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const r = await runFlotilla(['health', a.peer, dead, `127.0.0.1:${server.port('http')}`, '--json']);
    assert.equal(r.code, 1);
    const reports = JSON.parse(r.stdout) as { address: string; healthy: boolean; name?: string; error?: string }[];
    assert.deepEqual(reports.map((x) => x.healthy), [true, false, false]);
    assert.equal(reports[0]!.name, 'node-a');
    assert.match(reports[1]!.error!, /cannot reach/);
    assert.match(reports[2]!.error!, /not a Flotilla gRPC port/);
    const lines = await runFlotilla(['health', dead]);
    assert.equal(lines.code, 1);
    assert.match(lines.stdout, new RegExp(`^${dead.replace(/\./g, '\\.')}\\s+UNHEALTHY\\s+cannot reach`));
  });
});
