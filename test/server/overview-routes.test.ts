// GET /api/v1/overview/counts against a real server (and three kv+objects nodes started here):
// - with no node, keys and objects are null with an error each, the runs still answer (200, not 500);
// - after 3 keys, 2 objects and a run with a failing task: keys 3, objects 2 with their bytes, runs by
//   state, the failed task counted and listed;
// - with a node killed, the counts are still read through the other nodes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventually, startServer, suiteOwner, type ServerHandle } from '../testkit/cluster.js';
import { api, startDataCluster, type DataCluster } from '../web/data-cluster.js';

interface Counts {
  runs: { byState: Record<string, number>; failedTasks24h: number; recentFailures: { runId: string; flow: string; task: string; reason: string; at: string }[] } | null;
  keys: { count: number; truncated: boolean } | null;
  objects: { count: number; bytes: number; buckets: { bucket: string; objects: number; bytes: number }[]; truncated: boolean } | null;
  errors: { source: string; message: string }[];
  at: string;
}

const FAILING_FLOW = `collection: { key: ov-fail }
tasks:
  ok: { command: "echo fine" }
  boom: { command: "echo about to fail; exit 3" }
workflow:
  - ok -> boom
`;

async function counts(base: string): Promise<Counts> {
  const res = await fetch(`${base}/api/v1/overview/counts`);
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return JSON.parse(text) as Counts;
}

describe('GET /api/v1/overview/counts', () => {
  const owner = suiteOwner();
  let server: ServerHandle;
  let base: string;
  let cluster: DataCluster;

  it('with no node up, keys and objects are null with an error each; the runs still answer', async () => {
    server = await startServer(owner);
    base = `http://127.0.0.1:${server.port('http')}`;
    const c = await counts(base);
    assert.equal(c.keys, null);
    assert.equal(c.objects, null);
    assert.deepEqual(c.runs, { byState: {}, failedTasks24h: 0, recentFailures: [] });
    assert.deepEqual(c.errors.map((e) => e.source).sort(), ['keys', 'objects']);
    assert.match(c.errors.find((e) => e.source === 'keys')!.message, /no live node with the kv role/);
    assert.match(c.errors.find((e) => e.source === 'objects')!.message, /no live node with the objects role/);
  });

  it('counts keys, objects and bytes, runs by state and failed tasks', async () => {
    cluster = await startDataCluster(owner, server);
    for (const k of ['ov/a', 'ov/b', 'ov/c']) await api(base, 'PUT', `/api/v1/kv/keys/${encodeURIComponent(k)}`, `value of ${k}`, 'application/octet-stream');
    await api(base, 'PUT', '/api/v1/objects/buckets/ov-bucket');
    await api(base, 'PUT', '/api/v1/objects/buckets/ov-bucket/objects/one.txt', 'x'.repeat(1000), 'text/plain');
    await api(base, 'PUT', '/api/v1/objects/buckets/ov-bucket/objects/dir/two.bin', new Uint8Array(2345), 'application/octet-stream');
    await api(base, 'POST', '/api/v1/flows', { fileName: 'ov-fail.yaml', yaml: FAILING_FLOW, files: {} });
    const run = await api<{ id: string }>(base, 'POST', '/api/v1/flows/ov-fail/runs', {});
    await eventually('the run fails', async () => (await api<{ run: { state: string } }>(base, 'GET', `/api/v1/flows/runs/${run.id}`)).run.state === 'failed', 30_000);

    let c: Counts | undefined;
    await eventually(
      'the counts show the keys, objects and the failed run',
      async () => {
        c = await counts(base);
        return c.keys?.count === 3 && c.objects?.count === 2 && c.runs?.byState.failed === 1;
      },
      20_000,
      async () => c,
    );
    assert.deepEqual(c!.errors, []);
    assert.equal(c!.keys!.truncated, false);
    assert.equal(c!.objects!.bytes, 1000 + 2345);
    assert.deepEqual(c!.objects!.buckets, [{ bucket: 'ov-bucket', objects: 2, bytes: 3345 }]);
    assert.deepEqual(c!.runs!.byState, { failed: 1 });
    assert.equal(c!.runs!.failedTasks24h, 1);
    assert.equal(c!.runs!.recentFailures.length, 1);
    assert.deepEqual({ ...c!.runs!.recentFailures[0]!, at: undefined, reason: undefined }, { runId: run.id, flow: 'ov-fail', task: 'boom', at: undefined, reason: undefined });
    assert.ok(!Number.isNaN(Date.parse(c!.runs!.recentFailures[0]!.at)));
  });

  it('with a node killed, the counts are read through the other nodes', async () => {
    await cluster.nodes[0]!.kill();
    const killedMs = Date.now();
    // Answers are shared for a few seconds: wait for one gathered after the kill.
    let c: Counts | undefined;
    await eventually('an answer gathered after the kill', async () => Date.parse((c = await counts(base)).at) > killedMs, 15_000);
    if (c === undefined) throw new Error('no answer');
    assert.deepEqual(c.errors, []);
    assert.equal(c.keys?.count, 3);
    assert.equal(c.objects?.count, 2);
  });
});
