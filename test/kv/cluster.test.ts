import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FlotillaError } from '../../src/core/errors.js';
import { startHarness } from './kv-harness.js';

const enc = (s: string): Buffer => Buffer.from(s);
const str = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString());

describe('KV store on three in-process replicas over gRPC', () => {
  it('put then get from every node; delete then get from every node', async (t) => {
    const h = await startHarness(t);
    const a = h.node('node-a').kv.coordinator;
    const put = await a.put(enc('greeting'), enc('xin chao'));
    assert.ok(put.acks >= 2);
    for (const name of ['node-a', 'node-b', 'node-c']) {
      const r = await h.node(name).kv.coordinator.get(enc('greeting'));
      assert.equal(str(r.entry?.value), 'xin chao', name);
    }
    await h.node('node-b').kv.coordinator.del(enc('greeting'));
    for (const name of ['node-a', 'node-b', 'node-c']) {
      const r = await h.node(name).kv.coordinator.get(enc('greeting'), { level: 'all' });
      assert.equal(r.entry, undefined, name);
    }
    // Every replica holds the tombstone once the background sends are done.
    await h.node('node-b').kv.coordinator.idle();
    for (const n of h.nodes.values()) assert.equal((await n.kv.engine.get(enc('greeting')))?.tombstone, true);
  });

  it('with one node stopped, old keys read and new keys write through the others; it catches up on return', async (t) => {
    const h = await startHarness(t);
    const a = h.node('node-a').kv.coordinator;
    for (let i = 0; i < 20; i++) await a.put(enc(`old/${i}`), enc(`v${i}`));
    await h.node('node-a').kv.coordinator.idle();
    await h.stop('node-c');
    for (let i = 0; i < 20; i++) assert.equal(str((await h.node('node-b').kv.coordinator.get(enc(`old/${i}`))).entry?.value), `v${i}`);
    for (let i = 0; i < 20; i++) await h.node('node-b').kv.coordinator.put(enc(`new/${i}`), enc(`n${i}`));
    await h.node('node-a').kv.coordinator.del(enc('old/3'));
    // ALL cannot be met with a replica down; nothing is acknowledged.
    await assert.rejects(
      a.put(enc('x'), enc('y'), { level: 'all' }),
      (err: FlotillaError) =>
        err.code === 'KV_QUORUM_NOT_MET' && /^\[kv_quorum_not_met\] quorum not met for put/.test(err.message) && err.grpcStatus === 14 && err.httpStatus === 503 && err.retryable,
    );
    await h.node('node-b').kv.coordinator.idle();
    await h.node('node-a').kv.coordinator.idle();
    assert.ok(h.node('node-b').kv.engine.pendingHints + h.node('node-a').kv.engine.pendingHints > 0, 'hints were stored for node-c');

    await h.restart('node-c');
    const c = h.node('node-c');
    // Hints first, then anti-entropy (as at node start): no manual step beyond what the node does itself.
    await h.node('node-a').kv.hints.deliverNow();
    await h.node('node-b').kv.hints.deliverNow();
    const report = await c.kv.antiEntropy.runNow();
    assert.equal(report.skipped.length, 0);
    for (let i = 0; i < 20; i++) {
      assert.equal(str((await c.kv.engine.get(enc(`new/${i}`)))?.value), `n${i}`, `node-c has new/${i}`);
    }
    assert.equal((await c.kv.engine.get(enc('old/3')))?.tombstone, true);
    const roots = [...h.nodes.values()].map((n) => n.kv.engine.tree.digest(1).join(','));
    assert.equal(new Set(roots).size, 1, 'all replicas equal');
    assert.equal(h.node('node-a').kv.engine.pendingHints + h.node('node-b').kv.engine.pendingHints, 0);
  });

  it('anti-entropy alone repairs a replica that missed writes (no hints)', async (t) => {
    const h = await startHarness(t);
    h.markDown('node-c');
    for (let i = 0; i < 50; i++) await h.node('node-a').kv.coordinator.put(enc(`k${i}`), enc(`v${i}`));
    await h.node('node-a').kv.coordinator.idle();
    // Drop the hints: only the Merkle exchange can repair node-c.
    const e = h.node('node-a').kv.engine;
    await e.deleteHints(await e.readHints('node-c', 1000));
    h.markUp('node-c');
    const x = await h.node('node-c').kv.antiEntropy.exchange('node-a');
    // node-c's own start-up round may have pulled the first few already.
    assert.ok(x.pulled > 0 && x.differingLeaves > 0);
    for (let i = 0; i < 50; i++) assert.ok(await h.node('node-c').kv.engine.get(enc(`k${i}`)), `node-c has k${i}`);
    assert.deepEqual(h.node('node-c').kv.engine.tree.digest(1), h.node('node-a').kv.engine.tree.digest(1));
    const again = await h.node('node-c').kv.antiEntropy.exchange('node-a');
    assert.equal(again.differingLeaves, 0);
    assert.equal(again.nodesExchanged, again.partitions);
  });

  it('a read that sees divergent versions returns the newest and repairs the stale replica', async (t) => {
    const h = await startHarness(t);
    await h.node('node-a').kv.coordinator.put(enc('k'), enc('v1'));
    await h.node('node-a').kv.coordinator.idle();
    h.markDown('node-b');
    await h.node('node-a').kv.coordinator.put(enc('k'), enc('v2'));
    await h.node('node-a').kv.coordinator.idle();
    h.markUp('node-b');
    assert.equal(str((await h.node('node-b').kv.engine.get(enc('k')))?.value), 'v1');
    const r = await h.node('node-b').kv.coordinator.get(enc('k'), { level: 'all' });
    assert.equal(str(r.entry?.value), 'v2');
    assert.equal(r.repaired, 1);
    await h.node('node-b').kv.coordinator.idle();
    assert.equal(str((await h.node('node-b').kv.engine.get(enc('k')))?.value), 'v2');
  });

  it('scans by prefix in key order, page by page, without deleted keys', async (t) => {
    const h = await startHarness(t);
    const a = h.node('node-a').kv.coordinator;
    for (let i = 0; i < 25; i++) await a.put(enc(`user/${String(i).padStart(2, '0')}`), enc(`u${i}`));
    await a.put(enc('other'), enc('x'));
    await a.del(enc('user/05'));
    await a.idle();
    const seen: string[] = [];
    let token: Uint8Array | undefined;
    for (let page = 0; page < 10; page++) {
      const r = await h.node('node-c').kv.coordinator.scan(enc('user/'), { limit: 7, ...(token !== undefined ? { pageToken: token } : {}) });
      seen.push(...r.entries.map((e) => str(e.key)!));
      token = r.nextPageToken;
      if (token === undefined) break;
    }
    assert.equal(token, undefined);
    assert.deepEqual(
      seen,
      Array.from({ length: 25 }, (_, i) => `user/${String(i).padStart(2, '0')}`).filter((k) => k !== 'user/05'),
    );
  });

  it('TTL: a value expires on every replica', async (t) => {
    const h = await startHarness(t);
    await h.node('node-a').kv.coordinator.put(enc('short'), enc('lived'), { ttlMs: 200 });
    assert.equal(str((await h.node('node-b').kv.coordinator.get(enc('short'))).entry?.value), 'lived');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await h.node('node-b').kv.coordinator.get(enc('short'))).entry, undefined);
  });
});
