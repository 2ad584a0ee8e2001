/**
 * Group commit over classic-level: writes queue their ops; one batch at a time is written with
 * `sync: true` (LevelDB appends it to its write-ahead log and fsyncs before returning); ops that arrive
 * while a batch is in flight go into the next one. A write resolves only once its batch is on disk, so
 * many concurrent writes share one fsync. After a failed batch every further write is refused.
 */
import type { ClassicLevel } from 'classic-level';
import { Code, FlotillaError } from '../../core/errors.js';

export type BatchOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

export class GroupCommit {
  private queue: BatchOp[] = [];
  private waiters: Waiter[] = [];
  private flushing: Promise<void> | undefined;
  private failure: Error | undefined;
  private closed = false;
  /** Batches written so far (for tests and stats). */
  batches = 0;

  constructor(private readonly db: ClassicLevel<Buffer, Buffer>) {}

  /** Queues ops for the next batch; resolves when they are synced to disk. */
  write(ops: readonly BatchOp[]): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new FlotillaError(Code.UNAVAILABLE, 'kv engine is closed'));
    for (const op of ops) this.queue.push(op);
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.flushing ??= this.flushLoop();
    return done;
  }

  private async flushLoop(): Promise<void> {
    // Let every write issued in this tick join the first batch.
    await Promise.resolve();
    try {
      while (this.waiters.length > 0) {
        const ops = this.queue;
        const waiters = this.waiters;
        this.queue = [];
        this.waiters = [];
        try {
          if (ops.length > 0) await this.db.batch(ops, { sync: true });
          this.batches++;
        } catch (err) {
          this.failure = new FlotillaError(Code.INTERNAL, `kv engine: write failed, refusing further writes: ${(err as Error).message}`, { cause: err });
          for (const w of [...waiters, ...this.waiters]) w.reject(this.failure);
          this.waiters = [];
          this.queue = [];
          return;
        }
        for (const w of waiters) w.resolve();
      }
    } finally {
      this.flushing = undefined;
    }
  }

  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** Waits for queued writes and refuses new ones. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing !== undefined) await this.flushing;
  }
}
