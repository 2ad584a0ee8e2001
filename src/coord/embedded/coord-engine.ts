/**
 * The engine: the MVCC store, leases and watches made durable. Every write is applied to memory at once
 * (in order, synchronously), queued for the next group commit, and acknowledged only after its batch is
 * synced. Readers see the `committedRev` view: only durable revisions, so no client observes data that a
 * crash could lose; watches are fed the same way. A read-only transaction, or a write that changed
 * nothing, waits for the writes queued before it (it may have looked at them).
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../core/log.js';
import { AutoCompactor, compactionIntervalMs } from './auto-compactor.js';
import { LeaseManager, systemClock, type Clock, type Lease } from './lease-manager.js';
import { MvccStore, type Change } from './mvcc-store.js';
import {
  Storage,
  delLeaseOp,
  delRecordOp,
  putCompactOp,
  putLeaseOp,
  putRecordOp,
  type StorageOp,
  type StoredIds,
} from './storage.js';
import { applyDelete, applyPut, applyTxn, checkDelete, checkPut, checkRange, checkTxn, type OpContext } from './txn.js';
import { etcdError, keyToBytes, type DeleteRequest, type KeyValue, type PutRequest, type RangeRequest, type RangeResult, type TxnRequest, type TxnResult } from './types.js';
import { WatchHub } from './watch-hub.js';

export interface EngineOptions {
  dataDir: string;
  logger: Logger;
  clock?: Clock;
  /** How often expired leases are looked for; default 500 ms. */
  leaseCheckIntervalMs?: number;
  /** Progress notifications for watches that asked for them; default 10 min (etcd's). */
  progressIntervalMs?: number;
  /** Keep this much history and compact what is older (see auto-compactor.ts); 0 turns it off. Default 1 h. */
  autoCompactionRetentionMs?: number;
}

/** Default history kept by the automatic compaction. */
export const DEFAULT_AUTO_COMPACTION_RETENTION_MS = 3_600_000;

export interface Written<T> {
  value: T;
  /** Store revision after the operation (the header revision). */
  revision: number;
}

export interface LeaseInfo {
  id: bigint;
  ttlSeconds: number;
  /** Seconds left, -1 when the lease does not exist. */
  remainingSeconds: number;
  keys: Uint8Array[];
}

export class CoordEngine {
  readonly store = new MvccStore();
  readonly leases: LeaseManager;
  readonly watches: WatchHub;
  ids: StoredIds = { clusterId: 0n, memberId: 0n };
  /** Newest revision that is durable (and so visible). */
  committedRev = 1;
  private storage: Storage | undefined;
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;

  constructor(private readonly options: EngineOptions) {
    this.leases = new LeaseManager(options.clock ?? systemClock);
    this.watches = new WatchHub(this.store, () => this.committedRev);
  }

