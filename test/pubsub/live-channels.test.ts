/**
 * Internal channels are live state: nothing is published on one nobody reads, nothing is stored, a
 * subscriber that reconnects while others keep the channel recovers from memory, and one that comes back
 * after everybody left is told it did not recover (it loads a fresh view).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { INTERNAL_CHANNELS } from '../../src/pubsub/index.js';
import { LiveChannels } from '../../src/pubsub/live-channels.js';
import { httpJson, RawSubscriber, startPubsub, waitUntil } from './helpers.js';

const pub = (channel: string, data: string) => ({ id: `id-${data}`, channel, data, encoding: 'json' as const, deliverAtMs: 0 });

describe('live channels', { concurrency: true }, () => {
  it('offsets per channel, history bounded by count and bytes, a reset starts a new epoch', () => {
    const live = new LiveChannels({ historySize: 3, historyBytes: 10 });
    const first = live.position('$flotilla.a');
    assert.equal(first.offset, 0);
    const { entries, epochs } = live.append([pub('$flotilla.a', '1'), pub('$flotilla.b', '"x"'), pub('$flotilla.a', '2')], 5);
    assert.deepEqual(entries.map((e) => [e.channel, e.offset, e.publishedAtMs]), [['$flotilla.a', 1, 5], ['$flotilla.b', 1, 5], ['$flotilla.a', 2, 5]]);
    assert.equal(epochs.get('$flotilla.a'), first.epoch);
    live.append([pub('$flotilla.a', '3'), pub('$flotilla.a', '4')], 6);
    // Count bound: the last 3.
    assert.deepEqual(live.history('$flotilla.a', 0, 10), { entries: live.history('$flotilla.a', 1, 10).entries, oldestOffset: 2 });
    assert.deepEqual(live.history('$flotilla.a', 2, 10).entries.map((e) => e.offset), [3, 4]);
    assert.deepEqual(live.history('$flotilla.a', 2, 1).entries.map((e) => e.offset), [3]);
    // Byte bound (10 bytes): 1 + 1 + 8 fit exactly; one byte more drops the oldest; a publication
    // larger than the bound alone is still kept (the last one always is).
    const small = new LiveChannels({ historySize: 100, historyBytes: 10 });
    const offsets = (): number[] => small.history('$flotilla.s', 0, 100).entries.map((e) => e.offset);
    small.append([pub('$flotilla.s', '1'), pub('$flotilla.s', '2'), pub('$flotilla.s', '"123456"')], 7);
    assert.deepEqual(offsets(), [1, 2, 3]);
    small.append([pub('$flotilla.s', '4')], 8);
    assert.deepEqual(offsets(), [2, 3, 4]);
    small.append([pub('$flotilla.s', '"abcdefghij"')], 9);
    assert.deepEqual(offsets(), [5]);
    live.reset('$flotilla.a');
    const after = live.position('$flotilla.a');
    assert.equal(after.offset, 0);
    assert.notEqual(after.epoch, first.epoch);
    assert.deepEqual(live.history('$flotilla.a', 0, 10), { entries: [], oldestOffset: undefined });
  });

  it('a broker publishes internal messages only to live subscribers, stores none, and recovers a reconnect from memory', async (t) => {
    const { service, http, sql } = await startPubsub(t, 'live');
    const broker = service.broker;
    const channel = INTERNAL_CHANNELS.agents;
    const token = (await httpJson(http.url, 'POST', '/api/v1/channel-tokens', { channel })).body.token;
    const ws = `${http.url.replace('http', 'ws')}/ws`;
    const stored = async (): Promise<number> => (await sql.all<{ n: number }>('SELECT COUNT(*) AS n FROM pubsub_history', []))[0]!.n;
    const storedBefore = await stored();

    // Nobody reads: nothing is published.
    assert.equal(broker.hasSubscribers(channel), false);
    broker.publishInternal(channel, { n: 0 });
    await broker.idle();

    const a = await RawSubscriber.open(ws);
    t.after(() => a.close());
    const b = await RawSubscriber.open(ws);
    t.after(() => b.close());
    const subA = await a.request({ subscribe: { channel, token } });
    const { epoch, offset } = subA.result as { epoch: string; offset: number };
    assert.equal(offset, 0, 'the message published to nobody took no offset');
    assert.ok((await b.request({ subscribe: { channel, token } })).result);
    assert.equal(broker.hasSubscribers(channel), true);
    for (let n = 1; n <= 3; n++) broker.publishInternal(channel, { n });
    await waitUntil(() => a.pubs(channel).length === 3 && b.pubs(channel).length === 3, 10_000, 'three publications to both');
    assert.deepEqual(a.pubs(channel).map((p) => [p.offset, (p.data as { n: number }).n]), [[1, 1], [2, 2], [3, 3]]);
    assert.equal(await stored(), storedBefore, 'internal publications are not stored');

    // a leaves after offset 1; b keeps the channel; two more; a comes back asking from offset 1.
    assert.ok((await a.request({ unsubscribe: { channel } })).result !== undefined);
    broker.publishInternal(channel, { n: 4 });
    broker.publishInternal(channel, { n: 5 });
    await waitUntil(() => b.pubs(channel).length === 5, 10_000, 'five publications to b');
    const from = a.pubs(channel).length;
    const back = await a.request({ subscribe: { channel, token, since: { offset: 1, epoch } } });
    assert.equal((back.result as { recovered: boolean }).recovered, true);
    await waitUntil(() => a.pubs(channel).length === from + 4, 10_000, 'a recovered offsets 2..5');
    assert.deepEqual(a.pubs(channel).slice(from).map((p) => p.offset), [2, 3, 4, 5]);

    // Everybody leaves: nothing is published meanwhile, and coming back is no recovery (a new epoch).
    await a.request({ unsubscribe: { channel } });
    await b.request({ unsubscribe: { channel } });
    assert.equal(broker.hasSubscribers(channel), false);
    broker.publishInternal(channel, { n: 6 });
    const again = await a.request({ subscribe: { channel, token, since: { offset: 5, epoch } } });
    const r = again.result as { recovered: boolean; epoch: string; offset: number };
    assert.equal(r.recovered, false);
    assert.notEqual(r.epoch, epoch);
    assert.equal(r.offset, 0);
  });
});
