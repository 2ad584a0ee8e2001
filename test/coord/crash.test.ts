// kill -9 of the embedded store mid-write-load loses no acknowledged write: after a restart on the same data
// dir every acknowledged put is there with its value and revision, revisions continue above them, revisions
// are not shared across writes, and new writes succeed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Coord } from '../../src/coord/coord.js';
import { createCoord } from '../../src/coord/etcd-coord.js';
import { startEmbeddedCoord } from '../testkit/index.js';

interface Ack {
  keys: string[];
  value: string;
  revision: number;
}

const WRITERS = 6;
const MAX_WRITES_PER_WRITER = 400;
const KILL_AFTER_ACKS = 300;

async function writer(coord: Coord, id: number, acks: Ack[], stop: { now: boolean }): Promise<void> {
  for (let j = 0; j < MAX_WRITES_PER_WRITER && !stop.now; j++) {
    try {
      if (id % 3 === 0) {
        // Every third writer writes pairs in one txn: both keys share a revision legitimately.
        const a = `/crash/txn${id}/${j}/a`;
        const b = `/crash/txn${id}/${j}/b`;
        const value = `t-${id}-${j}`;
        const res = await coord.txn({ then: [{ type: 'put', key: a, value }, { type: 'put', key: b, value }] });
        acks.push({ keys: [a, b], value, revision: res.revision });
      } else {
        const key = `/crash/w${id}/${j}`;
        const value = `v-${id}-${j}-${'x'.repeat(j % 50)}`;
        const res = await coord.put(key, value);
        acks.push({ keys: [key], value, revision: res.revision });
      }
    } catch {
      return; // the store died under us: this write was not acknowledged
    }
  }
}

test('kill -9 of the embedded store mid-write-load loses no acknowledged put', async (t) => {
  const store = await startEmbeddedCoord({ t });
  const coord = await createCoord({ endpoints: [store.endpoint], requestTimeoutMs: 5000 });
  t.after(() => coord.close());

  const acks: Ack[] = [];
  const stop = { now: false };
  const writers = Array.from({ length: WRITERS }, (_, i) => writer(coord, i, acks, stop));
  for (let i = 0; i < 600 && acks.length < KILL_AFTER_ACKS; i++) await sleep(10);
  assert.ok(acks.length > 0, 'some writes were acknowledged before the kill');
  const killed = await store.kill();
  assert.equal(killed.signal, 'SIGKILL');
  stop.now = true;
  await Promise.all(writers);
  assert.ok(acks.length < WRITERS * MAX_WRITES_PER_WRITER, 'the kill happened mid-load');

  await store.restart();
  const after = await createCoord({ endpoints: [store.endpoint] });
  t.after(() => after.close());

  const maxAcked = Math.max(...acks.map((a) => a.revision));
  for (const ack of acks) {
    for (const key of ack.keys) {
      const kv = await after.get(key);
      assert.ok(kv, `acknowledged key ${key} (revision ${ack.revision}) is missing after the restart`);
      assert.equal(kv.value.toString(), ack.value, `value of ${key}`);
      assert.equal(kv.modRevision, ack.revision, `mod revision of ${key}`);
      assert.equal(kv.version, 1);
    }
  }
  const revision = await after.revision();
  assert.ok(revision >= maxAcked, `revision ${revision} continues from the highest acknowledged ${maxAcked}`);

  // No two keys share a mod revision unless one txn wrote them.
  const all = await after.range('/crash/');
  const byRevision = new Map<number, string[]>();
  for (const kv of all.kvs) byRevision.set(kv.modRevision, [...(byRevision.get(kv.modRevision) ?? []), kv.key]);
  for (const [rev, keys] of byRevision) {
    if (keys.length === 1) continue;
    const txnOf = (k: string): string | undefined => /^(\/crash\/txn\d+\/\d+)\/[ab]$/.exec(k)?.[1];
    assert.ok(
      keys.length === 2 && txnOf(keys[0]!) !== undefined && txnOf(keys[0]!) === txnOf(keys[1]!),
      `keys ${keys.join(', ')} share revision ${rev} without being one txn`,
    );
  }

  // New writes succeed, above everything before, through a fresh client and through the old one.
  const fresh = await after.put('/crash/after-restart', 'ok');
  assert.ok(fresh.revision > revision);
  let old: number | undefined;
  for (let i = 0; i < 100 && old === undefined; i++) {
    old = await coord
      .put('/crash/after-restart-old-client', 'ok')
      .then((r) => r.revision)
      .catch(async () => {
        await sleep(100);
        return undefined;
      });
  }
  assert.ok(old !== undefined && old > fresh.revision, 'the client that saw the crash writes again');
});
