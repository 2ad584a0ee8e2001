/**
 * A client of a server's MonitorService for the command line and scripts: send one command to one agent
 * and get its ack, list the agents. Errors come back as FlotillaError with the server's message (the
 * `[code]` prefix removed) or a message naming the address when the server cannot be reached.
 */
import { createClient, type Client } from '@connectrpc/connect';
import { callError, createGrpcConnection } from '../../core/grpc-client.js';
import { Code, FlotillaError } from '../../core/errors.js';
import { MonitorService, type AgentInfo } from '../../gen/flotilla/v1/monitor_pb.js';

export interface MonitorClientOptions {
  /** The server's gRPC address, host:port. */
  address: string;
  /** Deadline of a ListAgents call; SendCommand waits its own timeout plus this. Default 5000 ms. */
  callTimeoutMs?: number;
}

export interface CommandAckResult {
  id: string;
  ok: boolean;
  message: string;
  /** The parsed result_json, or undefined when the agent returned none. */
  result: unknown;
}

/** One agent as `flotilla status --agents` shows it. */
export interface AgentRow {
  hostname: string;
  alive: boolean;
  connected: boolean;
  lastSeenMs: number;
  configJson: string;
  samplesReceived: number;
  samplesDropped: number;
  version: string;
  lastMetrics: { timeMs: number; metric: string; value: number; labels: Record<string, string> }[];
}

export interface MonitorClient {
  sendCommand(req: { hostname: string; action: string; payloadJson: string; timeoutMs: number }): Promise<CommandAckResult>;
  listAgents(hostname?: string): Promise<AgentRow[]>;
  close(): void;
}

function callFailed(err: unknown, address: string, what: string): FlotillaError {
  return callError(err, { address, what, api: 'the monitoring API', hint: "is it a Flotilla server's gRPC port?" });
}

function toRow(a: AgentInfo): AgentRow {
  return {
    hostname: a.hostname,
    alive: a.alive,
    connected: a.connected,
    lastSeenMs: Number(a.lastSeenMs),
    configJson: a.configJson,
    samplesReceived: Number(a.samplesReceived),
    samplesDropped: Number(a.samplesDropped),
    version: a.version,
    lastMetrics: a.lastMetrics.map((m) => ({ timeMs: Number(m.timeMs), metric: m.metric, value: m.value, labels: { ...m.labels } })),
  };
}

export function createMonitorClient(options: MonitorClientOptions): MonitorClient {
  const { address } = options;
  const callTimeoutMs = options.callTimeoutMs ?? 5000;
  const connection = createGrpcConnection(address, { idleConnectionTimeoutMs: 30_000 });
  const client: Client<typeof MonitorService> = createClient(MonitorService, connection.transport);
  return {
    async sendCommand(req) {
      try {
        const res = await client.sendCommand(
          { hostname: req.hostname, action: req.action, payloadJson: req.payloadJson, timeoutMs: BigInt(req.timeoutMs) },
          { timeoutMs: req.timeoutMs + callTimeoutMs },
        );
        const ack = res.ack;
        if (ack === undefined) throw new FlotillaError(Code.INTERNAL, 'the server answered without an ack');
        let result: unknown;
        if (ack.resultJson !== '') {
          try {
            result = JSON.parse(ack.resultJson);
          } catch {
            result = ack.resultJson;
          }
        }
        return { id: ack.id, ok: ack.ok, message: ack.message, result };
      } catch (err) {
        throw callFailed(err, address, `${req.action} to ${req.hostname}`);
      }
    },
    async listAgents(hostname) {
      try {
        const res = await client.listAgents({ hostname: hostname ?? '' }, { timeoutMs: callTimeoutMs });
        return res.agents.map(toRow);
      } catch (err) {
        throw callFailed(err, address, 'list agents');
      }
    },
    close() {
      connection.close();
    },
  };
}
