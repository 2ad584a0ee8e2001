/**
 * How received samples reach the server log. Each sample is one line `(time, hostname, metric, value)`
 * as the source documents name it, at debug level, or at info level with `logSamples` (what
 * `flotilla server --log-samples` turns on). Each batch gets a one-line summary at info level. Rejected
 * and refused samples are warned about at most once per host per `warnEveryMs`.
 */
import type { Logger } from '../../core/log.js';
import type { IngestResult } from './global-view.js';
import { seriesKey, type Sample } from './sample-validate.js';

export interface SampleLogOptions {
  logger: Logger;
  /** Samples at info level instead of debug. Default false. */
  logSamples?: boolean;
  /** Least time between two warnings about one host's bad samples. Default 30 000 ms. */
  warnEveryMs?: number;
}

/** `(2025-01-01T10:00:00.000Z, node-a, node_cpu_usage_percent{cpu="0"}, 12.5)` */
export function formatSample(hostname: string, s: Sample): string {
  return `(${new Date(s.timeMs).toISOString()}, ${hostname}, ${seriesKey(s.metric, s.labels)}, ${s.value})`;
}

export interface SampleLog {
  batch(hostname: string, seq: bigint, backlog: boolean, result: IngestResult, counts: { series: number; seriesRefused: number }): void;
}

export function createSampleLog(options: SampleLogOptions): SampleLog {
  const { logger } = options;
  const warnEveryMs = options.warnEveryMs ?? 30_000;
  const lastWarn = new Map<string, number>();
  return {
    batch(hostname, seq, backlog, result, counts) {
      if (!result.taken) {
        logger.debug({ host: hostname, seq: seq.toString() }, `batch ${seq} from ${hostname} already taken (resend): dropped`);
        return;
      }
      const level = options.logSamples === true ? 'info' : 'debug';
      if (logger.isLevelEnabled(level)) {
        for (const sc of result.scrapes) {
          for (let i = 0; i < sc.series.length; i++) {
            const s = sc.series[i]!;
            logger[level](formatSample(hostname, { timeMs: sc.timeMs, metric: s.metric, value: sc.values[i]!, labels: s.labels }));
          }
        }
      }
      logger.info(
        { host: hostname, seq: seq.toString(), accepted: result.accepted, rejected: result.rejected, refused: result.refused, backlog },
        `batch ${seq} from ${hostname}: ${result.accepted} samples${backlog ? ' (backlog)' : ''}` +
          (result.rejected > 0 ? `, ${result.rejected} rejected` : '') +
          (result.refused > 0 ? `, ${result.refused} refused` : ''),
      );
      if (result.rejected + result.refused === 0) return;
      const now = Date.now();
      if (now - (lastWarn.get(hostname) ?? 0) < warnEveryMs) return;
      lastWarn.set(hostname, now);
      if (result.rejected > 0) logger.warn({ host: hostname, reasons: result.reasons }, `${hostname} sent ${result.rejected} invalid samples (NaN/Inf, bad names, labels or times): rejected`);
      if (result.refused > 0) {
        logger.warn({ host: hostname, series: counts.series, refusedTotal: counts.seriesRefused }, `${hostname} has too many series (${counts.series}): samples of new series refused`);
      }
    },
  };
}
