/** Conversion between the agent's task events and the MonitorService wire messages (RunTask, TaskLog, ...). */
import { create } from '@bufbuild/protobuf';
import { AgentMessageSchema, type AgentMessage, type RunTask, type ServerMessage } from '../../gen/flotilla/v1/monitor_pb.js';
import type { AgentRunTask, AgentTaskEvent, AgentTasks } from './remote-tasks.js';

export function fromWireRunTask(r: RunTask): AgentRunTask {
  const files: Record<string, string> = {};
  for (const f of r.files) files[f.name] = Buffer.from(f.content).toString('utf8');
  const timeoutMs = Number(r.timeoutMs);
  return { attemptId: r.attemptId, plan: { argv: [...r.argv], files, env: { ...r.env }, ...(timeoutMs > 0 ? { timeoutMs } : {}) } };
}

export function taskEventMessage(e: AgentTaskEvent): AgentMessage {
  if (e.kind === 'log') {
    return create(AgentMessageSchema, {
      kind: { case: 'taskLog', value: { attemptId: e.attemptId, seq: BigInt(e.seq), stream: e.stream, line: e.line, timeMs: BigInt(e.timeMs), dropped: BigInt(e.dropped) } },
    });
  }
  const r = e.result;
  return create(AgentMessageSchema, {
    kind: {
      case: 'taskResult',
      value: {
        attemptId: e.attemptId,
        lastSeq: BigInt(e.lastSeq),
        exited: r.exitCode !== null,
        exitCode: r.exitCode ?? 0,
        signal: r.signal ?? '',
        timedOut: r.timedOut,
        cancelled: r.cancelled,
        lastStdoutLine: r.lastStdoutLine,
        error: r.spawnError ?? '',
      },
    },
  });
}

/** Applies a task message from the server; false when `msg` is not one. */
export function applyTaskMessage(tasks: AgentTasks, msg: ServerMessage): boolean {
  switch (msg.kind.case) {
    case 'runTask':
      tasks.run(fromWireRunTask(msg.kind.value));
      return true;
    case 'cancelTask':
      tasks.cancel(msg.kind.value.attemptId, msg.kind.value.reason);
      return true;
    case 'taskAck':
      tasks.ack(msg.kind.value.attemptId, Number(msg.kind.value.seq), msg.kind.value.resultTaken);
      return true;
    default:
      return false;
  }
}
