/**
 * Follows every key under a prefix of the coordination store: reads them all, then watches from the next
 * revision. The Coord watch resumes by itself after a broken stream (no event lost or repeated); when it
 * cannot (history compacted, store unreachable at start), this reads everything again and hands the
 * fresh list to `onReset`, so the owner can diff it against what it believed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelayMs } from '../core/backoff.js';
import { FlotillaError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Coord, KeyValue, Watch, WatchEvent } from './coord.js';

export interface PrefixWatchOptions {
  coord: Coord;
  prefix: string;
  logger: Logger;
  /** Every key under the prefix now (at start and after a resync). */
  onReset: (kvs: KeyValue[]) => void;
  /** One change after the last reset. */
  onEvent: (event: WatchEvent) => void;
  /** Longest wait between two attempts to read the prefix. Default 5000 ms. */
  maxBackoffMs?: number;
}

export interface PrefixWatch {
  start(): void;
  stop(): Promise<void>;
  /** Resolves after the first complete read (never rejects; waits through outages). */
  readonly synced: Promise<void>;
}

export function createPrefixWatch(options: PrefixWatchOptions): PrefixWatch {
  const { coord, prefix, logger } = options;
  const abort = new AbortController();
  let watch: Watch | undefined;
  let loop: Promise<void> | undefined;
  let markSynced!: () => void;
  const synced = new Promise<void>((resolve) => (markSynced = resolve));

  async function followOnce(): Promise<void> {
    const first = await coord.range(prefix);
    if (abort.signal.aborted) return;
    options.onReset(first.kvs);
    markSynced();
    const w = coord.watch({ key: prefix, prefix: true, fromRevision: first.revision + 1 });
    watch = w;
    const ended = new Promise<FlotillaError | undefined>((resolve) => {
      w.on('watch:event', (ev) => {
        try {
          options.onEvent(ev);
        } catch (err) {
          logger.error({ err: FlotillaError.from(err).message, key: ev.kv.key }, 'watch handler failed');
        }
      });
      w.on('watch:error', (err) => resolve(err));
      w.on('watch:disconnected', (err) => logger.warn({ prefix, err: err.message }, 'coordination watch broken; resuming'));
      w.on('watch:connected', () => logger.debug({ prefix }, 'coordination watch connected'));
      abort.signal.addEventListener('abort', () => resolve(undefined), { once: true });
    });
    const err = await ended;
    watch = undefined;
    await w.close().catch(() => undefined);
    if (err !== undefined) throw err;
  }

  async function run(): Promise<void> {
    let attempt = 0;
    while (!abort.signal.aborted) {
      try {
        await followOnce();
        attempt = 0;
      } catch (err) {
        if (abort.signal.aborted) return;
        const delay = backoffDelayMs(attempt++, { baseMs: 200, maxMs: options.maxBackoffMs ?? 5000, jitter: 'equal' });
        logger.warn({ prefix, err: FlotillaError.from(err).message, retryInMs: delay }, 'cannot follow coordination keys; retrying');
        await sleep(delay, undefined, { signal: abort.signal }).catch(() => undefined);
      }
    }
  }

  return {
    synced,
    start() {
      loop ??= run();
    },
    async stop() {
      abort.abort();
      await watch?.close().catch(() => undefined);
      await loop;
    },
  };
}
