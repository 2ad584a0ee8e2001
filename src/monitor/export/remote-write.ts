/**
 * One remote-write destination: a bounded queue filled by `offer` (synchronous, never waits, so ingest is
 * never slowed by a slow or dead receiver) and drained by a sender loop that POSTs batches of at most
 * `batchSamples` samples. A batch that fails with a network error, a timeout, HTTP 5xx or 429 is retried
 * with exponential backoff and jitter (src/core/backoff.ts) until it is delivered or the destination stops;
 * meanwhile new samples queue up. When the queue is full the oldest samples are dropped and counted
 * (`queue_full`); a batch the receiver refuses (other 4xx) is dropped and counted (`rejected`); what is
 * still queued when the destination stops (after a bounded final flush) is counted (`shutdown`).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { retry } from '../../core/backoff.js';
import { Code, FlotillaError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { version } from '../../core/version.js';
import { matchesAll, type CompiledMatcher } from './selector.js';
import { encodeWriteRequest, REMOTE_WRITE_HEADERS, type ExportSample } from './write-request.js';

export interface DestinationConfig {
  /** The receiver, e.g. http://127.0.0.1:9090/api/v1/write or http://influx:8086/api/v1/prom/write?db=hosts. */
  url: string;
  /** Selectors; a sample goes here when it matches any of them (each is an AND of matchers). None: every sample. */
  match: CompiledMatcher[][];
  /** Most samples waiting; the oldest are dropped beyond. Default 100 000. */
  queueSamples: number;
  /** Most samples in one request. Default 2 000. */
  batchSamples: number;
  /** Longest wait before a partial batch is sent. Default 1 000 ms. */
  flushIntervalMs: number;
  /** Timeout of one request. Default 10 000 ms. */
  timeoutMs: number;
  /** First retry delay ceiling. Default 250 ms. */
  minBackoffMs: number;
  /** Largest retry delay ceiling. Default 30 000 ms. */
  maxBackoffMs: number;
}

export const DESTINATION_DEFAULTS = {
  queueSamples: 100_000,
  batchSamples: 2_000,
  flushIntervalMs: 1_000,
  timeoutMs: 10_000,
  minBackoffMs: 250,
  maxBackoffMs: 30_000,
} as const;

export type DropReason = 'queue_full' | 'rejected' | 'shutdown';

export interface DestinationStats {
  url: string;
  queued: number;
  sent: number;
  dropped: Record<DropReason, number>;
  requests: number;
  failedRequests: number;
  retries: number;
  /** Time of the last delivered batch, ms since the epoch (0 = never). */
  lastSuccessMs: number;
  lastError: string;
}

/** A fixed-capacity FIFO of samples (a ring): push drops the oldest when full. */
class SampleRing {
  private readonly buf: (ExportSample | undefined)[];
  private head = 0;
  size = 0;
  constructor(readonly capacity: number) {
    this.buf = new Array<ExportSample | undefined>(capacity);
  }
  /** Adds one; returns true when the oldest was dropped to make room. */
  push(s: ExportSample): boolean {
    if (this.size < this.capacity) {
      this.buf[(this.head + this.size) % this.capacity] = s;
      this.size += 1;
      return false;
    }
    this.buf[this.head] = s;
    this.head = (this.head + 1) % this.capacity;
    return true;
  }
  take(n: number): ExportSample[] {
    const out: ExportSample[] = [];
    while (out.length < n && this.size > 0) {
      out.push(this.buf[this.head]!);
      this.buf[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
      this.size -= 1;
    }
    return out;
  }
}

class HttpStatusError extends FlotillaError {
  constructor(
    readonly status: number,
    body: string,
  ) {
    const retryable = status >= 500 || status === 429;
    super(retryable ? Code.UNAVAILABLE : Code.INVALID_ARGUMENT, `HTTP ${status}${body !== '' ? `: ${body.slice(0, 300).trim()}` : ''}`, { retryable });
  }
}

/** Redacts credentials in a URL for logs and labels. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = 'xxx';
    return u.toString();
  } catch {
    return url;
  }
}

export class RemoteWriteDestination {
  readonly url: string;
  private readonly queue: SampleRing;
  private readonly stats: DestinationStats;
  private readonly abort = new AbortController();
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private stopping = false;

  constructor(
    readonly config: DestinationConfig,
    private readonly logger: Logger,
  ) {
    this.url = redactUrl(config.url);
    this.queue = new SampleRing(config.queueSamples);
    this.stats = { url: this.url, queued: 0, sent: 0, dropped: { queue_full: 0, rejected: 0, shutdown: 0 }, requests: 0, failedRequests: 0, retries: 0, lastSuccessMs: 0, lastError: '' };
  }

  /** Whether the sample is routed here. */
  accepts(labels: Readonly<Record<string, string>>): boolean {
    return this.config.match.length === 0 || this.config.match.some((m) => matchesAll(m, labels));
  }

