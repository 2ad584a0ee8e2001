/**
 * Coalesces concurrent calls to one peer: at most `maxInFlight` requests are outstanding; items that
 * arrive meanwhile wait and leave together in the next request (up to `maxItems` and `maxBytes`). Idle, a call goes out
 * at once; under load, one request carries many writes or reads, as raft batches its appends. Each
 * caller gets its own item's result or the request's error.
 */
interface Waiting<I, O> {
  item: I;
  resolve: (o: O) => void;
  reject: (err: unknown) => void;
}

export class CallBatcher<I, O> {
  private queue: Waiting<I, O>[] = [];
  private inFlight = 0;

  constructor(
    private readonly send: (items: I[]) => Promise<O[]>,
    private readonly maxInFlight = 2,
    private readonly maxItems = 256,
    /** Size of an item and the most bytes one request carries (always at least one item). */
    private readonly sizeOf: (item: I) => number = () => 0,
    private readonly maxBytes = Infinity,
  ) {}

  submit(item: I): Promise<O> {
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
        bytes += this.sizeOf((this.queue[n] as Waiting<I, O>).item);
        if (n > 0 && bytes > this.maxBytes) break;
        n++;
      }
      const batch = this.queue.splice(0, n);
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
