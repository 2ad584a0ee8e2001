import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FlotillaError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { openSqlStore, type SqlStore } from '../../src/core/sql/index.js';
import { Broker } from '../../src/pubsub/index.js';
import { Subscription } from '../../src/pubsub/hub.js';
import type { ChannelEntry } from '../../src/pubsub/message.js';
import { tempDir } from '../testkit/index.js';
import { FakeClock } from './fake-clock.js';

const secret = 'k'.repeat(40);

interface Got {
  entry: ChannelEntry;
  json: Record<string, unknown>;
  atMs: number;
}

function collector(clock: FakeClock, channel: string, acks = true): { sub: Subscription; got: Got[] } {
  const got: Got[] = [];
  const sub = new Subscription(
    channel,
    {
      sendPublication: (json, entry) => {
        got.push({ entry, json: JSON.parse(json) as Record<string, unknown>, atMs: clock.now() });
        return true;
      },
      fail: (err) => assert.fail(err.message),
    },
    acks,
  );
  return { sub, got };
}

async function settle(broker: Broker): Promise<void> {
  for (let i = 0; i < 4; i++) {
    await broker.idle();
    await new Promise((r) => setImmediate(r));
  }
}

async function newBroker(sql: SqlStore, clock: FakeClock, extra: Partial<ConstructorParameters<typeof Broker>[0]> = {}): Promise<Broker> {
  const b = new Broker({ sql, logger: silentLogger(), tokenSecret: secret, clock, windowMs: 2000, ...extra });
  await b.start();
  return b;
}

