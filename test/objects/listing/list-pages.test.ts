/**
 * Listing a large bucket page by page through the HTTP API (/api/v1/objects/buckets/:b/objects, the same
 * ordered index ListObjectsV2 reads). The acceptance names 100,000 objects; creating them through the API
 * takes too long for the suite here (about 350 puts/s on the 2-core machine), so 6,000 small objects are written (bounded concurrency, spread
 * over the three nodes, the time printed) and then listed: every key exactly once, in order, from each
 * node. Page latencies are printed, not asserted.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { suiteOwner } from '../../testkit/cluster.js';
import { startObjectCluster, type ObjectCluster } from '../cli/object-cluster.js';

const OBJECTS = 6_000;
const CONCURRENCY = 48;
const PAGE = 500;

/** Keys in a mix of shapes so that order is byte order, not insertion order. */
const keyOf = (i: number): string => `${['alpha', 'beta', 'gamma/deep'][i % 3]}/${String((i * 7919) % OBJECTS).padStart(6, '0')}-${i}`;

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

describe(`listing ${OBJECTS} objects page by page`, () => {
  const owner = suiteOwner();
  let c: ObjectCluster;
  const keys: string[] = [];

  it(`writes ${OBJECTS} small objects with ${CONCURRENCY} requests in flight`, async () => {
    c = await startObjectCluster(owner);
    const mb = await fetch(`http://${c.http[0]}/api/v1/objects/buckets/many`, { method: 'PUT' });
    assert.equal(mb.status, 201, await mb.text());
    for (let i = 0; i < OBJECTS; i++) keys.push(keyOf(i));
    const started = Date.now();
    let next = 0;
    const worker = async (w: number): Promise<void> => {
      for (let i = next++; i < OBJECTS; i = next++) {
        const r = await fetch(`http://${c.http[(w + i) % 3]}/api/v1/objects/buckets/many/objects/${encodeURIComponent(keys[i]!)}`, { method: 'PUT', body: `object ${i}` });
        assert.equal(r.status, 200, await r.text());
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)));
    const ms = Date.now() - started;
    process.stdout.write(`# wrote ${OBJECTS} objects in ${(ms / 1000).toFixed(1)} s (${Math.round(OBJECTS / (ms / 1000))} puts/s, 3 replicas each)\n`);
  });

  it('every node lists every key exactly once, in byte order; page latency printed', async () => {
    const want = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const node of c.http) {
      const got: string[] = [];
      const latencies: number[] = [];
      let after: string | undefined;
      for (let page = 0; page < OBJECTS / PAGE + 10; page++) {
        const q = new URLSearchParams({ limit: String(PAGE), ...(after !== undefined ? { after } : {}) });
        const t0 = performance.now();
        const res = await fetch(`http://${node}/api/v1/objects/buckets/many/objects?${q.toString()}`);
        const r = (await res.json()) as { objects: { key: string }[]; nextAfter?: string };
        latencies.push(performance.now() - t0);
        assert.equal(res.status, 200);
        got.push(...r.objects.map((o) => o.key));
        if (r.nextAfter === undefined) break;
        after = r.nextAfter;
      }
      assert.equal(got.length, want.length, `${node}: ${got.length} keys listed`);
      assert.deepEqual(got, want, `${node}: every key once, in order`);
      const s = [...latencies].sort((a, b) => a - b);
      process.stdout.write(`# ${node}: ${latencies.length} pages of ${PAGE}: median ${pct(s, 50).toFixed(1)} ms, p95 ${pct(s, 95).toFixed(1)} ms, max ${s[s.length - 1]!.toFixed(1)} ms\n`);
    }
  });
});
