import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '../../../src/core/log.js';
import { AgentTasks, type AgentTaskEvent } from '../../../src/monitor/agent/remote-tasks.js';
import { AgentSession } from '../../../src/monitor/server/agent-session.js';
import { TaskChannel, type RemoteTaskOutcome } from '../../../src/monitor/server/task-channel.js';

async function drain(tasks: AgentTasks, until: (e: AgentTaskEvent[]) => boolean): Promise<AgentTaskEvent[]> {
  const out: AgentTaskEvent[] = [];
  for (let i = 0; i < 500 && !until(out); i++) {
    for (let e = tasks.next(); e !== undefined; e = tasks.next()) out.push(e);
    if (!until(out)) await new Promise((r) => setTimeout(r, 10));
  }
  return out;
}

describe('remote task events across reconnects', () => {
  it('the agent resends every unacked line and the result in a new session, and forgets them once acked', async () => {
    const tasks = new AgentTasks({ hostname: 'node-b', logger: silentLogger() });
    tasks.run({ attemptId: 'r/t/1', plan: { argv: ['bash', '-c', 'echo one; echo "$FLOTILLA_AGENT_HOSTNAME" >&2'], files: {}, env: {} } });
    const first = await drain(tasks, (es) => es.some((e) => e.kind === 'result'));
    assert.deepEqual(first.map((e) => (e.kind === 'log' ? `${e.seq}:${e.stream}:${e.line}` : `result:${e.lastSeq}:${e.result.exitCode}`)).sort(), ['1:stdout:one', '2:stderr:node-b', 'result:2:0'].sort());
    tasks.sessionStarted();
    assert.equal((await drain(tasks, (es) => es.length === 3)).length, 3, 'all three again after a reconnect');
    tasks.ack('r/t/1', 2, false);
    tasks.sessionStarted();
    assert.deepEqual((await drain(tasks, (es) => es.length === 1)).map((e) => e.kind), ['result']);
    tasks.ack('r/t/1', 2, true);
    tasks.sessionStarted();
    assert.equal(tasks.next(), undefined);
  });

  it('the server drops repeated lines after a reconnect of the same process, and loses the attempt when a new process connects', async () => {
    const sessions = new Map<string, AgentSession>();
    const channel = new TaskChannel({ logger: silentLogger(), session: (h) => sessions.get(h), lostAfterMs: 60_000 });
    const open = (inc: string): AgentSession => {
      const s = new AgentSession({ hostname: 'node-b', incarnation: inc });
      sessions.set('node-b', s);
      channel.sessionOpened(s);
      return s;
    };
    const s1 = open('inc-1');
    const lines: string[] = [];
    const ac = new AbortController();
    const done = channel.run({ attemptId: 'r/t/1', host: 'node-b', plan: { argv: ['true'], files: {}, env: {} }, signal: ac.signal, onLine: (_s, l) => lines.push(l) });
    const out = s1.outgoing();
    await out.next(); // nothing queued before the run: the first message is the run itself
    channel.taskLog(s1, { attemptId: 'r/t/1', seq: 1, stream: 'stdout', line: 'a', dropped: 0 });
    s1.close();
    channel.sessionClosed(s1);
    const s2 = open('inc-1');
    channel.taskLog(s2, { attemptId: 'r/t/1', seq: 1, stream: 'stdout', line: 'a', dropped: 0 });
    channel.taskLog(s2, { attemptId: 'r/t/1', seq: 2, stream: 'stdout', line: 'b', dropped: 3 });
    channel.taskResult(s2, { attemptId: 'r/t/1', result: { exitCode: 0, signal: null, timedOut: false, cancelled: false, lastStdoutLine: 'b' } });
    const outcome: RemoteTaskOutcome = await done;
    assert.equal(outcome.kind, 'exit');
    assert.deepEqual(lines, ['a', '[flotilla: the agent dropped 3 lines of this task while the server was away]', 'b']);

    const lost = channel.run({ attemptId: 'r/t/2', host: 'node-b', plan: { argv: ['true'], files: {}, env: {} }, signal: ac.signal, onLine: () => undefined });
    await new Promise((r) => setTimeout(r, 10));
    open('inc-2');
    const o2 = await lost;
    assert.equal(o2.kind, 'lost');
    assert.match(o2.kind === 'lost' ? o2.reason : '', /agent node-b restarted while the attempt ran/);
    channel.close();
  });
});
