/**
 * A replica's local engine: an ordered store (classic-level, LevelDB with its write-ahead log) holding
 * each key's newest version, written last-writer-wins by HLC version.
 *
 * Durability: `apply` resolves only after the batch holding its records is fsynced (group commit,
 * group-commit.ts). Reads see committed records only. An in-memory Merkle tree over the key-hash
 * space (rebuilt by one scan at open, updated on every write) serves anti-entropy.
 *
 * Concurrency: per key, deciding a write (read current, compare versions, queue the new record) runs
 * under a per-key lock and sees the records queued but not yet on disk, so concurrent writes to one key
 * keep the newest version whatever order their batches land in.
 *
 * Tombstones and expired values stay until `purge` (anti-entropy calls it once every replica has
 * confirmed holding them and the grace period has passed). A tombstone older than the grace period for
 * a key this replica does not hold is not stored again (it was purged here after every replica had it).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { compareHlc } from '../../core/hlc.js';
import { entryDigest, keyHash32, MerkleTree } from '../antientropy/merkle-tree.js';
import type { Entry } from '../types.js';
import { GroupCommit, type BatchOp } from '../../core/group-commit.js';
import {
  D,
  H,
  K,
  dataBound,
  dataKey,
  decodeHint,
  decodeRecord,
  encodeHint,
  encodeRecord,
  hashValue,
  hintKey,
  indexKey,
  keyOfDataKey,
  type StoredRecord,
} from './record-codec.js';
import { RecordCache } from './record-cache.js';

export interface KvEngineOptions {
  /** Directory of the database (created if missing). */
  dir: string;
  /** Depth of the Merkle tree (2^depth leaves over the key-hash space). Default 16. */
  treeDepth?: number;
  /** Tombstones and expired values are kept at least this long after their version. Default 24 h. */
  gcGraceMs?: number;
  /** Wall clock in ms. Default Date.now. */
  now?: () => number;
  /** Read cache of committed records (record-cache.ts): most keys. Default 100 000. */
  cacheEntries?: number;
  /** Read cache: most bytes. Default 64 MiB. */
  cacheBytes?: number;
}

export interface Hint {
  id: Buffer;
  target: string;
  entry: Entry;
}

/** Whether an entry is a value that can be read now (not a tombstone, not expired). */
export function isLive(e: Entry, nowMs: number): boolean {
  return !e.tombstone && (e.expiresAtMs === 0 || e.expiresAtMs > nowMs);
}

export class KvEngine {
  readonly tree: MerkleTree;
  readonly gcGraceMs: number;
  private readonly commit: GroupCommit;
  private readonly locks = new Map<string, Promise<void>>();
  /** Records queued but not yet on disk, by key (latin1). */
  private readonly pending = new Map<string, StoredRecord>();
  private hintSeq = 0n;
  private readonly hintCounts = new Map<string, number>();
  private closed = false;
  /** Committed records of recently used keys (by key, latin1). */
  private readonly cache: RecordCache;
  /** Stored tombstones and values with a TTL: what purge could remove (it skips its scan at 0). */
  private mortal = 0;

  private constructor(
    private readonly db: ClassicLevel<Buffer, Buffer>,
    depth: number,
    gcGraceMs: number,
    private readonly now: () => number,
    cache: RecordCache,
  ) {
    this.cache = cache;
    this.tree = new MerkleTree(depth);
    this.gcGraceMs = gcGraceMs;
    this.commit = new GroupCommit(db, { what: 'kv engine' });
  }

