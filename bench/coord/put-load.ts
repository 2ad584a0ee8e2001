/**
 * Load 1: put throughput. C clients, each on its own connection, put small values under random keys as
 * fast as the store acknowledges them (one request in flight per client), until `count` puts are done or
 * the time limit passes. A warm-up (a few puts per client, not measured) opens every connection first.
 */
import { randomBytes } from 'node:crypto';
import { createBenchClient } from './client.js';
import { percentile } from './stats.js';

export interface PutLoadOptions {
  endpoint: string;
  clients: number;
  /** Puts to measure (spread over the clients). */
  count: number;
  valueBytes: number;
  /** Unmeasured puts per client before timing starts. */
  warmupPerClient: number;
  /** No new put starts after this long; the rate is then over what completed. */
  timeLimitMs: number;
}

export interface PutLoadResult {
  puts: number;
  seconds: number;
  putsPerSecond: number;
  /** Latency of one put, ms. */
  p50Ms: number;
  p99Ms: number;
  /** True when the time limit stopped the run before `count` puts. */
  timedOut: boolean;
}

const VALUE_POOL = 64;

export async function runPutLoad(o: PutLoadOptions): Promise<PutLoadResult> {
  const run = randomBytes(4).toString('hex');
  const values = Array.from({ length: VALUE_POOL }, () => randomBytes(o.valueBytes));
  const keys = Array.from({ length: o.count }, () => Buffer.from(`/bench/put/${run}/${randomBytes(8).toString('hex')}`));
  const clients = Array.from({ length: o.clients }, () => createBenchClient(o.endpoint));
  try {
    await Promise.all(
      clients.map(async (c, i) => {
        for (let w = 0; w < o.warmupPerClient; w++) {
          await c.kv.put({ key: Buffer.from(`/bench/warmup/${run}/${i}/${w}`), value: values[w % VALUE_POOL]! });
        }
      }),
    );

    const latencies = new Float64Array(o.count);
    let issued = 0;
    let done = 0;
    const start = performance.now();
    const deadline = start + o.timeLimitMs;
    await Promise.all(
      clients.map(async (c) => {
        while (issued < o.count && performance.now() < deadline) {
          const i = issued++;
          const t0 = performance.now();
          await c.kv.put({ key: keys[i]!, value: values[i % VALUE_POOL]! });
          latencies[done++] = performance.now() - t0;
        }
      }),
    );
    const seconds = (performance.now() - start) / 1000;
    const measured = Array.from(latencies.subarray(0, done));
    return {
      puts: done,
      seconds,
      putsPerSecond: done / seconds,
      p50Ms: percentile(measured, 0.5),
      p99Ms: percentile(measured, 0.99),
      timedOut: done < o.count,
    };
  } finally {
    for (const c of clients) c.close();
  }
}
