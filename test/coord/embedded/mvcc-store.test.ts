import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MvccStore } from '../../../src/coord/embedded/mvcc-store.js';
import { applyDelete, applyPut, applyRange, applyTxn, checkTxn, type OpContext } from '../../../src/coord/embedded/txn.js';
import type { DeleteRequest, PutRequest, RangeRequest, TxnOp, TxnRequest } from '../../../src/coord/embedded/types.js';
import { FlotillaError } from '../../../src/core/errors.js';

const enc = (s: string): Uint8Array => Buffer.from(s);
const dec = (b: Uint8Array): string => Buffer.from(b).toString();

/** A store with synchronous helpers that run each operation in its own write transaction. */
function harness(leases: Set<bigint> = new Set()) {
  const store = new MvccStore();
  function run<T>(fn: (ctx: OpContext) => T): T {
    const tx = store.begin();
    try {
      const out = fn({ store, tx, leaseExists: (id) => leases.has(id) });
      tx.commit();
      return out;
    } catch (err) {
      tx.abort();
      throw err;
    }
  }
  return {
    store,
    put: (key: string, value: string, extra: Partial<PutRequest> = {}) => run((c) => applyPut(c, { key, value: enc(value), ...extra })),
    del: (req: DeleteRequest) => run((c) => applyDelete(c, req)),
    get: (req: RangeRequest) => run((c) => applyRange(c, req)),
    txn: (req: TxnRequest) => {
      checkTxn(req);
      return run((c) => applyTxn(c, req));
    },
  };
}

function etcdMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof FlotillaError);
    return err.rawMessage;
  }
  assert.fail('expected an error');
}

