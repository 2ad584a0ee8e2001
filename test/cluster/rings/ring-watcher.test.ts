/**
 * RingWatcher and RingAutoBuilder over a real (in-process) embedded coordination store: versions seen by
 * every watcher, corrupt values refused with the last good ring kept, deletes, an outage of the store,
 * and automatic builders racing to create one ring.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { Code, FlotillaError } from '../../../src/core/errors.js';
import { createEmbeddedCoordServer } from '../../../src/coord/index.js';
import { addDevice } from '../../../src/cluster/ring/index.js';
import { RingAutoBuilder, RingStore, RingWatcher, ringKey, type RingMember, type RingMemberSource } from '../../../src/cluster/rings/index.js';
import { tempDir } from '../../testkit/index.js';
import { client, ring, startStore, until } from './fixtures.js';

async function watcher(t: { after: (fn: () => unknown) => void }, endpoint: string): Promise<RingWatcher> {
  const w = new RingWatcher({ coord: await client(t, endpoint) });
  t.after(() => w.stop());
  await w.start();
  return w;
}

/** A member list the test changes by hand (the seam the membership view fills in production). */
class Members implements RingMemberSource {
  private list: RingMember[] = [];
  private readonly listeners = new Set<() => void>();
  activeMembers(): RingMember[] {
    return [...this.list];
  }
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  set(names: string[]): void {
    this.list = names.map((name, i) => ({ name, zone: `z${(i % 3) + 1}`, weight: 1 }));
    for (const l of this.listeners) l();
  }
}

describe('RingWatcher', () => {
  it('loads the rings at start and follows every new version', async (t) => {
    const { endpoint } = await startStore(t);
    const store = new RingStore(await client(t, endpoint));
    await store.create(ring('gold', { replicas: 2 }));
    const w1 = await watcher(t, endpoint);
    const w2 = await watcher(t, endpoint);
    assert.deepEqual(w1.versions(), { gold: 1 });
    assert.equal(w1.ready('kv'), false);
    assert.throws(() => w1.require('kv'), (e) => e instanceof FlotillaError && e.code === Code.FAILED_PRECONDITION && /ring kv does not exist yet/.test(e.message));
    const seen: [string, number, number | undefined][] = [];
    w1.on('ring:version:changed', (name, version, previous) => seen.push([name, version, previous]));
    const waiting = w2.whenReady('kv');
    const v1 = await store.create(ring('kv'));
    assert.equal((await waiting).version, 1);
    await store.update(v1, addDevice(v1.ring, { id: 'node-x', zone: 'z1', weight: 1 }, { now: () => 9 }).ring);
    await until('both watchers hold kv version 2', () => w1.get('kv')?.version === 2 && w2.get('kv')?.version === 2);
    assert.deepEqual(seen, [['kv', 1, undefined], ['kv', 2, 1]]);
    assert.deepEqual(w2.versions(), { gold: 1, kv: 2 });
    assert.deepEqual(w1.list().map((r) => r.name), ['gold', 'kv']);
  });

  it('keeps the last good ring when a corrupt value is stored, and takes the next good one', async (t) => {
    const { endpoint } = await startStore(t);
    const coord = await client(t, endpoint);
    const store = new RingStore(coord);
    const v1 = await store.create(ring('kv'));
    const w = await watcher(t, endpoint);
    const failed = once(w, 'ring:load:failed');
    await coord.put(ringKey('kv'), '{"format":"flotilla.ring.v1","name":"kv"');
    const [name, err] = (await failed) as [string, FlotillaError];
    assert.equal(name, 'kv');
    assert.match(err.message, /the ring stored at \/flotilla\/rings\/kv is corrupt/);
    assert.equal(w.get('kv')?.version, 1, 'the last good ring stays in use');
    assert.equal(w.loadError('kv')?.code, Code.FAILED_PRECONDITION);
    const good = addDevice(v1.ring, { id: 'node-x', zone: 'z2', weight: 1 }, { now: () => 9 }).ring;
    await coord.put(ringKey('kv'), JSON.stringify(good.toJSON()));
    await until('version 2 adopted', () => w.get('kv')?.version === 2);
    assert.equal(w.loadError('kv'), undefined);
  });

  it('a corrupt ring at start is reported and not held', async (t) => {
    const { endpoint } = await startStore(t);
    const coord = await client(t, endpoint);
    await coord.put(ringKey('kv'), 'garbage');
    const w = await watcher(t, endpoint);
    assert.equal(w.ready('kv'), false);
    assert.match(w.loadError('kv')?.message ?? '', /corrupt/);
  });

  it('drops a deleted ring and takes a rebuilt one', async (t) => {
    const { endpoint } = await startStore(t);
    const coord = await client(t, endpoint);
    const store = new RingStore(coord);
    const v1 = await store.create(ring('kv'));
    await store.update(v1, addDevice(v1.ring, { id: 'node-x', zone: 'z1', weight: 1 }, { now: () => 9 }).ring);
    const w = await watcher(t, endpoint);
    assert.equal(w.get('kv')?.version, 2);
    const deleted = once(w, 'ring:deleted');
    await coord.delete(ringKey('kv'));
    assert.deepEqual(await deleted, ['kv', 2]);
    assert.equal(w.ready('kv'), false);
    await store.create(ring('kv', { n: 4 }));
    await until('the rebuilt ring is held', () => w.get('kv')?.version === 1 && w.get('kv')?.devices.length === 4);
  });

  it('whenReady stops waiting when its signal aborts', async (t) => {
    const { endpoint } = await startStore(t);
    const w = await watcher(t, endpoint);
    const ac = new AbortController();
    const p = w.whenReady('kv', { signal: ac.signal });
    ac.abort();
    await assert.rejects(p, (e) => e instanceof FlotillaError && e.code === Code.CANCELLED);
  });

  it('serves the last known rings while the store is down and catches up when it is back', async (t) => {
    const dataDir = await tempDir(t, 'flotilla-rings-outage-');
    let server = createEmbeddedCoordServer({ listen: '127.0.0.1:0', dataDir });
    await server.start();
    const endpoint = server.address;
    t.after(() => server.stop());
    const store = new RingStore(await client(t, endpoint));
    await store.create(ring('kv'));
    const w = await watcher(t, endpoint);
    await server.stop();
    await until('the watcher notices the outage', () => !w.coordinationReachable);
    assert.equal(w.get('kv')?.version, 1, 'still served without the store');
    server = createEmbeddedCoordServer({ listen: endpoint, dataDir });
    await server.start();
    const writer = new RingStore(await client(t, endpoint));
    const v1 = await writer.require('kv');
    await writer.update(v1, addDevice(v1.ring, { id: 'node-x', zone: 'z1', weight: 1 }, { now: () => 9 }).ring);
    await until('version 2 arrives through the resumed watch', () => w.get('kv')?.version === 2, 15_000);
    assert.equal(w.coordinationReachable, true);
  });
});

