/**
 * An outgoing message queue for a server stream: producers push synchronously, the stream handler pulls
 * with `for await`. `backlogged` tells producers the receiver is behind (they stop pushing live data and
 * catch up later); `onDrain` fires when the queue empties after being backlogged.
 */
export class ResponseQueue<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private head = 0;
  private wake: (() => void) | undefined;
  private ended = false;
  private failure: Error | undefined;
  private wasBacklogged = false;
  onDrain: (() => void) | undefined;

  constructor(private readonly highWater = 64) {}

  get length(): number {
    return this.items.length - this.head;
  }

  get backlogged(): boolean {
    const b = this.length >= this.highWater;
    if (b) this.wasBacklogged = true;
    return b;
  }

  push(item: T): void {
    if (this.ended) return;
    this.items.push(item);
    this.signal();
  }

  /** Ends the stream after the queued items. */
  close(): void {
    this.ended = true;
    this.signal();
  }

  /** Ends the stream with an error (after the queued items). */
  fail(err: Error): void {
    this.failure ??= err;
    this.close();
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      if (this.head < this.items.length) {
        const item = this.items[this.head] as T;
        this.items[this.head] = undefined as T;
        this.head++;
        if (this.head === this.items.length) {
          this.items = [];
          this.head = 0;
          if (this.wasBacklogged) {
            this.wasBacklogged = false;
            this.onDrain?.();
          }
        }
        yield item;
        continue;
      }
      if (this.ended) {
        if (this.failure !== undefined) throw this.failure;
        return;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}
