import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import { registerFlowRoutes } from '../../../src/flows/index.js';
import { startHarness } from '../flow-harness.js';

describe('flows HTTP: live events and metrics', () => {
  it('the SSE feed carries every state change of a run (filtered by flow) and /metrics shows lateness per task', async (t) => {
    const h = await startHarness();
    t.after(() => h.close());
    const app = Fastify();
    registerFlowRoutes(app, h.service);
    await app.listen({ port: 0, host: '127.0.0.1' });
    t.after(() => app.close());
    const address = app.server.address();
    const base = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
    await h.submit(`collection: { key: live }
tasks:
  a: { command: "echo a" }
  b: { command: "echo b" }
workflow:
  - a -> b
`);
    // A run of another flow must not show in a feed filtered by run.
    await h.submit(`collection: { key: other }
tasks:
  x: { command: "true" }
workflow: []
`);
    const ac = new AbortController();
    t.after(() => ac.abort());
    const res = await fetch(`${base}/api/v1/flows/events?flow=live`, { signal: ac.signal });
    assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    const first = await reader.read();
    assert.match(first.value ?? '', /^: flows events/);
    await h.waitRun((await h.service.createRun('other'))!.id);
    const run = await h.service.createRun('live');
    await h.waitRun(run!.id);
    let text = '';
    for (let i = 0; i < 200 && !text.includes('"state":"success","reason":"every task'); i++) {
      const r = await reader.read();
      if (r.done) break;
      text += r.value;
    }
    const events = text.split('\n\n').filter((b) => b.includes('data: ')).map((b) => ({ kind: /event: (\w+)/.exec(b)![1], data: JSON.parse(/data: (.*)/.exec(b)![1]!) as { task?: string; state: string; flow: string } }));
    assert.ok(events.every((e) => e.data.flow === 'live'));
    assert.deepEqual(events.filter((e) => e.kind === 'task' && e.data.task === 'b').map((e) => e.data.state), ['scheduled', 'queued', 'running', 'success']);
    assert.deepEqual(events.filter((e) => e.kind === 'run').map((e) => e.data.state), ['running', 'success']);
    const metrics = await (await fetch(`${base}/api/v1/flows/metrics`)).text();
    assert.match(metrics, /# TYPE flotilla_flow_task_lateness_seconds gauge/);
    assert.match(metrics, /flotilla_flow_task_lateness_seconds\{flow="live",task="b"\} \d/);
    assert.match(metrics, /flotilla_flow_task_lateness_seconds_count\{flow="live",task="a"\} 1\n/);
    assert.match(metrics, /flotilla_flow_task_instances_finished_total\{flow="live",state="success"\} 2\n/);
  });
});
