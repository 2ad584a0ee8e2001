import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Code, FlotillaError } from '../../../src/core/errors.js';
import { addDevice, buildRing, countMoves, rebalanceRing, removeDevice, ringStats, setWeight } from '../../../src/cluster/ring/index.js';
import type { Ring, RingDevice } from '../../../src/cluster/ring/index.js';
import { HOUR, activeCount, clock, devices, devicesArb, movedSlots, replicaCounts, rows } from './ring-fixtures.js';

/** Checks that replicas are as far apart as the zones allow: no replica could move to a less-used zone. */
function assertSpread(ring: Ring): void {
  const active = ring.devices.filter((d) => d.weight > 0);
  const zoneSize = new Map<string, number>();
  for (const d of active) zoneSize.set(d.zone, (zoneSize.get(d.zone) ?? 0) + 1);
  const best = Math.min(ring.replicas, zoneSize.size);
  rows(ring).forEach((row, p) => {
    const used = new Map<string, number>();
    for (const id of row) {
      const zone = ring.device(id)!.zone;
      used.set(zone, (used.get(zone) ?? 0) + 1);
    }
    assert.equal(used.size, best, `partition ${p} spans ${used.size} zones, want ${best}`);
    for (const [a, ca] of used) {
      for (const [b, size] of zoneSize) {
        const cb = used.get(b) ?? 0;
        assert.ok(!(ca >= cb + 2 && cb < size), `partition ${p}: ${ca} replicas in zone ${a} but ${cb} in ${b}`);
      }
    }
  });
}

function assertDistinct(ring: Ring): void {
  rows(ring).forEach((row, p) => assert.equal(new Set(row).size, row.length, `partition ${p} has two replicas on one device: ${row.join(',')}`));
}

const buildArgs = fc.record({ devices: devicesArb, replicas: fc.integer({ min: 1, max: 4 }), partPower: fc.integer({ min: 1, max: 8 }) });

void describe('ring builder: placement rules', () => {
  void it('never puts two replicas of a partition on one device, for any device set', () => {
    fc.assert(
      fc.property(buildArgs, ({ devices: devs, replicas, partPower }) => {
        fc.pre(activeCount(devs) >= replicas);
        assertDistinct(buildRing({ name: 'kv', partPower, replicas, devices: devs, now: () => 0 }));
      }),
      { numRuns: 150 },
    );
  });

  void it('spreads each partition over min(replicas, zones) zones, as evenly as the zones allow', () => {
    fc.assert(
      fc.property(buildArgs, ({ devices: devs, replicas, partPower }) => {
        fc.pre(activeCount(devs) >= replicas);
        assertSpread(buildRing({ name: 'kv', partPower, replicas, devices: devs, now: () => 0 }));
      }),
      { numRuns: 150 },
    );
  });

  void it('puts one replica per zone with 3 zones, and 2 + 1 with 2 zones', () => {
    const three = buildRing({ name: 'kv', partPower: 8, replicas: 3, devices: devices(6, 3) });
    for (const row of rows(three)) assert.equal(new Set(row.map((id) => three.device(id)!.zone)).size, 3);
    const two = buildRing({ name: 'kv', partPower: 8, replicas: 3, devices: devices(5, 2) });
    for (const row of rows(two)) {
      const zones = row.map((id) => two.device(id)!.zone).sort();
      assert.ok(zones.join() === 'z0,z0,z1' || zones.join() === 'z0,z1,z1', zones.join());
    }
  });

  void it('gives every device its planned share on a new ring (within one replica)', () => {
    fc.assert(
      fc.property(buildArgs, ({ devices: devs, replicas, partPower }) => {
        fc.pre(activeCount(devs) >= replicas);
        const stats = ringStats(buildRing({ name: 'kv', partPower, replicas, devices: devs, now: () => 0 }));
        for (const d of stats.devices) assert.ok(Math.abs(d.replicas - d.target) <= 1, `${d.id}: ${d.replicas} replicas, target ${d.target}`);
        assert.equal(stats.partitionsBelowBestSpread, 0);
      }),
      { numRuns: 150 },
    );
  });

  void it('honours weights 1:2 within 2%', () => {
    const cases: { name: string; devs: RingDevice[]; replicas: number }[] = [
      { name: 'one zone, one replica', devs: [{ id: 'a', zone: 'z', weight: 1 }, { id: 'b', zone: 'z', weight: 2 }], replicas: 1 },
      {
        name: 'three zones, three replicas',
        devs: [...devices(3, 3, 100), ...devices(6, 3, 200).slice(3)],
        replicas: 3,
      },
    ];
    for (const c of cases) {
      const ring = buildRing({ name: 'kv', partPower: 10, replicas: c.replicas, devices: c.devs });
      const counts = replicaCounts(ring);
      const total = ring.partitionCount * ring.replicas;
      const weightSum = c.devs.reduce((s, d) => s + d.weight, 0);
      for (const d of c.devs) {
        const share = (counts.get(d.id) ?? 0) / total;
        const want = d.weight / weightSum;
        assert.ok(Math.abs(share / want - 1) < 0.02, `${c.name}: ${d.id} share ${share}, want ${want}`);
      }
    }
  });

  void it('builds the smallest ring (2 partitions) and a single-device ring', () => {
    assertDistinct(buildRing({ name: 'kv', partPower: 1, replicas: 2, devices: devices(2, 1) }));
    const one = buildRing({ name: 'kv', partPower: 4, replicas: 1, devices: devices(1, 1) });
    assert.deepEqual(new Set(rows(one).flat()), new Set(['d0']));
  });
});

