/**
 * The agent's send buffer. Every batch stays here from its collection until the server acks its seq
 * (BatchAck: every seq <= n is taken), so a batch sent just before a disconnect is sent again after the
 * reconnect. Bounded: at most `maxSamples` samples in memory; past that, the oldest samples go to the
 * spill store when one is configured (itself bounded in bytes), or are dropped. Oldest first, always;
 * every dropped sample is counted (`droppedTotal`, reported in each MetricBatch).
 */
import type { BufferedBatch, BufferedSample } from './buffered-batch.js';
import type { SpillStore } from './spill-store.js';

export type { BufferedBatch, BufferedSample } from './buffered-batch.js';

export interface SampleBufferOptions {
  /** Most samples kept in memory. */
  maxSamples: number;
  /** Where samples past the memory bound go; without it they are dropped. */
  spill?: SpillStore;
}

export class SampleBuffer {
  private readonly memory: BufferedBatch[] = [];
  private memorySamples = 0;
  private nextSeq = 1;
  private acked = 0;
  private dropped = 0;
  private readonly waiters = new Set<() => void>();

  constructor(private readonly options: SampleBufferOptions) {
    if (!(options.maxSamples >= 1)) throw new RangeError('SampleBuffer: maxSamples must be at least 1');
  }

  /** Takes back what a previous process spilled (renumbered as this process's first batches). */
  async init(): Promise<void> {
    const leftovers = (await this.options.spill?.init()) ?? [];
    for (const b of leftovers) if (b.samples.length > 0) await this.append(b.samples, true);
  }

  /** Every batch with seq <= this has been acked. */
  get ackedSeq(): number {
    return this.acked;
  }

  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  /** Samples dropped since the process started. */
  get droppedTotal(): number {
    return this.dropped;
  }

  /** Samples waiting for an ack, in memory and on disk. */
  get pendingSamples(): number {
    return this.memorySamples + (this.options.spill?.samples ?? 0);
  }

  /** Adds one round's samples as a new batch; returns its seq. */
  async append(samples: BufferedSample[], createdOffline: boolean): Promise<number> {
    const seq = this.nextSeq++;
    this.memory.push({ seq, samples, createdOffline });
    this.memorySamples += samples.length;
    await this.enforceBound();
    this.wake();
    return seq;
  }

  private async enforceBound(): Promise<void> {
    const max = this.options.maxSamples;
    if (this.memorySamples <= max) return;
    const spill = this.options.spill;
    if (spill !== undefined) {
      const out: BufferedBatch[] = [];
      // Keep the newest batch in memory even when it alone passes the bound.
      while (this.memorySamples > max && this.memory.length > 1) {
        const b = this.memory.shift()!;
        this.memorySamples -= b.samples.length;
        out.push(b);
      }
      if (out.length > 0) this.dropped += await spill.append(out);
    }
    // Still over (no spill, or one huge batch): drop the oldest samples.
    while (this.memorySamples > max && this.memory.length > 0) {
      const oldest = this.memory[0]!;
      const excess = this.memorySamples - max;
      if (excess >= oldest.samples.length) {
        this.memory.shift();
        this.memorySamples -= oldest.samples.length;
        this.dropped += oldest.samples.length;
      } else {
        oldest.samples = oldest.samples.slice(excess);
        this.memorySamples -= excess;
        this.dropped += excess;
      }
    }
  }

  /** The server took every batch with seq <= `seq`. */
  async ack(seq: number): Promise<void> {
    if (seq <= this.acked) return;
    this.acked = Math.min(seq, this.lastSeq);
    while (this.memory.length > 0 && this.memory[0]!.seq <= this.acked) {
      this.memorySamples -= this.memory.shift()!.samples.length;
    }
    await this.options.spill?.ack(this.acked);
  }

  /** The oldest batch not yet acked with seq > `afterSeq`, or undefined when there is none (yet). */
  async next(afterSeq: number): Promise<BufferedBatch | undefined> {
    const after = Math.max(afterSeq, this.acked);
    const spill = this.options.spill;
    if (spill !== undefined && !spill.empty && spill.lastSeq > after) {
      const b = await spill.next(after);
      if (b !== undefined) return b;
    }
    return this.memory.find((b) => b.seq > after);
  }

  /** Resolves when a batch is appended (or after `timeoutMs`). */
  waitForAppend(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiters.add(done);
    });
  }

  /** Wakes whoever waits in waitForAppend (e.g. on stop). */
  wake(): void {
    for (const w of [...this.waiters]) w();
  }
}
