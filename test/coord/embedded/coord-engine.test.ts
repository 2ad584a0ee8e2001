import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CoordEngine } from '../../../src/coord/embedded/coord-engine.js';
import type { WatchMessage } from '../../../src/coord/embedded/watch-hub.js';
import { silentLogger } from '../../../src/core/log.js';

const enc = (s: string): Uint8Array => Buffer.from(s);
const dec = (b: Uint8Array): string => Buffer.from(b).toString();

/** A clock the test moves by hand. */
function manualClock(start = 1_700_000_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'flotilla-coord-engine-'));
  dirs.push(d);
  return d;
}

async function openEngine(dataDir: string, clock = manualClock()): Promise<CoordEngine> {
  // Timers effectively off: the test drives lease expiry by hand.
  const engine = new CoordEngine({ dataDir, logger: silentLogger(), clock, leaseCheckIntervalMs: 3_600_000 });
  await engine.open();
  return engine;
}

function collect(engine: CoordEngine) {
  const messages: WatchMessage[] = [];
  const session = engine.watches.openSession({ send: (m) => messages.push(m), backlogged: () => false });
  return { messages, session };
}

void describe('coordination engine', () => {
  void it('keeps keys, every revision, the compaction point and ids across close and reopen', async (t) => {
    const dir = await tempDir();
    let engine = await openEngine(dir);
    t.after(() => engine.close());
    await engine.put({ key: 'a', value: enc('1') }); // 2
    await engine.put({ key: 'a', value: enc('2') }); // 3
    await engine.put({ key: 'b', value: enc('3') }); // 4
    await engine.deleteRange({ key: 'b' }); // 5
    await engine.put({ key: 'c', value: enc('4') }); // 6
    await engine.compact(3);
    const ids = engine.ids;
    await engine.close();

    engine = await openEngine(dir);
    assert.deepEqual(engine.ids, ids);
    assert.equal(engine.committedRev, 6);
    assert.equal(engine.store.compactRev, 3);
    assert.equal(dec((await engine.range({ key: 'a', revision: 3 })).value.kvs[0]!.value), '2');
    assert.equal((await engine.range({ key: 'b', revision: 4 })).value.count, 1);
    await assert.rejects(engine.range({ key: 'a', revision: 2 }), /required revision has been compacted/);
    const put = await engine.put({ key: 'd', value: enc('5') });
    assert.equal(put.revision, 7, 'new revisions continue above the highest stored one');
    const all = await engine.range({ key: '\0', end: '' });
    assert.deepEqual(all.value.kvs.map((kv) => dec(kv.key)), ['a', 'c', 'd']);
  });

  void it('group-commits concurrent writes and acknowledges each with its own revision', async (t) => {
    const engine = await openEngine(await tempDir());
    t.after(() => engine.close());
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => engine.put({ key: `k${i % 20}`, value: enc(String(i)) })));
    assert.deepEqual(results.map((r) => r.revision), Array.from({ length: 200 }, (_, i) => i + 2));
    assert.equal(engine.committedRev, 201);
    assert.equal((await engine.range({ key: 'k0' })).value.kvs[0]!.version, 10);
  });

  void it('expires a lease by the clock: its keys go in one revision with delete events', async (t) => {
    const clock = manualClock();
    const engine = await openEngine(await tempDir(), clock);
    t.after(() => engine.close());
    const { value: lease } = await engine.leaseGrant(5, 0n);
    assert.equal(lease.ttlSeconds, 5);
    await engine.put({ key: 'l/1', value: enc('x'), lease: lease.id });
    await engine.put({ key: 'l/2', value: enc('y'), lease: lease.id });
    const { messages, session } = collect(engine);
    session.create({ span: { key: 'l/', end: 'l0' }, startRevision: 0, prevKv: true, noPut: false, noDelete: false, progressNotify: false }, 0n);
    const ttl = engine.leaseTimeToLive(lease.id, true).value;
    assert.deepEqual([ttl.remainingSeconds, ttl.keys.map(dec)], [5, ['l/1', 'l/2']]);

    clock.advance(4_000);
    await engine.expireLeases();
    assert.equal((await engine.range({ key: 'l/', end: 'l0' })).value.count, 2, 'not expired yet');
    assert.equal((await engine.leaseKeepAlive(lease.id)).value, 5);
    clock.advance(4_000);
    await engine.expireLeases();
    assert.equal((await engine.range({ key: 'l/', end: 'l0' })).value.count, 2, 'the keep-alive extended it');
    clock.advance(1_001);
    const before = engine.committedRev;
    await engine.expireLeases();
    assert.equal((await engine.range({ key: 'l/', end: 'l0' })).value.count, 0);
    assert.equal(engine.committedRev, before + 1, 'both keys deleted in one revision');
    assert.equal(engine.leaseTimeToLive(lease.id, false).value.remainingSeconds, -1);
    assert.equal((await engine.leaseKeepAlive(lease.id)).value, 0);
    const events = messages.flatMap((m) => m.events);
    assert.deepEqual(events.map((e) => [e.type, dec(e.kv.key), e.kv.modRevision, dec(e.prevKv!.value)]), [
      ['delete', 'l/1', before + 1, 'x'],
      ['delete', 'l/2', before + 1, 'y'],
    ]);
  });

  void it('applies etcd lease rules: minimum TTL, requested id, duplicate id, unknown id', async (t) => {
    const engine = await openEngine(await tempDir());
    t.after(() => engine.close());
    assert.equal((await engine.leaseGrant(1, 0n)).value.ttlSeconds, 2);
    assert.equal((await engine.leaseGrant(30, 0x1234n)).value.id, 0x1234n);
    await assert.rejects(engine.leaseGrant(30, 0x1234n), /lease already exists/);
    await assert.rejects(engine.leaseRevoke(0x9999n), /requested lease not found/);
    await assert.rejects(engine.put({ key: 'k', value: enc('v'), lease: 0x9999n }), /requested lease not found/);
    assert.equal(engine.leaseList().value.length, 2);
  });

  void it('keeps unexpired leases across a restart and expires on start those that ran out while down', async (t) => {
    const dir = await tempDir();
    const clock = manualClock();
    let engine = await openEngine(dir, clock);
    t.after(() => engine.close());
    const short = (await engine.leaseGrant(10, 0n)).value.id;
    const long = (await engine.leaseGrant(1000, 0n)).value.id;
    await engine.put({ key: 'short', value: enc('s'), lease: short });
    await engine.put({ key: 'long', value: enc('l'), lease: long });
    await engine.close();
    clock.advance(60_000);
    engine = await openEngine(dir, clock);
    assert.equal((await engine.range({ key: 'short' })).value.count, 0, 'expired while down');
    assert.equal((await engine.range({ key: 'long' })).value.count, 1);
    const info = engine.leaseTimeToLive(long, true).value;
    assert.deepEqual([info.remainingSeconds, info.keys.map(dec)], [940, ['long']]);
    assert.equal(engine.leaseTimeToLive(short, false).value.remainingSeconds, -1);
  });

  void it('watches replay history from a start revision with no gap, go live, filter and cancel', async (t) => {
    const engine = await openEngine(await tempDir());
    t.after(() => engine.close());
    await engine.put({ key: 'w/a', value: enc('1') }); // 2
    await engine.put({ key: 'other', value: enc('x') }); // 3
    await engine.deleteRange({ key: 'w/a' }); // 4
    const { messages, session } = collect(engine);
    session.create({ span: { key: 'w/', end: 'w0' }, startRevision: 2, prevKv: false, noPut: false, noDelete: false, progressNotify: false }, 0n);
    session.create({ span: { key: 'w/', end: 'w0' }, startRevision: 0, prevKv: false, noPut: false, noDelete: true, progressNotify: false }, 42n);
    await engine.put({ key: 'w/b', value: enc('2') }); // 5
    await engine.deleteRange({ key: 'w/b' }); // 6
    const byWatch = (id: bigint) => messages.filter((m) => m.watchId === id).flatMap((m) => m.events.map((e) => `${e.type}:${dec(e.kv.key)}@${e.kv.modRevision}`));
    assert.deepEqual(byWatch(0n), ['put:w/a@2', 'delete:w/a@4', 'put:w/b@5', 'delete:w/b@6']);
    assert.deepEqual(byWatch(42n), ['put:w/b@5']);
    assert.deepEqual(messages.filter((m) => m.created === true).map((m) => m.watchId), [0n, 42n]);
    session.cancel(0n);
    await engine.put({ key: 'w/c', value: enc('3') });
    assert.deepEqual(byWatch(0n).length, 4);
    assert.ok(messages.some((m) => m.watchId === 0n && m.canceled === true));
    await engine.compact(5);
    session.create({ span: { key: 'w/' }, startRevision: 3, prevKv: false, noPut: false, noDelete: false, progressNotify: false }, 0n);
    const last = messages[messages.length - 1]!;
    assert.deepEqual([last.canceled, last.compactRevision], [true, 5]);
  });

  void it('a lagging watch stops taking live events and catches up in order when its receiver drains', async (t) => {
    const engine = await openEngine(await tempDir());
    t.after(() => engine.close());
    const messages: WatchMessage[] = [];
    let full = false;
    const session = engine.watches.openSession({ send: (m) => messages.push(m), backlogged: () => full });
    session.create({ span: { key: 'q', end: 'r' }, startRevision: 0, prevKv: false, noPut: false, noDelete: false, progressNotify: false }, 0n);
    await engine.put({ key: 'q1', value: enc('1') });
    full = true;
    await engine.put({ key: 'q2', value: enc('2') });
    await engine.put({ key: 'q3', value: enc('3') });
    const seen = () => messages.flatMap((m) => m.events.map((e) => dec(e.kv.key)));
    assert.deepEqual(seen(), ['q1']);
    full = false;
    session.resume();
    await engine.put({ key: 'q4', value: enc('4') });
    assert.deepEqual(seen(), ['q1', 'q2', 'q3', 'q4']);
  });
});
