/**
 * The coordination conformance suite: one set of assertions about the etcd v3 semantics Flotilla relies
 * on, run against every backend (real etcd, `flotilla coord serve`) through the Coord API, and through the
 * raw etcd3 client where Coord hides a detail.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3 } from 'etcd3';
import { Code, FlotillaError } from '../../src/core/errors.js';
import type { Coord, Leadership, WatchEvent, Watch } from '../../src/coord/coord.js';
import { createCoord } from '../../src/coord/etcd-coord.js';
import type { Cleanup, CoordProcess } from '../testkit/index.js';

export interface CoordConformanceOptions {
  name: string;
  /** Starts a fresh store; it must be stopped by `owner`'s after hook. */
  start: (owner: Cleanup) => Promise<CoordProcess>;
}

const iterators = new WeakMap<Watch, AsyncIterator<WatchEvent>>();

/**
 * Reads the next `n` events of a watch (leaving it open: breaking out of a for-await would close it),
 * failing after `timeoutMs`.
 */
export async function collect(watch: Watch, n: number, timeoutMs = 10_000): Promise<WatchEvent[]> {
  const out: WatchEvent[] = [];
  let it = iterators.get(watch);
  if (it === undefined) {
    it = watch[Symbol.asyncIterator]();
    iterators.set(watch, it);
  }
  const deadline = Date.now() + timeoutMs;
  while (out.length < n) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()))));
    const next = await Promise.race([it.next(), timeout]);
    clearTimeout(timer);
    if (next === 'timeout' || next.done === true) break;
    out.push(next.value);
  }
  assert.equal(out.length, n, `expected ${n} watch events within ${timeoutMs} ms, got ${out.length}: ${JSON.stringify(out.map(brief))}`);
  return out;
}

function brief(ev: WatchEvent): string {
  return `${ev.type} ${ev.kv.key}@${ev.revision}=${ev.kv.value.toString()}`;
}