  /** Opens storage and rebuilds memory by scanning the revision records, as etcd rebuilds its index. */
  async open(): Promise<void> {
    const storage = await Storage.open(this.options.dataDir, (rev) => this.advance(rev));
    this.storage = storage;
    this.ids = await storage.ids(() => ({ clusterId: randomId(), memberId: randomId() }));
    const compactRev = await storage.compactRevision();
    this.store.loadCompacted(compactRev);
    let records = 0;
    await storage.scanRecords((rec) => {
      this.store.loadRecord(rec);
      records++;
    });
    this.store.loadCompacted(compactRev);
    this.committedRev = this.store.currentRev;
    for (const l of await storage.leases()) this.leases.restore(l.id, l.ttlSeconds, l.expiresAtMs);
    for (const rec of this.store.liveInSpan({ key: '\0', end: '' }, this.committedRev)) {
      if (rec.lease !== 0n) this.leases.attach(rec.lease, rec.key);
    }
    this.options.logger.info(
      { revision: this.committedRev, compactRevision: compactRev, records, keys: this.store.keyCount, leases: this.leases.size },
      'coordination store opened',
    );
    await this.expireLeases();
    const leaseTimer = setInterval(() => void this.expireLeases(), this.options.leaseCheckIntervalMs ?? 500);
    const progressTimer = setInterval(() => this.watches.progressTick(), this.options.progressIntervalMs ?? 600_000);
    leaseTimer.unref();
    progressTimer.unref();
    this.timers.push(leaseTimer, progressTimer);
    const retentionMs = this.options.autoCompactionRetentionMs ?? DEFAULT_AUTO_COMPACTION_RETENTION_MS;
    if (retentionMs > 0) {
      const compactor = new AutoCompactor({
        retentionMs,
        clock: this.options.clock ?? systemClock,
        currentRevision: () => this.committedRev,
        compactedRevision: () => this.store.compactRev,
        compact: async (rev) => {
          await this.compact(rev);
          this.options.logger.info({ revision: rev, retentionMs }, 'auto-compacted history');
        },
      });
      const compactTimer = setInterval(() => {
        compactor.tick().catch((err: unknown) => this.options.logger.warn({ err: (err as Error).message }, 'auto-compaction failed'));
      }, compactionIntervalMs(retentionMs));
      compactTimer.unref();
      this.timers.push(compactTimer);
    }
  }

