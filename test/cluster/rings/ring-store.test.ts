/**
 * The ring store over a real (in-process) embedded coordination store: create-only, compare-and-swap
 * updates, the stored form (plain JSON or gzip, size limit), corrupt values.
 */
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { Code, FlotillaError } from '../../../src/core/errors.js';
import { addDevice, buildRing, rebalanceRing, removeDevice } from '../../../src/cluster/ring/index.js';
import { MAX_STORED_RING_BYTES, PLAIN_LIMIT_BYTES, RingStore, ringKey } from '../../../src/cluster/rings/index.js';
import { client, devices, ring, startStore } from './fixtures.js';

function code(err: unknown): string {
  return err instanceof FlotillaError ? err.code : `not a FlotillaError: ${String(err)}`;
}

describe('RingStore', () => {
  it('stores a new ring at /flotilla/rings/<name> and reads it back identical', async (t) => {
    const { endpoint } = await startStore(t);
    const coord = await client(t, endpoint);
    const store = new RingStore(coord);
    const r = ring('kv');
    const stored = await store.create(r);
    assert.equal(stored.encoding, 'json');
    const kv = await coord.get('/flotilla/rings/kv');
    assert.ok(kv);
    assert.equal(JSON.parse(kv.value.toString()).version, 1, 'a small ring is readable JSON');
    const back = await store.get('kv');
    assert.ok(back);
    assert.deepEqual(back.ring.toJSON(), r.toJSON());
    assert.equal(back.modRevision, stored.modRevision);
    assert.equal(await store.get('objects-gold'), undefined);
    await assert.rejects(store.require('objects-gold'), (e) => code(e) === Code.NOT_FOUND && /ring objects-gold does not exist/.test(String(e)));
  });

  it('lists every ring and ignores keys below a ring name', async (t) => {
    const { endpoint } = await startStore(t);
    const coord = await client(t, endpoint);
    const store = new RingStore(coord);
    await store.create(ring('kv'));
    await store.create(ring('gold', { replicas: 2 }));
    await coord.put('/flotilla/rings/kv/notes', 'not a ring');
    const { rings, bad } = await store.list();
    assert.deepEqual(rings.map((s) => [s.ring.name, s.ring.replicas]), [['gold', 2], ['kv', 3]]);
    assert.deepEqual(bad, []);
  });

  it('creates a ring only once: a second create is ALREADY_EXISTS and changes nothing', async (t) => {
    const { endpoint } = await startStore(t);
    const coord = await client(t, endpoint);
    const store = new RingStore(coord);
    const first = await store.create(ring('kv', { n: 3 }));
    await assert.rejects(store.create(ring('kv', { n: 4 })), (e) => code(e) === Code.ALREADY_EXISTS && /ring kv already exists \(version 1\)/.test(String(e)));
    const kv = await coord.get(ringKey('kv'));
    assert.equal(kv?.modRevision, first.modRevision);
    assert.equal(kv?.version, 1);
  });

  it('of two changes made from the same version, one wins and the other gets a version conflict', async (t) => {
    const { endpoint } = await startStore(t);
    const [c1, c2] = [await client(t, endpoint), await client(t, endpoint)];
    const s1 = new RingStore(c1);
    const s2 = new RingStore(c2);
    await s1.create(ring('kv', { n: 3 }));
    const read1 = await s1.require('kv');
    const read2 = await s2.require('kv');
    const a = addDevice(read1.ring, { id: 'node-x', zone: 'z1', weight: 1 }, { now: () => 2_000 });
    const b = addDevice(read2.ring, { id: 'node-y', zone: 'z2', weight: 1 }, { now: () => 2_000 });
    const results = await Promise.allSettled([s1.update(read1, a.ring), s2.update(read2, b.ring)]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(won.length, 1);
    assert.equal(lost.length, 1);
    const err = lost[0]!.reason as FlotillaError;
    assert.equal(err.code, Code.FAILED_PRECONDITION);
    assert.equal(err.retryable, true);
    assert.equal(err.details?.reason, 'ring_version_conflict');
    assert.match(err.message, /version conflict on ring kv: it changed since version 1 was read \(the store now has version 2\)/);
    const now = await s1.require('kv');
    assert.equal(now.ring.version, 2);
    const winner = (won[0] as PromiseFulfilledResult<{ ring: { devices: readonly { id: string }[] } }>).value.ring;
    assert.deepEqual(now.ring.devices.map((d) => d.id), winner.devices.map((d) => d.id));
  });

  it('change() reads, applies a builder change and writes version + 1; a no-op writes nothing', async (t) => {
    const { endpoint } = await startStore(t);
    const coord = await client(t, endpoint);
    const store = new RingStore(coord);
    await store.create(ring('kv', { n: 4 }));
    const noop = await store.change('kv', (r) => rebalanceRing(r, { now: () => 2_000 }));
    assert.equal(noop.stored, undefined);
    assert.equal((await coord.get(ringKey('kv')))?.version, 1);
    const done = await store.change('kv', (r) => removeDevice(r, 'node-d', { now: () => 2_000 }));
    assert.equal(done.stored?.ring.version, 2);
    assert.equal((await store.require('kv')).ring.device('node-d'), undefined);
    await assert.rejects(store.change('nope', (r) => rebalanceRing(r)), (e) => code(e) === Code.NOT_FOUND);
  });

  it('refuses versions that do not follow, and rings of another name', async (t) => {
    const { endpoint } = await startStore(t);
    const store = new RingStore(await client(t, endpoint));
    const stored = await store.create(ring('kv'));
    await assert.rejects(store.update(stored, stored.ring), (e) => code(e) === Code.INVALID_ARGUMENT && /next version of 1 is 2, got 1/.test(String(e)));
    const other = buildRing({ name: 'gold', partPower: 4, replicas: 1, devices: devices(2) });
    await assert.rejects(store.update(stored, other), (e) => code(e) === Code.INVALID_ARGUMENT);
    const v2 = rebalanceRing(stored.ring, { devices: devices(4), now: () => 5 }).ring;
    await assert.rejects(store.create(v2), (e) => code(e) === Code.INVALID_ARGUMENT && /a new ring has version 1/.test(String(e)));
    await assert.rejects(store.get('bad/name'), (e) => code(e) === Code.INVALID_ARGUMENT);
  });

  it('stores a large ring gzip-compressed and reads it back identical', async (t) => {
    const { endpoint } = await startStore(t);
    const coord = await client(t, endpoint);
    const store = new RingStore(coord);
    const big = buildRing({ name: 'kv', partPower: 16, replicas: 3, devices: devices(12), now: () => 1 });
    const stored = await store.create(big);
    assert.equal(stored.encoding, 'gzip');
    assert.ok(stored.storedBytes <= MAX_STORED_RING_BYTES);
    const raw = await coord.get(ringKey('kv'));
    assert.deepEqual([raw!.value[0], raw!.value[1]], [0x1f, 0x8b]);
    const back = await store.require('kv');
    assert.equal(back.encoding, 'gzip');
    assert.deepEqual(back.ring.toJSON(), big.toJSON());
    assert.ok(JSON.stringify(big.toJSON()).length > PLAIN_LIMIT_BYTES);
  });

  it('refuses a ring too large for the store before writing anything', async (t) => {
    const { endpoint } = await startStore(t);
    const coord = await client(t, endpoint);
    const store = new RingStore(coord);
    const huge = buildRing({ name: 'kv', partPower: 19, replicas: 3, devices: devices(30), now: () => 1 });
    await assert.rejects(store.create(huge), (e) => code(e) === Code.RESOURCE_EXHAUSTED && /too large to store: \d+ bytes compressed .* use a smaller part power/.test(String(e)));
    assert.equal(await coord.get(ringKey('kv')), undefined);
  });

  it('reports a corrupt stored ring with a clear error naming its key', async (t) => {
    const { endpoint } = await startStore(t);
    const coord = await client(t, endpoint);
    const store = new RingStore(coord);
    const good = ring('kv').toJSON();
    const cases: { name: string; value: Buffer | string; message: RegExp }[] = [
      { name: 'not JSON', value: '{"format": ', message: /invalid ring JSON/ },
      { name: 'truncated gzip', value: gzipSync(JSON.stringify(good)).subarray(0, 40), message: /not valid gzip/ },
      { name: 'another ring name', value: JSON.stringify({ ...good, name: 'gold' }), message: /holds ring "gold", not "kv"/ },
      { name: 'a device index out of range', value: JSON.stringify({ ...good, replica2part2dev: good.replica2part2dev.map(() => Buffer.alloc(2 ** 6 * 2, 0xff).toString('base64')) }), message: /is not a device index/ },
      { name: 'an empty value', value: '', message: /invalid ring JSON/ },
    ];
    for (const c of cases) {
      await coord.put(ringKey('kv'), c.value);
      await assert.rejects(
        store.get('kv'),
        (e) => code(e) === Code.FAILED_PRECONDITION && /the ring stored at \/flotilla\/rings\/kv is corrupt/.test(String(e)) && c.message.test(String(e)),
        c.name,
      );
      const { rings, bad } = await store.list();
      assert.deepEqual(rings, [], c.name);
      assert.equal(bad[0]?.name, 'kv', c.name);
    }
  });
});
