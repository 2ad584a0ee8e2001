/**
 * The server's global view (MON-7): per host, whether its heartbeat is alive, whether its stream is
 * connected, the last value of every series, its current config, when it was last heard from, and the
 * samples received, rejected, refused and reported dropped. Memory is bounded: at most `maxHosts` hosts
 * and `maxSeriesPerHost` series per host; what does not fit is refused and counted.
 */
import { EventEmitter } from 'node:events';
import { parseMonitorConfig, type MonitorConfig } from '../monitor-config.js';
import { checkSample, REJECT_REASONS, seriesKey, type RejectReason, type Sample } from './sample-validate.js';

export interface GlobalViewOptions {
  /** Most series (metric + labels) remembered per host; new series beyond it are refused. Default 10 000. */
  maxSeriesPerHost?: number;
  /** Most hosts remembered; a new host beyond it is refused. Default 10 000. */
  maxHosts?: number;
  /** Clock (ms since the epoch). Default Date.now. */
  now?: () => number;
}

/** One host as the view holds it (a copy: changing it changes nothing). */
export interface AgentSnapshot {
  hostname: string;
  /** Heartbeat key present (lease alive). */
  alive: boolean;
  /** A CommandStream from the agent is open now. */
  connected: boolean;
  /** Last time the agent sent anything on its stream (ms since the epoch; 0 = never). */
  lastSeenMs: number;
  /**
   * The config last seen for the host ('' when none): the JSON at /monitor/config/<host>, or what the
   * agent reported later (its hello, or the result of a command that changed it), whichever is newer.
   */
  configJson: string;
  /** The parsed config, or undefined when missing or invalid. */
  config: MonitorConfig | undefined;
  /** Where configJson came from. */
  configSource: 'store' | 'agent' | 'none';
  /** The JSON at /monitor/config/<host> ('' when none). */
  storedConfigJson: string;
  version: string;
  incarnation: string;
  /** Samples taken into the view. */
  samplesReceived: number;
  /** Samples the agent reported dropped (its buffer was full while disconnected). */
  samplesDropped: number;
  /** Samples refused as invalid (NaN/Inf, bad names or labels, bad time, wrong host), by reason. */
  samplesRejected: number;
  rejectedByReason: Record<RejectReason, number>;
  /** Samples of new series refused because the host already has `maxSeriesPerHost` series. */
  seriesRefused: number;
  /** Number of series held. */
  series: number;
  /** Batches taken, and resent batches dropped because their seq was already taken. */
  batchesReceived: number;
  batchesDuplicate: number;
  /** Highest batch seq taken from the current agent process. */
  lastSeq: bigint;
  /** The latest sample of every series (only when asked for). */
  lastMetrics?: Sample[];
}

/** What one batch did to the view. */
export interface IngestResult {
  /** False when the batch's seq was already taken (a resend): nothing was applied. */
  taken: boolean;
  /** The seq to acknowledge (every batch up to it has been taken). */
  ackSeq: bigint;
  accepted: number;
  rejected: number;
  refused: number;
  /** The samples taken (for logging). */
  samples: Sample[];
  /** Reasons of the rejected samples, with counts. */
  reasons: Partial<Record<RejectReason, number>>;
}

export interface BatchInput {
  seq: bigint;
  droppedTotal: bigint;
  metrics: (Sample & { hostname: string })[];
}

export interface HelloInput {
  hostname: string;
  version: string;
  incarnation: string;
  ackedSeq: bigint;
}

export interface GlobalViewEventMap {
  /** Something about the host changed (state, counters or samples). */
  'agent:changed': [string];
  /** The host was not known before. */
  'agent:added': [string];
}

interface HostState {
  hostname: string;
  alive: boolean;
  connected: boolean;
  lastSeenMs: number;
  configJson: string;
  config: MonitorConfig | undefined;
  configSource: 'store' | 'agent' | 'none';
  storedConfigJson: string;
  version: string;
  incarnation: string;
  samplesReceived: number;
  samplesDropped: number;
  rejectedByReason: Record<RejectReason, number>;
  seriesRefused: number;
  batchesReceived: number;
  batchesDuplicate: number;
  lastSeq: bigint;
  series: Map<string, Sample>;
}

