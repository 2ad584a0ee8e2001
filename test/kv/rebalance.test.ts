import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { partitionsForNode, rebalanceRing } from '../../src/cluster/index.js';
import { keyHash32 } from '../../src/kv/index.js';
import { startHarness } from './kv-harness.js';

const enc = (s: string): Buffer => Buffer.from(s);

describe('KV rebalance', () => {
  it('partitions move to a new node in the background; writes during the move are kept and reads stay correct', async (t) => {
    const h = await startHarness(t, { names: ['node-a', 'node-b', 'node-c', 'node-d'], ringNames: ['node-a', 'node-b', 'node-c'] });
    const a = h.node('node-a').kv.coordinator;
    for (let i = 0; i < 200; i++) await a.put(enc(`k${i}`), enc(`v${i}`));
    await a.idle();
    const { ring: next, movedReplicas } = rebalanceRing(h.ring, {
      devices: [...h.ring.devices, { id: 'node-d', zone: 'z3', weight: 1 }],
    });
    assert.ok(movedReplicas > 0);
    h.setRing(next);
    // Writes and reads during the move, through every node.
    for (let i = 200; i < 300; i++) await h.node(['node-a', 'node-b', 'node-c', 'node-d'][i % 4]!).kv.coordinator.put(enc(`k${i}`), enc(`v${i}`));
    for (let i = 0; i < 300; i += 7) {
      const r = await h.node('node-d').kv.coordinator.get(enc(`k${i}`));
      assert.equal(Buffer.from(r.entry!.value).toString(), `v${i}`, `k${i} during the move`);
    }
    // Background rounds on every node (bounded): new owners pull, old owners hand off.
    for (let round = 0; round < 3; round++) for (const n of h.nodes.values()) await n.kv.antiEntropy.runNow();
    for (const n of h.nodes.values()) await n.kv.coordinator.idle();
    // Each node now holds exactly the keys of its partitions, and every key is on its N primaries.
    const pp = next.partPower;
    for (const n of h.nodes.values()) {
      const owned = new Set(partitionsForNode(next, n.name).map((x) => x.partition));
      const held = (await n.kv.engine.scanPrefix(enc('k'), undefined, 1000)).entries;
      for (const e of held) assert.ok(owned.has(keyHash32(e.key) >>> (32 - pp)), `${n.name} still holds ${Buffer.from(e.key).toString()}`);
    }
    for (let i = 0; i < 300; i++) {
      const r = await h.node('node-b').kv.coordinator.get(enc(`k${i}`), { level: 'all' });
      assert.equal(Buffer.from(r.entry!.value).toString(), `v${i}`);
    }
    const held = await Promise.all([...h.nodes.values()].map(async (n) => (await n.kv.engine.scanPrefix(enc('k'), undefined, 1000)).entries.length));
    assert.equal(held.reduce((x, y) => x + y, 0), 300 * 3);
    assert.ok(held[3]! > 0, 'node-d received data');
  });
});
