/**
 * The dashboard's agent feed ($flotilla.agents) costs nothing while nobody reads it: batches taken into the
 * global view build no snapshot and publish nothing; once a reader subscribes (through the real broker, over
 * /ws), each changed host arrives as one message with its latest samples, and none is stored.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { GlobalView } from '../../src/monitor/index.js';
import { INTERNAL_CHANNELS } from '../../src/pubsub/index.js';
import { registerDashboardRoutes } from '../../src/server/dashboard-routes.js';
import { httpJson, RawSubscriber, startPubsub, waitUntil } from '../pubsub/helpers.js';

describe('dashboard agent feed', () => {
  it('builds and publishes nothing without a reader; a reader gets each changed host with its samples', async (t) => {
    const view = new GlobalView();
    // Counts the snapshots the feed builds (the costly part: every series of a host, as JSON).
    let snapshots = 0;
    const snapshot = view.snapshot.bind(view);
    view.snapshot = (host, options) => {
      snapshots += 1;
      return snapshot(host, options);
    };
    const flushMs = 20;
    let routes: ReturnType<typeof registerDashboardRoutes> | undefined;
    const { service: pubsub, http, sql } = await startPubsub(t, 'feed', (app, service) => {
      routes = registerDashboardRoutes(app, {
        view: () => undefined,
        grpcAddress: () => '127.0.0.1:1',
        publishInternal: (c, d) => service.broker.publishInternal(c, d),
        hasSubscribers: (c) => service.broker.hasSubscribers(c),
        agents: view,
        agentFlushMs: flushMs,
      });
    });
    await routes!.start();
    t.after(() => routes!.stop());

    const now = Date.now();
    let seq = 0n;
    const batch = (host: string, value: number): void => {
      seq += 1n;
      const r = view.ingest(host, { seq, droppedTotal: 0n, metrics: [{ hostname: host, timeMs: now + Number(seq), metric: 'node_load1', value, labels: {} }] });
      assert.equal(r.accepted, 1);
    };
    for (const host of ['h1', 'h2']) view.agentConnected({ hostname: host, version: 'test', incarnation: 'i', ackedSeq: 0n });

    for (let i = 0; i < 20; i++) batch(i % 2 === 0 ? 'h1' : 'h2', i);
    // Several flush periods: the feed, were it on, would have built and published by now.
    await sleep(flushMs * 10);
    await pubsub.broker.idle();
    assert.equal(snapshots, 0, 'no snapshot built while nobody reads $flotilla.agents');

    const channel = INTERNAL_CHANNELS.agents;
    const token = (await httpJson(http.url, 'POST', '/api/v1/channel-tokens', { channel })).body.token;
    const sub = await RawSubscriber.open(`${http.url.replace('http', 'ws')}/ws`);
    t.after(() => sub.close());
    assert.ok((await sub.request({ subscribe: { channel, token } })).result);
    batch('h1', 41);
    batch('h1', 42);
    batch('h2', 7);
    type AgentMsg = { type: string; agent: { hostname: string; lastMetrics: { metric: string; value: number }[] } };
    const latest = (host: string): number | undefined =>
      sub
        .pubs(channel)
        .map((p) => p.data as AgentMsg)
        .filter((m) => m.type === 'agent' && m.agent.hostname === host)
        .at(-1)?.agent.lastMetrics.find((s) => s.metric === 'node_load1')?.value;
    await waitUntil(() => latest('h1') === 42 && latest('h2') === 7, 10_000, 'both hosts with their latest sample');
    assert.ok(snapshots >= 2, 'snapshots are built once somebody reads');
    const stored = (await sql.all<{ n: number }>("SELECT COUNT(*) AS n FROM pubsub_history WHERE channel LIKE '$flotilla.%'", []))[0]!.n;
    assert.equal(stored, 0, 'internal publications are not stored');
  });
});
