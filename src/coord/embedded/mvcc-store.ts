/**
 * The in-memory multi-version store: one global revision, a history of records per key, range reads at
 * any retained revision, write transactions (one revision, many sub-revisions, undo on failure) and
 * compaction. It is pure logic: durability, leases and watches live in the engine around it.
 *
 * Revisions follow etcd: an empty store is at revision 1; every write transaction that changes anything
 * takes the next revision; each change inside it gets a sub-revision (0, 1, ...).
 */
import { etcdError, keyToBytes, type KeySpan, type KeyValue, type RangeRequest, type RangeResult } from './types.js';

/** One stored change of one key. A tombstone marks a deletion. */
export interface Rec {
  key: string;
  keyBytes: Uint8Array;
  main: number;
  sub: number;
  createRev: number;
  version: number;
  value: Uint8Array;
  lease: bigint;
  tombstone: boolean;
}

/** A record and the live record of the same key it replaced (if any). */
export interface Change {
  rec: Rec;
  prev: Rec | undefined;
}

const empty = new Uint8Array(0);

export function recToKeyValue(rec: Rec, keysOnly = false): KeyValue {
  return {
    key: rec.keyBytes,
    createRevision: rec.createRev,
    modRevision: rec.main,
    version: rec.version,
    value: keysOnly ? empty : rec.value,
    lease: rec.lease,
  };
}