  static async open(options: KvEngineOptions): Promise<KvEngine> {
    await mkdir(options.dir, { recursive: true });
    const db = new ClassicLevel<Buffer, Buffer>(join(options.dir, 'kv.db'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    const cache = new RecordCache({
      ...(options.cacheEntries !== undefined ? { maxEntries: options.cacheEntries } : {}),
      ...(options.cacheBytes !== undefined ? { maxBytes: options.cacheBytes } : {}),
    });
    const engine = new KvEngine(db, options.treeDepth ?? 16, options.gcGraceMs ?? 24 * 3_600_000, options.now ?? Date.now, cache);
    try {
      await engine.load();
    } catch (err) {
      await db.close();
      throw err;
    }
    return engine;
  }

  private async load(): Promise<void> {
    await this.iterate(Buffer.of(D), Buffer.of(D + 1), (k, v) => {
      const rec = decodeRecord(keyOfDataKey(k), v);
      const [hi, lo] = entryDigest(rec.entry);
      this.tree.toggle(k.readUInt32BE(1), hi, lo);
      if (isMortal(rec.entry)) this.mortal++;
    });
    await this.iterate(Buffer.of(H), Buffer.of(H + 1), (k, v) => {
      this.hintSeq = k.readBigUInt64BE(1);
      const { target } = decodeHint(v);
      this.hintCounts.set(target, (this.hintCounts.get(target) ?? 0) + 1);
    });
  }

  private async iterate(gte: Buffer, lt: Buffer, visit: (k: Buffer, v: Buffer) => boolean | void, gt?: Buffer): Promise<void> {
    const it = this.db.iterator(gt === undefined ? { gte, lt } : { gt, lt });
    try {
      for (;;) {
        const batch = await it.nextv(1000);
        if (batch.length === 0) return;
        for (const [k, v] of batch) if (visit(k, v) === false) return;
      }
    } finally {
      await it.close();
    }
  }

  /** The stored entry of a key (tombstones and expired values included), as on disk. */
  async get(key: Uint8Array): Promise<Entry | undefined> {
    return (await this.getMany([key]))[0];
  }

  /** Each key's committed entry (from the read cache, else from disk). */
  async getMany(keys: readonly Uint8Array[]): Promise<(Entry | undefined)[]> {
    const out: (Entry | undefined)[] = new Array<Entry | undefined>(keys.length);
    let missing: number[] | undefined;
    for (let i = 0; i < keys.length; i++) {
      const hit = this.cache.get(Buffer.from(keys[i] as Uint8Array).toString('latin1'));
      if (hit === undefined) (missing ??= []).push(i);
      else out[i] = hit === null ? undefined : hit.entry;
    }
    if (missing === undefined) return out;
    const stamp = this.cache.stamp();
    const vs = await this.db.getMany(missing.map((i) => dataKey(keyHash32(keys[i] as Uint8Array), keys[i] as Uint8Array)));
    missing.forEach((i, j) => {
      const key = keys[i] as Uint8Array;
      const v = vs[j];
      const rec = v === undefined ? null : decodeRecord(key, v);
      this.cache.fillIfUnchanged(Buffer.from(key).toString('latin1'), rec, stamp);
      out[i] = rec === null ? undefined : rec.entry;
    });
    return out;
  }

  /**
   * Stores each entry that is newer than what this replica holds (last writer wins); resolves, after
   * fsync, with the number stored.
   */
  async apply(entries: readonly Entry[]): Promise<number> {
    const staged = await Promise.all(entries.map((e) => this.withKeyLock(e.key, () => this.stage(e))));
    await Promise.all(staged.map((s) => s.durable));
    return staged.filter((s) => s.applied).length;
  }

  private async stage(e: Entry): Promise<{ applied: boolean; durable: Promise<void> }> {
    const hash = keyHash32(e.key);
    const id = Buffer.from(e.key).toString('latin1');
    const dk = dataKey(hash, e.key);
    let current = this.pending.get(id);
    if (current === undefined) {
      const cached = this.cache.get(id);
      if (cached !== undefined) current = cached ?? undefined;
      else {
        const stamp = this.cache.stamp();
        const v = await this.db.get(dk);
        current = v === undefined ? undefined : decodeRecord(e.key, v);
        this.cache.fillIfUnchanged(id, current ?? null, stamp);
      }
    }
    const nowMs = this.now();
    if (current !== undefined && compareHlc(e.version, current.entry.version) <= 0) return { applied: false, durable: Promise.resolve() };
    if (current === undefined && !isLive(e, nowMs - this.gcGraceMs) && e.version.wallMs < nowMs - this.gcGraceMs) {
      // A tombstone (or long-expired value) past the grace period for a key purged here: keep it purged.
      return { applied: false, durable: Promise.resolve() };
    }
    const rec: StoredRecord = { entry: { ...e, key: Buffer.from(e.key), value: e.tombstone ? Buffer.alloc(0) : e.value }, appliedAtMs: nowMs };
    if (current !== undefined) {
      const [hi, lo] = entryDigest(current.entry);
      this.tree.toggle(hash, hi, lo);
    }
    const [hi, lo] = entryDigest(rec.entry);
    this.tree.toggle(hash, hi, lo);
    const ops: BatchOp[] = [{ type: 'put', key: dk, value: encodeRecord(rec.entry, nowMs) }];
    if (current === undefined) ops.push({ type: 'put', key: indexKey(e.key), value: hashValue(hash) });
    if (current !== undefined && isMortal(current.entry)) this.mortal--;
    if (isMortal(rec.entry)) this.mortal++;
    this.pending.set(id, rec);
    const durable = this.commit.write(ops).then(
      () => {
        // Batches land in order: a newer record of this key, if any, is set after this one.
        this.cache.set(id, rec);
        if (this.pending.get(id) === rec) this.pending.delete(id);
      },
      (err: unknown) => {
        this.cache.delete(id);
        if (this.pending.get(id) === rec) this.pending.delete(id);
        throw err;
      },
    );
    return { applied: true, durable };
  }

  /** Runs `fn` after every earlier holder of this key's lock has finished. */
  private async withKeyLock<T>(key: Uint8Array, fn: () => Promise<T>): Promise<T> {
    const id = Buffer.from(key).toString('latin1');
    const prev = this.locks.get(id);
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    this.locks.set(id, mine);
    try {
      if (prev !== undefined) await prev;
      return await fn();
    } finally {
      release();
      if (this.locks.get(id) === mine) this.locks.delete(id);
    }
  }

  /** Entries whose key hash is in [start, end), in (hash, key) order, tombstones included. */
  async scanRange(start: number, end: number, limit = Infinity): Promise<Entry[]> {
    const out: Entry[] = [];
    if (start >= end) return out;
    await this.iterate(dataBound(start), dataBound(end), (k, v) => {
      out.push(decodeRecord(Buffer.from(keyOfDataKey(k)), v).entry);
      return out.length < limit;
    });
    return out;
  }

  /**
   * Up to `limit` entries whose key starts with `prefix` and sorts after `startAfter`, in key order
   * (tombstones and expired values included, so a caller merging replicas sees deletes).
   */
  async scanPrefix(prefix: Uint8Array, startAfter: Uint8Array | undefined, limit: number): Promise<{ entries: Entry[]; more: boolean }> {
    const lt = prefixEnd(indexKey(prefix));
    const gte = indexKey(prefix);
    const gt = startAfter !== undefined && startAfter.length > 0 && Buffer.compare(indexKey(startAfter), gte) >= 0 ? indexKey(startAfter) : undefined;
    const keys: Buffer[] = [];
    const dataKeys: Buffer[] = [];
    let more = false;
    await this.iterate(
      gte,
      lt,
      (k, v) => {
        if (keys.length >= limit) {
          more = true;
          return false;
        }
        const key = Buffer.from(k.subarray(1));
        keys.push(key);
        dataKeys.push(dataKey(v.readUInt32BE(0), key));
        return true;
      },
      gt,
    );
    const vs = dataKeys.length === 0 ? [] : await this.db.getMany(dataKeys);
    const entries: Entry[] = [];
    vs.forEach((v, i) => {
      if (v !== undefined) entries.push(decodeRecord(keys[i] as Buffer, v).entry);
    });
    return { entries, more };
  }

  /**
   * Removes tombstones and expired values in [start, end) that this replica stored before
   * `storedBeforeMs` and whose version (or expiry) is older than the grace period. Returns how many.
   */
  async purge(start: number, end: number, storedBeforeMs: number): Promise<number> {
    // Nothing stored could be purged: skip the scan (rounds run every few seconds over all data).
    if (this.mortal === 0) return 0;
    const horizon = this.now() - this.gcGraceMs;
    const candidates: StoredRecord[] = [];
    await this.iterate(dataBound(start), dataBound(end), (k, v) => {
      const rec = decodeRecord(Buffer.from(keyOfDataKey(k)), v);
      if (purgeable(rec, storedBeforeMs, horizon)) candidates.push(rec);
    });
    return this.removeIfUnchanged(
      candidates.map((c) => c.entry),
      (rec) => purgeable(rec, storedBeforeMs, horizon),
    );
  }

  /**
   * Removes each entry that this replica still holds at the same version (and for which `alsoIf` holds);
   * a key written since is kept. Used by purge and when a partition has moved to other nodes.
   */
  async removeIfUnchanged(entries: readonly Entry[], alsoIf: (rec: StoredRecord) => boolean = () => true): Promise<number> {
    let removed = 0;
    await Promise.all(
      entries.map((c) =>
        this.withKeyLock(c.key, async () => {
          const hash = keyHash32(c.key);
          const id = Buffer.from(c.key).toString('latin1');
          if (this.pending.has(id)) return;
          const dk = dataKey(hash, c.key);
          const v = await this.db.get(dk);
          if (v === undefined) return;
          const rec = decodeRecord(c.key, v);
          if (compareHlc(rec.entry.version, c.version) !== 0 || !alsoIf(rec)) return;
          const [hi, lo] = entryDigest(rec.entry);
          this.tree.toggle(hash, hi, lo);
          removed++;
          if (isMortal(rec.entry)) this.mortal--;
          this.cache.delete(id);
          await this.commit.write([
            { type: 'del', key: dk },
            { type: 'del', key: indexKey(c.key) },
          ]);
          this.cache.set(id, null);
        }),
      ),
    );
    return removed;
  }

  /** Stores entries meant for `target` (a replica that is down) until they are delivered. */
  async storeHints(target: string, entries: readonly Entry[]): Promise<void> {
    if (entries.length === 0) return;
    const ops: BatchOp[] = entries.map((e) => ({ type: 'put', key: hintKey(++this.hintSeq), value: encodeHint(target, e) }));
    this.hintCounts.set(target, (this.hintCounts.get(target) ?? 0) + entries.length);
    await this.commit.write(ops);
  }

  /** Targets with hints waiting, and how many. */
  hintTargets(): Map<string, number> {
    return new Map([...this.hintCounts].filter(([, n]) => n > 0));
  }

  get pendingHints(): number {
    let n = 0;
    for (const c of this.hintCounts.values()) n += c;
    return n;
  }

  /** Up to `limit` hints for `target`, oldest first. */
  async readHints(target: string, limit: number): Promise<Hint[]> {
    const out: Hint[] = [];
    await this.iterate(Buffer.of(H), Buffer.of(H + 1), (k, v) => {
      const h = decodeHint(v);
      if (h.target === target) out.push({ id: Buffer.from(k), target, entry: h.entry });
      return out.length < limit;
    });
    return out;
  }

  /** Removes delivered hints. */
  async deleteHints(hints: readonly Hint[]): Promise<void> {
    if (hints.length === 0) return;
    for (const h of hints) this.hintCounts.set(h.target, Math.max(0, (this.hintCounts.get(h.target) ?? 0) - 1));
    await this.commit.write(hints.map((h) => ({ type: 'del', key: h.id })));
  }

  /** Number of group-commit batches written (each one fsync). */
  get batches(): number {
    return this.commit.batches;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.commit.close();
    await this.db.close();
  }
}

/** A tombstone or a value with a TTL: what purge may remove one day. */
function isMortal(e: Entry): boolean {
  return e.tombstone || e.expiresAtMs !== 0;
}

function purgeable(rec: StoredRecord, storedBeforeMs: number, horizon: number): boolean {
  const e = rec.entry;
  if (rec.appliedAtMs >= storedBeforeMs) return false;
  if (e.tombstone) return e.version.wallMs < horizon;
  return e.expiresAtMs !== 0 && e.expiresAtMs < horizon;
}

/** The smallest key greater than every key starting with `prefix`. */
function prefixEnd(prefix: Buffer): Buffer {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if ((b[i] as number) < 0xff) {
      b[i] = (b[i] as number) + 1;
      return b.subarray(0, i + 1);
    }
  }
  return Buffer.of(K + 1);
}
