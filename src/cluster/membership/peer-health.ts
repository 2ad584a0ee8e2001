/**
 * Active failure detection (KV-9): this process calls CheckHealth on every tracked peer every
 * `intervalMs`, measures the round trip, and remembers when each last answered. A peer is reachable
 * while it answered within the last `failureTimeoutMs` (a new peer gets that long to answer first).
 */
import { performance } from 'node:perf_hooks';
import { create } from '@bufbuild/protobuf';
import { CheckHealthRequestSchema } from '../../gen/flotilla/v1/cluster_pb.js';
import type { PeerClients } from '../peer/peer-client.js';

export interface PeerHealthOptions {
  peers: PeerClients;
  /** Name this process gives in its requests. */
  self: string;
  /** Time between two checks of one peer. Default: 1000 ms. */
  intervalMs?: number;
  /** A peer that has not answered for this long is unreachable. Default: 3000 ms. */
  failureTimeoutMs?: number;
  /** Called after every check whose outcome may change a status. */
  onChange: (name: string) => void;
  now?: () => number;
}

interface Tracked {
  address: string;
  lastOkMs: number;
  answeredOnce: boolean;
  /** Smoothed RTT (EWMA), ms. */
  rttMs: number | undefined;
  inFlight: boolean;
  lastError: string | undefined;
}

export interface PeerHealthState {
  reachable: boolean;
  rttMs: number | undefined;
  lastOkMs: number;
  lastError: string | undefined;
}

export class PeerHealth {
  private readonly tracked = new Map<string, Tracked>();
  private timer: NodeJS.Timeout | undefined;
  private readonly intervalMs: number;
  readonly failureTimeoutMs: number;
  private readonly now: () => number;

  constructor(private readonly options: PeerHealthOptions) {
    this.intervalMs = options.intervalMs ?? 1000;
    this.failureTimeoutMs = options.failureTimeoutMs ?? 3000;
    this.now = options.now ?? Date.now;
  }

  start(): void {
    // Ticks at a quarter of the interval so a failure is noticed promptly, not an interval late.
    this.timer = setInterval(() => this.tick(), Math.max(50, Math.floor(this.intervalMs / 4)));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.tracked.clear();
  }

  /** Starts (or restarts, on a new address) checking `name`; the first check goes out at once. */
  track(name: string, address: string, restart = false): void {
    const t = this.tracked.get(name);
    if (t !== undefined && t.address === address && !restart) return;
    if (t !== undefined && t.address !== address) this.options.peers.forget(t.address);
    this.tracked.set(name, { address, lastOkMs: this.now(), answeredOnce: false, rttMs: undefined, inFlight: false, lastError: undefined });
    this.check(name);
  }

  untrack(name: string): void {
    this.tracked.delete(name);
  }

  state(name: string): PeerHealthState | undefined {
    const t = this.tracked.get(name);
    if (t === undefined) return undefined;
    return { reachable: this.now() - t.lastOkMs < this.failureTimeoutMs, rttMs: t.rttMs, lastOkMs: t.lastOkMs, lastError: t.lastError };
  }

  /** Smoothed RTT to every peer that answered, in ms. */
  distances(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, t] of this.tracked) if (t.rttMs !== undefined) out[name] = Math.round(t.rttMs * 100) / 100;
    return out;
  }

  private lastTickMs = 0;
  private readonly nextCheck = new Map<string, number>();

  private tick(): void {
    const now = this.now();
    for (const [name, t] of this.tracked) {
      if ((this.nextCheck.get(name) ?? 0) <= now) this.check(name);
      // Notify when a peer crosses the failure timeout without an answer.
      if (now - t.lastOkMs >= this.failureTimeoutMs && this.lastTickMs - t.lastOkMs < this.failureTimeoutMs) this.options.onChange(name);
    }
    this.lastTickMs = now;
  }

  private check(name: string): void {
    const t = this.tracked.get(name);
    if (t === undefined || t.inFlight) return;
    t.inFlight = true;
    this.nextCheck.set(name, this.now() + this.intervalMs);
    const started = performance.now();
    const sentAtMs = BigInt(Date.now());
    const timeoutMs = Math.max(100, Math.min(this.failureTimeoutMs, this.intervalMs * 2));
    this.options.peers
      .cluster(t.address)
      .checkHealth(create(CheckHealthRequestSchema, { from: this.options.self, sentAtMs }), { timeoutMs })
      .then(
        (res) => {
          if (this.tracked.get(name) !== t) return;
          const rtt = performance.now() - started;
          const wasReachable = this.now() - t.lastOkMs < this.failureTimeoutMs && t.answeredOnce;
          if (res.name !== name) {
            t.lastError = `answered as ${res.name}, not ${name}`;
            return;
          }
          t.rttMs = t.rttMs === undefined ? rtt : t.rttMs * 0.7 + rtt * 0.3;
          t.lastOkMs = this.now();
          t.lastError = undefined;
          t.answeredOnce = true;
          if (!wasReachable) this.options.onChange(name);
        },
        (err: unknown) => {
          if (this.tracked.get(name) !== t) return;
          t.lastError = err instanceof Error ? err.message : String(err);
        },
      )
      .finally(() => {
        t.inFlight = false;
      });
  }
}
