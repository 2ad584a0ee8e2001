import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { etcdctl, startFlotilla } from '../testkit/index.js';

/** PIDs of live processes whose command line mentions `needle` (the test's own temp dir). */
function processesMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes(needle)) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

describe('flotilla up', () => {
  it('starts a local cluster, prints its addresses, serves etcdctl, and stops cleanly on Ctrl-C', async (t) => {
    const up = await startFlotilla(
      ({ port, dataDir }) => ['up', '--http', `127.0.0.1:${port('http')}`, '--coord-listen', `127.0.0.1:${port('coord')}`, '--data-dir', dataDir],
      { t, ports: ['http', 'coord'], ready: async (h) => h.output().includes('is up') },
    );
    const coord = `127.0.0.1:${up.port('coord')}`;
    const http = `http://127.0.0.1:${up.port('http')}`;
    const out = up.output();
    assert.match(out, new RegExp(`server HTTP\\s+${http}`));
    assert.match(out, new RegExp(`coordination\\s+${coord}\\s+\\(etcd v3 API\\)`));

    const put = await etcdctl(coord, ['put', '/tour/hello', 'world']);
    assert.equal(put.stdout.trim(), 'OK');
    const get = await etcdctl(coord, ['get', '--prefix', '/tour/']);
    assert.equal(get.stdout, '/tour/hello\nworld\n');
    const ready = await fetch(`${http}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: 'ready', checks: { coordination: { ok: true } } });

    assert.ok(processesMentioning(up.dataDir).length >= 2, 'up and its server are running');
    up.signal('SIGINT');
    const exit = await up.exited;
    assert.equal(exit.code, 0, up.output());
    // Children stop before `up` exits; give the kernel a moment to reap them, then none may be left.
    for (let i = 0; i < 50 && processesMentioning(up.dataDir).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(processesMentioning(up.dataDir), [], 'no process left behind');
  });

  it('leaves no process behind when it is killed outright', async (t) => {
    const up = await startFlotilla(
      ({ port, dataDir }) => ['up', '--http', `127.0.0.1:${port('http')}`, '--coord-listen', `127.0.0.1:${port('coord')}`, '--data-dir', dataDir],
      { t, ports: ['http', 'coord'], ready: async (h) => h.output().includes('is up') },
    );
    await up.kill();
    for (let i = 0; i < 100 && processesMentioning(up.dataDir).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(processesMentioning(up.dataDir), [], 'children stop when their parent is gone');
  });

  it('refuses a coordination port that is taken, with a clear message', async (t) => {
    const first = await startFlotilla(({ port, dataDir }) => ['coord', 'serve', '--listen', `127.0.0.1:${port('coord')}`, '--data-dir', dataDir], {
      t,
      ports: ['coord'],
    });
    const up = await startFlotilla(
      ({ port, dataDir }) => ['up', '--http', `127.0.0.1:${port('http')}`, '--coord-listen', `127.0.0.1:${first.port('coord')}`, '--data-dir', dataDir],
      { t, ports: ['http'], ready: async () => true },
    );
    const exit = await up.exited;
    assert.notEqual(exit.code, 0);
    assert.match(up.output(), /flotilla: .*(listen|in use|EADDRINUSE)/i);
    assert.doesNotMatch(up.output(), /\n\s+at /, 'no stack trace');
  });
});
