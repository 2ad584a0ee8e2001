/**
 * Scheduled messaging in real `flotilla server` processes: kill -9 with messages still scheduled, and
 * two servers fanning out through a real nats-server. The CLI (`flotilla pub ...`) is used as a user would.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { FLOTILLA_BIN, startFlotilla, startProcess, tcpReady, type ProcessHandle } from '../testkit/index.js';
import { httpJson, RawSubscriber, waitUntil } from './helpers.js';

const run = promisify(execFile);
const secret = 'shared-test-secret-'.padEnd(40, 'z');

async function startServer(t: { after: (fn: () => unknown) => void; passed?: boolean }, extra: string[] = [], name = 'flotilla server'): Promise<ProcessHandle> {
  return startFlotilla(
    ({ port, dataDir }) => [
      'server',
      '--http',
      `127.0.0.1:${port('http')}`,
      '--listen',
      `127.0.0.1:${port('grpc')}`,
      '--coord-listen',
      `127.0.0.1:${port('coord')}`,
      '--data-dir',
      dataDir,
      '--pubsub-secret',
      secret,
      ...extra,
    ],
    { t, name, ports: ['http', 'grpc', 'coord'] },
  );
}

const base = (h: ProcessHandle): string => `http://127.0.0.1:${h.port('http')}`;
const ws = (h: ProcessHandle): string => `ws://127.0.0.1:${h.port('http')}/ws`;

describe('scheduled messages in real server processes', { concurrency: true }, () => {
  it('kill -9 with 500 messages still scheduled: after a restart all 500 are delivered', async (t) => {
    const server = await startServer(t);
    const before = await RawSubscriber.open(ws(server));
    const sub = await before.request({ subscribe: { channel: 'public:crash' } });
    const epoch = sub.result!.epoch as string;
    before.close();
    // The CLI schedules one; HTTP the rest.
    const cli = await run(process.execPath, [FLOTILLA_BIN, 'pub', 'send', 'public:crash', '{"n":-1}', '--in', '12s', '--http', `127.0.0.1:${server.port('http')}`, '--json']);
    const ids = new Set<string>([(JSON.parse(cli.stdout) as { id: string }).id]);
    const start = Date.now();
    await Promise.all(
      Array.from({ length: 7 }, async (_, w) => {
        for (let i = w; i < 499; i += 7) {
          const r = await httpJson(base(server), 'POST', '/api/v1/publish', { channel: 'public:crash', data: { n: i }, deliverAt: start + 12_000 + (i % 50) * 100 });
          assert.equal(r.status, 202);
          ids.add(r.body.id as string);
        }
      }),
    );
    assert.equal(ids.size, 500);
    const listed = await run(process.execPath, [FLOTILLA_BIN, 'pub', 'list', 'public:crash', '--limit', '1000', '--json', '--http', `127.0.0.1:${server.port('http')}`]);
    assert.ok((JSON.parse(listed.stdout) as unknown[]).length > 0, 'some are still scheduled at the kill');
    const killed = await server.kill();
    assert.equal(killed.signal, 'SIGKILL');
    await server.restart();
    // Recover from offset 0 of the channel: what came due during the restart is in the history.
    const after = await RawSubscriber.open(ws(server));
    t.after(() => after.close());
    const res = await after.request({ subscribe: { channel: 'public:crash', since: { offset: 0, epoch } } });
    assert.equal(res.result?.recovered, true, JSON.stringify(res));
    await waitUntil(() => new Set(after.pubs('public:crash').map((p) => p.id)).size >= 500, 60_000, 'all 500 after the restart');
    assert.deepEqual(new Set(after.pubs('public:crash').map((p) => p.id)), ids);
    const scheduled = await httpJson(base(server), 'GET', '/api/v1/messages?channel=public:crash&state=scheduled');
    assert.deepEqual(scheduled.body.messages, []);
  });

  it('two servers behind a real nats-server: a message published on either reaches subscribers on both, once each', async (t) => {
    const nats = await startProcess({
      name: 'nats-server',
      command: 'nats-server',
      args: ({ port }) => ['-a', '127.0.0.1', '-p', String(port('client'))],
      ports: ['client'],
      t,
      ready: async (h) => tcpReady(h.port('client')),
    });
    const natsUrl = `nats://127.0.0.1:${nats.port('client')}`;
    const [a, b] = await Promise.all([startServer(t, ['--nats', natsUrl], 'server-a'), startServer(t, ['--nats', natsUrl], 'server-b')]);
    const subs = await Promise.all([a, a, b, b].map((s) => RawSubscriber.open(ws(s))));
    t.after(() => subs.forEach((s) => s.close()));
    // A private channel: each subscriber gets a token from either server (they share the secret).
    const token = (await httpJson(base(b), 'POST', '/api/v1/channel-tokens', { channel: 'fan' })).body.token as string;
    for (const s of subs) assert.ok((await s.request({ subscribe: { channel: 'fan', token } })).result);
    const ids = new Set<string>();
    const now = Date.now();
    for (let i = 0; i < 30; i++) {
      const target = i % 3 === 0 ? b : a;
      const r = await httpJson(base(target), 'POST', '/api/v1/publish', { channel: 'fan', data: { i }, ...(i % 2 === 0 ? { deliverAt: now + 1500 + i * 20 } : {}) });
      assert.equal(r.status, 202);
      ids.add(r.body.id as string);
    }
    await waitUntil(() => subs.every((s) => new Set(s.pubs('fan').map((p) => p.id)).size >= 30), 20_000, 'all 30 on every subscriber');
    await new Promise((r) => setTimeout(r, 500)); // would-be extra copies have time to show up
    for (const s of subs) {
      const unmarked = s.pubs('fan').filter((p) => p.duplicate !== true);
      assert.equal(unmarked.length, 30, 'once each');
      assert.deepEqual(new Set(unmarked.map((p) => p.id)), ids);
    }
    assert.equal((await httpJson(base(a), 'GET', '/api/v1/messages?state=scheduled')).body.messages instanceof Array, true);
  });
});