void describe('ring builder: changes', () => {
  void it('adding a 4th equal device to 3 moves about what the new device should receive', () => {
    for (const zone of ['z3', 'z0']) {
      const ring = buildRing({ name: 'kv', partPower: 10, replicas: 3, devices: devices(3, 3), now: () => 0 });
      const res = addDevice(ring, { id: 'd3', zone, weight: 1 }, { now: () => HOUR });
      const ideal = ringStats(res.ring).devices.find((d) => d.id === 'd3')!.target;
      assert.ok(ideal > 0);
      assert.ok(Math.abs(res.movedReplicas - ideal) <= 0.1 * ideal, `zone ${zone}: moved ${res.movedReplicas}, ideal ${ideal}`);
      assert.equal(res.movedReplicas, countMoves(ring, res.ring));
      assert.ok(Math.abs(replicaCounts(res.ring).get('d3')! - ideal) <= 1);
      for (const m of movedSlots(ring, res.ring)) assert.equal(m.to, 'd3', 'every move goes to the new device');
      assertSpread(res.ring);
    }
  });

  void it('adding a weighted device to a weighted ring moves about what it should receive', () => {
    const devs = Array.from({ length: 10 }, (_, i) => ({ id: `n${i}`, zone: `z${i % 4}`, weight: 1 + (i % 3) }));
    for (const zone of ['z9', 'z0']) {
      const ring = buildRing({ name: 'kv', partPower: 12, replicas: 3, devices: devs, now: () => 0 });
      const res = addDevice(ring, { id: 'new', zone, weight: 2 }, { now: () => HOUR });
      const ideal = replicaCounts(res.ring).get('new')!;
      assert.ok(Math.abs(res.movedReplicas - ideal) <= 0.1 * ideal, `zone ${zone}: moved ${res.movedReplicas}, ideal ${ideal}`);
      assert.equal(res.pendingReplicas, 0);
      assert.equal(ringStats(res.ring).maxBalancePercent, 0);
    }
  });

  void it('removing a device moves only its replicas when the rest stays balanced', () => {
    const ring = buildRing({ name: 'kv', partPower: 10, replicas: 3, devices: devices(4, 4), now: () => 0 });
    const held = replicaCounts(ring).get('d2')!;
    // Within the interval of the build on purpose: a removed device's replicas move regardless.
    const res = removeDevice(ring, 'd2', { now: () => 1 });
    assert.equal(res.movedReplicas, held);
    for (const m of movedSlots(ring, res.ring)) assert.equal(m.from, 'd2');
    assert.equal(res.ring.device('d2'), undefined);
    assert.equal(res.pendingReplicas, 0);
    assertSpread(res.ring);
  });

  void it('removing a device from an uneven ring moves its replicas plus what balance needs', () => {
    const devs = [...devices(6, 3, 1), { id: 'big', zone: 'z0', weight: 3 }];
    const ring = buildRing({ name: 'kv', partPower: 10, replicas: 3, devices: devs, now: () => 0 });
    const held = replicaCounts(ring).get('big')!;
    const res = removeDevice(ring, 'big', { now: () => HOUR });
    assert.ok(res.movedReplicas >= held && res.movedReplicas <= held * 1.1, `moved ${res.movedReplicas}, held ${held}`);
    assert.equal(ringStats(res.ring).maxBalancePercent, 0);
  });

  void it('drains a device of weight 0 and never gives it anything new', () => {
    const c = clock(0);
    let ring = buildRing({ name: 'kv', partPower: 8, replicas: 2, devices: devices(4, 2), now: c.now });
    let before = replicaCounts(ring).get('d1')!;
    let res = setWeight(ring, 'd1', 0, { now: c.now });
    for (let i = 0; i < 5 && replicaCounts(res.ring).get('d1')! > 0; i++) {
      assert.ok(replicaCounts(res.ring).get('d1')! <= before);
      before = replicaCounts(res.ring).get('d1')!;
      c.advance(HOUR);
      ring = res.ring;
      res = rebalanceRing(ring, { now: c.now });
    }
    assert.equal(replicaCounts(res.ring).get('d1'), 0);
    assert.equal(ringStats(res.ring).drainingReplicas, 0);
    assertDistinct(res.ring);
  });

  void it('keeps the replica index of a replica that does not move', () => {
    const ring = buildRing({ name: 'kv', partPower: 8, replicas: 3, devices: devices(3, 3), now: () => 0 });
    const res = addDevice(ring, { id: 'd3', zone: 'z3', weight: 1 }, { now: () => HOUR });
    for (let r = 0; r < 3; r++) {
      for (let p = 0; p < ring.partitionCount; p++) {
        const now = res.ring.deviceIdAt(r, p);
        assert.ok(now === ring.deviceIdAt(r, p) || now === 'd3');
      }
    }
  });

  void it('returns the same ring when nothing changes, and version + 1 on every change', () => {
    const ring = buildRing({ name: 'kv', partPower: 6, replicas: 2, devices: devices(3, 3), now: () => 0 });
    assert.equal(ring.version, 1);
    const same = rebalanceRing(ring, { now: () => HOUR });
    assert.equal(same.changed, false);
    assert.equal(same.ring, ring);
    const meta = rebalanceRing(ring, { devices: ring.devices.map((d) => ({ ...d, meta: { addr: `${d.id}:7101` } })), now: () => HOUR });
    assert.equal(meta.changed, true);
    assert.equal(meta.movedReplicas, 0);
    assert.equal(meta.ring.version, 2);
    const added = addDevice(meta.ring, { id: 'd9', zone: 'z0', weight: 1 }, { now: () => 2 * HOUR });
    assert.equal(added.ring.version, 3);
  });
});

