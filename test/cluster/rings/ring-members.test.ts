/** Ring devices from an admin's list, from node records, and device weights from capacity. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { membersFromNodeRecords, parseDeviceList, weightFromCapacity } from '../../../src/cluster/rings/index.js';

describe('parseDeviceList', () => {
  it('reads ID:ZONE[:WEIGHT] entries, weight 1 by default', () => {
    assert.deepEqual(parseDeviceList('a:z1:1, b:z2:2.5,c:z3'), {
      value: [
        { id: 'a', zone: 'z1', weight: 1 },
        { id: 'b', zone: 'z2', weight: 2.5 },
        { id: 'c', zone: 'z3', weight: 1 },
      ],
    });
  });

  const bad: [string, RegExp][] = [
    ['', /bad device list/],
    [' ', /bad device list/],
    ['a:z1,', /bad device list/],
    ['a', /bad device "a": expected ID:ZONE\[:WEIGHT\]/],
    ['a:z1:1:2', /bad device "a:z1:1:2"/],
    [':z1:1', /bad device ":z1:1"/],
    ['a::1', /bad device "a::1"/],
    ['a:z1:', /bad device "a:z1:"/],
    ['a:z1:-1', /the weight must be a number >= 0, got "-1"/],
    ['a:z1:1e3', /the weight must be a number >= 0/],
    ['a:z1:Infinity', /the weight must be a number >= 0/],
    ['a:z1:0x10', /the weight must be a number >= 0/],
  ];
  for (const [text, message] of bad) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      const r = parseDeviceList(text);
      assert.ok(r.error !== undefined, `accepted: ${JSON.stringify(r)}`);
      assert.match(r.error, message);
    });
  }
});

describe('membersFromNodeRecords', () => {
  it('takes registered nodes that have not left, filters by role, weighs by capacity, reports junk', () => {
    const gib = 1024 ** 3;
    const records = [
      JSON.stringify({ name: 'node-b', zone: 'z2', roles: ['kv'], backend: { capacityBytes: 2 * gib } }),
      JSON.stringify({ name: 'node-a', zone: 'z1', roles: ['kv', 'objects'] }),
      JSON.stringify({ name: 'node-c', zone: 'z3', roles: ['agent'] }),
      JSON.stringify({ name: 'node-d', zone: 'z1', roles: ['kv'], leftAt: '2026-01-01T00:00:00Z' }),
      'not json',
      JSON.stringify({ name: 'node-e' }),
    ];
    const all = membersFromNodeRecords(records);
    assert.deepEqual(all.members.map((m) => m.name), ['node-a', 'node-b', 'node-c']);
    assert.deepEqual(all.skipped, ['record 4: not JSON', 'record 5: no name and zone']);
    const kv = membersFromNodeRecords(records, { role: 'kv' });
    assert.deepEqual(kv.members, [
      { name: 'node-a', zone: 'z1', weight: 1 },
      { name: 'node-b', zone: 'z2', weight: 2 },
    ]);
  });

  it('weighs capacity in GiB, 1 when unknown', () => {
    assert.equal(weightFromCapacity(undefined), 1);
    assert.equal(weightFromCapacity(0), 1);
    assert.equal(weightFromCapacity(Number.NaN), 1);
    assert.equal(weightFromCapacity(1024 ** 4), 1024);
    assert.equal(weightFromCapacity(1), 0.001);
  });
});
