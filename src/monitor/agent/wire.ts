/** Conversion between the agent's domain shapes and the MonitorService wire messages (src/gen). */
import { create } from '@bufbuild/protobuf';
import type { AgentMessage, Command } from '../../gen/flotilla/v1/monitor_pb.js';
import { AgentMessageSchema } from '../../gen/flotilla/v1/monitor_pb.js';
import type { BufferedBatch } from './buffered-batch.js';
import type { CommandResult, IncomingCommand } from './commands.js';

export interface HelloFields {
  hostname: string;
  version: string;
  incarnation: string;
  configJson: string;
  availableMetrics: string[];
  ackedSeq: number;
  /** The agent's labels (runs_on: {labels: ...} of workflow tasks). Default: none. */
  labels?: Record<string, string>;
}

export function helloMessage(h: HelloFields): AgentMessage {
  return create(AgentMessageSchema, { kind: { case: 'hello', value: { ...h, ackedSeq: BigInt(h.ackedSeq) } } });
}

export function batchMessage(b: BufferedBatch, hostname: string, droppedTotal: number, backlog: boolean): AgentMessage {
  return create(AgentMessageSchema, {
    kind: {
      case: 'batch',
      value: {
        seq: BigInt(b.seq),
        droppedTotal: BigInt(droppedTotal),
        backlog,
        metrics: b.samples.map((s) => ({ timeMs: BigInt(Math.round(s.timeMs)), hostname, metric: s.metric, value: s.value, labels: s.labels })),
      },
    },
  });
}

export function ackMessage(r: CommandResult): AgentMessage {
  return create(AgentMessageSchema, { kind: { case: 'ack', value: r } });
}

export function fromWireCommand(c: Command): IncomingCommand {
  return { id: c.id, action: c.action, payloadJson: c.payloadJson, deadlineMs: Number(c.deadlineMs) };
}
