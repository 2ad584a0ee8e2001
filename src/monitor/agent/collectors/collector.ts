/**
 * The `Collector` seam: one per metric group (cpu, memory, disk, network, filesystem). A collector reads
 * /proc and /sys itself (no shelling out) and returns samples; counter-based metrics keep their previous
 * reading and emit nothing on the first round. A collector never returns NaN or Infinity.
 *
 * /proc files are read synchronously: they live in memory, a read never waits on a device, and one
 * readFileSync costs a fraction of fs.promises.readFile (which opens a FileHandle through the thread pool).
 * Only statfs(2), which can hang on a dead network mount, is asynchronous and bounded.
 */

/** When a round is taken: wall-clock time for the samples, monotonic time for rates. */
export interface CollectTime {
  /** Milliseconds since the Unix epoch (the sample time). */
  wallMs: number;
  /** Monotonic milliseconds (performance.now()), for elapsed time between rounds. */
  monoMs: number;
}

export interface Sample {
  /** Prometheus-style name with its unit, e.g. node_memory_used_bytes. */
  metric: string;
  value: number;
  labels: Record<string, string>;
}

export interface Collector {
  /** The metric group: cpu, memory, disk, network or filesystem. */
  readonly name: string;
  /** Every metric name this collector can emit. */
  readonly metrics: readonly string[];
  collect(now: CollectTime): Promise<Sample[]>;
}

/** Where the collectors read from; tests point them at fixture trees. */
export interface HostPaths {
  /** Default: /proc. */
  proc: string;
  /** Default: /sys. */
  sys: string;
}

export const DEFAULT_HOST_PATHS: HostPaths = { proc: '/proc', sys: '/sys' };

/** Pushes a sample only when its value is a finite number (the last guard against NaN/Inf). */
export function pushFinite(out: Sample[], metric: string, value: number | undefined, labels: Record<string, string> = {}): void {
  if (value !== undefined && Number.isFinite(value)) out.push({ metric, value, labels });
}
