import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, it } from 'node:test';
import { Code, FlotillaError } from '../../../src/core/errors.js';
import { buildRing, handoffNodes, partitionForKey, partitionsForNode, primaryNodes, replicasForKey } from '../../../src/cluster/ring/index.js';
import { devices } from './ring-fixtures.js';

const isInvalid = (err: unknown): boolean => err instanceof FlotillaError && err.code === Code.INVALID_ARGUMENT;

void describe('placement', () => {
  const ring = buildRing({ name: 'kv', partPower: 10, replicas: 2, devices: devices(6, 3), now: () => 0 });

  void it('maps a key to the top bits of its MD5 digest', () => {
    // md5("") = d41d8cd9..., md5("abc") = 90015098...; the top 10 bits.
    assert.equal(partitionForKey(ring, ''), 0xd41d8cd9 >>> 22);
    assert.equal(partitionForKey(ring, 'abc'), 0x90015098 >>> 22);
    assert.equal(partitionForKey(ring, 'abc'), 576);
  });

  void it('hashes a string as its UTF-8 bytes', () => {
    for (const key of ['ключ', 'user/42', '🚀 launch']) {
      assert.equal(partitionForKey(ring, key), partitionForKey(ring, new Uint8Array(Buffer.from(key, 'utf8'))));
    }
  });

  void it('spreads keys evenly over partitions', () => {
    const small = buildRing({ name: 'kv', partPower: 6, replicas: 1, devices: devices(2, 2) });
    const counts = new Array<number>(64).fill(0);
    for (let i = 0; i < 20_000; i++) counts[partitionForKey(small, `key-${i}`)]! += 1;
    const expected = 20_000 / 64;
    for (const c of counts) assert.ok(c > expected * 0.7 && c < expected * 1.3, `partition holds ${c} keys, expected about ${expected}`);
  });

  void it('gives the primaries of a key in replica order', () => {
    const placed = replicasForKey(ring, 'user/42');
    assert.equal(placed.partition, partitionForKey(ring, 'user/42'));
    assert.deepEqual(placed.nodes, [ring.deviceIdAt(0, placed.partition), ring.deviceIdAt(1, placed.partition)]);
    assert.equal(new Set(placed.nodes).size, 2);
  });

  void it('orders handoffs by unused zones first, deterministically, without primaries', () => {
    const firstHandoffs = new Set<string>();
    for (let p = 0; p < ring.partitionCount; p++) {
      const primaries = primaryNodes(ring, p);
      const handoffs = handoffNodes(ring, p);
      assert.deepEqual(handoffNodes(ring, p), handoffs);
      assert.equal(handoffs.length, ring.devices.length - primaries.length);
      assert.deepEqual(new Set([...primaries, ...handoffs]), new Set(ring.devices.map((d) => d.id)));
      const usedZones = new Set(primaries.map((id) => ring.device(id)!.zone));
      // 3 zones, 2 replicas in 2 zones: the first handoff is in the third zone.
      assert.ok(!usedZones.has(ring.device(handoffs[0]!)!.zone), `partition ${p}: first handoff ${handoffs[0]} is in a used zone`);
      // Each handoff comes from a zone used least so far among the zones that still have candidates.
      const use = new Map<string, number>();
      for (const id of primaries) use.set(ring.device(id)!.zone, (use.get(ring.device(id)!.zone) ?? 0) + 1);
      handoffs.forEach((id, i) => {
        const left = new Set(handoffs.slice(i).map((h) => ring.device(h)!.zone));
        const least = Math.min(...[...left].map((z) => use.get(z) ?? 0));
        const zone = ring.device(id)!.zone;
        assert.equal(use.get(zone) ?? 0, least, `partition ${p}: handoff ${i} (${id}) is in a more used zone`);
        use.set(zone, (use.get(zone) ?? 0) + 1);
      });
      firstHandoffs.add(handoffs[0]!);
    }
    assert.equal(firstHandoffs.size, ring.devices.length, 'handoffs vary with the partition');
  });

  void it('puts draining devices last among handoffs', () => {
    const withDrain = buildRing({ name: 'kv', partPower: 5, replicas: 2, devices: [...devices(4, 2), { id: 'drain', zone: 'z9', weight: 0 }] });
    for (let p = 0; p < withDrain.partitionCount; p++) assert.equal(handoffNodes(withDrain, p).at(-1), 'drain');
  });

  void it('lists the partitions a node holds', () => {
    const seen = new Set<string>();
    for (const d of ring.devices) {
      for (const { partition, replica } of partitionsForNode(ring, d.id)) {
        assert.equal(ring.deviceIdAt(replica, partition), d.id);
        seen.add(`${replica}/${partition}`);
      }
    }
    assert.equal(seen.size, ring.partitionCount * ring.replicas);
    assert.deepEqual(partitionsForNode(ring, 'unknown'), []);
  });

  void it('refuses bad keys and partitions with INVALID_ARGUMENT', () => {
    assert.throws(() => partitionForKey(ring, 42 as never), isInvalid);
    assert.throws(() => partitionForKey(ring, null as never), isInvalid);
    for (const p of [-1, 1024, 1.5, Number.NaN]) {
      assert.throws(() => primaryNodes(ring, p), isInvalid);
      assert.throws(() => handoffNodes(ring, p), isInvalid);
    }
    assert.throws(() => ring.deviceIdAt(2, 0), isInvalid);
  });
});
