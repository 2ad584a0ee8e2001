/** Conversion between the server's task channel and the MonitorService wire messages (RunTask, TaskLog, ...). */
import { create } from '@bufbuild/protobuf';
import { ServerMessageSchema, type ServerMessage, type TaskLog, type TaskResult } from '../../gen/flotilla/v1/monitor_pb.js';
import type { TaskLogIn, TaskOutgoing, TaskResultIn } from './task-channel.js';

export function toTaskMessage(t: TaskOutgoing): ServerMessage {
  switch (t.kind) {
    case 'run':
      return create(ServerMessageSchema, {
        kind: {
          case: 'runTask',
          value: {
            attemptId: t.attemptId,
            argv: t.plan.argv,
            env: t.plan.env,
            files: Object.entries(t.plan.files).map(([name, content]) => ({ name, content: Buffer.from(content, 'utf8') })),
            timeoutMs: BigInt(t.plan.timeoutMs ?? 0),
          },
        },
      });
    case 'cancel':
      return create(ServerMessageSchema, { kind: { case: 'cancelTask', value: { attemptId: t.attemptId, reason: t.reason } } });
    case 'ack':
      return create(ServerMessageSchema, { kind: { case: 'taskAck', value: { attemptId: t.attemptId, seq: BigInt(t.seq), resultTaken: t.resultTaken } } });
  }
}

export function fromTaskLog(l: TaskLog): TaskLogIn {
  return { attemptId: l.attemptId, seq: Number(l.seq), stream: l.stream, line: l.line, dropped: Number(l.dropped) };
}

export function fromTaskResult(r: TaskResult): TaskResultIn {
  return {
    attemptId: r.attemptId,
    result: {
      exitCode: r.exited ? r.exitCode : null,
      signal: r.signal === '' ? null : r.signal,
      timedOut: r.timedOut,
      cancelled: r.cancelled,
      lastStdoutLine: r.lastStdoutLine,
      ...(r.error !== '' ? { spawnError: r.error } : {}),
    },
  };
}
