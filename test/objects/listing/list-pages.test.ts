/**
 * Listing a big bucket (100,000 objects in the acceptance run, 2,500 in the suite: three pages, the last one partial) page by page through ListObjectsV2 (@aws-sdk/client-s3, pages of
 * 1000, continuation tokens) on each of three node processes, and through the HTTP API of one: every key
 * exactly once, in byte order. Page latencies are printed, not asserted.
 *
 * How 100,000 objects are made fast and honestly: real PUTs through the nodes' HTTP object API, 64 in
 * flight spread over the three nodes, into a bucket of the `single` policy (one replica per object), with
 * each node's directory backend on tmpfs (/dev/shm, when there is one) so that the two fsyncs of every
 * write do not make this a disk benchmark. The index the listing reads (classic-level, in each node's
 * data dir) is the one every node always uses.
 *
 * The suite writes 2,500 objects; FLOTILLA_LIST_TEST_OBJECTS=100000 runs the acceptance's 100,000 (the
 * writes take minutes on the shared 2-core machine: see docs/objects.md for the measured runs).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Agent, request } from 'node:http';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { suiteOwner } from '../../testkit/cluster.js';
import { startObjectCluster, type ObjectCluster } from '../cli/object-cluster.js';

const OBJECTS = Number(process.env.FLOTILLA_LIST_TEST_OBJECTS ?? 2_500);
const CONCURRENCY = 64;
const PAGE = 1000;
const AK = 'listtestaccess';
const SK = 'listtestsecret';

/** Keys in a mix of shapes so that order is byte order, not insertion order. */
const keyOf = (i: number): string => `${['alpha', 'beta', 'gamma/deep', 'Zeta', 'é'][i % 5]}/${String((i * 7919) % OBJECTS).padStart(6, '0')}-${i}`;

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

async function tmpfsRoot(): Promise<string | undefined> {
  const s = await stat('/dev/shm').catch(() => undefined);
  return s?.isDirectory() === true ? mkdtemp('/dev/shm/flotilla-list-test-') : undefined;
}

describe(`listing ${OBJECTS} objects page by page`, () => {
  const owner = suiteOwner();
  let c: ObjectCluster;
  const keys: string[] = [];
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const clients: S3Client[] = [];
  after(() => {
    agent.destroy();
    for (const x of clients) x.destroy();
  });

  it(`writes ${OBJECTS} small objects (single policy) with ${CONCURRENCY} requests in flight`, async () => {
    const shm = await tmpfsRoot();
    if (shm !== undefined) owner.after(() => rm(shm, { recursive: true, force: true }));
    c = await startObjectCluster(owner, { nodeArgs: (_i, name) => ['--s3-credentials', `${AK}:${SK}`, ...(shm !== undefined ? ['--backend', `dir:${join(shm, name)}`] : [])] });
    const mb = await fetch(`http://${c.http[0]}/api/v1/objects/buckets/many?policy=single`, { method: 'PUT' });
    assert.equal(mb.status, 201, await mb.text());
    for (let i = 0; i < OBJECTS; i++) keys.push(keyOf(i));
    const put = (node: string, key: string, body: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const [host, port] = node.split(':') as [string, string];
        const req = request({ host, port: Number(port), method: 'PUT', path: `/api/v1/objects/buckets/many/objects/${encodeURIComponent(key)}`, agent, headers: { 'content-length': Buffer.byteLength(body) } }, (res) => {
          res.resume();
          res.once('end', () => resolve(res.statusCode ?? 0));
          res.once('error', reject);
        });
        req.once('error', reject);
        req.end(body);
      });
    const started = Date.now();
    let next = 0;
    // A keep-alive connection the node closed as idle just as it was reused resets: the PUT (idempotent,
    // same bytes) is sent again on a fresh connection, at most twice.
    const putRetrying = async (node: string, key: string, body: string): Promise<number> => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await put(node, key, body);
        } catch (err) {
          if (attempt >= 3 || !['ECONNRESET', 'EPIPE'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
        }
      }
    };
    const worker = async (w: number): Promise<void> => {
      for (let i = next++; i < OBJECTS; i = next++) assert.equal(await putRetrying(c.http[(w + i) % 3]!, keys[i]!, `object ${i}`), 200, keys[i]);
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)));
    const ms = Date.now() - started;
    process.stdout.write(`# wrote ${OBJECTS} objects in ${(ms / 1000).toFixed(1)} s (${Math.round(OBJECTS / (ms / 1000))} puts/s, one replica each, backends on ${shm ?? 'the data dirs'})\n`);
  });

  it('ListObjectsV2 on every node returns every key exactly once, in byte order; page latency printed', async () => {
    const want = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const node of c.http) {
      const s3 = new S3Client({ endpoint: `http://${node}`, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: AK, secretAccessKey: SK }, maxAttempts: 1 });
      clients.push(s3);
      const got: string[] = [];
      const latencies: number[] = [];
      let token: string | undefined;
      for (let page = 0; page < OBJECTS / PAGE + 10; page++) {
        const t0 = performance.now();
        const r = await s3.send(new ListObjectsV2Command({ Bucket: 'many', MaxKeys: PAGE, ...(token !== undefined ? { ContinuationToken: token } : {}) }));
        latencies.push(performance.now() - t0);
        const page = (r.Contents ?? []).map((o) => o.Key!);
        assert.ok(page.length <= PAGE);
        got.push(...page);
        if (r.IsTruncated !== true) break;
        assert.ok(r.NextContinuationToken !== undefined, 'a truncated page has a continuation token');
        token = r.NextContinuationToken;
      }
      assert.equal(got.length, want.length, `${node}: ${got.length} keys listed`);
      assert.deepEqual(got, want, `${node}: every key once, in order`);
      const s = [...latencies].sort((a, b) => a - b);
      process.stdout.write(`# ListObjectsV2 on ${node}: ${latencies.length} pages of ${PAGE}: median ${pct(s, 50).toFixed(1)} ms, p95 ${pct(s, 95).toFixed(1)} ms, max ${s[s.length - 1]!.toFixed(1)} ms\n`);
    }
  });

  it('the HTTP API lists the same keys page by page, with a prefix and a delimiter too', async () => {
    const node = c.http[1]!;
    const list = async (q: Record<string, string>): Promise<{ objects: { key: string }[]; commonPrefixes: string[]; nextAfter?: string }> => {
      const res = await fetch(`http://${node}/api/v1/objects/buckets/many/objects?${new URLSearchParams(q).toString()}`);
      assert.equal(res.status, 200);
      return (await res.json()) as { objects: { key: string }[]; commonPrefixes: string[]; nextAfter?: string };
    };
    const under = keys.filter((k) => k.startsWith('gamma/')).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const got: string[] = [];
    let after: string | undefined;
    for (let page = 0; page < under.length / PAGE + 10; page++) {
      const r = await list({ prefix: 'gamma/', limit: String(PAGE), ...(after !== undefined ? { after } : {}) });
      got.push(...r.objects.map((o) => o.key));
      if (r.nextAfter === undefined) break;
      after = r.nextAfter;
    }
    assert.deepEqual(got, under);
    const top = await list({ delimiter: '/' });
    assert.deepEqual(top.commonPrefixes, ['Zeta/', 'alpha/', 'beta/', 'gamma/', 'é/']);
    assert.deepEqual(top.objects, []);
  });
});
