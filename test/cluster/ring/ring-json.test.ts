import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Code, FlotillaError } from '../../../src/core/errors.js';
import { RING_FORMAT, addDevice, buildRing, primaryNodes, ringFromJSON } from '../../../src/cluster/ring/index.js';
import type { Ring, RingJSON } from '../../../src/cluster/ring/index.js';
import { HOUR, devices, rows } from './ring-fixtures.js';

function sample(): Ring {
  const devs = [...devices(5, 3), { id: 'meta-node', zone: 'z1', weight: 2, meta: { addr: '127.0.0.1:7101', backend: 'dir' } }];
  const ring = buildRing({ name: 'kv', partPower: 6, replicas: 3, devices: devs, now: () => 0, minPartMoveIntervalMs: HOUR });
  return addDevice(ring, { id: 'late', zone: 'z3', weight: 1 }, { now: () => 5 * HOUR }).ring;
}

function clone(ring: Ring): RingJSON {
  return JSON.parse(JSON.stringify(ring)) as RingJSON;
}

function u16(values: number[]): string {
  const buf = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => buf.writeUInt16LE(v, i * 2));
  return buf.toString('base64');
}

function refuses(input: unknown): FlotillaError {
  let caught: unknown;
  try {
    ringFromJSON(input);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof FlotillaError, `expected a FlotillaError, got ${String(caught)}`);
  assert.equal(caught.code, Code.INVALID_ARGUMENT);
  return caught;
}

