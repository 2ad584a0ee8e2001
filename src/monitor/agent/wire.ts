/** Conversion between the agent's domain shapes and the MonitorService wire messages (src/gen). */
import { create } from '@bufbuild/protobuf';
import type { AgentMessage, Command } from '../../gen/flotilla/v1/monitor_pb.js';
import { AgentMessageSchema } from '../../gen/flotilla/v1/monitor_pb.js';
import type { BufferedBatch } from './buffered-batch.js';
import type { CommandResult, IncomingCommand } from './commands.js';
import type { SeriesEncoder } from './series-encoder.js';

/** The highest stream protocol this agent speaks (monitor.proto: 1 a Metric per sample, 2 series references). */
export const AGENT_PROTOCOL = 2;

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
  return create(AgentMessageSchema, { kind: { case: 'hello', value: { ...h, ackedSeq: BigInt(h.ackedSeq), protocol: AGENT_PROTOCOL } } });
}

/**
 * A batch on the wire: with the stream's series encoder (the server speaks protocol 2) as definitions and
 * scrapes of (ref, value) pairs, else one Metric per sample (a server older than protocol 2).
 */
export function batchMessage(b: BufferedBatch, hostname: string, droppedTotal: number, backlog: boolean, encoder?: SeriesEncoder): AgentMessage {
  const perSample = (samples: BufferedBatch['samples']) =>
    samples.map((s) => ({ timeMs: BigInt(Math.round(s.timeMs)), hostname, metric: s.metric, value: s.value, labels: s.labels }));
  const e = encoder?.encode(b.samples);
  const body =
    e !== undefined
      ? { series: e.series, scrapes: e.scrapes.map((sc) => ({ timeMs: BigInt(sc.timeMs), refs: sc.refs, values: sc.values })), metrics: perSample(e.overflow) }
      : { metrics: perSample(b.samples) };
  return create(AgentMessageSchema, { kind: { case: 'batch', value: { seq: BigInt(b.seq), droppedTotal: BigInt(droppedTotal), backlog, ...body } } });
}

export function ackMessage(r: CommandResult): AgentMessage {
  return create(AgentMessageSchema, { kind: { case: 'ack', value: r } });
}

export function fromWireCommand(c: Command): IncomingCommand {
  return { id: c.id, action: c.action, payloadJson: c.payloadJson, deadlineMs: Number(c.deadlineMs) };
}
