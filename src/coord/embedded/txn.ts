/**
 * Request checks and execution of etcd's KV operations (Range, Put, DeleteRange, Txn) against a write
 * transaction of the MVCC store. The checks are etcd's (v3rpc key.go): empty keys, value/lease given with
 * ignore_*, at most 128 ops per txn branch, no key written twice in one txn.
 */
import { recToKeyValue, type MvccStore, type Rec, type WriteTxn } from './mvcc-store.js';
import {
  etcdError,
  type Compare,
  type DeleteRequest,
  type KeySpan,
  type KeyValue,
  type PutRequest,
  type RangeRequest,
  type RangeResult,
  type TxnOp,
  type TxnOpResult,
  type TxnRequest,
  type TxnResult,
} from './types.js';

/** etcd's default --max-txn-ops. */
export const MAX_TXN_OPS = 128;

export function checkRange(req: RangeRequest): void {
  if (req.key.length === 0) throw etcdError('emptyKey');
}

export function checkPut(req: PutRequest): void {
  if (req.key.length === 0) throw etcdError('emptyKey');
  if (req.ignoreValue === true && req.value.length !== 0) throw etcdError('valueProvided');
  if (req.ignoreLease === true && (req.lease ?? 0n) !== 0n) throw etcdError('leaseProvided');
}

export function checkDelete(req: DeleteRequest): void {
  if (req.key.length === 0) throw etcdError('emptyKey');
}

/** etcd's checkTxnRequest followed by its checkIntervals on both branches. */
export function checkTxn(req: TxnRequest, maxOps = MAX_TXN_OPS): void {
  checkTxnShape(req, maxOps);
  checkIntervals(req.success);
  checkIntervals(req.failure);
}

function checkTxnShape(req: TxnRequest, maxOps: number): void {
  if (req.compare.length > maxOps || req.success.length > maxOps || req.failure.length > maxOps) {
    throw etcdError('tooManyOps');
  }
  for (const c of req.compare) if (c.key.length === 0) throw etcdError('emptyKey');
  for (const op of [...req.success, ...req.failure]) {
    if (op.type === 'range') checkRange(op.request);
    else if (op.type === 'put') checkPut(op.request);
    else if (op.type === 'delete') checkDelete(op.request);
    else checkTxnShape(op.request, maxOps);
  }
}

function spanHits(spans: readonly KeySpan[], key: string): boolean {
  return spans.some((s) => (s.end === undefined ? key === s.key : key >= s.key && (s.end === '' || key < s.end)));
}

/** Returns the keys put and the spans deleted at this level and below; throws on a duplicate. */
function checkIntervals(ops: readonly TxnOp[]): { puts: Set<string>; dels: KeySpan[] } {
  const dels: KeySpan[] = [];
  for (const op of ops) if (op.type === 'delete') dels.push({ key: op.request.key, end: op.request.end });
  const puts = new Set<string>();
  for (const op of ops) {
    if (op.type !== 'txn') continue;
    const then = checkIntervals(op.request.success);
    const otherwise = checkIntervals(op.request.failure);
    for (const branch of [then, otherwise]) {
      for (const k of branch.puts) {
        if (puts.has(k) || spanHits(dels, k)) throw etcdError('duplicateKey');
      }
    }
    for (const k of [...then.puts, ...otherwise.puts]) puts.add(k);
    dels.push(...then.dels, ...otherwise.dels);
  }
  for (const op of ops) {
    if (op.type !== 'put') continue;
    const k = op.request.key;
    if (puts.has(k) || spanHits(dels, k)) throw etcdError('duplicateKey');
    puts.add(k);
  }
  return { puts, dels };
}

/** What the operations need besides the store: lease existence. */
export interface OpContext {
  store: MvccStore;
  tx: WriteTxn;
  leaseExists(id: bigint): boolean;
}

export function applyRange(ctx: OpContext, req: RangeRequest): RangeResult {
  const rev = ctx.store.checkReadRevision(req.revision ?? 0, ctx.tx.readRev);
  return ctx.store.range(req, rev);
}

export function applyPut(ctx: OpContext, req: PutRequest): { prevKv?: KeyValue } {
  let value = req.value;
  let lease = req.lease ?? 0n;
  if (req.ignoreValue === true || req.ignoreLease === true) {
    const prev = ctx.store.get(req.key, ctx.tx.main);
    if (prev === undefined) throw etcdError('keyNotFound');
    if (req.ignoreValue === true) value = prev.value;
    if (req.ignoreLease === true) lease = prev.lease;
  }
  if (lease !== 0n && !ctx.leaseExists(lease)) throw etcdError('leaseNotFound');
  const change = ctx.tx.put(req.key, value, lease);
  return req.prevKv === true && change.prev !== undefined ? { prevKv: recToKeyValue(change.prev) } : {};
}

export function applyDelete(ctx: OpContext, req: DeleteRequest): { deleted: number; prevKvs: KeyValue[] } {
  const changes = ctx.tx.deleteSpan(req);
  const prevKvs = req.prevKv === true ? changes.map((c) => recToKeyValue(c.prev as Rec)) : [];
  return { deleted: changes.length, prevKvs };
}

function compareNumbers(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareOne(c: Compare, rec: Rec | undefined): boolean {
  let result: number;
  if (c.target === 'value') {
    const want = c.operand instanceof Uint8Array ? c.operand : new Uint8Array(0);
    result = Buffer.compare(rec?.value ?? new Uint8Array(0), want);
  } else {
    const want = typeof c.operand === 'bigint' ? c.operand : 0n;
    let have = 0n;
    if (rec !== undefined) {
      if (c.target === 'version') have = BigInt(rec.version);
      else if (c.target === 'create') have = BigInt(rec.createRev);
      else if (c.target === 'mod') have = BigInt(rec.main);
      else have = rec.lease;
    }
    result = compareNumbers(have, want);
  }
  switch (c.result) {
    case 'equal':
      return result === 0;
    case 'not_equal':
      return result !== 0;
    case 'greater':
      return result > 0;
    case 'less':
      return result < 0;
  }
}

/** etcd's applyCompare: every key in the span must satisfy it; a value compare on no key fails. */
export function evaluateCompare(store: MvccStore, c: Compare, rev: number): boolean {
  const recs = store.liveInSpan(c, rev);
  if (recs.length === 0) return c.target === 'value' ? false : compareOne(c, undefined);
  return recs.every((r) => compareOne(c, r));
}

export function applyTxn(ctx: OpContext, req: TxnRequest): TxnResult {
  const rev = ctx.tx.readRev;
  const succeeded = req.compare.every((c) => evaluateCompare(ctx.store, c, rev));
  const ops = succeeded ? req.success : req.failure;
  const responses: TxnOpResult[] = ops.map((op): TxnOpResult => {
    switch (op.type) {
      // Each header revision is read after the operation: a write moves readRev to the new revision.
      case 'range': {
        const result = applyRange(ctx, op.request);
        return { type: 'range', revision: ctx.tx.readRev, result };
      }
      case 'put': {
        const result = applyPut(ctx, op.request);
        return { type: 'put', revision: ctx.tx.readRev, ...result };
      }
      case 'delete': {
        const result = applyDelete(ctx, op.request);
        return { type: 'delete', revision: ctx.tx.readRev, ...result };
      }
      case 'txn':
        return { type: 'txn', result: applyTxn(ctx, op.request) };
    }
  });
  return { succeeded, responses };
}
