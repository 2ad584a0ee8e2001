import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { etcdctl, freePort, startEtcd, startFlotilla } from '../testkit/index.js';

async function readyz(url: string): Promise<{ status: number; body: { status: string; checks: Record<string, { ok: boolean; error?: string }> } }> {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: (await res.json()) as never };
}

describe('flotilla server', () => {
  it('serves health and readiness with its embedded coordination store', async (t) => {
    const server = await startFlotilla(
      ({ port, dataDir }) => ['server', '--http', `127.0.0.1:${port('http')}`, '--listen', `127.0.0.1:${port('grpc')}`, '--coord-listen', `127.0.0.1:${port('coord')}`, '--data-dir', dataDir],
      { t, ports: ['http', 'grpc', 'coord'], ready: async (h) => h.output().includes('ready') },
    );
    const url = `http://127.0.0.1:${server.port('http')}`;
    const health = await fetch(`${url}/healthz`);
    assert.equal(health.status, 200);
    const body = (await health.json()) as { status: string; process: string };
    assert.equal(body.status, 'ok');
    assert.equal(body.process, 'server');
    assert.equal((await readyz(url)).status, 200);

    const notFound = await fetch(`${url}/api/v1/no/such/route`);
    assert.equal(notFound.status, 404);
    assert.equal(notFound.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    const problem = (await notFound.json()) as { code: string; status: number };
    assert.equal(problem.code, 'NOT_FOUND');
    assert.equal(problem.status, 404);

    assert.equal((await etcdctl(`127.0.0.1:${server.port('coord')}`, ['put', '/k', 'v'])).stdout.trim(), 'OK');
    assert.ok(existsSync(join(server.dataDir, 'flotilla.db')), 'the default SQL store is a SQLite file in the data dir');
    const exit = await server.stop();
    assert.equal(exit.code, 0, server.output());
    assert.match(server.output(), /coordination store stopped/);
  });

  it('runs on a real etcd with --etcd, and reports not ready while etcd is down', async (t) => {
    const etcd = await startEtcd({ t });
    const server = await startFlotilla(({ port, dataDir }) => ['server', '--http', `127.0.0.1:${port('http')}`, '--listen', `127.0.0.1:${port('grpc')}`, '--etcd', etcd.endpoint, '--data-dir', dataDir], {
      t,
      ports: ['http', 'grpc'],
      ready: async (h) => h.output().includes('ready'),
    });
    assert.match(server.output(), new RegExp(`coordination \\(etcd\\)\\s+${etcd.endpoint}`));
    const url = `http://127.0.0.1:${server.port('http')}`;
    assert.equal((await readyz(url)).status, 200);

    await etcd.stop();
    const down = await readyz(url);
    assert.equal(down.status, 503);
    assert.equal(down.body.status, 'not ready');
    assert.equal(down.body.checks.coordination?.ok, false);

    await etcd.restart();
    let back = await readyz(url);
    for (let i = 0; i < 100 && back.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      back = await readyz(url);
    }
    assert.equal(back.status, 200, 'ready again once etcd is back');
  });

  it('exits with a clear message when etcd cannot be reached', async (t) => {
    const closed = await freePort();
    const server = await startFlotilla(({ port, dataDir }) => ['server', '--http', `127.0.0.1:${port('http')}`, '--listen', `127.0.0.1:${port('grpc')}`, '--etcd', `127.0.0.1:${closed}`, '--data-dir', dataDir], {
      t,
      ports: ['http', 'grpc'],
      ready: async () => true,
    });
    const exit = await server.exited;
    assert.equal(exit.code, 1);
    assert.match(server.output(), new RegExp(`flotilla: \\[unavailable\\] coord: no answer from 127.0.0.1:${closed}`));
    assert.doesNotMatch(server.output(), /\n\s+at /, 'no stack trace');
  });

  it('refuses a database URL it cannot use, with one line and exit code 2', async (t) => {
    const server = await startFlotilla(
      ({ port, dataDir }) => ['server', '--http', `127.0.0.1:${port('http')}`, '--listen', `127.0.0.1:${port('grpc')}`, '--coord-listen', `127.0.0.1:${port('coord')}`, '--db', 'mysql://db.example/flotilla', '--data-dir', dataDir],
      { t, ports: ['http', 'grpc', 'coord'], ready: async () => true },
    );
    const exit = await server.exited;
    assert.equal(exit.code, 2);
    assert.match(server.output(), /flotilla: \[config_invalid\] invalid database URL "mysql:\/\/db.example\/flotilla": expected sqlite:PATH or postgres:\/\//);
  });
});
