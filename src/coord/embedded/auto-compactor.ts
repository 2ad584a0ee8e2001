/**
 * Periodic automatic compaction, as etcd's `--auto-compaction-mode=periodic`: the store keeps about
 * `retentionMs` of history and compacts what is older. Flotilla writes small keys often (distances,
 * configuration), and the embedded store keeps uncompacted history in memory, so the server runs this by
 * default where etcd leaves it to the operator.
 *
 * Every tick samples (time, revision); the store is compacted to the newest sampled revision that is at
 * least `retentionMs` old. Watchers further behind than that get etcd's compacted error, as they would
 * against an auto-compacting etcd.
 */
import type { Clock } from './lease-manager.js';

export interface AutoCompactorOptions {
  retentionMs: number;
  clock: Clock;
  /** The newest durable revision. */
  currentRevision: () => number;
  /** The revision history has been compacted up to (0 for none). */
  compactedRevision: () => number;
  compact: (revision: number) => Promise<void>;
}

/** How often to sample and compact for a retention: a tenth of it, between 1 s and 5 min. */
export function compactionIntervalMs(retentionMs: number): number {
  return Math.min(300_000, Math.max(1000, Math.floor(retentionMs / 10)));
}

export class AutoCompactor {
  private readonly samples: { atMs: number; revision: number }[] = [];
  private running = false;

  constructor(private readonly options: AutoCompactorOptions) {}

  /** Records a sample and compacts when a sample is old enough. Returns the revision compacted to, if any. */
  async tick(): Promise<number | undefined> {
    if (this.running) return undefined;
    this.running = true;
    try {
      const now = this.options.clock.now();
      this.samples.push({ atMs: now, revision: this.options.currentRevision() });
      let target: number | undefined;
      while (this.samples.length > 0 && this.samples[0]!.atMs <= now - this.options.retentionMs) {
        target = this.samples.shift()!.revision;
      }
      if (target === undefined || target <= this.options.compactedRevision()) return undefined;
      await this.options.compact(target);
      return target;
    } finally {
      this.running = false;
    }
  }
}