function zeroReasons(): Record<RejectReason, number> {
  return Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>;
}

export class GlobalView extends EventEmitter<GlobalViewEventMap> {
  private readonly hosts = new Map<string, HostState>();
  private readonly maxSeries: number;
  private readonly maxHosts: number;
  readonly now: () => number;
  /** Hosts refused because the view was full. */
  hostsRefused = 0;

  constructor(options: GlobalViewOptions = {}) {
    super();
    this.maxSeries = options.maxSeriesPerHost ?? 10_000;
    this.maxHosts = options.maxHosts ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  has(hostname: string): boolean {
    return this.hosts.has(hostname);
  }

  hostnames(): string[] {
    return [...this.hosts.keys()].sort();
  }

  get size(): number {
    return this.hosts.size;
  }

  /** The host's state, creating it if new; undefined when the view is full. */
  private host(hostname: string): HostState | undefined {
    let h = this.hosts.get(hostname);
    if (h !== undefined) return h;
    if (this.hosts.size >= this.maxHosts) {
      this.hostsRefused += 1;
      return undefined;
    }
    h = {
      hostname,
      alive: false,
      connected: false,
      lastSeenMs: 0,
      configJson: '',
      config: undefined,
      configSource: 'none',
      storedConfigJson: '',
      version: '',
      incarnation: '',
      samplesReceived: 0,
      samplesDropped: 0,
      rejectedByReason: zeroReasons(),
      seriesRefused: 0,
      batchesReceived: 0,
      batchesDuplicate: 0,
      lastSeq: 0n,
      series: new Map(),
    };
    this.hosts.set(hostname, h);
    this.emit('agent:added', hostname);
    return h;
  }

  /** True when the view can hold this host (it is known, or there is room). */
  canHold(hostname: string): boolean {
    return this.hosts.has(hostname) || this.hosts.size < this.maxHosts;
  }

  /**
   * A stream opened with this hello. A new agent process (another incarnation) restarts its seqs, so
   * the last taken seq becomes the one the agent says was acknowledged; a reconnect of the same process
   * keeps the higher of the two. Returns false when the view is full.
   */
  agentConnected(hello: HelloInput): boolean {
    const h = this.host(hello.hostname);
    if (h === undefined) return false;
    if (hello.incarnation !== h.incarnation) {
      h.lastSeq = hello.ackedSeq;
      h.incarnation = hello.incarnation;
    } else if (hello.ackedSeq > h.lastSeq) {
      h.lastSeq = hello.ackedSeq;
    }
    h.version = hello.version;
    h.connected = true;
    h.lastSeenMs = this.now();
    this.emit('agent:changed', h.hostname);
    return true;
  }

  agentDisconnected(hostname: string): void {
    const h = this.hosts.get(hostname);
    if (h === undefined || !h.connected) return;
    h.connected = false;
    this.emit('agent:changed', hostname);
  }

  /** The agent said something on its stream (an ack, say). */
  touch(hostname: string): void {
    const h = this.hosts.get(hostname);
    if (h !== undefined) h.lastSeenMs = this.now();
  }

  /** Heartbeat key put (true) or deleted (false). Returns true when the state changed. */
  setAlive(hostname: string, alive: boolean): boolean {
    const h = alive ? this.host(hostname) : this.hosts.get(hostname);
    if (h === undefined || h.alive === alive) return false;
    h.alive = alive;
    this.emit('agent:changed', hostname);
    return true;
  }

  /** The JSON stored at /monitor/config/<host>, or undefined when the key was deleted. */
  setConfig(hostname: string, json: string | undefined): void {
    const h = json === undefined ? this.hosts.get(hostname) : this.host(hostname);
    if (h === undefined) return;
    h.storedConfigJson = json ?? '';
    h.configJson = json ?? '';
    h.configSource = json === undefined ? 'none' : 'store';
    const parsed = json === undefined ? undefined : parseMonitorConfig(json);
    h.config = parsed?.error === undefined ? parsed?.value : undefined;
    this.emit('agent:changed', hostname);
  }

  /** The config the agent says it runs with (ignored unless it is a valid config). */
  setReportedConfig(hostname: string, json: string): void {
    const h = this.hosts.get(hostname);
    if (h === undefined || json === '') return;
    const parsed = parseMonitorConfig(json);
    if (parsed.error !== undefined) return;
    h.configJson = JSON.stringify(parsed.value);
    h.config = parsed.value;
    h.configSource = 'agent';
    this.emit('agent:changed', hostname);
  }

  /** The config stored for the host ('' when none). */
  storedConfigJson(hostname: string): string {
    return this.hosts.get(hostname)?.storedConfigJson ?? '';
  }

  /** Takes a batch from `hostname`'s stream: drops a resend, validates every sample, bounds the series. */
  ingest(hostname: string, batch: BatchInput): IngestResult {
    const h = this.hosts.get(hostname);
    const result: IngestResult = { taken: false, ackSeq: batch.seq, accepted: 0, rejected: 0, refused: 0, samples: [], reasons: {} };
    if (h === undefined) return result;
    const now = this.now();
    h.lastSeenMs = now;
    if (batch.seq <= h.lastSeq) {
      h.batchesDuplicate += 1;
      result.ackSeq = h.lastSeq;
      return result;
    }
    result.taken = true;
    h.lastSeq = batch.seq;
    h.batchesReceived += 1;
    // The agent's running total: it only grows within one agent process.
    const dropped = Number(batch.droppedTotal);
    if (Number.isSafeInteger(dropped) && dropped > h.samplesDropped) h.samplesDropped = dropped;
    for (const m of batch.metrics) {
      const reason = checkSample(m, hostname, now);
      if (reason !== undefined) {
        result.rejected += 1;
        result.reasons[reason] = (result.reasons[reason] ?? 0) + 1;
        h.rejectedByReason[reason] += 1;
        continue;
      }
      const key = seriesKey(m.metric, m.labels);
      const prev = h.series.get(key);
      if (prev === undefined && h.series.size >= this.maxSeries) {
        result.refused += 1;
        h.seriesRefused += 1;
        continue;
      }
      const sample: Sample = { timeMs: m.timeMs, metric: m.metric, value: m.value, labels: m.labels };
      // A late (backlog) sample never replaces a newer one.
      if (prev === undefined || prev.timeMs <= sample.timeMs) h.series.set(key, sample);
      result.accepted += 1;
      result.samples.push(sample);
    }
    h.samplesReceived += result.accepted;
    this.emit('agent:changed', hostname);
    return result;
  }

  /** The last batch seq taken from the host (0n when unknown). */
  lastSeq(hostname: string): bigint {
    return this.hosts.get(hostname)?.lastSeq ?? 0n;
  }

  /**
   * Undoes the taking of batch `seq` (its samples could not be stored): the seq goes back to `previous`,
   * so the agent's resend is taken instead of being dropped as a duplicate.
   */
  untake(hostname: string, seq: bigint, previous: bigint): void {
    const h = this.hosts.get(hostname);
    if (h !== undefined && h.lastSeq === seq) h.lastSeq = previous;
  }

  snapshot(hostname: string, options: { metrics?: boolean } = {}): AgentSnapshot | undefined {
    const h = this.hosts.get(hostname);
    if (h === undefined) return undefined;
    const rejected = Object.values(h.rejectedByReason).reduce((a, b) => a + b, 0);
    const snap: AgentSnapshot = {
      hostname: h.hostname,
      alive: h.alive,
      connected: h.connected,
      lastSeenMs: h.lastSeenMs,
      configJson: h.configJson,
      config: h.config,
      configSource: h.configSource,
      storedConfigJson: h.storedConfigJson,
      version: h.version,
      incarnation: h.incarnation,
      samplesReceived: h.samplesReceived,
      samplesDropped: h.samplesDropped,
      samplesRejected: rejected,
      rejectedByReason: { ...h.rejectedByReason },
      seriesRefused: h.seriesRefused,
      series: h.series.size,
      batchesReceived: h.batchesReceived,
      batchesDuplicate: h.batchesDuplicate,
      lastSeq: h.lastSeq,
    };
    if (options.metrics === true) {
      snap.lastMetrics = [...h.series.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([, s]) => ({ ...s, labels: { ...s.labels } }));
    }
    return snap;
  }

  snapshots(options: { metrics?: boolean } = {}): AgentSnapshot[] {
    return this.hostnames().map((n) => this.snapshot(n, options)!);
  }
}
