/**
 * Load 2: watch-event latency. One client watches a prefix; W writers (each on its own connection) put
 * keys under it, one put in flight per writer, each value starting with the send time. The latency of an
 * event is (event received by the watcher - put sent), both read from this process's monotonic clock.
 * The first `warmup` events are not measured. Bounded: `warmup + events` puts, a time limit for writing,
 * and a grace period for the last events to arrive; a lost event is an error.
 */
import { randomBytes } from 'node:crypto';
import type { Etcd3, Watcher } from 'etcd3';
import { Code, FlotillaError } from '../../src/core/errors.js';
import { createBenchClient } from './client.js';
import { percentile } from './stats.js';

export interface WatchLoadOptions {
  endpoint: string;
  writers: number;
  /** Events to measure. */
  events: number;
  /** Events before those, not measured. */
  warmup: number;
  valueBytes: number;
  /** No new put starts after this long. */
  timeLimitMs: number;
  /** How long to wait for outstanding events once writing stopped. */
  drainMs: number;
}

export interface WatchLoadResult {
  /** Latency of each measured event, ms. */
  samplesMs: number[];
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

function nowNs(): bigint {
  return process.hrtime.bigint();
}

/** Value: `<send time ns>;` padded with '.' to `bytes` (at least the timestamp). */
function stampedValue(bytes: number): Buffer {
  const stamp = `${nowNs()};`;
  return Buffer.from(stamp.padEnd(bytes, '.'));
}

function sentAt(value: Buffer): bigint | undefined {
  const end = value.indexOf(0x3b);
  if (end <= 0) return undefined;
  try {
    return BigInt(value.subarray(0, end).toString('latin1'));
  } catch {
    return undefined;
  }
}

export async function runWatchLoad(o: WatchLoadOptions): Promise<WatchLoadResult> {
  const prefix = `/bench/watch/${randomBytes(4).toString('hex')}/`;
  const total = o.warmup + o.events;
  const samplesMs: number[] = [];
  const seen = new Set<number>();
  let malformed = 0;
  // Set once writing stopped: how many events to wait for, and who waits.
  let target = Number.POSITIVE_INFINITY;
  let arrived: (() => void) | undefined;

  const watcherClient = createBenchClient(o.endpoint);
  const writers: Etcd3[] = Array.from({ length: o.writers }, () => createBenchClient(o.endpoint));
  let watcher: Watcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    watcher = await watcherClient.watch().prefix(prefix).create();
    watcher.on('put', (kv) => {
      const received = nowNs();
      const seq = Number(kv.key.subarray(prefix.length).toString('latin1'));
      const sent = sentAt(kv.value);
      if (!Number.isInteger(seq) || sent === undefined) {
        malformed++;
        return;
      }
      if (seen.has(seq)) return;
      seen.add(seq);
      if (seq >= o.warmup) samplesMs.push(Number(received - sent) / 1e6);
      if (seen.size >= target) arrived?.();
    });
    // Connections open before the first event (the watcher's is, once create() resolved).
    await Promise.all(writers.map((w) => w.kv.range({ key: Buffer.from(prefix), limit: 1 })));

    let issued = 0;
    const deadline = performance.now() + o.timeLimitMs;
    await Promise.all(
      writers.map(async (w) => {
        while (issued < total && performance.now() < deadline) {
          const seq = issued++;
          await w.kv.put({ key: Buffer.from(`${prefix}${seq}`), value: stampedValue(o.valueBytes) });
        }
      }),
    );
    target = issued;
    if (seen.size < target) {
      await new Promise<void>((resolve) => {
        arrived = resolve;
        timer = setTimeout(resolve, o.drainMs);
      });
    }
    if (seen.size < issued) {
      throw new FlotillaError(Code.INTERNAL, `watch: ${issued - seen.size} of ${issued} events did not arrive within ${o.drainMs} ms`);
    }
    if (malformed > 0) throw new FlotillaError(Code.INTERNAL, `watch: ${malformed} events had a malformed key or value`);
    return { samplesMs, p50Ms: percentile(samplesMs, 0.5), p99Ms: percentile(samplesMs, 0.99), maxMs: percentile(samplesMs, 1) };
  } finally {
    if (timer) clearTimeout(timer);
    await watcher?.cancel().catch(() => undefined);
    watcherClient.close();
    for (const w of writers) w.close();
  }
}
