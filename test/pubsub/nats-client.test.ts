import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '../../src/core/log.js';
import { NatsClient, parseNatsUrl } from '../../src/pubsub/index.js';
import { startProcess, tcpReady } from '../testkit/index.js';
import { waitUntil } from './helpers.js';

describe('NATS client (text protocol on node:net) against a real nats-server', () => {
  it('publishes, receives, flushes, and restores its subscription after the server restarts', async (t) => {
    const nats = await startProcess({
      name: 'nats-server',
      command: 'nats-server',
      args: ({ port }) => ['-a', '127.0.0.1', '-p', String(port('client'))],
      ports: ['client'],
      t,
      ready: async (h) => tcpReady(h.port('client')),
    });
    const url = `nats://127.0.0.1:${nats.port('client')}`;
    const a = new NatsClient({ url, logger: silentLogger() });
    const b = new NatsClient({ url, logger: silentLogger() });
    t.after(() => Promise.all([a.close(), b.close()]));
    const got: string[] = [];
    b.subscribe('test.subject', (_s, payload) => got.push(payload.toString()));
    await Promise.all([a.connect(), b.connect()]);
    await b.flush(); // the SUB is registered
    const big = 'x'.repeat(100_000);
    for (let i = 0; i < 100; i++) a.publish('test.subject', `m${i}`);
    a.publish('test.subject', big); // split across TCP reads
    await a.flush();
    await waitUntil(() => got.length === 101, 5000, '101 messages');
    assert.deepEqual(got.slice(0, 100), Array.from({ length: 100 }, (_, i) => `m${i}`));
    assert.equal(got[100], big);

    await nats.restart();
    await waitUntil(() => a.isConnected && b.isConnected, 15_000, 'both clients to reconnect');
    await b.flush();
    a.publish('test.subject', 'after restart');
    await a.flush();
    await waitUntil(() => got.at(-1) === 'after restart', 5000, 'a message after the restart');
  });

  it('fails clearly when nothing listens, and rejects bad URLs', async () => {
    await assert.rejects(new NatsClient({ url: 'nats://127.0.0.1:1', logger: silentLogger() }).connect(), /cannot connect to NATS/);
    assert.throws(() => parseNatsUrl('http://x:1'), /nats:\/\//);
    assert.deepEqual(parseNatsUrl('nats://u:p%40ss@h:4333'), { host: 'h', port: 4333, user: 'u', pass: 'p@ss' });
    assert.throws(() => new NatsClient({ url: 'nats://127.0.0.1:4222', logger: silentLogger() }).publish('x', 'y'), /not connected/);
  });
});
