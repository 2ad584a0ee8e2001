/**
 * Coalesces concurrent calls to one peer: at most `maxInFlight` requests are outstanding; items that
 * arrive meanwhile wait and leave together in the next request (up to `maxItems` and `maxBytes`). Idle, a call goes out
 * at once; under load, one request carries many writes or reads, as raft batches its appends. Each
 * caller gets its own item's result or the request's error.
 *
 * The waiting queue is bounded (items and bytes): a peer slower than the load refuses further calls with
 * RESOURCE_EXHAUSTED at once rather than holding them, and their memory, without limit.
 */
import { Code, FlotillaError } from '../../core/errors.js';

interface Waiting<I, O> {
  item: I;
  resolve: (o: O) => void;
  reject: (err: unknown) => void;
}

export class CallBatcher<I, O> {
  private queue: Waiting<I, O>[] = [];
  private queuedBytes = 0;
  private inFlight = 0;

  constructor(
    private readonly send: (items: I[]) => Promise<O[]>,
    private readonly maxInFlight = 2,
    private readonly maxItems = 256,
    /** Size of an item and the most bytes one request carries (always at least one item). */
    private readonly sizeOf: (item: I) => number = () => 0,
    private readonly maxBytes = Infinity,
    /** Most items and bytes waiting for a request. */
    private readonly maxQueued: { items: number; bytes: number } = { items: 10_000, bytes: 64 * 1024 * 1024 },
  ) {}

  /** Items waiting for a request. */
  get waiting(): number {
    return this.queue.length;
  }

  submit(item: I): Promise<O> {
    const size = this.sizeOf(item);
    if (this.queue.length >= this.maxQueued.items || (this.queue.length > 0 && this.queuedBytes + size > this.maxQueued.bytes)) {
      return Promise.reject(
        new FlotillaError(Code.RESOURCE_EXHAUSTED, `the peer is slower than the load: ${this.queue.length} calls (${this.queuedBytes} bytes) already wait for it`),
      );
    }
    this.queuedBytes += size;
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      let n = 0;
      let bytes = 0;
      while (n < this.queue.length && n < this.maxItems) {
        const size = this.sizeOf((this.queue[n] as Waiting<I, O>).item);
        if (n > 0 && bytes + size > this.maxBytes) break;
        bytes += size;
        n++;
      }
      const batch = this.queue.splice(0, n);
      this.queuedBytes -= bytes;
      this.inFlight++;
      this.send(batch.map((w) => w.item))
        .then(
          (out) => batch.forEach((w, i) => w.resolve(out[i] as O)),
          (err: unknown) => batch.forEach((w) => w.reject(err)),
        )
        .finally(() => {
          this.inFlight--;
          this.pump();
        });
    }
  }
}
