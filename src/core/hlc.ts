/**
 * A hybrid logical clock (Kulkarni et al., "Logical Physical Clocks"): timestamps that follow wall-clock
 * time, never go backwards, and order causally related events across nodes even when their clocks
 * disagree a little. Used for versions of KV values (last writer wins) and for ordering events.
 *
 * A timestamp is (wallMs, logical, node). Comparison is by wallMs, then logical, then node, so two
 * different nodes never produce equal timestamps.
 */
import { Code, FlotillaError } from './errors.js';

export interface HlcTimestamp {
  /** Milliseconds since the Unix epoch, the physical part. */
  readonly wallMs: number;
  /** Counter that orders events within the same wallMs. */
  readonly logical: number;
  /** The node that made the timestamp: the final tie-break. */
  readonly node: string;
}

export interface HlcOptions {
  /** This node's name. */
  node: string;
  /** Wall clock in ms. Default: Date.now. */
  now?: () => number;
  /**
   * A remote timestamp more than this far ahead of the local wall clock is rejected, so one node with a
   * wrong clock cannot drag the whole cluster into the future. Default 60 000 ms.
   */
  maxDriftMs?: number;
}

const MAX_LOGICAL = 0xffff_ffff;

export class HybridLogicalClock {
  private wallMs = 0;
  private logical = 0;
  private readonly node: string;
  private readonly clock: () => number;
  private readonly maxDriftMs: number;

  constructor(options: HlcOptions) {
    if (options.node === '' || options.node.includes('|')) {
      throw new FlotillaError(Code.INVALID_ARGUMENT, `HLC node name must be non-empty and contain no '|': ${JSON.stringify(options.node)}`);
    }
    this.node = options.node;
    this.clock = options.now ?? Date.now;
    this.maxDriftMs = options.maxDriftMs ?? 60_000;
  }

  /** A timestamp for a local event or a message about to be sent. */
  now(): HlcTimestamp {
    const pt = this.clock();
    if (pt > this.wallMs) {
      this.wallMs = pt;
      this.logical = 0;
    } else {
      this.bumpLogical();
    }
    return { wallMs: this.wallMs, logical: this.logical, node: this.node };
  }

  /** Merges a timestamp received from another node; returns the timestamp of the receive event. */
  update(remote: HlcTimestamp): HlcTimestamp {
    const pt = this.clock();
    if (remote.wallMs - pt > this.maxDriftMs) {
      throw new FlotillaError(
        Code.FAILED_PRECONDITION,
        `clock of ${remote.node} is ${remote.wallMs - pt} ms ahead of ${this.node}'s (max drift ${this.maxDriftMs} ms)`,
      );
    }
    const wall = Math.max(this.wallMs, remote.wallMs, pt);
    if (wall === this.wallMs && wall === remote.wallMs) {
      this.logical = Math.max(this.logical, remote.logical);
      this.bumpLogical();
    } else if (wall === this.wallMs) {
      this.bumpLogical();
    } else if (wall === remote.wallMs) {
      this.logical = remote.logical;
      this.wallMs = wall;
      this.bumpLogical();
    } else {
      this.wallMs = wall;
      this.logical = 0;
    }
    return { wallMs: this.wallMs, logical: this.logical, node: this.node };
  }

  private bumpLogical(): void {
    if (this.logical >= MAX_LOGICAL) {
      // The logical counter is exhausted within one millisecond: move the physical part on.
      this.wallMs += 1;
      this.logical = 0;
    } else {
      this.logical += 1;
    }
  }
}

/** Negative when a < b, 0 when equal, positive when a > b. */
export function compareHlc(a: HlcTimestamp, b: HlcTimestamp): number {
  if (a.wallMs !== b.wallMs) return a.wallMs - b.wallMs;
  if (a.logical !== b.logical) return a.logical - b.logical;
  return a.node < b.node ? -1 : a.node > b.node ? 1 : 0;
}

/**
 * A string form whose lexicographic order is the timestamp order:
 * 13 hex digits of wallMs, 8 of logical, then the node (`0190c1f1a2b3c-00000001-node-a`).
 */
export function formatHlc(ts: HlcTimestamp): string {
  return `${ts.wallMs.toString(16).padStart(13, '0')}-${ts.logical.toString(16).padStart(8, '0')}-${ts.node}`;
}

export function parseHlc(text: string): { value?: HlcTimestamp; error?: string } {
  const m = /^([0-9a-f]{13})-([0-9a-f]{8})-(.+)$/.exec(text);
  if (m === null) return { error: `not an HLC timestamp: ${JSON.stringify(text)}` };
  return { value: { wallMs: parseInt(m[1]!, 16), logical: parseInt(m[2]!, 16), node: m[3]! } };
}
