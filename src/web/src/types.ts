/** The shapes of the server's HTTP API the dashboard reads (see docs/monitoring.md and docs/cluster.md). */

export type MemberStatus = 'ACTIVE' | 'DISCONNECTED' | 'SHUTOFF' | 'UNKNOWN';

export interface Member {
  name: string;
  status: MemberStatus;
  registered: boolean;
  peerAddress: string;
  httpAddress: string;
  roles: string[];
  zone: string;
  backend: { kind: string; location: string; capacityBytes: number; freeBytes: number; readMBps: number; writeMBps: number };
  version: string;
  startedAt: string;
  rttMs: number | null;
  rings: Record<string, number>;
  distances: Record<string, number>;
  statusSince: string;
}

export interface MembersJson {
  observer: string;
  coordinationReachable: boolean;
  members: Member[];
}

export interface MemberEvent {
  name: string;
  status: MemberStatus;
  previous: MemberStatus | null;
  at: string;
}

export interface MetricSample {
  time: string;
  timeMs: number;
  metric: string;
  labels: Record<string, string>;
  value: number;
}

export interface Agent {
  hostname: string;
  alive: boolean;
  connected: boolean;
  lastSeenMs: number;
  lastSeen: string | null;
  config: { interval: number; metrics: string[] } | null;
  configSource: string;
  version: string;
  samplesReceived: number;
  samplesDropped: number;
  samplesRejected: number;
  series: number;
  lastMetrics?: MetricSample[];
}

export interface RingsJson {
  rings: { name: string; version: number; partitions: number; replicas: number; devices: string[] }[];
  refused: Record<string, string>;
  coordinationReachable: boolean;
  revision: number;
}

export interface ReadyJson {
  status: string;
  checks: Record<string, { ok: boolean; error?: string }>;
}

export interface CommandAck {
  id: string;
  ok: boolean;
  message: string;
  result?: unknown;
}

/** One line of the overview's recent events. */
export interface FeedEvent {
  at: string;
  kind: 'node' | 'agent';
  name: string;
  text: string;
  tone: 'good' | 'bad' | 'neutral';
}