describe('RingAutoBuilder', () => {
  it('builds the ring once the expected number of nodes is ACTIVE, with min(3, N) replicas', async (t) => {
    const { endpoint } = await startStore(t);
    const store = new RingStore(await client(t, endpoint));
    const members = new Members();
    const builder = new RingAutoBuilder({ store, members, expectedNodes: 2, partPower: 5 });
    t.after(() => builder.stop());
    await builder.start();
    members.set(['node-a']);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(await store.get('kv'), undefined, 'one node of two: nothing built');
    const built = once(builder, 'ring:build:success');
    members.set(['node-a', 'node-b']);
    const [name, version, ids] = await built;
    assert.deepEqual([name, version, ids], ['kv', 1, ['node-a', 'node-b']]);
    const stored = await store.require('kv');
    assert.equal(stored.ring.replicas, 2);
    assert.equal(stored.ring.partPower, 5);
    assert.equal(builder.state, 'done');
  });

  it('of several builders racing, exactly one stores the ring and the others stand down', async (t) => {
    const { endpoint } = await startStore(t);
    const members = new Members();
    const builders: RingAutoBuilder[] = [];
    const outcomes: string[] = [];
    for (let i = 0; i < 5; i++) {
      const b = new RingAutoBuilder({ store: new RingStore(await client(t, endpoint)), members, expectedNodes: 3, partPower: 8, now: () => 1000 + i });
      b.on('ring:build:success', () => outcomes.push('built'));
      b.on('ring:build:skipped', () => outcomes.push('skipped'));
      b.on('ring:build:failed', (_n, e) => outcomes.push(`failed: ${e.message}`));
      t.after(() => b.stop());
      await b.start();
      builders.push(b);
    }
    members.set(['node-a', 'node-b', 'node-c']);
    await until('every builder is done', () => builders.every((b) => b.state === 'done'));
    assert.deepEqual(outcomes.sort(), ['built', 'skipped', 'skipped', 'skipped', 'skipped']);
    const coord = await client(t, endpoint);
    const kv = await coord.get(ringKey('kv'));
    assert.equal(kv?.version, 1, 'written exactly once');
  });

  it('does not build when the ring already exists', async (t) => {
    const { endpoint } = await startStore(t);
    const store = new RingStore(await client(t, endpoint));
    await store.create(ring('kv'));
    const w = await watcher(t, endpoint);
    const members = new Members();
    members.set(['node-a', 'node-b', 'node-c']);
    const b = new RingAutoBuilder({ store, members, expectedNodes: 3, exists: (n) => w.ready(n) });
    t.after(() => b.stop());
    const skipped = once(b, 'ring:build:skipped');
    await b.start();
    await skipped;
    assert.equal((await store.require('kv')).ring.version, 1);
  });

  it('reports members a ring cannot use and stores nothing', async (t) => {
    const { endpoint } = await startStore(t);
    const store = new RingStore(await client(t, endpoint));
    const members: RingMemberSource = { activeMembers: () => [{ name: 'node-a', zone: 'bad zone!', weight: 1 }], subscribe: () => () => undefined };
    const b = new RingAutoBuilder({ store, members, expectedNodes: 1 });
    t.after(() => b.stop());
    const failed = once(b, 'ring:build:failed');
    await b.start();
    const [, err] = (await failed) as [string, FlotillaError];
    assert.equal(err.code, Code.INVALID_ARGUMENT);
    assert.equal(await store.get('kv'), undefined);
    assert.throws(() => new RingAutoBuilder({ store, members, expectedNodes: 0 }), /expected nodes must be an integer >= 1/);
  });
});