void describe('ring builder: minimum interval between moves of a partition', () => {
  function movedPartitions(a: Ring, b: Ring): Set<number> {
    return new Set(movedSlots(a, b).map((m) => m.partition));
  }

  void it('does not move a partition again within the interval, then finishes after it', () => {
    const c = clock(0);
    const r0 = buildRing({ name: 'kv', partPower: 9, replicas: 3, devices: devices(3, 3), now: c.now, minPartMoveIntervalMs: HOUR });
    c.advance(10 * HOUR);
    const first = addDevice(r0, { id: 'd3', zone: 'z3', weight: 1 }, { now: c.now });
    const firstMoved = movedPartitions(r0, first.ring);
    assert.ok(firstMoved.size > 0);
    c.advance(HOUR / 2);
    const second = addDevice(first.ring, { id: 'd4', zone: 'z4', weight: 1 }, { now: c.now });
    const secondMoved = movedPartitions(first.ring, second.ring);
    for (const p of secondMoved) assert.ok(!firstMoved.has(p), `partition ${p} moved twice within the interval`);
    assert.ok(second.pendingReplicas > 0, 'work is left for after the interval');
    c.advance(HOUR);
    const third = rebalanceRing(second.ring, { now: c.now });
    assert.equal(third.pendingReplicas, 0);
    assert.equal(ringStats(third.ring).maxBalancePercent, 0);
  });

  void it('moves the replicas of a removed device even within the interval', () => {
    const c = clock(0);
    const r0 = buildRing({ name: 'kv', partPower: 8, replicas: 3, devices: devices(4, 4), now: c.now });
    c.advance(2 * HOUR);
    const first = addDevice(r0, { id: 'd4', zone: 'z4', weight: 1 }, { now: c.now });
    c.advance(60_000);
    const removed = removeDevice(first.ring, 'd4', { now: c.now });
    assert.equal(replicaCounts(removed.ring).has('d4'), false);
    const moves = movedSlots(first.ring, removed.ring);
    assert.equal(moves.filter((m) => m.from === 'd4').length, replicaCounts(first.ring).get('d4'));
    // Anything else that moved (balance) respects the interval.
    const recent = movedPartitions(r0, first.ring);
    for (const m of moves) if (m.from !== 'd4') assert.ok(!recent.has(m.partition), `partition ${m.partition} moved twice within the interval`);
    assertDistinct(removed.ring);
  });

  void it('moves at most one replica of a partition per rebalance when the interval is above 0', () => {
    const r0 = buildRing({ name: 'kv', partPower: 8, replicas: 3, devices: devices(3, 3), now: () => 0 });
    const res = rebalanceRing(r0, { devices: devices(9, 9), now: () => HOUR });
    const perPartition = new Map<number, number>();
    for (const m of movedSlots(r0, res.ring)) perPartition.set(m.partition, (perPartition.get(m.partition) ?? 0) + 1);
    for (const [p, n] of perPartition) assert.equal(n, 1, `partition ${p} moved ${n} replicas`);
    assert.ok(res.pendingReplicas > 0);
  });

  void it('with an interval of 0 finishes a large change in one rebalance', () => {
    const r0 = buildRing({ name: 'kv', partPower: 8, replicas: 3, devices: devices(3, 3), now: () => 0, minPartMoveIntervalMs: 0 });
    const res = rebalanceRing(r0, { devices: devices(9, 9), now: () => 0 });
    assert.equal(res.pendingReplicas, 0);
    assert.equal(ringStats(res.ring).maxBalancePercent, 0);
    assertSpread(res.ring);
  });
});

