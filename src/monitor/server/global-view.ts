/**
 * The server's global view (MON-7): per host, whether its heartbeat is alive, whether its stream is
 * connected, the last value of every series, its current config, when it was last heard from, and the
 * samples received, rejected, refused and reported dropped. Memory is bounded: at most `maxHosts` hosts
 * and `maxSeriesPerHost` series per host; what does not fit is refused and counted.
 *
 * Batches come in two forms (monitor.proto): one sample per Metric (`ingest`), or series resolved once per
 * stream (`resolveSeries`, through the stream's ref table) and then scrapes of (series, value) pairs
 * (`ingestScrapes`), which costs no string work per sample. Each series is one `ViewSeries` object, its
 * last sample updated in place.
 */
import { EventEmitter } from 'node:events';
import { parseMonitorConfig, type MonitorConfig } from '../monitor-config.js';
import { checkSample, checkSeries, checkTime, REJECT_REASONS, seriesKey, type RejectReason, type Sample } from './sample-validate.js';

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
  /** Stream protocol of the last batch: 1 (a Metric per sample), 2 (series references); 0 before any. */
  protocol: number;
  /** The latest sample of every series (only when asked for). */
  lastMetrics?: Sample[];
}

/** One series of one host in the view: its identity, and its latest sample (updated in place). */
export interface ViewSeries {
  /** `metric{a="1",b="2"}`, labels sorted (seriesKey). */
  readonly key: string;
  readonly metric: string;
  /** Frozen. */
  readonly labels: Readonly<Record<string, string>>;
  /** Time of the latest sample (ms since the epoch; -1 while the series has none). */
  timeMs: number;
  value: number;
  /** Always undefined (tells a series from a SeriesMiss). */
  readonly miss: undefined;
}

/** A series definition whose samples are not taken: refused by the series cap, or invalid. */
export interface SeriesMiss {
  readonly miss: 'refused' | RejectReason;
}

/** What a series definition resolves to. */
export type ResolvedSeries = ViewSeries | SeriesMiss;

/** A scrape as the stream's ref table resolved it: values[i] belongs to series[i]. */
export interface ResolvedScrape {
  timeMs: number;
  series: readonly ResolvedSeries[];
  values: ArrayLike<number>;
}

/**
 * The samples of one scrape that were taken: values[i] belongs to series[i], all at timeMs. When every
 * sample of a scrape is taken, these are the resolved scrape's own arrays (not copies): read-only.
 */
export interface TakenScrape {
  timeMs: number;
  series: ViewSeries[];
  values: ArrayLike<number>;
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
  /** The samples taken, by scrape (every form of batch). */
  scrapes: TakenScrape[];
  /** The samples taken as Sample objects: only filled by `ingest` (one Metric per sample). */
  samples: Sample[];
  /** Reasons of the rejected samples, with counts. */
  reasons: Partial<Record<RejectReason, number>>;
}

export interface BatchInput {
  seq: bigint;
  droppedTotal: bigint;
  /** Protocol 1: one Metric per sample. */
  metrics: (Sample & { hostname: string })[];
  /** Protocol 2: scrapes whose refs the stream's table resolved (SeriesRefTable). */
  scrapes?: readonly ResolvedScrape[];
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
  series: Map<string, ViewSeries>;
  /** The series in key order; undefined after a series was added (sorted again when asked). */
  sorted: ViewSeries[] | undefined;
  /** Stream protocol of the last batch (1: a Metric per sample, 2: series references; 0: none yet). */
  protocol: number;
}

