/**
 * Group commit for the scheduler's writes: writes added while a transaction is in flight (or within the
 * same turn of the event loop) are committed together in the next one, in the order they were added. The
 * store therefore always holds a prefix of the scheduler's decisions, and one fsync carries many state
 * changes instead of one each. `committed()` is the barrier: it resolves once every write added before the
 * call is durable (it rejects when the transaction holding one of them failed).
 */
import type { SqlStore } from '../../core/sql/index.js';

type Op = (tx: SqlStore) => Promise<unknown>;

interface Batch {
  ops: Op[];
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A batch nobody awaits must not become an unhandled rejection; whoever awaits it still sees the error.
  promise.catch(() => undefined);
  return { ops: [], promise, resolve, reject };
}

export class GroupCommit {
  private pending: Batch | undefined;
  private inFlight: Batch | undefined;
  /** Transactions committed so far (each may carry many writes). */
  commits = 0;

  constructor(private readonly sql: SqlStore) {}

  /** Queues a write for the next group transaction; the promise settles when that transaction does. */
  add(op: Op): Promise<void> {
    if (this.pending === undefined) {
      this.pending = newBatch();
      if (this.inFlight === undefined) setImmediate(() => void this.flush());
    }
    this.pending.ops.push(op);
    return this.pending.promise;
  }

  /** Resolves when every write added before this call is committed. */
  committed(): Promise<void> {
    return (this.pending ?? this.inFlight)?.promise ?? Promise.resolve();
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    if (batch === undefined || this.inFlight !== undefined) return;
    this.pending = undefined;
    this.inFlight = batch;
    try {
      await this.sql.transaction(async (tx) => {
        for (const op of batch.ops) await op(tx);
      });
      this.commits++;
      batch.resolve();
    } catch (err) {
      batch.reject(err);
    } finally {
      this.inFlight = undefined;
      if (this.pending !== undefined) setImmediate(() => void this.flush());
    }
  }
}
