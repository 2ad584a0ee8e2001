import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KvEngine, isLive } from '../../../src/kv/engine/kv-engine.js';
import type { Entry } from '../../../src/kv/types.js';
import { tempDir } from '../../testkit/index.js';

const T0 = 1_800_000_000_000;

function put(key: string | Uint8Array, value: string, wallMs: number, node = 'a', extra: Partial<Entry> = {}): Entry {
  return { key: typeof key === 'string' ? Buffer.from(key) : key, value: Buffer.from(value), version: { wallMs, logical: 0, node }, tombstone: false, expiresAtMs: 0, ...extra };
}

function del(key: string, wallMs: number, node = 'a'): Entry {
  return { key: Buffer.from(key), value: Buffer.alloc(0), version: { wallMs, logical: 0, node }, tombstone: true, expiresAtMs: 0 };
}

describe('KV engine', () => {
  it('keeps the newest version whatever the order writes arrive in (last writer wins)', async (t) => {
    const dir = await tempDir(t);
    const e = await KvEngine.open({ dir, now: () => T0 });
    t.after(() => e.close());
    assert.equal(await e.apply([put('k', 'new', T0 + 10)]), 1);
    assert.equal(await e.apply([put('k', 'old', T0 + 5)]), 0);
    assert.equal(Buffer.from((await e.get(Buffer.from('k')))!.value).toString(), 'new');
    // Same wall time: the node name breaks the tie.
    assert.equal(await e.apply([put('k', 'b-wins', T0 + 10, 'b')]), 1);
    assert.equal(Buffer.from((await e.get(Buffer.from('k')))!.value).toString(), 'b-wins');
  });

  it('concurrent writes to one key keep the newest, and share fsyncs (group commit)', async (t) => {
    const dir = await tempDir(t);
    const e = await KvEngine.open({ dir, now: () => T0 });
    t.after(() => e.close());
    const writes = Array.from({ length: 200 }, (_, i) => put(`k${i % 5}`, `v${i}`, T0 + i));
    const before = e.batches;
    await Promise.all([...writes].reverse().map((w) => e.apply([w])));
    for (let k = 0; k < 5; k++) {
      const got = await e.get(Buffer.from(`k${k}`));
      assert.equal(Buffer.from(got!.value).toString(), `v${195 + k}`);
    }
    assert.ok(e.batches - before < 200, `${e.batches - before} batches for 200 writes`);
  });

  it('a restart loses no acknowledged write, and rebuilds the same Merkle tree', async (t) => {
    const dir = await tempDir(t);
    let e = await KvEngine.open({ dir, now: () => T0 });
    await Promise.all(Array.from({ length: 300 }, (_, i) => e.apply([put(`key/${i}`, `value ${i}`, T0 + i)])));
    await e.apply([del('key/7', T0 + 1000)]);
    const root = e.tree.digest(1);
    await e.close();
    e = await KvEngine.open({ dir, now: () => T0 });
    t.after(() => e.close());
    assert.deepEqual(e.tree.digest(1), root);
    assert.equal(Buffer.from((await e.get(Buffer.from('key/299')))!.value).toString(), 'value 299');
    const gone = await e.get(Buffer.from('key/7'));
    assert.equal(gone?.tombstone, true);
  });

  it('binary keys round-trip and scan by prefix in byte order, tombstones included', async (t) => {
    const dir = await tempDir(t);
    const e = await KvEngine.open({ dir, now: () => T0 });
    t.after(() => e.close());
    const bin = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x00]);
    await e.apply([put(bin, 'binary', T0), put('p/b', '2', T0), put('p/a', '1', T0), put('p/c', '3', T0), put('q', 'x', T0)]);
    await e.apply([del('p/b', T0 + 1)]);
    assert.deepEqual(Buffer.from((await e.get(bin))!.key), bin);
    const all = await e.scanPrefix(Buffer.from('p/'), undefined, 10);
    assert.deepEqual(
      all.entries.map((x) => [Buffer.from(x.key).toString(), x.tombstone]),
      [
        ['p/a', false],
        ['p/b', true],
        ['p/c', false],
      ],
    );
    const page = await e.scanPrefix(Buffer.from('p/'), Buffer.from('p/a'), 1);
    assert.deepEqual(page.entries.map((x) => Buffer.from(x.key).toString()), ['p/b']);
    assert.equal(page.more, true);
    const everything = await e.scanPrefix(new Uint8Array(0), undefined, 100);
    assert.equal(everything.entries.length, 5);
    assert.deepEqual(Buffer.from(everything.entries[0]!.key), bin);
  });

  it('expired values are not live; purge removes old tombstones only after proof and grace', async (t) => {
    let now = T0;
    const dir = await tempDir(t);
    const e = await KvEngine.open({ dir, now: () => now, gcGraceMs: 1000 });
    t.after(() => e.close());
    await e.apply([put('ttl', 'x', T0, 'a', { expiresAtMs: T0 + 50 }), del('gone', T0), put('keep', 'y', T0)]);
    assert.equal(isLive((await e.get(Buffer.from('ttl')))!, T0 + 10), true);
    assert.equal(isLive((await e.get(Buffer.from('ttl')))!, T0 + 60), false);
    // Within the grace period nothing goes.
    now = T0 + 500;
    assert.equal(await e.purge(0, 2 ** 32, now), 0);
    // After it, but with no proof newer than their arrival: nothing goes.
    now = T0 + 5000;
    assert.equal(await e.purge(0, 2 ** 32, T0 - 1), 0);
    const rootBefore = e.tree.digest(1);
    assert.equal(await e.purge(0, 2 ** 32, T0 + 1), 2);
    assert.notDeepEqual(e.tree.digest(1), rootBefore);
    assert.equal(await e.get(Buffer.from('gone')), undefined);
    assert.equal(await e.get(Buffer.from('ttl')), undefined);
    assert.ok(await e.get(Buffer.from('keep')));
    // A tombstone older than the grace period for a key purged here is not stored again.
    assert.equal(await e.apply([del('gone', T0)]), 0);
    // A newer live value still is.
    assert.equal(await e.apply([put('gone', 'back', now)]), 1);
  });

  it('reads through a small read cache always see the committed state, across overwrites, removal and a restart', async (t) => {
    let now = T0;
    const dir = await tempDir(t);
    let e = await KvEngine.open({ dir, now: () => now, gcGraceMs: 1000, cacheEntries: 3 });
    const keys = Array.from({ length: 20 }, (_, i) => `c${i}`);
    await e.apply(keys.map((k) => put(k, `${k}-1`, T0)));
    // More keys than the cache holds: evicted ones come from disk, hits from memory, all equal.
    for (let round = 0; round < 2; round++) {
      const got = await e.getMany(keys.map((k) => Buffer.from(k)));
      assert.deepEqual(got.map((g) => Buffer.from(g!.value).toString()), keys.map((k) => `${k}-1`));
    }
    // Concurrent overwrites and reads of one key: every read returns a committed version, the last the newest.
    const reads: Promise<unknown>[] = [];
    for (let i = 2; i < 30; i++) {
      reads.push(e.apply([put('c0', `c0-${i}`, T0 + i)]));
      reads.push(e.get(Buffer.from('c0')).then((g) => assert.match(Buffer.from(g!.value).toString(), /^c0-\d+$/)));
    }
    await Promise.all(reads);
    assert.equal(Buffer.from((await e.get(Buffer.from('c0')))!.value).toString(), 'c0-29');
    await e.apply([del('c1', T0 + 1)]);
    assert.equal((await e.get(Buffer.from('c1')))!.tombstone, true);
    await e.close();
    // After a restart the tombstone is still known to purge (counted at open), then gone for reads.
    now = T0 + 5000;
    e = await KvEngine.open({ dir, now: () => now, gcGraceMs: 1000, cacheEntries: 3 });
    t.after(() => e.close());
    assert.equal((await e.get(Buffer.from('c1')))!.tombstone, true);
    assert.equal(await e.purge(0, 2 ** 32, now), 1);
    assert.equal(await e.get(Buffer.from('c1')), undefined);
    assert.equal(Buffer.from((await e.get(Buffer.from('c2')))!.value).toString(), 'c2-1');
  });

  it('stores hints per target and deletes them once delivered, across a restart', async (t) => {
    const dir = await tempDir(t);
    let e = await KvEngine.open({ dir, now: () => T0 });
    await e.storeHints('node-b', [put('h1', '1', T0), put('h2', '2', T0)]);
    await e.storeHints('node-c', [put('h3', '3', T0)]);
    await e.close();
    e = await KvEngine.open({ dir, now: () => T0 });
    t.after(() => e.close());
    assert.deepEqual([...e.hintTargets()].sort(), [
      ['node-b', 2],
      ['node-c', 1],
    ]);
    const hints = await e.readHints('node-b', 10);
    assert.deepEqual(hints.map((h) => Buffer.from(h.entry.key).toString()), ['h1', 'h2']);
    await e.deleteHints(hints);
    assert.equal(e.pendingHints, 1);
    assert.deepEqual(await e.readHints('node-b', 10), []);
  });
});
