/**
 * Group commit over a LevelDB (classic-level): writes queue their ops; one batch at a time is written
 * with `sync: true` (LevelDB appends it to its log and fsyncs before returning); ops that arrive while a
 * batch is in flight go into the next one. A write resolves only once its batch is on disk, so many
 * concurrent writes share one fsync. After a failed batch every further write is refused.
 *
 * Used by the embedded coordination store and the key-value engine.
 */
import type { ClassicLevel } from 'classic-level';
import { Code, FlotillaError } from './errors.js';

export type BatchOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

export interface GroupCommitOptions {
  /** Names the store in errors (`kv engine`, `coordination store`). */
  what: string;
  /** Called after each batch is durable with the largest tag among its writes (e.g. a revision). */
  onDurable?: (maxTag: number) => void;
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

export class GroupCommit {
  private queue: BatchOp[] = [];
  private waiters: Waiter[] = [];
  private maxTag = 0;
  private flushing: Promise<void> | undefined;
  private failure: FlotillaError | undefined;
  private closed = false;
  /** Batches written so far (for tests and stats). */
  batches = 0;

  constructor(
    private readonly db: ClassicLevel<Buffer, Buffer>,
    private readonly options: GroupCommitOptions,
  ) {}

  /**
   * Queues ops for the next batch; resolves when they are synced to disk. `tag` is reported to onDurable.
   * An empty write is a barrier: it resolves once everything queued before it is durable.
   */
  write(ops: readonly BatchOp[], tag = 0): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new FlotillaError(Code.UNAVAILABLE, `${this.options.what} is closed`));
    if (ops.length === 0 && this.flushing === undefined && this.queue.length === 0) return Promise.resolve();
    for (const op of ops) this.queue.push(op);
    if (tag > this.maxTag) this.maxTag = tag;
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.flushing ??= this.flushLoop();
    return done;
  }

  private async flushLoop(): Promise<void> {
    // Let every write issued in this tick join the first batch (and keep `flushing` set before we run).
    await Promise.resolve();
    try {
      while (this.waiters.length > 0) {
        const ops = this.queue;
        const waiters = this.waiters;
        const maxTag = this.maxTag;
        this.queue = [];
        this.waiters = [];
        this.maxTag = 0;
        try {
          if (ops.length > 0) await this.db.batch(ops, { sync: true });
          this.batches++;
        } catch (err) {
          this.failure = new FlotillaError(Code.INTERNAL, `${this.options.what}: write failed, refusing further writes: ${(err as Error).message}`, { cause: err });
          for (const w of [...waiters, ...this.waiters]) w.reject(this.failure);
          this.waiters = [];
          this.queue = [];
          return;
        }
        this.options.onDurable?.(maxTag);
        for (const w of waiters) w.resolve();
      }
    } finally {
      this.flushing = undefined;
    }
  }

  /** Whether a batch has failed (the store must stop taking writes). */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** Waits for queued writes and refuses new ones. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing !== undefined) await this.flushing;
  }
}