void describe('mvcc store', () => {
  void it('starts at revision 1 and gives each write the next revision, with create/mod revision and version', () => {
    const h = harness();
    assert.equal(h.store.currentRev, 1);
    h.put('a', '1');
    h.put('a', '2');
    h.put('b', '3');
    assert.equal(h.store.currentRev, 4);
    const [a] = h.get({ key: 'a' }).kvs;
    assert.deepEqual([a!.createRevision, a!.modRevision, a!.version, dec(a!.value)], [2, 3, 2, '2']);
    h.del({ key: 'a' });
    h.put('a', '4');
    const [again] = h.get({ key: 'a' }).kvs;
    assert.deepEqual([again!.createRevision, again!.modRevision, again!.version], [6, 6, 1]);
  });

  void it('reads history at a revision, and refuses future and compacted revisions', () => {
    const h = harness();
    h.put('k', 'v1'); // 2
    h.put('k', 'v2'); // 3
    h.del({ key: 'k' }); // 4
    assert.equal(dec(h.get({ key: 'k', revision: 2 }).kvs[0]!.value), 'v1');
    assert.equal(dec(h.get({ key: 'k', revision: 3 }).kvs[0]!.value), 'v2');
    assert.equal(h.get({ key: 'k', revision: 4 }).count, 0);
    assert.equal(etcdMessage(() => h.get({ key: 'k', revision: 5 })), 'etcdserver: mvcc: required revision is a future revision');
    h.store.compact(3);
    assert.equal(etcdMessage(() => h.get({ key: 'k', revision: 2 })), 'etcdserver: mvcc: required revision has been compacted');
    assert.equal(dec(h.get({ key: 'k', revision: 3 }).kvs[0]!.value), 'v2');
  });

  void it('ranges by prefix and from a key to the end, with limit, more, count, keys_only and count_only', () => {
    const h = harness();
    for (const k of ['a/1', 'a/2', 'a/3', 'b/1', 'c']) h.put(k, `val-${k}`);
    const prefix = h.get({ key: 'a/', end: 'a0', limit: 2 });
    assert.deepEqual(prefix.kvs.map((kv) => dec(kv.key)), ['a/1', 'a/2']);
    assert.equal(prefix.more, true);
    assert.equal(prefix.count, 3);
    const all = h.get({ key: 'b', end: '' });
    assert.deepEqual(all.kvs.map((kv) => dec(kv.key)), ['b/1', 'c']);
    const keysOnly = h.get({ key: '\0', end: '', keysOnly: true });
    assert.equal(keysOnly.kvs.length, 5);
    assert.ok(keysOnly.kvs.every((kv) => kv.value.length === 0));
    const countOnly = h.get({ key: 'a/', end: 'a0', countOnly: true });
    assert.deepEqual([countOnly.kvs.length, countOnly.count], [0, 3]);
  });

  void it('sorts by any target and filters by mod and create revision', () => {
    const h = harness();
    h.put('x', 'c'); // 2
    h.put('y', 'a'); // 3
    h.put('z', 'b'); // 4
    h.put('x', 'd'); // 5
    const byValue = h.get({ key: 'x', end: '{', sortTarget: 'value', sortOrder: 'descend' });
    assert.deepEqual(byValue.kvs.map((kv) => dec(kv.value)), ['d', 'b', 'a']);
    const byMod = h.get({ key: 'x', end: '{', sortTarget: 'mod' }); // ascending by default for a non-key target
    assert.deepEqual(byMod.kvs.map((kv) => dec(kv.key)), ['y', 'z', 'x']);
    const byKeyDesc = h.get({ key: 'x', end: '{', sortOrder: 'descend', limit: 1 });
    assert.deepEqual([dec(byKeyDesc.kvs[0]!.key), byKeyDesc.more], ['z', true]);
    const filtered = h.get({ key: 'x', end: '{', minModRevision: 3, maxCreateRevision: 3 });
    assert.deepEqual(filtered.kvs.map((kv) => dec(kv.key)), ['x', 'y']);
    assert.equal(filtered.count, 3);
  });

  void it('deletes a range in one revision and returns the previous values', () => {
    const h = harness();
    h.put('p/1', 'a');
    h.put('p/2', 'b');
    const before = h.store.currentRev;
    const res = h.del({ key: 'p/', end: 'p0', prevKv: true });
    assert.equal(res.deleted, 2);
    assert.deepEqual(res.prevKvs.map((kv) => dec(kv.value)), ['a', 'b']);
    assert.equal(h.store.currentRev, before + 1);
    assert.equal(h.del({ key: 'nothing' }).deleted, 0);
    assert.equal(h.store.currentRev, before + 1, 'a delete of nothing takes no revision');
  });

  void it('puts with prev_kv, ignore_value and ignore_lease, and checks the lease exists', () => {
    const h = harness(new Set([7n]));
    h.put('k', 'v', { lease: 7n });
    const res = h.put('k', '', { ignoreValue: true, prevKv: true });
    assert.equal(dec(res.prevKv!.value), 'v');
    const [kv] = h.get({ key: 'k' }).kvs;
    assert.deepEqual([dec(kv!.value), kv!.lease], ['v', 0n]);
    h.put('k', 'w', { lease: 7n });
    h.put('k', 'x', { ignoreLease: true });
    assert.equal(h.get({ key: 'k' }).kvs[0]!.lease, 7n);
    assert.equal(etcdMessage(() => h.put('missing', '', { ignoreValue: true })), 'etcdserver: key not found');
    assert.equal(etcdMessage(() => h.put('k', 'v', { lease: 99n })), 'etcdserver: requested lease not found');
  });

  void it('runs a txn in one revision: compares on version, create, mod, value and lease, over a range too', () => {
    const h = harness();
    h.put('t/a', '1'); // 2
    h.put('t/b', '2'); // 3
    const put = (key: string, value: string): TxnOp => ({ type: 'put', request: { key, value: enc(value) } });
    const ok = h.txn({
      compare: [
        { key: 't/a', target: 'version', result: 'equal', operand: 1n },
        { key: 't/a', target: 'create', result: 'equal', operand: 2n },
        { key: 't/b', target: 'mod', result: 'greater', operand: 2n },
        { key: 't/b', target: 'value', result: 'equal', operand: enc('2') },
        { key: 't/a', target: 'lease', result: 'equal', operand: 0n },
        { key: 't/', end: 't0', target: 'version', result: 'less', operand: 2n },
      ],
      success: [put('t/c', '3'), put('t/d', '4'), { type: 'range', request: { key: 't/', end: 't0' } }],
      failure: [],
    });
    assert.equal(ok.succeeded, true);
    assert.equal(h.store.currentRev, 4, 'two puts in a txn share one revision');
    const range = ok.responses[2];
    assert.ok(range?.type === 'range');
    assert.equal(range.result.count, 4, 'a range in a txn sees the writes before it');
    const failed = h.txn({
      compare: [
        { key: 'missing', target: 'value', result: 'equal', operand: new Uint8Array(0) },
      ],
      success: [put('never', 'x')],
      failure: [{ type: 'txn', request: { compare: [], success: [put('nested', 'y')], failure: [] } }],
    });
    assert.equal(failed.succeeded, false, 'a value compare on a missing key fails');
    assert.equal(h.get({ key: 'nested' }).count, 1);
    assert.equal(h.get({ key: 'never' }).count, 0);
    assert.equal(
      h.txn({ compare: [{ key: 'missing', target: 'create', result: 'equal', operand: 0n }], success: [], failure: [] }).succeeded,
      true,
      'a missing key has create revision 0',
    );
  });

  void it('rejects txns with too many ops or a key written twice, and undoes a txn that fails midway', () => {
    const h = harness();
    const put = (key: string): TxnOp => ({ type: 'put', request: { key, value: enc('v') } });
    const many = Array.from({ length: 129 }, (_, i) => put(`k${i}`));
    assert.equal(etcdMessage(() => h.txn({ compare: [], success: many, failure: [] })), 'etcdserver: too many operations in txn request');
    assert.equal(etcdMessage(() => h.txn({ compare: [], success: [put('a'), put('a')], failure: [] })), 'etcdserver: duplicate key given in txn request');
    assert.equal(
      etcdMessage(() => h.txn({ compare: [], success: [{ type: 'delete', request: { key: 'a', end: 'b' } }, put('a1')], failure: [] })),
      'etcdserver: duplicate key given in txn request',
    );
    assert.equal(
      etcdMessage(() => h.txn({ compare: [], success: [put('a'), { type: 'txn', request: { compare: [], success: [put('a')], failure: [] } }], failure: [] })),
      'etcdserver: duplicate key given in txn request',
    );
    h.txn({ compare: [], success: [put('a')], failure: [put('a')] }); // the two branches may write the same key
    const rev = h.store.currentRev;
    assert.equal(
      etcdMessage(() => h.txn({ compare: [], success: [put('x'), { type: 'put', request: { key: 'y', value: enc('v'), lease: 5n } }], failure: [] })),
      'etcdserver: requested lease not found',
    );
    assert.equal(h.store.currentRev, rev);
    assert.equal(h.get({ key: 'x' }).count, 0, 'the failed txn left nothing behind');
  });

  void it('compaction keeps the value visible at the compaction revision and drops older history and old tombstones', () => {
    const h = harness();
    h.put('a', '1'); // 2
    h.put('a', '2'); // 3
    h.put('b', '1'); // 4
    h.del({ key: 'b' }); // 5
    h.put('c', '1'); // 6
    const dropped = h.store.compact(6);
    assert.deepEqual(dropped.map((r) => `${r.key}@${r.main}`).sort(), ['a@2', 'b@4', 'b@5']);
    assert.deepEqual(h.get({ key: '\0', end: '', revision: 6 }).kvs.map((kv) => dec(kv.key)), ['a', 'c']);
    assert.deepEqual(h.store.eventsBetween(0, 100).map((r) => r.main), [6]);
  });

  void it('lists events in revision order, with sub-revisions, for watches', () => {
    const h = harness();
    h.put('a', '1');
    h.txn({ compare: [], success: [{ type: 'put', request: { key: 'b', value: enc('2') } }, { type: 'delete', request: { key: 'a' } }], failure: [] });
    const events = h.store.eventsBetween(2, 3);
    assert.deepEqual(events.map((r) => [r.key, r.main, r.sub, r.tombstone]), [['a', 2, 0, false], ['b', 3, 0, false], ['a', 3, 1, true]]);
    assert.equal(dec(h.store.previousOf(events[2]!)!.value), '1');
  });
});