const MISSES: Record<SeriesMiss['miss'], SeriesMiss> = Object.freeze({
  refused: { miss: 'refused' },
  ...(Object.fromEntries(REJECT_REASONS.map((r) => [r, Object.freeze({ miss: r })])) as Record<RejectReason, SeriesMiss>),
});

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
      sorted: undefined,
      protocol: 0,
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

  /**
   * Starts taking batch `seq`: false (and the result says what to ack) when the seq was already taken
   * (a resend), else counts the batch and the agent's dropped total.
   */
  private begin(h: HostState, seq: bigint, droppedTotal: bigint, result: IngestResult): boolean {
    h.lastSeenMs = this.now();
    if (seq <= h.lastSeq) {
      h.batchesDuplicate += 1;
      result.ackSeq = h.lastSeq;
      return false;
    }
    result.taken = true;
    h.lastSeq = seq;
    h.batchesReceived += 1;
    // The agent's running total: it only grows within one agent process.
    const dropped = Number(droppedTotal);
    if (Number.isSafeInteger(dropped) && dropped > h.samplesDropped) h.samplesDropped = dropped;
    return true;
  }

  private reject(h: HostState, result: IngestResult, reason: RejectReason, n = 1): void {
    result.rejected += n;
    result.reasons[reason] = (result.reasons[reason] ?? 0) + n;
    h.rejectedByReason[reason] += n;
  }

  /** The host's series with this key, created when new; undefined when the host is at its series cap. */
  private seriesOf(h: HostState, key: string, metric: string, labels: Record<string, string>): ViewSeries | undefined {
    const s = h.series.get(key);
    if (s !== undefined) return s;
    if (h.series.size >= this.maxSeries) return undefined;
    const created: ViewSeries = { key, metric, labels: Object.freeze({ ...labels }), timeMs: -1, value: 0, miss: undefined };
    h.series.set(key, created);
    h.sorted = undefined;
    return created;
  }

  /**
   * Takes a batch from `hostname`'s stream: drops a resend, validates every sample, bounds the series.
   * Samples of one Metric each are checked one by one; scrapes (series resolved once per stream) per scrape
   * and per value only.
   */
  ingest(hostname: string, batch: BatchInput): IngestResult {
    const h = this.hosts.get(hostname);
    const result: IngestResult = { taken: false, ackSeq: batch.seq, accepted: 0, rejected: 0, refused: 0, scrapes: [], samples: [], reasons: {} };
    if (h === undefined || !this.begin(h, batch.seq, batch.droppedTotal, result)) return result;
    if (batch.metrics.length > 0) this.takeMetrics(h, batch.metrics, result);
    if (batch.scrapes !== undefined && batch.scrapes.length > 0) this.takeScrapes(h, batch.scrapes, result);
    h.samplesReceived += result.accepted;
    this.emit('agent:changed', hostname);
    return result;
  }

  private takeMetrics(h: HostState, metrics: readonly (Sample & { hostname: string })[], result: IngestResult): void {
    const hostname = h.hostname;
    const now = h.lastSeenMs;
    h.protocol = 1;
    let scrape: (TakenScrape & { values: number[] }) | undefined;
    for (const m of metrics) {
      const reason = checkSample(m, hostname, now);
      if (reason !== undefined) {
        this.reject(h, result, reason);
        continue;
      }
      const series = this.seriesOf(h, seriesKey(m.metric, m.labels), m.metric, m.labels);
      if (series === undefined) {
        result.refused += 1;
        h.seriesRefused += 1;
        continue;
      }
      // A late (backlog) sample never replaces a newer one.
      if (series.timeMs <= m.timeMs) {
        series.timeMs = m.timeMs;
        series.value = m.value;
      }
      result.accepted += 1;
      result.samples.push({ timeMs: m.timeMs, metric: series.metric, value: m.value, labels: series.labels });
      if (scrape?.timeMs !== m.timeMs) result.scrapes.push((scrape = { timeMs: m.timeMs, series: [], values: [] }));
      scrape.series.push(series);
      scrape.values.push(m.value);
    }
  }

  /**
   * Resolves a series definition of `hostname`'s stream: the view's series (created when new), or why its
   * samples will not be taken (invalid name or labels, or the host is at its series cap). Resolved once per
   * stream and ref; the ref table keeps the answer.
   */
  resolveSeries(hostname: string, metric: string, labels: Record<string, string>): ResolvedSeries {
    const h = this.hosts.get(hostname);
    if (h === undefined) return MISSES.refused;
    const bad = checkSeries(metric, labels);
    if (bad !== undefined) return MISSES[bad];
    return this.seriesOf(h, seriesKey(metric, labels), metric, labels) ?? MISSES.refused;
  }

  /**
   * Scrapes whose refs the stream's table resolved: per scrape the time is checked once, per sample only
   * that the value is finite; samples of refused or invalid series are counted. No string work and no
   * allocation per sample besides the taken arrays.
   */
  private takeScrapes(h: HostState, scrapes: readonly ResolvedScrape[], result: IngestResult): void {
    h.protocol = 2;
    const now = h.lastSeenMs;
    let nonFinite = 0;
    let refused = 0;
    for (const sc of scrapes) {
      const t = sc.timeMs;
      const n = sc.series.length;
      if (checkTime(t, now) !== undefined) {
        this.reject(h, result, 'bad_time', n);
        continue;
      }
      const ss = sc.series;
      const vs = sc.values;
      // The common case: every series resolved and every value finite. The scrape's own arrays are then
      // the taken ones (no copy, no allocation per sample).
      let i = 0;
      for (; i < n; i++) {
        const s = ss[i]!;
        const v = vs[i]!;
        // Finite: v - v is 0 (NaN and ±Infinity give NaN).
        if (s.miss !== undefined || v - v !== 0) break;
        if (s.timeMs <= t) {
          s.timeMs = t;
          s.value = v;
        }
      }
      if (i === n) {
        if (n > 0) result.scrapes.push({ timeMs: t, series: ss as ViewSeries[], values: vs });
        result.accepted += n;
        continue;
      }
      // Else the taken ones so far, then one by one.
      const series = ss.slice(0, i) as ViewSeries[];
      const values: number[] = [];
      for (let j = 0; j < i; j++) values.push(vs[j]!);
      for (; i < n; i++) {
        const s = ss[i]!;
        const v = vs[i]!;
        if (s.miss !== undefined) {
          if (s.miss === 'refused') refused += 1;
          else this.reject(h, result, s.miss);
          continue;
        }
        // Finite: v - v is 0 (NaN and ±Infinity give NaN).
        if (v - v !== 0) {
          nonFinite += 1;
          continue;
        }
        if (s.timeMs <= t) {
          s.timeMs = t;
          s.value = v;
        }
        series.push(s);
        values.push(v);
      }
      if (series.length > 0) result.scrapes.push({ timeMs: t, series, values });
      result.accepted += series.length;
    }
    if (nonFinite > 0) this.reject(h, result, 'non_finite', nonFinite);
    result.refused += refused;
    h.seriesRefused += refused;
  }

  /** The host's series count and its samples refused by the series cap (cheap; no snapshot). */
  seriesCounts(hostname: string): { series: number; seriesRefused: number } {
    const h = this.hosts.get(hostname);
    return { series: h?.series.size ?? 0, seriesRefused: h?.seriesRefused ?? 0 };
  }

  /** The stream protocol of the host's last batch (1 or 2; 0 when none yet). */
  protocol(hostname: string): number {
    return this.hosts.get(hostname)?.protocol ?? 0;
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
      protocol: h.protocol,
    };
    if (options.metrics === true) {
      // Sorted once per new series, not per snapshot (the dashboard asks every 500 ms per busy host).
      h.sorted ??= [...h.series.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      const out: Sample[] = [];
      // Labels are frozen: shared, not copied.
      for (const s of h.sorted) if (s.timeMs >= 0) out.push({ timeMs: s.timeMs, metric: s.metric, value: s.value, labels: s.labels });
      snap.lastMetrics = out;
    }
    return snap;
  }

  snapshots(options: { metrics?: boolean } = {}): AgentSnapshot[] {
    return this.hostnames().map((n) => this.snapshot(n, options)!);
  }
}
