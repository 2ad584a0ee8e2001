/** Conversions between monitor.proto messages and the server's domain types (the edge; nothing deeper sees generated types). */
import { create } from '@bufbuild/protobuf';
import {
  AgentInfoSchema,
  MetricSchema,
  ServerMessageSchema,
  type AgentInfo,
  type Metric,
  type MetricBatch,
  type ServerMessage,
} from '../../gen/flotilla/v1/monitor_pb.js';
import type { Outgoing } from './agent-session.js';
import type { AgentSnapshot, BatchInput } from './global-view.js';
import type { Sample } from './sample-validate.js';
import type { ScrapeInput, SeriesDefInput } from './series-refs.js';
import { toTaskMessage } from './task-wire.js';

/** A MetricBatch in domain terms: both forms (a batch may carry either, or both). */
export interface WireBatch {
  seq: bigint;
  droppedTotal: bigint;
  /** Sent late (buffered while the agent was disconnected). */
  backlog: boolean;
  /** Protocol 1: one Metric per sample. */
  metrics: BatchInput['metrics'];
  /** Protocol 2: definitions, then scrapes of refs (the arrays are the decoded ones, not copies). */
  series: SeriesDefInput[];
  scrapes: ScrapeInput[];
}

export function fromBatch(batch: MetricBatch): WireBatch {
  return {
    seq: batch.seq,
    droppedTotal: batch.droppedTotal,
    backlog: batch.backlog,
    metrics: batch.metrics.map((m: Metric) => ({ timeMs: Number(m.timeMs), hostname: m.hostname, metric: m.metric, value: m.value, labels: m.labels })),
    series: batch.series.map((d) => ({ ref: d.ref, metric: d.metric, labels: d.labels })),
    scrapes: batch.scrapes.map((s) => ({ timeMs: Number(s.timeMs), refs: s.refs, values: s.values })),
  };
}

export function toServerMessage(out: Outgoing, serverVersion: string): ServerMessage {
  switch (out.kind) {
    case 'welcome':
      return create(ServerMessageSchema, {
        kind: { case: 'welcome', value: { serverVersion, configJson: out.configJson, protocol: out.protocol, maxSeriesRefs: out.maxSeriesRefs } },
      });
    case 'ack':
      return create(ServerMessageSchema, { kind: { case: 'batchAck', value: { seq: out.seq } } });
    case 'command':
      return create(ServerMessageSchema, {
        kind: {
          case: 'command',
          value: { id: out.command.id, action: out.command.action, payloadJson: out.command.payloadJson, deadlineMs: BigInt(out.command.deadlineMs) },
        },
      });
    case 'task':
      return toTaskMessage(out.task);
  }
}

function toMetric(hostname: string, s: Sample): Metric {
  return create(MetricSchema, { timeMs: BigInt(s.timeMs), hostname, metric: s.metric, value: s.value, labels: s.labels });
}

export function toAgentInfo(snap: AgentSnapshot): AgentInfo {
  return create(AgentInfoSchema, {
    hostname: snap.hostname,
    alive: snap.alive,
    connected: snap.connected,
    lastSeenMs: BigInt(snap.lastSeenMs),
    configJson: snap.configJson,
    samplesReceived: BigInt(snap.samplesReceived),
    samplesDropped: BigInt(snap.samplesDropped),
    lastMetrics: (snap.lastMetrics ?? []).map((s) => toMetric(snap.hostname, s)),
    version: snap.version,
    address: '',
  });
}

export { toConnectError } from '../../core/grpc-client.js';
