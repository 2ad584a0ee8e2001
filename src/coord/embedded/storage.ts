/**
 * Durable storage of the embedded coordination store on classic-level (LevelDB) under the data directory.
 *
 * Layout (all keys binary):
 *   'r' + main (8 bytes BE) + sub (4 bytes BE)  -> one revision record (like etcd's bbolt "key" bucket)
 *   'l' + lease id (8 bytes BE)                 -> ttl seconds, wall-clock expiry ms
 *   'm' + name                                  -> metadata: ids (cluster and member), compact revision
 *
 * Writes are group-committed: write() queues its ops; one batch is written with `sync: true` (fsync) at a
 * time; ops that arrive while a batch is in flight go into the next one. A write resolves only after its
 * batch is on disk. After a failed batch the storage refuses every further write.
 */
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { GroupCommit, type BatchOp } from '../../core/group-commit.js';
import type { Rec } from './mvcc-store.js';

export type StorageOp = BatchOp;

const R = 0x72;
const L = 0x6c;
const M = 0x6d;

export function recordKey(main: number, sub: number): Buffer {
  const b = Buffer.allocUnsafe(13);
  b[0] = R;
  b.writeBigUInt64BE(BigInt(main), 1);
  b.writeUInt32BE(sub, 9);
  return b;
}

/** Value layout: flags(1) keyLen(4) createRev(8) version(8) lease(8) key value. */
export function encodeRecord(rec: Rec): Buffer {
  const head = Buffer.allocUnsafe(29);
  head[0] = rec.tombstone ? 1 : 0;
  head.writeUInt32BE(rec.keyBytes.length, 1);
  head.writeBigInt64BE(BigInt(rec.createRev), 5);
  head.writeBigInt64BE(BigInt(rec.version), 13);
  head.writeBigInt64BE(rec.lease, 21);
  return Buffer.concat([head, rec.keyBytes, rec.value]);
}

export function decodeRecord(key: Buffer, value: Buffer): Rec {
  if (key.length !== 13 || key[0] !== R || value.length < 29) throw new Error('storage: malformed revision record');
  const keyLen = value.readUInt32BE(1);
  if (29 + keyLen > value.length) throw new Error('storage: malformed revision record');
  const keyBytes = value.subarray(29, 29 + keyLen);
  return {
    key: keyBytes.toString('latin1'),
    keyBytes,
    main: Number(key.readBigUInt64BE(1)),
    sub: key.readUInt32BE(9),
    createRev: Number(value.readBigInt64BE(5)),
    version: Number(value.readBigInt64BE(13)),
    lease: value.readBigInt64BE(21),
    value: value.subarray(29 + keyLen),
    tombstone: value[0] === 1,
  };
}

export function putRecordOp(rec: Rec): StorageOp {
  return { type: 'put', key: recordKey(rec.main, rec.sub), value: encodeRecord(rec) };
}

export function delRecordOp(rec: Rec): StorageOp {
  return { type: 'del', key: recordKey(rec.main, rec.sub) };
}

function leaseKey(id: bigint): Buffer {
  const b = Buffer.allocUnsafe(9);
  b[0] = L;
  b.writeBigInt64BE(id, 1);
  return b;
}

export function putLeaseOp(id: bigint, ttlSeconds: number, expiresAtMs: number): StorageOp {
  const v = Buffer.allocUnsafe(16);
  v.writeDoubleBE(ttlSeconds, 0);
  v.writeDoubleBE(expiresAtMs, 8);
  return { type: 'put', key: leaseKey(id), value: v };
}

export function delLeaseOp(id: bigint): StorageOp {
  return { type: 'del', key: leaseKey(id) };
}

function metaKey(name: string): Buffer {
  return Buffer.concat([Buffer.of(M), Buffer.from(name, 'utf8')]);
}

export function putCompactOp(rev: number): StorageOp {
  const v = Buffer.allocUnsafe(8);
  v.writeBigInt64BE(BigInt(rev));
  return { type: 'put', key: metaKey('compact'), value: v };
}

export interface StoredIds {
  clusterId: bigint;
  memberId: bigint;
}

export interface StoredLease {
  id: bigint;
  ttlSeconds: number;
  expiresAtMs: number;
}

export class Storage {
  private readonly commit: GroupCommit;
  private closed = false;

  private constructor(
    private readonly db: ClassicLevel<Buffer, Buffer>,
    readonly dir: string,
    /** Called after each batch is on disk, before its writers resume, with the largest tag in it. */
    onDurable: (maxTag: number) => void,
  ) {
    this.commit = new GroupCommit(db, { what: 'coordination store', onDurable });
  }

  static async open(dir: string, onDurable: (maxTag: number) => void): Promise<Storage> {
    await mkdir(dir, { recursive: true });
    const db = new ClassicLevel<Buffer, Buffer>(join(dir, 'coord.db'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    return new Storage(db, dir, onDurable);
  }

  /** Reads the cluster and member ids, creating and persisting them on first start. */
  async ids(create: () => StoredIds): Promise<StoredIds> {
    const v = await this.db.get(metaKey('ids'));
    if (v !== undefined && v.length === 16) return { clusterId: v.readBigUInt64BE(0), memberId: v.readBigUInt64BE(8) };
    const ids = create();
    const b = Buffer.allocUnsafe(16);
    b.writeBigUInt64BE(ids.clusterId, 0);
    b.writeBigUInt64BE(ids.memberId, 8);
    await this.db.batch([{ type: 'put', key: metaKey('ids'), value: b }], { sync: true });
    return ids;
  }

  async compactRevision(): Promise<number> {
    const v = await this.db.get(metaKey('compact'));
    return v === undefined ? 0 : Number(v.readBigInt64BE(0));
  }

  /** Calls `visit` for every revision record in (main, sub) order. */
  async scanRecords(visit: (rec: Rec) => void): Promise<void> {
    await this.scan(Buffer.of(R), Buffer.of(R + 1), (k, v) => visit(decodeRecord(k, v)));
  }

  async leases(): Promise<StoredLease[]> {
    const out: StoredLease[] = [];
    await this.scan(Buffer.of(L), Buffer.of(L + 1), (k, v) => {
      out.push({ id: k.readBigInt64BE(1), ttlSeconds: v.readDoubleBE(0), expiresAtMs: v.readDoubleBE(8) });
    });
    return out;
  }

  private async scan(gte: Buffer, lt: Buffer, visit: (k: Buffer, v: Buffer) => void): Promise<void> {
    const it = this.db.iterator({ gte, lt });
    try {
      for (;;) {
        const entries = await it.nextv(1000);
        if (entries.length === 0) break;
        for (const [k, v] of entries) visit(k, v);
      }
    } finally {
      await it.close();
    }
  }

  /**
   * Queues ops for the next group commit; resolves once they are synced to disk. `tag` (a revision) is
   * reported to onDurable. An empty write is a barrier: it resolves when everything queued before it is
   * durable.
   */
  write(ops: readonly StorageOp[], tag = 0): Promise<void> {
    return this.commit.write(ops, tag);
  }

  /** Whether a write has failed (the store must stop taking writes). */
  get failed(): boolean {
    return this.commit.failed;
  }

  /** Total size of the database files in bytes. */
  async sizeBytes(): Promise<number> {
    const dir = join(this.dir, 'coord.db');
    let total = 0;
    for (const name of await readdir(dir)) {
      try {
        total += (await stat(join(dir, name))).size;
      } catch {
        // a file compacted away between readdir and stat
      }
    }
    return total;
  }

  /** Waits for queued writes, then closes the database. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.commit.close();
    await this.db.close();
  }
}
