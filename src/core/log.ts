/**
 * Structured logging (pino). JSON lines on stderr for machines; colourised, readable lines when stderr is
 * a terminal (or FLOTILLA_LOG_PRETTY=1). Level from FLOTILLA_LOG_LEVEL (default info).
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';
import { createRequire } from 'node:module';
import type PinoPretty from 'pino-pretty';

export type { Logger } from 'pino';

export interface LoggerOptions {
  /** The process or component name, shown on every line. */
  name: string;
  /** Default: FLOTILLA_LOG_LEVEL or 'info'. */
  level?: LevelWithSilent;
  /** Human-readable output. Default: stderr is a TTY or FLOTILLA_LOG_PRETTY=1. */
  pretty?: boolean;
  /** Where lines go. Default: stderr (file descriptor 2). */
  destination?: NodeJS.WritableStream;
}

const levels = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export function createLogger(options: LoggerOptions): Logger {
  const envLevel = process.env.FLOTILLA_LOG_LEVEL;
  const level: LevelWithSilent = options.level ?? (envLevel !== undefined && levels.has(envLevel) ? (envLevel as LevelWithSilent) : 'info');
  const wantPretty = options.pretty ?? (process.env.FLOTILLA_LOG_PRETTY === '1' || process.stderr.isTTY === true);
  const base = { name: options.name };
  if (wantPretty) {
    // Loaded only here (~10 MiB of memory): processes logging JSON never load it.
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
    const stream = pretty({
      colorize: process.stderr.isTTY === true,
      destination: options.destination ?? 2,
      sync: true,
      ignore: 'pid,hostname',
      translateTime: 'HH:MM:ss.l',
      messageFormat: '{msg}',
    });
    return pino({ level, base }, stream);
  }
  const dest = options.destination ?? pino.destination({ fd: 2, sync: true });
  return pino({ level, base, timestamp: pino.stdTimeFunctions.isoTime }, dest);
}

/** A logger that drops everything (for library use and tests that do not care). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