  /** Queues a sample (never waits). */
  offer(sample: ExportSample): void {
    if (this.stopping) {
      this.stats.dropped.shutdown += 1;
      return;
    }
    if (this.queue.push(sample)) this.stats.dropped.queue_full += 1;
    if (this.queue.size >= this.config.batchSamples) this.wake?.();
  }

  snapshot(): DestinationStats {
    return { ...this.stats, queued: this.queue.size, dropped: { ...this.stats.dropped } };
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops the loop after a final flush of at most `flushMs`; what is left is counted as dropped. */
  async stop(flushMs = 5_000): Promise<void> {
    this.stopping = true;
    const timer = setTimeout(() => this.abort.abort(), flushMs);
    this.wake?.();
    try {
      await this.loop;
    } finally {
      clearTimeout(timer);
      this.abort.abort();
      this.stats.dropped.shutdown += this.queue.size;
      this.queue.take(this.queue.size);
    }
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      if (this.queue.size === 0 && this.stopping) return;
      if (this.queue.size < this.config.batchSamples && !this.stopping) {
        const woken = new Promise<void>((resolve) => (this.wake = resolve));
        await Promise.race([woken, sleep(this.config.flushIntervalMs, undefined, { signal }).catch(() => undefined)]);
        this.wake = undefined;
        if (signal.aborted) return;
      }
      const batch = this.queue.take(this.config.batchSamples);
      if (batch.length === 0) continue;
      try {
        await this.send(batch, signal);
      } catch (err) {
        if (signal.aborted) {
          this.stats.dropped.shutdown += batch.length;
          return;
        }
        this.stats.dropped.rejected += batch.length;
        this.logger.warn({ url: this.url, err: (err as Error).message, samples: batch.length }, 'remote write refused a batch; dropped');
      }
    }
  }

  /** Sends one batch, retrying retryable failures until delivered or aborted. */
  private async send(batch: ExportSample[], signal: AbortSignal): Promise<void> {
    const body = encodeWriteRequest(batch);
    await retry(
      async () => {
        this.stats.requests += 1;
        try {
          const res = await fetch(this.config.url, {
            method: 'POST',
            headers: { ...REMOTE_WRITE_HEADERS, 'user-agent': `flotilla/${version}` },
            body,
            signal: AbortSignal.any([signal, AbortSignal.timeout(this.config.timeoutMs)]),
          });
          const text = await res.text().catch(() => '');
          if (res.status < 200 || res.status >= 300) throw new HttpStatusError(res.status, text);
        } catch (err) {
          this.stats.failedRequests += 1;
          this.stats.lastError = (err as Error).message;
          if (err instanceof HttpStatusError) throw err;
          // fetch failed: connection refused, reset, DNS, timeout: worth another try.
          throw new FlotillaError(Code.UNAVAILABLE, `${(err as Error).message}${(err as { cause?: Error }).cause?.message !== undefined ? ` (${(err as { cause: Error }).cause.message})` : ''}`, { retryable: true });
        }
      },
      {
        retries: Infinity,
        baseMs: this.config.minBackoffMs,
        maxMs: this.config.maxBackoffMs,
        jitter: 'equal',
        signal,
        onRetry: (err, attempt, delayMs) => {
          this.stats.retries += 1;
          const log = attempt === 0 ? this.logger.warn.bind(this.logger) : this.logger.debug.bind(this.logger);
          log({ url: this.url, err: (err as Error).message, attempt, delayMs, queued: this.queue.size }, 'remote write failed; retrying');
        },
      },
    );
    this.stats.sent += batch.length;
    this.stats.lastSuccessMs = Date.now();
  }
}
