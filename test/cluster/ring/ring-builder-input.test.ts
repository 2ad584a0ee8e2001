import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Code, FlotillaError } from '../../../src/core/errors.js';
import { addDevice, buildRing, countMoves, rebalanceRing, removeDevice, ringStats, setWeight } from '../../../src/cluster/ring/index.js';
import { devices } from './ring-fixtures.js';

void describe('ring builder: bad input', () => {
  const good = { name: 'kv', partPower: 4, replicas: 2, devices: devices(3, 3) };
  const cases: [string, Record<string, unknown>, string][] = [
    ['no devices', { devices: [] }, Code.FAILED_PRECONDITION],
    ['more replicas than devices', { replicas: 4 }, Code.FAILED_PRECONDITION],
    ['more replicas than devices with weight', { devices: [...devices(2, 2), { id: 'x', zone: 'z', weight: 0 }], replicas: 3 }, Code.FAILED_PRECONDITION],
    ['zero total weight', { devices: devices(3, 3, 0) }, Code.FAILED_PRECONDITION],
    ['duplicate device id', { devices: [...devices(3, 3), { id: 'd1', zone: 'z9', weight: 1 }] }, Code.INVALID_ARGUMENT],
    ['part power 0', { partPower: 0 }, Code.INVALID_ARGUMENT],
    ['part power 21', { partPower: 21 }, Code.INVALID_ARGUMENT],
    ['part power 2.5', { partPower: 2.5 }, Code.INVALID_ARGUMENT],
    ['part power NaN', { partPower: Number.NaN }, Code.INVALID_ARGUMENT],
    ['part power as a string', { partPower: '4' }, Code.INVALID_ARGUMENT],
    ['replicas 0', { replicas: 0 }, Code.INVALID_ARGUMENT],
    ['replicas 17', { replicas: 17 }, Code.INVALID_ARGUMENT],
    ['negative weight', { devices: [...devices(2, 2), { id: 'x', zone: 'z', weight: -1 }] }, Code.INVALID_ARGUMENT],
    ['NaN weight', { devices: [...devices(2, 2), { id: 'x', zone: 'z', weight: Number.NaN }] }, Code.INVALID_ARGUMENT],
    ['infinite weight', { devices: [...devices(2, 2), { id: 'x', zone: 'z', weight: Infinity }] }, Code.INVALID_ARGUMENT],
    ['empty device id', { devices: [...devices(2, 2), { id: '', zone: 'z', weight: 1 }] }, Code.INVALID_ARGUMENT],
    ['device id with a slash', { devices: [...devices(2, 2), { id: 'a/b', zone: 'z', weight: 1 }] }, Code.INVALID_ARGUMENT],
    ['missing zone', { devices: [...devices(2, 2), { id: 'x', weight: 1 }] }, Code.INVALID_ARGUMENT],
    ['meta with a number', { devices: [...devices(2, 2), { id: 'x', zone: 'z', weight: 1, meta: { a: 1 } }] }, Code.INVALID_ARGUMENT],
    ['a device that is not an object', { devices: [...devices(2, 2), null] }, Code.INVALID_ARGUMENT],
    ['devices not an array', { devices: 'd0,d1' }, Code.INVALID_ARGUMENT],
    ['bad ring name', { name: 'k v' }, Code.INVALID_ARGUMENT],
    ['negative interval', { minPartMoveIntervalMs: -1 }, Code.INVALID_ARGUMENT],
    ['clock returning NaN', { now: () => Number.NaN }, Code.INVALID_ARGUMENT],
  ];
  for (const [name, patch, code] of cases) {
    void it(`refuses ${name} with ${code}`, () => {
      assert.throws(
        () => buildRing({ ...good, ...patch }),
        (err: unknown) => err instanceof FlotillaError && err.code === code,
      );
    });
  }

  void it('refuses bad changes to a ring with clear codes', () => {
    const ring = buildRing({ ...good, now: () => 0 });
    const refuse = (fn: () => unknown, code: string): void => {
      assert.throws(fn, (err: unknown) => err instanceof FlotillaError && err.code === code);
    };
    refuse(() => addDevice(ring, { id: 'd0', zone: 'z', weight: 1 }), Code.ALREADY_EXISTS);
    refuse(() => addDevice(ring, { id: 'bad id', zone: 'z', weight: 1 }), Code.INVALID_ARGUMENT);
    refuse(() => removeDevice(ring, 'nope'), Code.NOT_FOUND);
    refuse(() => removeDevice(removeDevice(ring, 'd0').ring, 'd1'), Code.FAILED_PRECONDITION);
    refuse(() => setWeight(ring, 'nope', 1), Code.NOT_FOUND);
    refuse(() => setWeight(ring, 'd0', -2), Code.INVALID_ARGUMENT);
    refuse(() => setWeight(setWeight(ring, 'd0', 0).ring, 'd1', 0), Code.FAILED_PRECONDITION);
    refuse(() => rebalanceRing(ring, { minPartMoveIntervalMs: Number.NaN }), Code.INVALID_ARGUMENT);
    refuse(() => rebalanceRing(ring, { devices: [...ring.devices, ring.devices[0]!] }), Code.INVALID_ARGUMENT);
  });
});

void describe('ring stats', () => {
  void it('reports shares against plan and weight, and zone spread', () => {
    const ring = buildRing({ name: 'kv', partPower: 8, replicas: 3, devices: [...devices(3, 3, 1), { id: 'w', zone: 'z0', weight: 0 }] });
    const stats = ringStats(ring);
    assert.equal(stats.partitions, 256);
    assert.equal(stats.zones, 3);
    assert.equal(stats.bestZoneSpread, 3);
    assert.equal(stats.partitionsBelowBestSpread, 0);
    assert.equal(stats.maxBalancePercent, 0);
    const w = stats.devices.find((d) => d.id === 'w')!;
    assert.equal(w.replicas, 0);
    assert.equal(w.balancePercent, null);
    assert.equal(stats.devices.find((d) => d.id === 'd0')!.replicas, 256);
  });

  void it('countMoves refuses rings of different shapes', () => {
    const a = buildRing({ name: 'kv', partPower: 4, replicas: 1, devices: devices(2, 2) });
    const b = buildRing({ name: 'kv', partPower: 5, replicas: 1, devices: devices(2, 2) });
    assert.throws(() => countMoves(a, b), (err: unknown) => err instanceof FlotillaError && err.code === Code.INVALID_ARGUMENT);
  });
});
