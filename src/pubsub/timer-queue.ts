/**
 * A timer structure for many deadlines: a binary min-heap of (time, key) with one armed timer for the
 * earliest, so a million scheduled items cost one timer. Items due together are handed over in one
 * batch, in time order. Time comes from an injected clock so tests skip time instead of sleeping.
 */

/** The clock the queue reads and arms. */
export interface Clock {
  now(): number;
  setTimer(fn: () => void, delayMs: number): unknown;
  clearTimer(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (fn, delayMs) => setTimeout(fn, delayMs),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

interface Slot<T> {
  atMs: number;
  seq: number;
  key: string;
  item: T;
}

export interface TimerQueueOptions<T> {
  clock?: Clock;
  /** Called with every item whose time has come, earliest first. */
  onDue: (items: T[]) => void;
  /** Longest single timer; longer waits re-arm (setTimeout's limit is ~24.8 days). Default 60 000. */
  maxTimerMs?: number;
}

export class TimerQueue<T> {
  private readonly heap: Slot<T>[] = [];
  private readonly byKey = new Map<string, Slot<T>>();
  private readonly clock: Clock;
  private readonly onDue: (items: T[]) => void;
  private readonly maxTimerMs: number;
  private timer: unknown;
  private armedAtMs = Infinity;
  private seq = 0;
  private stopped = false;

  constructor(options: TimerQueueOptions<T>) {
    this.clock = options.clock ?? systemClock;
    this.onDue = options.onDue;
    this.maxTimerMs = options.maxTimerMs ?? 60_000;
  }

  get size(): number {
    return this.byKey.size;
  }

  has(key: string): boolean {
    return this.byKey.has(key);
  }

  /** The earliest time in the queue, or undefined. */
  peekTimeMs(): number | undefined {
    this.dropRemovedTop();
    return this.heap[0]?.atMs;
  }

  /** Adds (or moves) the item under `key` to fire at `atMs`. */
  add(key: string, atMs: number, item: T): void {
    if (this.stopped) return;
    this.remove(key);
    const slot: Slot<T> = { atMs, seq: this.seq++, key, item };
    this.byKey.set(key, slot);
    this.push(slot);
    if (atMs < this.armedAtMs) this.arm();
  }

  /** Removes the item under `key`; true if it was queued. */
  remove(key: string): boolean {
    const slot = this.byKey.get(key);
    if (slot === undefined) return false;
    this.byKey.delete(key);
    // Lazy deletion: the slot stays in the heap and is skipped when it reaches the top.
    slot.key = '';
    return true;
  }

  /** Cancels the timer and forgets every item. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.heap.length = 0;
    this.byKey.clear();
  }

  private arm(): void {
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.armedAtMs = Infinity;
    this.dropRemovedTop();
    const top = this.heap[0];
    if (top === undefined || this.stopped) return;
    const delay = Math.max(0, Math.min(this.maxTimerMs, top.atMs - this.clock.now()));
    this.armedAtMs = top.atMs;
    this.timer = this.clock.setTimer(() => this.fire(), delay);
  }

  private fire(): void {
    this.timer = undefined;
    this.armedAtMs = Infinity;
    const now = this.clock.now();
    const due: T[] = [];
    for (;;) {
      this.dropRemovedTop();
      const top = this.heap[0];
      if (top === undefined || top.atMs > now) break;
      this.pop();
      this.byKey.delete(top.key);
      due.push(top.item);
    }
    this.arm();
    if (due.length > 0) this.onDue(due);
  }

  private dropRemovedTop(): void {
    while (this.heap.length > 0 && this.heap[0]!.key === '') this.pop();
    // Compact when removed slots dominate, so cancelled items do not hold memory.
    if (this.heap.length > 1024 && this.heap.length > 2 * this.byKey.size) {
      const live = this.heap.filter((s) => s.key !== '');
      this.heap.length = 0;
      for (const s of live) this.push(s);
    }
  }

  private less(a: Slot<T>, b: Slot<T>): boolean {
    return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
  }

  private push(slot: Slot<T>): void {
    const h = this.heap;
    h.push(slot);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private pop(): Slot<T> | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last !== undefined) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