/** Index of the first element of the sorted array that is >= key. */
function lowerBound(sorted: readonly string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as string) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the last record with main <= rev, or -1. */
function lastAtOrBefore(recs: readonly Rec[], rev: number): number {
  let lo = 0;
  let hi = recs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((recs[mid] as Rec).main <= rev) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

export class MvccStore {
  /** History of every key, oldest first. */
  private readonly index = new Map<string, Rec[]>();
  /** Every key of `index`, in byte order. */
  private readonly sortedKeys: string[] = [];
  /** Every record with main >= compactRev, in (main, sub) order: the source of watch events. */
  private log: Rec[] = [];
  /** Newest revision applied in memory (may not be durable yet: the engine tracks that). */
  currentRev = 1;
  /** Revisions below this one are gone. */
  compactRev = 0;
  private writing = false;

  /** Number of keys with at least one retained record. */
  get keyCount(): number {
    return this.index.size;
  }

  // ---- recovery -------------------------------------------------------------------------------------

  /** Appends a record read back from storage; records must come in (main, sub) order. */
  loadRecord(rec: Rec): void {
    this.append(rec);
    if (rec.main > this.currentRev) this.currentRev = rec.main;
  }

  /** Sets the compaction point read back from storage (before or after loading records). */
  loadCompacted(rev: number): void {
    this.compactRev = rev;
    if (rev > this.currentRev) this.currentRev = rev;
    this.log = this.log.filter((r) => r.main >= rev);
  }

  // ---- reads ----------------------------------------------------------------------------------------

  /** Throws etcd's compacted / future-revision errors for a read at `rev` when the newest is `newest`. */
  checkReadRevision(rev: number, newest: number): number {
    if (rev > newest) throw etcdError('futureRev');
    const at = rev > 0 ? rev : newest;
    if (at < this.compactRev) throw etcdError('compacted');
    return at;
  }

  /** The live record of `key` at `rev`, or undefined when absent or deleted. */
  get(key: string, rev: number): Rec | undefined {
    const recs = this.index.get(key);
    if (recs === undefined) return undefined;
    const i = lastAtOrBefore(recs, rev);
    if (i < 0) return undefined;
    const rec = recs[i] as Rec;
    return rec.tombstone ? undefined : rec;
  }

  /** The live records in the span at `rev`, in key order. */
  liveInSpan(span: KeySpan, rev: number, limit = 0): Rec[] {
    const out: Rec[] = [];
    if (span.end === undefined) {
      const rec = this.get(span.key, rev);
      if (rec !== undefined) out.push(rec);
      return out;
    }
    const keys = this.sortedKeys;
    for (let i = lowerBound(keys, span.key); i < keys.length; i++) {
      const key = keys[i] as string;
      if (span.end !== '' && key >= span.end) break;
      const rec = this.get(key, rev);
      if (rec === undefined) continue;
      out.push(rec);
      if (limit > 0 && out.length >= limit) break;
    }
    return out;
  }

  /** etcd's Range at revision `rev` (already checked): count, filters, sort, limit, keys_only. */
  range(req: RangeRequest, rev: number): RangeResult {
    const recs = this.liveInSpan(req, rev);
    const count = recs.length;
    if (req.countOnly === true) return { kvs: [], more: false, count };
    let kvs = recs;
    const { minModRevision: minMod = 0, maxModRevision: maxMod = 0 } = req;
    const { minCreateRevision: minCreate = 0, maxCreateRevision: maxCreate = 0 } = req;
    if (minMod > 0 || maxMod > 0 || minCreate > 0 || maxCreate > 0) {
      kvs = kvs.filter(
        (r) =>
          (minMod <= 0 || r.main >= minMod) &&
          (maxMod <= 0 || r.main <= maxMod) &&
          (minCreate <= 0 || r.createRev >= minCreate) &&
          (maxCreate <= 0 || r.createRev <= maxCreate),
      );
    }
    const target = req.sortTarget ?? 'key';
    let order = req.sortOrder ?? 'none';
    if (target !== 'key' && order === 'none') order = 'ascend';
    if (order !== 'none' && !(target === 'key' && order === 'ascend')) {
      const sign = order === 'descend' ? -1 : 1;
      const cmp = compareBy(target);
      kvs = [...kvs].sort((a, b) => sign * cmp(a, b));
    }
    const limit = req.limit ?? 0;
    let more = false;
    if (limit > 0 && kvs.length > limit) {
      kvs = kvs.slice(0, limit);
      more = true;
    }
    return { kvs: kvs.map((r) => recToKeyValue(r, req.keysOnly === true)), more, count };
  }

  /** The records with fromRev <= main <= toRev, in revision order. */
  eventsBetween(fromRev: number, toRev: number): Rec[] {
    const log = this.log;
    let lo = 0;
    let hi = log.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((log[mid] as Rec).main < fromRev) lo = mid + 1;
      else hi = mid;
    }
    const out: Rec[] = [];
    for (let i = lo; i < log.length; i++) {
      const rec = log[i] as Rec;
      if (rec.main > toRev) break;
      out.push(rec);
    }
    return out;
  }

  /** The live record of the same key just before `rec`, if it is still retained. */
  previousOf(rec: Rec): Rec | undefined {
    const recs = this.index.get(rec.key);
    if (recs === undefined) return undefined;
    const i = recs.indexOf(rec);
    const prev = i > 0 ? recs[i - 1] : undefined;
    return prev === undefined || prev.tombstone ? undefined : prev;
  }

  // ---- writes ---------------------------------------------------------------------------------------

  /** Starts the one write transaction; it must be committed or aborted before the next begins. */
  begin(): WriteTxn {
    if (this.writing) throw new Error('mvcc: a write transaction is already open');
    this.writing = true;
    return new WriteTxn(this, this.currentRev + 1);
  }

  /** @internal used by WriteTxn. */
  append(rec: Rec): void {
    let recs = this.index.get(rec.key);
    if (recs === undefined) {
      recs = [];
      this.index.set(rec.key, recs);
      this.sortedKeys.splice(lowerBound(this.sortedKeys, rec.key), 0, rec.key);
    }
    recs.push(rec);
    if (rec.main >= this.compactRev) this.log.push(rec);
  }

  /** @internal undoes the newest append of `rec`. */
  unappend(rec: Rec): void {
    const recs = this.index.get(rec.key);
    if (recs === undefined || recs[recs.length - 1] !== rec) throw new Error('mvcc: undo out of order');
    recs.pop();
    if (this.log[this.log.length - 1] === rec) this.log.pop();
    if (recs.length === 0) {
      this.index.delete(rec.key);
      this.sortedKeys.splice(lowerBound(this.sortedKeys, rec.key), 1);
    }
  }

  /** @internal */
  finish(main: number, changed: boolean): void {
    this.writing = false;
    if (changed) this.currentRev = main;
  }

  /**
   * Drops history before `rev`: for each key only the record visible at `rev` is kept (none when that is
   * a tombstone older than `rev`). Returns the dropped records so storage can delete them.
   */
  compact(rev: number): Rec[] {
    const dropped: Rec[] = [];
    for (const [key, recs] of this.index) {
      let keepFrom = lastAtOrBefore(recs, rev);
      if (keepFrom < 0) continue;
      const visible = recs[keepFrom] as Rec;
      if (visible.tombstone && visible.main < rev) keepFrom += 1;
      if (keepFrom === 0) continue;
      dropped.push(...recs.splice(0, keepFrom));
      if (recs.length === 0) {
        this.index.delete(key);
        this.sortedKeys.splice(lowerBound(this.sortedKeys, key), 1);
      }
    }
    const firstKept = this.log.findIndex((r) => r.main >= rev);
    this.log = firstKept < 0 ? [] : this.log.slice(firstKept);
    this.compactRev = rev;
    return dropped;
  }
}

