/**
 * The load generator of `bench kv`, the same for both stores: C clients, one request in flight each,
 * 80 % gets / 20 % puts of V-byte values over a fixed key set (preloaded), for a fixed time after a
 * warm-up. Only the two small adapters differ (etcd3 client; Flotilla KvService client).
 */
import { randomBytes } from 'node:crypto';
import { percentile } from '../coord/stats.js';

export interface KvAdapter {
  /** One connection per client id (round-robin over the cluster's members). */
  get(client: number, key: string): Promise<void>;
  put(client: number, key: string, value: Buffer): Promise<void>;
  close(): Promise<void>;
}

export interface LoadOptions {
  clients: number;
  seconds: number;
  warmupSeconds: number;
  valueBytes: number;
  keys: number;
  getRatio: number;
}

export interface LoadResult {
  ops: number;
  opsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

export async function preload(a: KvAdapter, o: LoadOptions, prefix: string): Promise<void> {
  const value = randomBytes(o.valueBytes);
  let next = 0;
  await Promise.all(
    Array.from({ length: o.clients }, async (_, c) => {
      for (;;) {
        const i = next++;
        if (i >= o.keys) return;
        await a.put(c, `${prefix}${i}`, value);
      }
    }),
  );
}

export async function runLoad(a: KvAdapter, o: LoadOptions, prefix: string): Promise<LoadResult> {
  const values = Array.from({ length: 32 }, () => randomBytes(o.valueBytes));
  const latencies: number[] = [];
  let errors = 0;
  let measuring = false;
  const start = Date.now();
  const warmEnd = start + o.warmupSeconds * 1000;
  const end = warmEnd + o.seconds * 1000;
  await Promise.all(
    Array.from({ length: o.clients }, async (_, c) => {
      let seed = (c + 1) * 2654435761;
      const rand = (): number => {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        return seed / 2147483648;
      };
      // Bounded by the end time.
      while (Date.now() < end) {
        const key = `${prefix}${Math.floor(rand() * o.keys)}`;
        const isGet = rand() < o.getRatio;
        const t0 = performance.now();
        try {
          if (isGet) await a.get(c, key);
          else await a.put(c, key, values[Math.floor(rand() * values.length)]!);
        } catch {
          errors++;
          continue;
        }
        const t1 = performance.now();
        if (!measuring && Date.now() >= warmEnd) measuring = true;
        if (measuring && Date.now() <= end) latencies.push(t1 - t0);
      }
    }),
  );
  const seconds = (Date.now() - Math.max(warmEnd, start)) / 1000;
  return {
    ops: latencies.length,
    opsPerSecond: latencies.length / Math.max(seconds, 0.001),
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    errors,
  };
}
