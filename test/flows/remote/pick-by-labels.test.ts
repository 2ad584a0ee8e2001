import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '../../../src/core/log.js';
import { parseLabelList } from '../../../src/monitor/index.js';
import { AgentSession } from '../../../src/monitor/server/agent-session.js';
import { TaskChannel } from '../../../src/monitor/server/task-channel.js';

describe('runs_on by labels: picking a connected agent', () => {
  it('picks only connected agents with every label, the least loaded first, ties in turn; connects are announced', async () => {
    const sessions = new Map<string, AgentSession>();
    const channel = new TaskChannel({ logger: silentLogger(), session: (h) => sessions.get(h), sessions: () => sessions.values(), lostAfterMs: 60_000 });
    let connects = 0;
    const unsubscribe = channel.onAgentConnected(() => connects++);
    const open = (hostname: string, labels: Record<string, string>): AgentSession => {
      const s = new AgentSession({ hostname, incarnation: `${hostname}-1`, labels });
      sessions.set(hostname, s);
      channel.sessionOpened(s);
      return s;
    };
    assert.equal(channel.pick({ gpu: 'true' }), undefined, 'nobody connected');
    open('cpu-1', { gpu: 'false' });
    const g1 = open('gpu-1', { gpu: 'true', zone: 'eu' });
    open('gpu-2', { gpu: 'true', zone: 'us' });
    assert.equal(connects, 3);
    assert.equal(channel.pick({ gpu: 'true', zone: 'us' }), 'gpu-2');
    assert.equal(channel.pick({ zone: 'ap' }), undefined);
    const picks = [channel.pick({ gpu: 'true' }), channel.pick({ gpu: 'true' }), channel.pick({ gpu: 'true' }), channel.pick({ gpu: 'true' })];
    assert.deepEqual(new Set(picks), new Set(['gpu-1', 'gpu-2']), 'ties are spread over both');
    assert.notEqual(picks[0], picks[1]);
    // An attempt in flight on gpu-1 makes gpu-2 the least loaded.
    const ac = new AbortController();
    const running = channel.run({ attemptId: 'r/t/1', host: 'gpu-1', plan: { argv: ['true'], files: {}, env: {} }, signal: ac.signal, onLine: () => undefined });
    for (let i = 0; i < 3; i++) assert.equal(channel.pick({ gpu: 'true' }), 'gpu-2');
    g1.close();
    sessions.delete('gpu-1');
    sessions.get('gpu-2')!.close();
    assert.equal(channel.pick({ gpu: 'true' }), undefined, 'closed streams are not picked');
    unsubscribe();
    open('gpu-3', { gpu: 'true' });
    assert.equal(connects, 3, 'no call after unsubscribe');
    channel.close();
    assert.equal((await running).kind, 'lost');
  });

  it('agent labels: k=v lists parse, bad ones are refused with the reason', () => {
    assert.deepEqual(parseLabelList('gpu=true, zone=eu-1,rack/id=r7'), { labels: { gpu: 'true', zone: 'eu-1', 'rack/id': 'r7' } });
    assert.deepEqual(parseLabelList(''), { labels: {} });
    assert.match(parseLabelList('gpu').error ?? '', /"gpu" is not KEY=VALUE/);
    assert.match(parseLabelList('gpu=a,gpu=b').error ?? '', /label gpu given twice/);
    assert.match(parseLabelList('gpu=a b').error ?? '', /label gpu: value "a b"/);
  });
});