async function rejectsWithCode(p: Promise<unknown>, code: string): Promise<FlotillaError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof FlotillaError, `expected a FlotillaError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    return err;
  }
  assert.fail(`expected a rejection with ${code}`);
}

/** Polls `fn` until it returns a value other than undefined (bounded). */
async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`${what}: not reached within ${timeoutMs} ms`);
    await sleep(50);
  }
}

export function runCoordConformance({ name, start }: CoordConformanceOptions): void {
  describe(`coordination conformance: ${name}`, () => {
    let server: CoordProcess;
    let coord: Coord;
    let raw: Etcd3;
    let anyFailed = false;
    // Cleanups registered while the suite runs; run in reverse order by the suite's after hook.
    const cleanups: (() => unknown)[] = [];
    const owner: Cleanup = {
      after: (fn) => void cleanups.push(fn),
      get passed() {
        return !anyFailed;
      },
    };
    const clients: Coord[] = [];
    async function newClient(): Promise<Coord> {
      const c = await createCoord({ endpoints: [server.endpoint], watchMaxBackoffMs: 500 });
      clients.push(c);
      return c;
    }

    before(async () => {
      server = await start(owner);
      coord = await newClient();
      raw = new Etcd3({ hosts: `http://${server.endpoint}` });
    });
    afterEach((t) => {
      if ('passed' in t && !t.passed) anyFailed = true;
    });
    after(async () => {
      raw?.close();
      await Promise.all(clients.map((c) => c.close()));
      for (const fn of cleanups.reverse()) await fn();
    });

    test('put, get, range by prefix with limit, delete a key and a prefix', async () => {
      const p = '/conf/kv/';
      const r1 = await coord.put(`${p}a`, 'one');
      const r2 = await coord.put(`${p}b`, Buffer.from([0, 1, 2, 255]));
      await coord.put(`${p}c`, 'three');
      await coord.put('/conf/kv-other', 'outside the prefix');
      assert.ok(r2.revision > r1.revision);
      const a = await coord.get(`${p}a`);
      assert.equal(a?.value.toString(), 'one');
      assert.deepEqual((await coord.get(`${p}b`))?.value, Buffer.from([0, 1, 2, 255]));
      assert.equal(await coord.get(`${p}missing`), undefined);

      const all = await coord.range(p);
      assert.deepEqual(all.kvs.map((kv) => kv.key), [`${p}a`, `${p}b`, `${p}c`]);
      assert.equal(all.count, 3);
      assert.equal(all.more, false);
      assert.ok(all.revision >= r2.revision);

      const page = await coord.range(p, { limit: 2 });
      assert.deepEqual(page.kvs.map((kv) => kv.key), [`${p}a`, `${p}b`]);
      assert.equal(page.more, true);
      assert.equal(page.count, 3);
      const rest = await coord.range(p, { startKey: `${p}b\0` });
      assert.deepEqual(rest.kvs.map((kv) => kv.key), [`${p}c`]);
      const keysOnly = await coord.range(p, { keysOnly: true });
      assert.equal(keysOnly.kvs[0]?.value.length, 0);

      const put = await coord.put(`${p}a`, 'uno', { prevKv: true });
      assert.equal(put.prev?.value.toString(), 'one');
      const del = await coord.delete(`${p}a`, { prevKv: true });
      assert.equal(del.deleted, 1);
      assert.equal(del.prev[0]?.value.toString(), 'uno');
      assert.ok(del.revision > put.revision);
      const none = await coord.delete(`${p}a`);
      assert.equal(none.deleted, 0);
      assert.equal(none.revision, del.revision, 'deleting nothing does not advance the revision');

      const pre = await coord.delete(p, { prefix: true });
      assert.equal(pre.deleted, 2);
      assert.equal((await coord.range(p)).count, 0);
      assert.equal((await coord.get('/conf/kv-other'))?.value.toString(), 'outside the prefix');
    });

    test('revisions and versions: create/mod revision, version increments, delete resets', async () => {
      const k = '/conf/rev/k';
      const w1 = await coord.put(k, 'v1');
      const kv1 = (await coord.get(k))!;
      assert.equal(kv1.createRevision, w1.revision);
      assert.equal(kv1.modRevision, w1.revision);
      assert.equal(kv1.version, 1);
      assert.equal(kv1.lease, '0');

      const w2 = await coord.put(k, 'v2');
      assert.equal(w2.revision, w1.revision + 1, 'each write advances the store revision by one');
      const kv2 = (await coord.get(k))!;
      assert.equal(kv2.createRevision, w1.revision);
      assert.equal(kv2.modRevision, w2.revision);
      assert.equal(kv2.version, 2);

      assert.equal((await coord.get(k, { revision: w1.revision }))?.value.toString(), 'v1', 'reads at a past revision');

      const d = await coord.delete(k);
      assert.equal(d.revision, w2.revision + 1);
      assert.equal(await coord.get(k), undefined);
      const w3 = await coord.put(k, 'v3');
      const kv3 = (await coord.get(k))!;
      assert.equal(kv3.version, 1, 'version restarts after a delete');
      assert.equal(kv3.createRevision, w3.revision, 'a new life gets a new create revision');
      assert.equal(await coord.revision(), w3.revision);
    });

    test('txn compares on version, value, mod and create revision; then and else branches', async () => {
      const k = '/conf/txn/k';
      const w = await coord.put(k, 'v1');
      const ok = await coord.txn({
        compare: [
          { key: k, target: 'version', op: '=', value: 1 },
          { key: k, target: 'value', op: '=', value: 'v1' },
          { key: k, target: 'modRevision', op: '=', value: w.revision },
          { key: k, target: 'createRevision', op: '<', value: w.revision + 1 },
        ],
        then: [
          { type: 'put', key: k, value: 'v2', prevKv: true },
          { type: 'put', key: `${k}2`, value: 'x' },
          { type: 'get', key: k },
        ],
        else: [{ type: 'get', key: k }],
      });
      assert.equal(ok.succeeded, true);
      assert.equal(ok.revision, w.revision + 1, 'one txn is one revision');
      assert.equal(ok.results.length, 3);
      const [r0, , r2] = ok.results;
      assert.equal(r0?.type === 'put' ? r0.prev?.value.toString() : undefined, 'v1');
      assert.equal(r2?.type === 'get' ? r2.kvs[0]?.value.toString() : undefined, 'v2');
      assert.equal((await coord.get(`${k}2`))?.modRevision, ok.revision, 'both writes share the txn revision');

      for (const failing of [
        { key: k, target: 'version' as const, op: '=' as const, value: 1 },
        { key: k, target: 'value' as const, op: '=' as const, value: 'v1' },
        { key: k, target: 'modRevision' as const, op: '=' as const, value: w.revision },
        { key: k, target: 'createRevision' as const, op: '>' as const, value: w.revision },
      ]) {
        const res = await coord.txn({ compare: [failing], then: [{ type: 'put', key: k, value: 'bad' }], else: [{ type: 'get', key: k }] });
        assert.equal(res.succeeded, false, `compare ${failing.target} ${failing.op} must fail`);
        assert.equal(res.revision, ok.revision, 'a failed txn with only reads writes nothing');
        const g = res.results[0];
        assert.equal(g?.type === 'get' ? g.kvs[0]?.value.toString() : undefined, 'v2');
      }
      assert.equal((await coord.get(k))?.value.toString(), 'v2');

      // Absent keys: version 0 / create revision 0.
      const create = await coord.txn({
        compare: [{ key: `${k}-new`, target: 'createRevision', op: '=', value: 0 }],
        then: [{ type: 'put', key: `${k}-new`, value: 'first' }],
      });
      assert.equal(create.succeeded, true);

      const cas1 = await coord.compareAndSwap(k, ok.revision, 'v3');
      assert.ok(cas1.revision !== undefined);
      const cas2 = await coord.compareAndSwap(k, ok.revision, 'v4');
      assert.equal(cas2.revision, undefined);
      assert.equal(cas2.current?.value.toString(), 'v3');
      const cas3 = await coord.compareAndSwap(`${k}-absent`, 0, 'created');
      assert.ok(cas3.revision !== undefined);
    });

    test('a watch from a past revision replays the missed events in order, then live ones', async () => {
      const p = '/conf/replay/';
      const first = await coord.put(`${p}a`, '1');
      await coord.put(`${p}b`, '2');
      await coord.put(`${p}a`, '3');
      await coord.delete(`${p}b`);
      await coord.txn({ then: [{ type: 'put', key: `${p}c`, value: '4' }, { type: 'put', key: `${p}d`, value: '5' }] });
      const watch = coord.watch({ key: p, prefix: true, fromRevision: first.revision });
      await watch.ready;
      const live = coord.put(`${p}e`, '6');
      const events = await collect(watch, 7);
      await live;
      assert.deepEqual(events.map(brief), [
        `put ${p}a@${first.revision}=1`,
        `put ${p}b@${first.revision + 1}=2`,
        `put ${p}a@${first.revision + 2}=3`,
        `delete ${p}b@${first.revision + 3}=`,
        `put ${p}c@${first.revision + 4}=4`,
        `put ${p}d@${first.revision + 4}=5`,
        `put ${p}e@${first.revision + 5}=6`,
      ]);
      assert.equal(events[2]?.kv.version, 2);
    });

    test('a prefix watch sees only its prefix, with prev_kv on puts and deletes', async () => {
      const p = '/conf/pwatch/';
      const watch = coord.watch({ key: p, prefix: true, prevKv: true });
      await watch.ready;
      await coord.put('/conf/pwatch-sibling', 'not mine');
      await coord.put(`${p}x`, 'one');
      await coord.put(`${p}x`, 'two');
      await coord.put('/conf/other/x', 'not mine either');
      await coord.delete(`${p}x`);
      const events = await collect(watch, 3);
      await watch.close();
      assert.deepEqual(
        events.map((e) => [e.type, e.kv.key, e.kv.value.toString(), e.prev?.value.toString()]),
        [
          ['put', `${p}x`, 'one', undefined],
          ['put', `${p}x`, 'two', 'one'],
          ['delete', `${p}x`, '', 'two'],
        ],
      );
      // Single-key watch and the filter option.
      const single = coord.watch({ key: `${p}y`, only: 'delete' });
      await single.ready;
      await coord.put(`${p}y`, 'a');
      await coord.put(`${p}yy`, 'b');
      await coord.delete(`${p}y`);
      const dels = await collect(single, 1);
      assert.equal(dels[0]?.type, 'delete');
      assert.equal(dels[0]?.kv.key, `${p}y`);
    });

    test('the raw etcd3 watcher and status call work too', async () => {
      const k = '/conf/raw/k';
      const watcher = await raw.watch().key(k).create();
      const got = new Promise<string>((resolve) => watcher.on('put', (kv) => resolve(kv.value.toString())));
      await raw.put(k).value('from raw');
      assert.equal(await got, 'from raw');
      await watcher.cancel();
      assert.equal(await raw.get(k).string(), 'from raw');
      const status = await raw.maintenance.status();
      assert.ok(Number(status.header.revision) >= 1);
      assert.match(status.version, /^\d+\.\d+\.\d+/);
    });

    test('lease TTL expiry deletes its keys and emits delete events within TTL + 2 s', async () => {
      const lease = await coord.grantLease(3, { keepAlive: false });
      assert.ok(lease.ttlSeconds >= 3);
      const k = '/conf/lease/expire';
      await coord.put(k, 'alive', { lease });
      assert.equal((await coord.get(k))?.lease, lease.id);
      const watch = coord.watch({ key: k });
      await watch.ready;
      const events = await collect(watch, 1, (lease.ttlSeconds + 2) * 1000);
      assert.equal(events[0]?.type, 'delete');
      assert.equal(await coord.get(k), undefined);
      assert.equal(await lease.timeToLive(), -1);
      await rejectsWithCode(lease.keepAliveOnce(), Code.COORD_LEASE_NOT_FOUND);
    });

    test('keep-alive holds a key past its TTL; revoke deletes it at once', async () => {
      const lease = await coord.grantLease(3);
      const k = '/conf/lease/held';
      await coord.put(k, 'held', { lease: lease.id });
      let lost = false;
      lease.on('lease:lost', () => (lost = true));
      await sleep((lease.ttlSeconds + 2) * 1000);
      assert.equal((await coord.get(k))?.value.toString(), 'held', 'the key outlives its TTL while kept alive');
      assert.equal(lost, false);
      const ttl = await lease.timeToLive();
      assert.ok(ttl > 0 && ttl <= lease.ttlSeconds, `remaining TTL ${ttl}`);
      assert.ok((await lease.keepAliveOnce()) >= 3);
      await lease.revoke();
      assert.equal(await coord.get(k), undefined, 'revoke deletes the lease keys at once');
      assert.equal(lease.closed, true);
      await lease.revoke(); // idempotent
    });

    test('a lease revoked elsewhere is reported lost; unknown leases are refused', async () => {
      const lease = await coord.grantLease(3);
      const lost = new Promise<FlotillaError>((resolve) => lease.on('lease:lost', resolve));
      const other = await newClient();
      await raw.leaseClient.leaseRevoke({ ID: lease.id });
      const err = await lost;
      assert.equal(err.code, Code.COORD_LEASE_NOT_FOUND);
      assert.equal(lease.closed, true);
      await rejectsWithCode(other.put('/conf/lease/unknown', 'x', { lease: lease.id }), Code.COORD_LEASE_NOT_FOUND);
      await rejectsWithCode(other.put('/conf/lease/unknown', 'x', { lease: '123456789' }), Code.COORD_LEASE_NOT_FOUND);
      assert.equal(await other.get('/conf/lease/unknown'), undefined);
    });

    test('after compaction, reads and watches below the compacted revision get COORD_COMPACTED', async () => {
      const k = '/conf/compact/k';
      const w1 = await coord.put(k, 'a');
      await coord.put(k, 'b');
      const w3 = await coord.put(k, 'c');
      await coord.compact(w3.revision);
      await rejectsWithCode(coord.get(k, { revision: w1.revision }), Code.COORD_COMPACTED);
      assert.equal((await coord.get(k, { revision: w3.revision }))?.value.toString(), 'c');

      // etcd first accepts the watch, then cancels it with the compact revision: the watch ends with the error.
      const stale = coord.watch({ key: k, fromRevision: w1.revision });
      const err = await rejectsWithCode(
        (async () => {
          for await (const _ev of stale) void _ev;
        })(),
        Code.COORD_COMPACTED,
      );
      assert.equal(err.details?.compactRevision, w3.revision);
      const viaEvent = coord.watch({ key: k, fromRevision: w1.revision });
      const evErr = await new Promise<FlotillaError>((resolve) => viaEvent.on('watch:error', resolve));
      assert.equal(evErr.code, Code.COORD_COMPACTED);
      const fresh = coord.watch({ key: k, fromRevision: w3.revision });
      const events = await collect(fresh, 1);
      assert.equal(events[0]?.kv.value.toString(), 'c');
      await rejectsWithCode(coord.compact(w1.revision), Code.COORD_COMPACTED);
    });

    test('election: one leader at a time; the next takes over on resign and on lease revoke', async () => {
      const c2 = await newClient();
      const c3 = await newClient();
      const prefix = '/conf/election';
      const observer = coord.election(prefix).observe();
      const seen: (string | undefined)[] = [];
      const observed = (async () => {
        for await (const leader of observer) seen.push(leader?.value.toString());
      })();
      const observerSees = (v: string | undefined): Promise<boolean> =>
        eventually(`observer sees ${v}`, async () => (seen.length > 0 && seen.at(-1) === v ? true : undefined));
      await observerSees(undefined);

      const l1 = await coord.election(prefix).campaign('one', { ttlSeconds: 5 });
      await observerSees('one');
      let l2 = undefined as Leadership | undefined;
      let l3 = undefined as Leadership | undefined;
      const lease2 = await c2.grantLease(5);
      const p2 = c2
        .election(prefix)
        .campaign('two', { lease: lease2 })
        .then((l) => (l2 = l));
      await eventually('candidate two registered', async () => ((await coord.range(`${prefix}/`)).count === 2 ? true : undefined));
      const p3 = c3
        .election(prefix)
        .campaign('three', { ttlSeconds: 5 })
        .then((l) => (l3 = l));
      await eventually('candidate three registered', async () => ((await coord.range(`${prefix}/`)).count === 3 ? true : undefined));
      await sleep(300);
      assert.equal(l2 === undefined, true, 'two waits while one leads');
      assert.equal(l3 === undefined, true);
      assert.equal((await c2.election(prefix).leader())?.value.toString(), 'one');

      await l1.proclaim('one again');
      assert.equal((await c3.election(prefix).leader())?.value.toString(), 'one again');
      await observerSees('one again');
      await l1.resign();
      await p2;
      await observerSees('two');
      assert.ok(l2);
      assert.equal(l3 === undefined, true, 'three still waits: candidates are served in order');
      assert.equal((await coord.election(prefix).leader())?.value.toString(), 'two');
      assert.ok(l2.revision > l1.revision);
      await rejectsWithCode(l1.proclaim('stale'), Code.COORD_NOT_LEADER);

      const lost2 = new Promise<FlotillaError>((resolve) => l2!.on('leadership:lost', resolve));
      await raw.leaseClient.leaseRevoke({ ID: lease2.id });
      await p3;
      await observerSees('three');
      assert.ok(l3);
      assert.equal((await lost2).code, Code.COORD_NOT_LEADER);
      assert.equal(l2.lost, true);
      assert.equal((await coord.election(prefix).leader())?.value.toString(), 'three');
      await l3.resign();
      assert.equal(await coord.election(prefix).leader(), undefined);

      await observerSees(undefined);
      await observer.close();
      await observed;
      const distinct = seen.filter((v, i) => i === 0 || v !== seen[i - 1]);
      assert.deepEqual(distinct, [undefined, 'one', 'one again', 'two', 'three', undefined]);
    });

    test('a cancelled campaign withdraws its candidate key', async () => {
      const prefix = '/conf/election-cancel';
      const leader = await coord.election(prefix).campaign('leader', { ttlSeconds: 5 });
      const c2 = await newClient();
      const ac = new AbortController();
      const waiting = c2.election(prefix).campaign('waiter', { ttlSeconds: 5, signal: ac.signal });
      await eventually('waiter registered', async () => ((await coord.range(`${prefix}/`)).count === 2 ? true : undefined));
      ac.abort();
      await rejectsWithCode(waiting, Code.CANCELLED);
      assert.equal((await coord.range(`${prefix}/`)).count, 1);
      await leader.resign();
      assert.equal((await coord.range(`${prefix}/`)).count, 0);
    });

    test('watches resume across a store restart without losing or repeating events; leases survive', async () => {
      const p = '/conf/restart/';
      const lease = await coord.grantLease(30);
      await coord.put(`${p}leased`, 'x', { lease });
      const watch = coord.watch({ key: p, prefix: true });
      await watch.ready;
      let disconnects = 0;
      watch.on('watch:disconnected', () => disconnects++);
      for (let i = 0; i < 3; i++) await coord.put(`${p}k${i}`, `before-${i}`);
      const firstThree = await collect(watch, 3);
      await server.restart();
      for (let i = 0; i < 3; i++) {
        // The first writes after a restart may meet a connection that is still re-establishing.
        await eventually(`put after restart ${i}`, async () => coord.put(`${p}k${i}`, `after-${i}`).catch(() => undefined));
      }
      const nextThree = await collect(watch, 3, 20_000);
      await watch.close();
      assert.ok(disconnects >= 1, 'the watch saw the store go away');
      const all = [...firstThree, ...nextThree];
      assert.deepEqual(
        all.map((e) => e.kv.value.toString()),
        ['before-0', 'before-1', 'before-2', 'after-0', 'after-1', 'after-2'],
      );
      for (let i = 1; i < all.length; i++) assert.ok(all[i]!.revision > all[i - 1]!.revision, 'revisions strictly increase');
      assert.equal((await coord.get(`${p}leased`))?.value.toString(), 'x', 'the lease survived the restart');
      assert.ok((await lease.keepAliveOnce()) > 0);
      await lease.revoke();
    });
  });
}
