/**
 * Issue 3, point 8: with the coordination store (real etcd) stopped for 10 s, nodes keep their view and
 * answer health checks; once it is back they are all registered again, with no manual step.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { checkPeerHealth } from '../../src/cluster/index.js';
import { createCoord } from '../../src/coord/index.js';
import { startEtcd } from '../testkit/index.js';
import { allSee, eventually, peerClients, startNode, startServer, statuses, suiteOwner } from '../testkit/cluster.js';

describe('coordination outage', () => {
  const owner = suiteOwner();

  it('nodes keep their view and answer health checks while etcd is down, and register again when it returns', async () => {
    const etcd = await startEtcd({ t: owner });
    const server = await startServer(owner, { etcd: etcd.endpoint });
    const a = await startNode(owner, 'node-a', ['--join', server.grpc]);
    const b = await startNode(owner, 'node-b', ['--join', a.peer]);
    const peers = peerClients(owner);
    const observers = [server.grpc, a.peer, b.peer];
    const both = { 'node-a': 'ACTIVE', 'node-b': 'ACTIVE' };
    await allSee(peers, observers, both, 5000);

    await etcd.stop();
    const downSince = Date.now();
    // Ten seconds without the store: the view stays, and health checks are answered throughout.
    while (Date.now() - downSince < 10_000) {
      for (const address of observers) {
        const h = await checkPeerHealth(address, peers, { timeoutMs: 2000 });
        assert.ok(h.healthy, `${address} answers while the store is down: ${h.error}`);
      }
      assert.deepEqual(await statuses(peers, a.peer), both);
      assert.deepEqual(await statuses(peers, b.peer), both);
      await sleep(1000);
    }
    const h = await checkPeerHealth(a.peer, peers);
    assert.equal(h.coordinationReachable, false, 'node-a knows the store is unreachable');

    await etcd.restart();
    const coord = await createCoord({ endpoints: [etcd.endpoint] });
    owner.after(() => coord.close());
    // Registered again: each key exists under a lease that is alive and kept alive by the node.
    await eventually(
      'both nodes registered under live leases',
      async () => {
        for (const name of ['node-a', 'node-b']) {
          const kv = await coord.get(`/flotilla/nodes/${name}`);
          if (kv === undefined || kv.lease === '0') return false;
        }
        return true;
      },
      20_000,
    );
    await allSee(peers, observers, both, 10_000);
    // And the registrations stay: well past a lease TTL later they are still there.
    await sleep(6000);
    for (const name of ['node-a', 'node-b']) assert.notEqual(await coord.get(`/flotilla/nodes/${name}`), undefined, `${name} still registered`);
    await allSee(peers, observers, both, 5000);
    assert.match(a.output() + b.output(), /registered again|coordination store reachable again/);
  });
});