function compareBy(target: string): (a: Rec, b: Rec) => number {
  switch (target) {
    case 'version':
      return (a, b) => a.version - b.version;
    case 'create':
      return (a, b) => a.createRev - b.createRev;
    case 'mod':
      return (a, b) => a.main - b.main;
    case 'value':
      return (a, b) => Buffer.compare(a.value, b.value);
    default:
      return (a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  }
}

/** One write transaction: all its changes share one main revision. Reads inside it see its own writes. */
export class WriteTxn {
  readonly changes: Change[] = [];
  private sub = 0;
  private done = false;

  constructor(
    private readonly store: MvccStore,
    /** The revision this transaction writes at, if it changes anything. */
    readonly main: number,
  ) {}

  /** The revision reads inside this transaction see. */
  get readRev(): number {
    return this.changes.length > 0 ? this.main : this.store.currentRev;
  }

  put(key: string, value: Uint8Array, lease: bigint): Change {
    const prev = this.store.get(key, this.main);
    const rec: Rec = {
      key,
      keyBytes: prev?.keyBytes ?? keyToBytes(key),
      main: this.main,
      sub: this.sub++,
      createRev: prev === undefined ? this.main : prev.createRev,
      version: prev === undefined ? 1 : prev.version + 1,
      value,
      lease,
      tombstone: false,
    };
    this.store.append(rec);
    const change = { rec, prev };
    this.changes.push(change);
    return change;
  }

  /** Deletes every live key in the span; returns the changes (the tombstones and what they replaced). */
  deleteSpan(span: KeySpan): Change[] {
    const live = this.store.liveInSpan(span, this.main);
    const out: Change[] = [];
    for (const prev of live) {
      const rec: Rec = {
        key: prev.key,
        keyBytes: prev.keyBytes,
        main: this.main,
        sub: this.sub++,
        createRev: 0,
        version: 0,
        value: empty,
        lease: 0n,
        tombstone: true,
      };
      this.store.append(rec);
      const change = { rec, prev };
      this.changes.push(change);
      out.push(change);
    }
    return out;
  }

  /** Ends the transaction, keeping its changes. */
  commit(): Change[] {
    this.close();
    this.store.finish(this.main, this.changes.length > 0);
    return this.changes;
  }

  /** Ends the transaction, undoing its changes. */
  abort(): void {
    this.close();
    for (let i = this.changes.length - 1; i >= 0; i--) this.store.unappend((this.changes[i] as Change).rec);
    this.changes.length = 0;
    this.store.finish(this.main, false);
  }

  private close(): void {
    if (this.done) throw new Error('mvcc: write transaction already ended');
    this.done = true;
  }
}