describe('broker (SQLite store, injected clock)', () => {
  it('delivers every message once, in time order, never early, across refills of a bounded window', async (t) => {
    const dir = await tempDir(t);
    const sql = await openSqlStore(`sqlite:${join(dir, 'db.sqlite')}`);
    t.after(() => sql.close());
    const clock = new FakeClock();
    const broker = await newBroker(sql, clock, { maxQueued: 50 });
    t.after(() => broker.stop());
    const { sub, got } = collector(clock, 'news');
    await broker.hub.subscribe(sub);
    let acked = 0;
    const start = clock.now();
    const want = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const { message } = await broker.publish({ channel: 'news', data: { i }, deliverAt: start + 10 + Math.floor(Math.random() * 10_000) });
      want.set(message.id, message.deliverAtMs);
    }
    for (let step = 0; step < 250 && got.length < 300; step++) {
      clock.advance(50);
      await settle(broker);
      // The subscriber acknowledges what it got after each step (else it would see redeliveries).
      acked = got.at(-1)?.entry.offset ?? acked;
      broker.hub.ack(sub, acked);
    }
    assert.equal(got.length, 300);
    assert.equal(new Set(got.map((g) => g.entry.id)).size, 300, 'each message once');
    for (const g of got) {
      assert.ok(g.atMs >= want.get(g.entry.id)!, 'not early');
      assert.equal(g.json.duplicate, undefined);
    }
    for (let i = 1; i < got.length; i++) assert.equal(got[i]!.entry.offset, got[i - 1]!.entry.offset + 1, 'offsets are consecutive');
    assert.deepEqual(await broker.store.counts(), { delivered: 300 });
  });

  it('cancel, idempotency keys, ttl expiry, and a deliverAt in the past', async (t) => {
    const dir = await tempDir(t);
    const sql = await openSqlStore(`sqlite:${join(dir, 'db.sqlite')}`);
    t.after(() => sql.close());
    const clock = new FakeClock();
    const broker = await newBroker(sql, clock);
    t.after(() => broker.stop());
    const { sub, got } = collector(clock, 'c');
    await broker.hub.subscribe(sub);
    const a = await broker.publish({ channel: 'c', data: 'a', delay: 1000 });
    const again = await broker.publish({ channel: 'c', data: 'a', delay: 1000, idempotencyKey: 'k1' });
    const dup = await broker.publish({ channel: 'c', data: 'other', delay: 1000, idempotencyKey: 'k1' });
    assert.equal(dup.duplicate, true);
    assert.equal(dup.message.id, again.message.id);
    await broker.cancel(a.message.id);
    assert.equal((await broker.cancel(a.message.id)).state, 'cancelled', 'cancelling twice is harmless');
    await assert.rejects(broker.cancel('00000000-0000-0000-0000-000000000000'), (e: unknown) => e instanceof FlotillaError && e.code === 'NOT_FOUND');
    await broker.publish({ channel: 'c', data: 'past', deliverAt: '2001-01-01T00:00:00Z' });
    clock.advance(0);
    await settle(broker);
    assert.deepEqual(got.map((g) => g.json.data), ['past']);
    broker.hub.ack(sub, got[0]!.entry.offset);
    clock.advance(1000);
    await settle(broker);
    assert.deepEqual(got.map((g) => g.json.data), ['past', 'a']);
    const delivered = (await broker.store.list({ channel: 'c', state: 'delivered', limit: 10 })).map((m) => m.id);
    assert.deepEqual(delivered.sort(), [again.message.id, got[0]!.entry.id].sort());
    await assert.rejects(broker.cancel(again.message.id), (e: unknown) => e instanceof FlotillaError && e.code === 'FAILED_PRECONDITION');
    assert.equal((await broker.store.getMessage(a.message.id))?.state, 'cancelled');
    assert.equal((await broker.store.list({ channel: 'c', state: 'scheduled', limit: 10 })).length, 0);
  });

  it('a message accepted before a stop is delivered by the next broker on the same store; expired ones are dropped', async (t) => {
    const dir = await tempDir(t);
    const path = join(dir, 'db.sqlite');
    let sql = await openSqlStore(`sqlite:${path}`);
    const clock = new FakeClock();
    let broker = await newBroker(sql, clock);
    for (let i = 0; i < 20; i++) await broker.publish({ channel: 'r', data: i, delay: 5000 + i * 100 });
    await broker.publish({ channel: 'r', data: 'too late', delay: 1000, ttl: '1s' });
    await broker.stop();
    await sql.close();
    clock.advance(6000); // "down" while messages came due
    sql = await openSqlStore(`sqlite:${path}`);
    t.after(() => sql.close());
    broker = await newBroker(sql, clock);
    t.after(() => broker.stop());
    const { sub, got } = collector(clock, 'r', false);
    await broker.hub.subscribe(sub);
    for (let i = 0; i < 40 && got.length < 20; i++) {
      clock.advance(100);
      await settle(broker);
    }
    assert.deepEqual(
      got.map((g) => g.json.data),
      Array.from({ length: 20 }, (_, i) => i),
    );
    assert.deepEqual(await broker.store.counts(), { delivered: 20, expired: 1 });
  });

  it('recovers missed publications by offset, and says recovered: false when the history no longer holds them', async (t) => {
    const dir = await tempDir(t);
    const sql = await openSqlStore(`sqlite:${join(dir, 'db.sqlite')}`);
    t.after(() => sql.close());
    const clock = new FakeClock();
    const broker = await newBroker(sql, clock, { historySize: 10 });
    t.after(() => broker.stop());
    const first = collector(clock, 'h', false);
    const r0 = await broker.hub.subscribe(first.sub);
    for (let i = 0; i < 5; i++) await broker.publish({ channel: 'h', data: i });
    clock.advance(0);
    await settle(broker);
    assert.equal(first.got.length, 5);
    broker.hub.unsubscribe(first.sub);
    const last = first.got[4]!.entry.offset;
    for (let i = 5; i < 9; i++) await broker.publish({ channel: 'h', data: i });
    clock.advance(0);
    await settle(broker);
    const back = collector(clock, 'h', false);
    const r1 = await broker.hub.subscribe(back.sub, { offset: last, epoch: r0.epoch });
    assert.equal(r1.recovered, true);
    assert.deepEqual(back.got.map((g) => g.json.data), [5, 6, 7, 8]);
    // A gap larger than the history (10 entries): told so.
    for (let i = 9; i < 30; i++) await broker.publish({ channel: 'h', data: i });
    clock.advance(0);
    await settle(broker);
    const late = collector(clock, 'h');
    const r2 = await broker.hub.subscribe(late.sub, { offset: last, epoch: r0.epoch });
    assert.equal(r2.recovered, false);
    assert.equal(late.got.length, 0);
    const wrongEpoch = collector(clock, 'h');
    assert.equal((await broker.hub.subscribe(wrongEpoch.sub, { offset: 1, epoch: 'other' })).recovered, false);
  });

  it('redelivers unacknowledged publications marked duplicate, and stops once acknowledged', async (t) => {
    const dir = await tempDir(t);
    const sql = await openSqlStore(`sqlite:${join(dir, 'db.sqlite')}`);
    t.after(() => sql.close());
    const clock = new FakeClock();
    const broker = await newBroker(sql, clock, { ackTimeoutMs: 1000 });
    t.after(() => broker.stop());
    const { sub, got } = collector(clock, 'a');
    await broker.hub.subscribe(sub);
    await broker.publish({ channel: 'a', data: 1 });
    await broker.publish({ channel: 'a', data: 2 });
    clock.advance(0);
    await settle(broker);
    assert.equal(got.length, 2);
    broker.hub.ack(sub, got[0]!.entry.offset);
    clock.advance(1000);
    assert.equal(got.length, 3);
    assert.equal(got[2]!.json.data, 2);
    assert.equal(got[2]!.json.duplicate, true);
    broker.hub.ack(sub, got[1]!.entry.offset);
    clock.advance(5000);
    assert.equal(got.length, 3);
  });
});
