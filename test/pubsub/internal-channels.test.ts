/**
 * Internal channels ($flotilla.*): only the server publishes on them, subscribing needs a channel token,
 * and a real `flotilla server` publishes membership changes there (a node joining, then DISCONNECTED
 * after kill -9) — what the dashboard reads over /ws.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { INTERNAL_CHANNELS } from '../../src/pubsub/index.js';
import { startNode, startServer } from '../testkit/cluster.js';
import { httpJson, RawSubscriber, startPubsub, waitUntil } from './helpers.js';

describe('internal channels', { concurrency: true }, () => {
  it('users cannot publish on $flotilla.*; subscribing needs a token; the server publishes there', async (t) => {
    const { service, http } = await startPubsub(t, 'internal');

    for (const channel of [INTERNAL_CHANNELS.members, '$flotilla.anything']) {
      const res = await httpJson(http.url, 'POST', '/api/v1/publish', { channel, data: { forged: true } });
      assert.equal(res.status, 403, JSON.stringify(res.body));
      assert.match(String(res.body.detail), /reserved for the server/);
    }
    await assert.rejects(service.broker.publish({ channel: INTERNAL_CHANNELS.flows, data: 1 }), /permission_denied/i);
    assert.throws(() => service.broker.publishInternal('news', {}), /not an internal channel/);
    assert.equal((await httpJson(http.url, 'POST', '/api/v1/publish', { channel: '$other', data: 1 })).status, 400);

    const ws = `${http.url.replace('http', 'ws')}/ws`;
    const sub = await RawSubscriber.open(ws);
    t.after(() => sub.close());
    const denied = await sub.request({ subscribe: { channel: INTERNAL_CHANNELS.members } });
    assert.equal(denied.error?.code, 'UNAUTHENTICATED');
    const wrong = await httpJson(http.url, 'POST', '/api/v1/channel-tokens', { channel: INTERNAL_CHANNELS.agents });
    assert.equal((await sub.request({ subscribe: { channel: INTERNAL_CHANNELS.members, token: wrong.body.token } })).error?.code, 'PERMISSION_DENIED');
    const token = await httpJson(http.url, 'POST', '/api/v1/channel-tokens', { channel: INTERNAL_CHANNELS.members });
    assert.equal(token.status, 200);
    const ok = await sub.request({ subscribe: { channel: INTERNAL_CHANNELS.members, token: token.body.token } });
    assert.ok(ok.result, JSON.stringify(ok));
    service.broker.publishInternal(INTERNAL_CHANNELS.members, { type: 'status', event: { name: 'n1', status: 'ACTIVE' } });
    service.broker.publishInternal(INTERNAL_CHANNELS.members, { type: 'status', event: { name: 'n1', status: 'DISCONNECTED' } });
    await waitUntil(() => sub.pubs(INTERNAL_CHANNELS.members).length === 2, 10_000, 'two internal publications');
    const pubs = sub.pubs(INTERNAL_CHANNELS.members);
    assert.deepEqual(pubs.map((p) => (p.data as { event: { status: string } }).event.status), ['ACTIVE', 'DISCONNECTED']);
    assert.deepEqual(pubs.map((p) => p.offset), [1, 2]);
  });

  it('a real server publishes a node joining and its kill -9 (DISCONNECTED) on $flotilla.members', async (t) => {
    const server = await startServer(t);
    const base = `http://127.0.0.1:${server.port('http')}`;
    const token = await httpJson(base, 'POST', '/api/v1/channel-tokens', { channel: INTERNAL_CHANNELS.members });
    const sub = await RawSubscriber.open(`ws://127.0.0.1:${server.port('http')}/ws`);
    t.after(() => sub.close());
    assert.ok((await sub.request({ subscribe: { channel: INTERNAL_CHANNELS.members, token: token.body.token } })).result);
    const node = await startNode(t, 'node-x', ['--join', server.grpc]);
    type Msg = { type: string; event?: { name: string; status: string }; members?: { name: string; status: string }[] };
    const msgs = (): Msg[] => sub.pubs(INTERNAL_CHANNELS.members).map((p) => p.data as Msg);
    await waitUntil(() => msgs().some((m) => m.type === 'members' && m.members?.some((x) => x.name === 'node-x' && x.status === 'ACTIVE') === true), 60_000, 'node-x ACTIVE in a members message');
    await node.kill();
    await waitUntil(() => msgs().some((m) => m.type === 'status' && m.event?.name === 'node-x' && m.event.status === 'DISCONNECTED'), 60_000, 'node-x DISCONNECTED status message');
    const snapshot = await httpJson(base, 'GET', '/api/v1/members?events=true');
    assert.ok(Array.isArray(snapshot.body.events) && (snapshot.body.events as { name: string }[]).some((e) => e.name === 'node-x'));
  });
});