void describe('ring JSON', () => {
  void it('round-trips exactly, from text or from the object', () => {
    const ring = sample();
    const text = JSON.stringify(ring);
    for (const back of [ringFromJSON(text), ringFromJSON(JSON.parse(text))]) {
      assert.equal(JSON.stringify(back), text);
      assert.deepEqual(rows(back), rows(ring));
      for (let p = 0; p < ring.partitionCount; p++) assert.equal(back.lastMovedMs(p), ring.lastMovedMs(p));
      assert.equal(back.version, ring.version);
      assert.deepEqual(back.device('meta-node')?.meta, { addr: '127.0.0.1:7101', backend: 'dir' });
    }
  });

  void it('keeps "never moved" and real move times apart', () => {
    const ring = sample();
    const times = new Set(Array.from({ length: ring.partitionCount }, (_, p) => ring.lastMovedMs(p)));
    assert.ok(times.has(null) && times.has(5 * HOUR), [...times].join());
    const back = ringFromJSON(JSON.stringify(ring));
    assert.deepEqual(new Set(Array.from({ length: back.partitionCount }, (_, p) => back.lastMovedMs(p))), times);
  });

  void it('accepts devices listed out of order and remaps the tables', () => {
    const ring = sample();
    const j = clone(ring);
    const order = j.devices.map((_, i) => i).reverse();
    const reversed = order.map((i) => j.devices[i]!);
    const newIndexOf = new Map(order.map((oldIndex, newIndex) => [oldIndex, newIndex]));
    j.replica2part2dev = j.replica2part2dev.map((text) => {
      const buf = Buffer.from(text, 'base64');
      const vals = Array.from({ length: buf.length / 2 }, (_, i) => newIndexOf.get(buf.readUInt16LE(i * 2))!);
      return u16(vals);
    });
    j.devices = reversed;
    const back = ringFromJSON(j);
    assert.deepEqual(rows(back), rows(ring));
    assert.equal(JSON.stringify(back), JSON.stringify(ring));
  });

  void it('ignores unknown fields a newer writer may add', () => {
    const j = { ...clone(sample()), comment: 'hello' };
    assert.equal(ringFromJSON(j).name, 'kv');
  });

  void it('makes an immutable ring', () => {
    const ring = ringFromJSON(JSON.stringify(sample()));
    assert.throws(() => {
      (ring as unknown as { version: number }).version = 9;
    }, TypeError);
    assert.throws(() => {
      (ring.devices as RingJSON['devices']).push({ id: 'x', zone: 'z', weight: 1 });
    }, TypeError);
    assert.throws(() => {
      (ring.devices[0] as { weight: number }).weight = 5;
    }, TypeError);
  });

  const corruptions: [string, (j: RingJSON) => unknown][] = [
    ['text that is not JSON', () => '{"format":'],
    ['null', () => null],
    ['an array', () => []],
    ['a number', () => 42],
    ['another format', (j) => ({ ...j, format: 'flotilla.ring.v2' })],
    ['no name', (j) => ({ ...j, name: undefined })],
    ['version 0', (j) => ({ ...j, version: 0 })],
    ['a fractional version', (j) => ({ ...j, version: 1.5 })],
    ['part power 21', (j) => ({ ...j, partPower: 21 })],
    ['part power not matching the tables', (j) => ({ ...j, partPower: j.partPower + 1 })],
    ['replicas not matching the tables', (j) => ({ ...j, replicas: j.replicas - 1 })],
    ['no devices', (j) => ({ ...j, devices: [] })],
    ['a duplicate device id', (j) => ({ ...j, devices: [...j.devices.slice(0, -1), { ...j.devices[0]! }] })],
    ['a negative weight', (j) => ({ ...j, devices: j.devices.map((d, i) => (i === 0 ? { ...d, weight: -1 } : d)) })],
    ['a table that is not base64', (j) => ({ ...j, replica2part2dev: j.replica2part2dev.map((t, i) => (i === 0 ? `!${t.slice(1)}` : t)) })],
    ['a truncated table', (j) => ({ ...j, replica2part2dev: j.replica2part2dev.map((t, i) => (i === 1 ? t.slice(0, -4) : t)) })],
    ['a table that is not a string', (j) => ({ ...j, replica2part2dev: [1, 2, 3] })],
    ['a device index out of range', (j) => ({ ...j, replica2part2dev: [u16(new Array<number>(2 ** j.partPower).fill(999)), ...j.replica2part2dev.slice(1)] })],
    ['two replicas of a partition on one device', (j) => ({ ...j, replica2part2dev: [j.replica2part2dev[0], j.replica2part2dev[0], j.replica2part2dev[2]] })],
    ['move times out of order', (j) => ({ ...j, moveTimesMs: [5, 3] })],
    ['a move time that is not a number', (j) => ({ ...j, moveTimesMs: ['soon'] })],
    ['a last-moved index beyond the move times', (j) => ({ ...j, moveTimesMs: [], lastMoved: u16(new Array<number>(2 ** j.partPower).fill(1)) })],
    ['a truncated last-moved table', (j) => ({ ...j, lastMoved: j.lastMoved.slice(0, 8) })],
    ['a negative interval', (j) => ({ ...j, minPartMoveIntervalMs: -5 })],
  ];
  for (const [name, corrupt] of corruptions) {
    void it(`refuses ${name} with a clear error`, () => {
      const err = refuses(corrupt(clone(sample())));
      assert.match(err.message, /invalid ring JSON/);
    });
  }

  void it('never crashes on damaged text: a ring or a FlotillaError', () => {
    const text = JSON.stringify(buildRing({ name: 'kv', partPower: 3, replicas: 2, devices: devices(3, 2), now: () => 0 }));
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat({ max: text.length - 1 }), fc.constantFrom('"', '{', '}', ',', '0', '9', 'A', '=', ' ', '\\', '-', '')), { minLength: 1, maxLength: 4 }), (edits) => {
        let damaged = text;
        for (const [at, ch] of edits) damaged = damaged.slice(0, at) + ch + damaged.slice(at + 1);
        try {
          const ring = ringFromJSON(damaged);
          for (let p = 0; p < ring.partitionCount; p++) assert.equal(new Set(primaryNodes(ring, p)).size, ring.replicas);
        } catch (err) {
          assert.ok(err instanceof FlotillaError && err.code === Code.INVALID_ARGUMENT, String(err));
        }
      }),
      { numRuns: 300 },
    );
  });

  void it('never crashes on arbitrary JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        refuses(value);
      }),
      { numRuns: 200 },
    );
    refuses({ format: RING_FORMAT });
  });
});
