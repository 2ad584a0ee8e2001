/**
 * Issue 3 acceptance, with real processes: three nodes join through one address each; every process
 * reports the same membership; kill -9, SIGTERM and restart are seen by every other process.
 * One cluster serves every step (they run in order).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { PeerClients } from '../../src/cluster/index.js';
import { createCoord, type Coord } from '../../src/coord/index.js';
import { allSee, eventually, members, peerClients, startNode, startServer, statuses, suiteOwner, type NodeHandle, type ServerHandle } from '../testkit/cluster.js';

describe('cluster membership with real processes', () => {
  const hooks = suiteOwner();
  let server: ServerHandle;
  let a: NodeHandle;
  let b: NodeHandle;
  let c: NodeHandle;
  let peers: PeerClients;
  let coord: Coord;
  const observers = (): string[] => [server.grpc, a.peer, b.peer, c.peer];
  const all = (s: Record<string, string>): Record<string, string> => ({ 'node-a': 'ACTIVE', 'node-b': 'ACTIVE', 'node-c': 'ACTIVE', ...s });

  before(async () => {
    server = await startServer(hooks);
    peers = peerClients(hooks);
    coord = await createCoord({ endpoints: [server.coordEndpoint] });
    hooks.after(() => coord.close());
  });

  it('three nodes join through one address each and every process reports the same membership', async () => {
    a = await startNode(hooks, 'node-a', ['--join', server.grpc, '--zone', 'z1']);
    b = await startNode(hooks, 'node-b', ['--join', a.peer, '--zone', 'z2', '--roles', 'kv,objects']);
    c = await startNode(hooks, 'node-c', ['--peers', `${server.grpc},${b.peer}`, '--zone', 'z3']);
    assert.match(b.output(), /remote_setup through node-a/);
    // The bound is 2 s; a loaded test machine gets a little more.
    await allSee(peers, observers(), all({}), 5000);
    const m = await members(peers, server.grpc);
    const nb = m.find((x) => x.name === 'node-b')!;
    assert.deepEqual(nb.roles, ['kv', 'objects']);
    assert.equal(nb.zone, 'z2');
    assert.equal(nb.backend.kind, 'dir');
    assert.ok(nb.backend.capacityBytes > 0 && nb.backend.freeBytes > 0 && nb.backend.writeMBps > 0);
    assert.ok(nb.rttMs !== null && nb.rttMs >= 0, 'the server measured an RTT');
  });

  it('publishes every node\'s RTT to its peers under /flotilla/distances/', async () => {
    await eventually(
      'distances of node-a name node-b and node-c',
      async () => {
        const kv = await coord.get('/flotilla/distances/node-a');
        const d = JSON.parse(kv?.value.toString() ?? '{}') as Record<string, number>;
        return typeof d['node-b'] === 'number' && typeof d['node-c'] === 'number';
      },
      10_000,
    );
    const m = await members(peers, c.peer);
    assert.ok(Object.keys(m.find((x) => x.name === 'node-a')!.distances).includes('node-b'));
  });

  it('refuses a second node with a live node\'s name and leaves the first untouched', async () => {
    const before = (await coord.get('/flotilla/nodes/node-a'))!;
    await assert.rejects(startNode(hooks, 'node-a', ['--join', server.grpc]), /already_exists\] node name "node-a" is already registered by a running node/);
    const now = (await coord.get('/flotilla/nodes/node-a'))!;
    assert.equal(now.modRevision, before.modRevision);
    assert.deepEqual(await statuses(peers, server.grpc), all({}));
  });

  it('kill -9: every other process shows it DISCONNECTED, and ACTIVE again after a restart', async () => {
    await c.kill();
    const others = [server.grpc, a.peer, b.peer];
    // Failure detection is 3 s by default; the polling allows for a slow machine.
    await eventually(
      'node-c DISCONNECTED everywhere',
      async () => (await Promise.all(others.map((o) => statuses(peers, o)))).every((v) => v['node-c']?.startsWith('DISCONNECTED') === true),
      8000,
    );
    // Restarted at once: its old lease may still be alive; the same node (same data dir) takes its name back.
    await c.restart();
    await allSee(peers, observers(), all({}), 5000);
  });

  it('kill -9: others drop it when its lease expires', async () => {
    await c.kill();
    const others = [server.grpc, a.peer, b.peer];
    await allSee(peers, others, all({ 'node-c': 'DISCONNECTED/unregistered' }), 15_000);
    assert.equal(await coord.get('/flotilla/nodes/node-c'), undefined);
    await c.restart();
    await allSee(peers, observers(), all({}), 5000);
  });

  it('SIGTERM: it leaves cleanly and shows SHUTOFF at once; a restart makes it ACTIVE again', async () => {
    const exit = await b.stop();
    assert.equal(exit.code, 0);
    assert.match(b.output(), /left the cluster/);
    // Clean leave: the record is marked left before the process exits, so others see SHUTOFF at once.
    await allSee(peers, [server.grpc, a.peer, c.peer], all({ 'node-b': 'SHUTOFF/unregistered' }), 2000);
    assert.equal(await coord.get('/flotilla/nodes/node-b'), undefined, 'its lease was revoked');
    await b.restart();
    await allSee(peers, observers(), all({}), 5000);
  });
});