  /** Stops timers and watches, waits for queued writes and closes storage. */
  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.watches.closeAll();
    await this.storage?.close();
  }

  private advance(rev: number): void {
    if (rev <= this.committedRev) return;
    const from = this.committedRev;
    this.committedRev = rev;
    this.watches.notify(from, rev);
  }

  private ensureWritable(): Storage {
    if (this.stopped || this.storage === undefined) throw etcdError('stopped');
    if (this.storage.failed) throw etcdError('storageFailed');
    return this.storage;
  }

  private async persist(ops: StorageOp[], tag: number): Promise<void> {
    const storage = this.ensureWritable();
    try {
      await storage.write(ops, tag);
    } catch (err) {
      this.options.logger.error({ err }, 'coordination store: write to disk failed; refusing further writes');
      throw etcdError('storageFailed', err);
    }
  }

  /** Runs `fn` in one write transaction, keeps lease attachments in step, persists, waits for the sync. */
  private async write<T>(fn: (ctx: OpContext) => T, extraOps: StorageOp[] = []): Promise<Written<T>> {
    this.ensureWritable();
    const tx = this.store.begin();
    let value: T;
    try {
      value = fn({ store: this.store, tx, leaseExists: (id) => this.leases.get(id) !== undefined });
    } catch (err) {
      tx.abort();
      throw err;
    }
    const changes = tx.commit();
    this.trackLeases(changes);
    const ops = changes.map((c) => putRecordOp(c.rec));
    const revision = changes.length > 0 ? tx.main : this.store.currentRev;
    await this.persist(ops.length > 0 ? [...ops, ...extraOps] : extraOps, changes.length > 0 ? revision : 0);
    return { value, revision };
  }

  private trackLeases(changes: readonly Change[]): void {
    for (const { rec, prev } of changes) {
      if (prev !== undefined && prev.lease !== 0n) this.leases.detach(prev.lease, rec.key);
      if (!rec.tombstone && rec.lease !== 0n) this.leases.attach(rec.lease, rec.key);
    }
  }

  // ---- KV -------------------------------------------------------------------------------------------

  async range(req: RangeRequest): Promise<Written<RangeResult>> {
    checkRange(req);
    if (this.stopped) throw etcdError('stopped');
    const rev = this.store.checkReadRevision(req.revision ?? 0, this.committedRev);
    return { value: this.store.range(req, rev), revision: this.committedRev };
  }

  async put(req: PutRequest): Promise<Written<{ prevKv?: KeyValue }>> {
    checkPut(req);
    return this.write((ctx) => applyPut(ctx, req));
  }

  async deleteRange(req: DeleteRequest): Promise<Written<{ deleted: number; prevKvs: KeyValue[] }>> {
    checkDelete(req);
    return this.write((ctx) => applyDelete(ctx, req));
  }

  async txn(req: TxnRequest): Promise<Written<TxnResult>> {
    checkTxn(req);
    return this.write((ctx) => applyTxn(ctx, req));
  }

  /** Drops history before `rev`. etcd's errors for a revision already compacted or in the future. */
  async compact(rev: number): Promise<Written<null>> {
    this.ensureWritable();
    if (rev <= this.store.compactRev) throw etcdError('compacted');
    if (rev > this.committedRev) throw etcdError('futureRev');
    const dropped = this.store.compact(rev);
    await this.persist([...dropped.map(delRecordOp), putCompactOp(rev)], 0);
    this.options.logger.debug({ revision: rev, dropped: dropped.length }, 'compacted');
    return { value: null, revision: this.committedRev };
  }

  // ---- leases ---------------------------------------------------------------------------------------

  async leaseGrant(ttlSeconds: number, id: bigint): Promise<Written<Lease>> {
    this.ensureWritable();
    const lease = this.leases.grant(id, ttlSeconds);
    await this.persist([putLeaseOp(lease.id, lease.ttlSeconds, lease.expiresAtMs)], 0);
    return { value: lease, revision: this.committedRev };
  }

  /** Revokes a lease: all its keys are deleted in one revision. */
  async leaseRevoke(id: bigint): Promise<Written<null>> {
    this.ensureWritable();
    if (!this.leases.has(id)) throw etcdError('leaseNotFound');
    const { revision } = await this.revoke(id);
    return { value: null, revision };
  }

  private async revoke(id: bigint): Promise<Written<number>> {
    const lease = this.leases.remove(id);
    const keys = [...(lease?.keys ?? [])].sort();
    return this.write((ctx) => {
      for (const key of keys) ctx.tx.deleteSpan({ key });
      return keys.length;
    }, [delLeaseOp(id)]);
  }

  /** Renews a lease; the TTL in seconds, or 0 when the lease is gone (etcd answers so on the stream). */
  async leaseKeepAlive(id: bigint): Promise<Written<number>> {
    this.ensureWritable();
    const lease = this.leases.renew(id);
    if (lease === undefined) {
      await this.persist([], 0);
      return { value: 0, revision: this.committedRev };
    }
    await this.persist([putLeaseOp(lease.id, lease.ttlSeconds, lease.expiresAtMs)], 0);
    return { value: lease.ttlSeconds, revision: this.committedRev };
  }

  leaseTimeToLive(id: bigint, withKeys: boolean): Written<LeaseInfo> {
    const lease = this.leases.get(id);
    const keys = lease !== undefined && withKeys ? [...lease.keys].sort().map(keyToBytes) : [];
    return {
      value: { id, ttlSeconds: lease?.ttlSeconds ?? 0, remainingSeconds: this.leases.remainingSeconds(id), keys },
      revision: this.committedRev,
    };
  }

  leaseList(): Written<bigint[]> {
    return { value: this.leases.list().map((l) => l.id), revision: this.committedRev };
  }

  /** Revokes every expired lease (each in its own revision). Runs on a timer; tests may call it. */
  async expireLeases(): Promise<void> {
    if (this.stopped || this.storage?.failed !== false) return;
    for (const lease of this.leases.expired()) {
      if (!this.leases.has(lease.id)) continue;
      try {
        const { value: deleted, revision } = await this.revoke(lease.id);
        this.options.logger.debug({ lease: lease.id.toString(16), deleted, revision }, 'lease expired');
      } catch (err) {
        if (!this.stopped) this.options.logger.warn({ err }, 'revoking an expired lease failed');
      }
    }
  }

  // ---- maintenance ----------------------------------------------------------------------------------

  async dbSizeBytes(): Promise<number> {
    return this.storage === undefined ? 0 : this.storage.sizeBytes();
  }
}

function randomId(): bigint {
  let id = 0n;
  while (id === 0n) id = randomBytes(8).readBigUInt64BE();
  return id;
}
