// The global view over HTTP: list, one host, problem+json for an unknown host, and the server-sent event feed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventually, monitorClient, startAgent, startCoord, startMonitor } from './fixtures.js';

interface SseEvent {
  event: string;
  data: unknown;
}

/** Reads server-sent events from `url` into `events` until aborted. */
async function readEvents(url: string, events: SseEvent[], signal: AbortSignal): Promise<string | null> {
  const res = await fetch(url, { signal });
  const type = res.headers.get('content-type');
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const ev = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (ev !== undefined && data !== undefined) events.push({ event: ev, data: JSON.parse(data) });
      }
    }
  } catch {
    // aborted
  }
  return type;
}

describe('monitor HTTP routes', () => {
  it('lists agents, shows one with its series, answers problem+json for an unknown host', async (t) => {
    const { coord } = await startCoord(t);
    const m = await startMonitor(t, coord);
    const client = monitorClient(t, m.address);
    const a = startAgent(t, client, 'node-a');
    a.batch(1n, [{ metric: 'node_load1', value: 0.5, timeMs: Date.parse('2025-01-01T00:00:00Z') }], { droppedTotal: 3n });
    await eventually('ack', () => a.ackedSeq() === 1n);
    const list = (await (await fetch(`${m.url}/api/v1/agents`)).json()) as { agents: Record<string, unknown>[] };
    assert.equal(list.agents.length, 1);
    assert.equal(list.agents[0]!.hostname, 'node-a');
    assert.equal(list.agents[0]!.connected, true);
    assert.equal(list.agents[0]!.samplesReceived, 1);
    assert.equal(list.agents[0]!.samplesDropped, 3);
    assert.equal(list.agents[0]!.lastMetrics, undefined);
    const withMetrics = (await (await fetch(`${m.url}/api/v1/agents?metrics=true`)).json()) as { agents: { lastMetrics: unknown[] }[] };
    assert.equal(withMetrics.agents[0]!.lastMetrics.length, 1);
    const one = (await (await fetch(`${m.url}/api/v1/agents/node-a`)).json()) as { lastMetrics: { metric: string; value: number; time: string }[] };
    assert.deepEqual(one.lastMetrics, [{ metric: 'node_load1', value: 0.5, time: '2025-01-01T00:00:00.000Z', timeMs: Date.parse('2025-01-01T00:00:00Z'), labels: {} }]);
    const res = await fetch(`${m.url}/api/v1/agents/node-zz`);
    assert.equal(res.status, 404);
    const body = (await res.json()) as { code: string; detail: string };
    assert.equal(body.code, 'NOT_FOUND');
    assert.equal(body.detail, 'unknown host "node-zz"');
  });

  it('the event feed sends a snapshot, then each change of a host', async (t) => {
    const { coord } = await startCoord(t);
    const m = await startMonitor(t, coord, { eventFlushMs: 50 });
    const client = monitorClient(t, m.address);
    const events: SseEvent[] = [];
    const abort = new AbortController();
    const reading = readEvents(`${m.url}/api/v1/agents/events`, events, abort.signal);
    t.after(async () => {
      abort.abort();
      await reading;
    });
    await eventually('snapshot', () => events.length >= 1);
    assert.deepEqual(events[0], { event: 'snapshot', data: { agents: [] } });
    const a = startAgent(t, client, 'node-a');
    a.batch(1n, [{ metric: 'm', value: 1 }]);
    await eventually('agent event with the sample', () =>
      events.some((e) => e.event === 'agent' && (e.data as { hostname: string; samplesReceived: number }).samplesReceived === 1),
    );
    a.kill();
    await eventually('disconnect seen', () => events.some((e) => e.event === 'agent' && (e.data as { connected: boolean; samplesReceived: number }).connected === false));
    abort.abort();
    assert.match((await reading) ?? '', /^text\/event-stream/);
  });

  it('stopping the server ends open event streams', async (t) => {
    const { coord } = await startCoord(t);
    const m = await startMonitor(t, coord);
    const events: SseEvent[] = [];
    const abort = new AbortController();
    t.after(() => abort.abort());
    const reading = readEvents(`${m.url}/api/v1/agents/events`, events, abort.signal);
    await eventually('snapshot', () => events.length >= 1);
    await m.app.close();
    await reading;
  });
});