void describe('ring builder: determinism', () => {
  void it('gives identical JSON for the same inputs, whatever the device order', () => {
    const devs = [...devices(5, 3, 2), { id: 'x', zone: 'z1', weight: 3, meta: { b: '2', a: '1' } }];
    const a = buildRing({ name: 'kv', partPower: 8, replicas: 3, devices: devs, now: () => 5 });
    const b = buildRing({ name: 'kv', partPower: 8, replicas: 3, devices: [...devs].reverse(), now: () => 5 });
    assert.equal(JSON.stringify(a), JSON.stringify(b));
  });

  void it('is a function of its inputs: random builds and rebalances repeat exactly', () => {
    fc.assert(
      fc.property(buildArgs, devicesArb, ({ devices: devs, replicas, partPower }, extra) => {
        fc.pre(activeCount(devs) >= replicas);
        const a = buildRing({ name: 'kv', partPower, replicas, devices: devs, now: () => 0 });
        const b = buildRing({ name: 'kv', partPower, replicas, devices: [...devs].reverse(), now: () => 0 });
        assert.equal(JSON.stringify(a), JSON.stringify(b));
        const next = [...devs.slice(1), ...extra.filter((e) => !devs.some((d) => d.id === e.id))];
        fc.pre(activeCount(next) >= replicas);
        const ra = rebalanceRing(a, { devices: next, now: () => HOUR });
        const rb = rebalanceRing(b, { devices: [...next].reverse(), now: () => HOUR });
        assert.equal(JSON.stringify(ra.ring), JSON.stringify(rb.ring));
        assert.equal(ra.movedReplicas, rb.movedReplicas);
      }),
      { numRuns: 100 },
    );
  });
});

void describe('ring builder: invariants over random change sequences', () => {
  const change = fc.oneof(
    fc.record({ kind: fc.constant('add' as const), device: fc.record({ id: fc.stringMatching(/^[a-z0-9]{1,6}$/), zone: fc.constantFrom('a', 'b', 'c', 'd'), weight: fc.integer({ min: 0, max: 5 }) }) }),
    fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }),
    fc.record({ kind: fc.constant('weight' as const), pick: fc.nat(), weight: fc.integer({ min: 0, max: 5 }) }),
    fc.record({ kind: fc.constant('rebalance' as const) }),
  );

  void it('keeps replicas distinct, off removed devices, and never adds to a device of weight 0', () => {
    fc.assert(
      fc.property(buildArgs, fc.array(change, { maxLength: 6 }), fc.integer({ min: 0, max: 2 * HOUR }), ({ devices: devs, replicas, partPower }, changes, stepMs) => {
        fc.pre(activeCount(devs) >= replicas);
        const c = clock(0);
        let ring = buildRing({ name: 'kv', partPower, replicas, devices: devs, now: c.now });
        for (const ch of changes) {
          c.advance(stepMs);
          let next: Ring;
          try {
            if (ch.kind === 'add') next = addDevice(ring, ch.device, { now: c.now }).ring;
            else if (ch.kind === 'remove') next = removeDevice(ring, ring.devices[ch.pick % ring.devices.length]!.id, { now: c.now }).ring;
            else if (ch.kind === 'weight') next = setWeight(ring, ring.devices[ch.pick % ring.devices.length]!.id, ch.weight, { now: c.now }).ring;
            else next = rebalanceRing(ring, { now: c.now }).ring;
          } catch (err) {
            // Refused changes must be clear errors: an existing id, or too few devices left.
            assert.ok(err instanceof FlotillaError, String(err));
            assert.ok([Code.ALREADY_EXISTS, Code.FAILED_PRECONDITION].includes(err.code as never), err.message);
            continue;
          }
          assertDistinct(next);
          const before = replicaCounts(ring);
          const after = replicaCounts(next);
          for (const d of next.devices) {
            if (d.weight === 0) assert.ok((after.get(d.id) ?? 0) <= (before.get(d.id) ?? 0), `${d.id} (weight 0) gained replicas`);
          }
          for (const id of after.keys()) assert.ok(next.device(id) !== undefined);
          assert.ok(next.version === ring.version || next.version === ring.version + 1);
          ring = next;
        }
      }),
      { numRuns: 100 },
    );
  });
});
