// etcdctl (the real one, ETCDCTL_API=3) against `flotilla coord serve`: every command succeeds and prints
// what it prints against real etcd 3.4, once revision numbers, lease and member IDs are normalised.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Cleanup, CoordProcess, EtcdctlResult } from '../testkit/index.js';
import { etcdctl, etcdctlBackground, startEmbeddedCoord, startEtcd } from '../testkit/index.js';

/** Replaces what legitimately differs between two stores: hex IDs, numbers, the endpoint. */
function normalise(text: string, endpoint: string): string {
  return text
    .split(endpoint)
    .join('<endpoint>')
    .replace(/\b[0-9a-f]{12,16}\b/g, '<id>')
    .replace(/\d+/g, '<n>');
}

/** The structure of a JSON document: keys and value types, values dropped. */
function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(shape);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, shape((v as Record<string, unknown>)[k])]),
    );
  }
  return typeof v;
}

function ok(r: EtcdctlResult, what: string): string {
  assert.equal(r.code, 0, `${what} failed: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

describe('etcdctl against the embedded store prints what it prints against real etcd', () => {
  const cleanups: (() => unknown)[] = [];
  let failed = false;
  const owner: Cleanup = {
    after: (fn) => void cleanups.push(fn),
    get passed() {
      return !failed;
    },
  };
  let etcd: CoordProcess;
  let embedded: CoordProcess;

  before(async () => {
    [etcd, embedded] = await Promise.all([startEtcd({ t: owner }), startEmbeddedCoord({ t: owner })]);
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  /** Runs the same etcdctl command on both stores; both must succeed; returns the normalised outputs. */
  async function both(args: string[] | ((store: CoordProcess) => string[]), input?: string): Promise<{ real: string; ours: string; raw: [string, string] }> {
    const run = async (store: CoordProcess): Promise<string> => {
      const a = typeof args === 'function' ? args(store) : args;
      return ok(await etcdctl(store.endpoint, a, input !== undefined ? { input } : {}), `etcdctl ${a.join(' ')} (${store.name})`);
    };
    const [r, o] = [await run(etcd), await run(embedded)];
    return { real: normalise(r, etcd.endpoint), ours: normalise(o, embedded.endpoint), raw: [r, o] };
  }

  function same(res: { real: string; ours: string }, what: string): void {
    if (res.ours !== res.real) failed = true;
    assert.equal(res.ours, res.real, `${what}: output differs from real etcd`);
  }

  test('put, get, get --prefix (simple and json), del', async () => {
    same(await both(['put', '/t/a', 'one']), 'put');
    same(await both(['put', '/t/b', 'two words']), 'put');
    same(await both(['put', '/t-other', 'x']), 'put');
    const get = await both(['get', '/t/a']);
    same(get, 'get');
    assert.equal(get.raw[1], '/t/a\none\n');
    const prefix = await both(['get', '--prefix', '/t/']);
    same(prefix, 'get --prefix');
    assert.equal(prefix.raw[1], '/t/a\none\n/t/b\ntwo words\n');
    same(await both(['get', '--prefix', '/t/', '--keys-only']), 'get --keys-only');
    same(await both(['get', '--prefix', '/t/', '--limit', '1']), 'get --limit');
    const json = await both(['get', '--prefix', '/t/', '-w', 'json']);
    assert.deepEqual(shape(JSON.parse(json.raw[1])), shape(JSON.parse(json.raw[0])), 'get -w json has the same fields');
    same(await both(['get', '/t/missing']), 'get of a missing key');
    same(await both(['del', '/t/a']), 'del');
    same(await both(['del', '--prefix', '/t']), 'del --prefix');
    same(await both(['get', '--prefix', '/t']), 'get after del');
  });

  test('watch --prefix in the background sees puts and deletes', async () => {
    const outputs: string[] = [];
    for (const store of [etcd, embedded]) {
      const watcher = await etcdctlBackground(store.endpoint, ['watch', '--prefix', '/w/'], owner);
      try {
        // The watch is registered when a put made after it starts shows up; retry the first put until it does.
        for (let i = 0; i < 50 && !watcher.output().includes('PUT'); i++) {
          ok(await etcdctl(store.endpoint, ['put', '/w/probe', 'p']), 'put');
          await new Promise((r) => setTimeout(r, 100));
        }
        const start = watcher.output().length;
        ok(await etcdctl(store.endpoint, ['put', '/w/x', '1']), 'put');
        ok(await etcdctl(store.endpoint, ['put', '/w-not-mine', '1']), 'put');
        ok(await etcdctl(store.endpoint, ['put', '/w/x', '2']), 'put');
        ok(await etcdctl(store.endpoint, ['del', '/w/x']), 'del');
        await watcher.waitForOutput((out) => out.slice(start).includes('DELETE\n/w/x\n'));
        outputs.push(watcher.output().slice(start));
      } finally {
        await watcher.stop();
      }
    }
    assert.equal(outputs[0], 'PUT\n/w/x\n1\nPUT\n/w/x\n2\nDELETE\n/w/x\n\n');
    assert.equal(outputs[1], outputs[0]);
  });

  test('lease grant, put --lease, keep-alive --once, timetolive, revoke', async () => {
    const outs: string[][] = [];
    for (const store of [etcd, embedded]) {
      const lines: string[] = [];
      const grant = ok(await etcdctl(store.endpoint, ['lease', 'grant', '60']), 'lease grant');
      lines.push(grant);
      const id = /lease ([0-9a-f]+) granted/.exec(grant)?.[1];
      assert.ok(id, `no lease id in ${grant}`);
      lines.push(ok(await etcdctl(store.endpoint, ['put', '--lease', id, '/l/k', 'v']), 'put --lease'));
      lines.push(ok(await etcdctl(store.endpoint, ['lease', 'keep-alive', '--once', id]), 'keep-alive --once'));
      lines.push(ok(await etcdctl(store.endpoint, ['lease', 'timetolive', '--keys', id]), 'timetolive'));
      lines.push(ok(await etcdctl(store.endpoint, ['lease', 'revoke', id]), 'revoke'));
      lines.push(ok(await etcdctl(store.endpoint, ['get', '/l/k']), 'get after revoke'));
      const gone = await etcdctl(store.endpoint, ['lease', 'keep-alive', '--once', id]);
      lines.push(`code=${gone.code} ${gone.stdout}${gone.stderr.replace(/^.*(Error:)/s, '$1')}`);
      outs.push(lines.map((l) => normalise(l, store.endpoint)));
    }
    assert.deepEqual(outs[1], outs[0]);
    assert.match(outs[0]![0]!, /^lease <id> granted with TTL\(<n>s\)\n$/);
  });

  test('txn in interactive mode fed on stdin: success, then failure branch', async () => {
    const script = ['mod("/x") = "0"', '', 'put /x created', '', 'get /x', '', ''].join('\n');
    const first = await both(['txn', '-i'], script);
    same(first, 'txn success');
    assert.match(first.raw[1], /SUCCESS\n\nOK\n/);
    const second = await both(['txn', '-i'], script);
    same(second, 'txn failure');
    assert.match(second.raw[1], /FAILURE\n\n\/x\ncreated\n/);
    const json = await both(['txn', '-i', '-w', 'json'], script);
    const body = (out: string): unknown => JSON.parse(out.slice(out.indexOf('{')));
    assert.deepEqual(shape(body(json.raw[1])), shape(body(json.raw[0])));
  });

  test('endpoint status and health', async () => {
    const status = await both(['endpoint', 'status', '-w', 'json']);
    const real = JSON.parse(status.raw[0]) as [{ Status: { header: { revision: number } } }];
    const ours = JSON.parse(status.raw[1]) as [{ Status: { header: { revision: number } } }];
    assert.deepEqual(shape(ours), shape(real), 'endpoint status -w json has the same fields');
    assert.ok(ours[0].Status.header.revision > 1);
    const table = await both(['endpoint', 'status', '-w', 'table']);
    assert.equal(table.ours.split('\n').length, table.real.split('\n').length);
    for (const store of [etcd, embedded]) {
      const health = await etcdctl(store.endpoint, ['endpoint', 'health']);
      assert.equal(health.code, 0, `${store.name}: ${health.stderr}`);
      assert.match(health.stdout + health.stderr, /is healthy: successfully committed proposal/);
    }
  });
});
