/**
 * The source document's test section, automated on three real `flotilla node --roles kv` processes
 * (and a server that builds the kv ring): PUT then GET from every node; DELETE then GET from every
 * node; one node stopped: old keys read and new keys written through the others; restarted, it catches
 * up on what it missed by itself (hinted handoff and anti-entropy at start) within 30 s.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FlotillaError } from '../../src/core/errors.js';
import { eventually, runFlotilla } from '../testkit/cluster.js';
import { startKvCluster } from './kv-processes.js';

/** The catch-up time docs/kv.md states: hints within a second or two, anti-entropy at start. */
const CATCH_UP_MS = 30_000;

describe('KV acceptance on three flotilla nodes', { timeout: 180_000 }, () => {
  it('put/get/delete from every node, a node down and back, and the CLI', async (t) => {
    const c = await startKvCluster(t);
    const names = ['node-a', 'node-b', 'node-c'];
    await eventually('every node holds the kv ring and sees three nodes up', async () => {
      const hs = await Promise.all(names.map((n) => c.session(n).health()));
      return hs.every((h) => (h.ringVersion as number) > 0 && (h.up as string[]).length === 3);
    }, 30_000);

    // PUT then GET from every node.
    await c.session('node-a').put('greeting', Buffer.from('xin chao'), {});
    for (const n of names) assert.equal((await c.session(n).get('greeting', {})).value, 'xin chao', n);

    // DELETE then GET from every node.
    await c.session('node-b').del('greeting', {});
    for (const n of names) {
      await assert.rejects(c.session(n).get('greeting', {}), (err: FlotillaError) => err.code === 'NOT_FOUND', n);
    }

    // One node stopped (kill -9): old keys read and new keys written through the others.
    for (let i = 0; i < 20; i++) await c.session('node-a').put(`old/${i}`, Buffer.from(`v${i}`), {});
    c.session('node-c').close();
    await c.nodes.get('node-c')!.kill();
    await eventually('node-a and node-b see node-c down', async () => {
      const hs = await Promise.all(['node-a', 'node-b'].map((n) => c.session(n).health()));
      return hs.every((h) => (h.down as string[]).includes('node-c'));
    }, 15_000);
    for (const n of ['node-a', 'node-b']) {
      for (let i = 0; i < 20; i++) assert.equal((await c.session(n).get(`old/${i}`, {})).value, `v${i}`);
    }
    for (let i = 0; i < 20; i++) await c.session(i % 2 === 0 ? 'node-a' : 'node-b').put(`new/${i}`, Buffer.from(`n${i}`), {});
    await c.session('node-a').del('old/3', {});
    // ALL cannot be met with node-c down: the stable code over gRPC (through the CLI's client) and HTTP.
    await assert.rejects(
      c.session('node-b').put('needs-all', Buffer.from('x'), { consistency: 'all' }),
      (err: FlotillaError) => err.code === 'KV_QUORUM_NOT_MET' && /quorum not met for put: needed 3 replicas/.test(err.message),
    );
    const allPut = await fetch(`http://127.0.0.1:${c.nodes.get('node-a')!.port('http')}/api/v1/kv/keys/needs-all?consistency=all`, { method: 'PUT', body: 'x' });
    assert.equal(allPut.status, 503);
    const problem = (await allPut.json()) as { code: string; detail: string };
    assert.equal(problem.code, 'KV_QUORUM_NOT_MET');
    assert.match(problem.detail, /quorum not met for put/);

    // Restart: node-c catches up with no manual step.
    await c.nodes.get('node-c')!.restart();
    c.close();
    const started = Date.now();
    await eventually(
      'node-c holds every write it missed (its own copy, consistency one)',
      async () => {
        for (let i = 0; i < 20; i++) if ((await c.session('node-c').get(`new/${i}`, { consistency: 'one' })).value !== `n${i}`) return false;
        const gone = await c.session('node-c').get('old/3', { consistency: 'one' }).then(
          () => false,
          (err: FlotillaError) => err.code === 'NOT_FOUND',
        );
        return gone;
      },
      CATCH_UP_MS,
    );
    t.diagnostic(`node-c caught up ${Date.now() - started} ms after its restart`);

    // The CLI against any node: put, get (JSON), scan, bad input with a clear message.
    const nodeB = ['--node', c.nodes.get('node-b')!.peer];
    const put = await runFlotilla(['kv', 'put', 'cli/key', 'cli value', ...nodeB]);
    assert.equal(put.code, 0, put.stderr);
    const get = await runFlotilla(['kv', 'get', 'cli/key', '--json', '--node', c.nodes.get('node-c')!.peer]);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(JSON.parse(get.stdout).value, 'cli value');
    const scan = await runFlotilla(['kv', 'scan', 'new/', '--all', '--json', ...nodeB]);
    assert.equal(JSON.parse(scan.stdout).length, 20);
    const missing = await runFlotilla(['kv', 'get', 'no-such-key', ...nodeB]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /not found/);
    const badLevel = await runFlotilla(['kv', 'get', 'x', '--consistency', 'most', ...nodeB]);
    assert.equal(badLevel.code, 2);
    assert.match(badLevel.stderr, /unknown consistency level "most"/);
    const health = await runFlotilla(['kv', 'health', ...names.map((n) => c.nodes.get(n)!.peer)]);
    assert.equal(health.code, 0, health.stdout + health.stderr);
    assert.match(health.stdout, /N=3 W=2 R=2/);

    // The HTTP API of a node.
    const http = `http://127.0.0.1:${c.nodes.get('node-a')!.port('http')}/api/v1/kv`;
    const hput = await fetch(`${http}/keys/${encodeURIComponent('http key')}`, { method: 'PUT', body: 'from http', headers: { 'content-type': 'text/plain' } });
    assert.equal(hput.status, 200, await hput.clone().text());
    const hget = (await (await fetch(`${http}/keys/${encodeURIComponent('http key')}`)).json()) as { value: string };
    assert.equal(hget.value, 'from http');
    const h404 = await fetch(`${http}/keys/nothing-here`);
    assert.equal(h404.status, 404);
    assert.equal(h404.headers.get('content-type')?.startsWith('application/problem+json'), true);
  });
});
