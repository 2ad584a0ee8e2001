/**
 * What every command shares: turning errors into one line on stderr and an exit code (never a stack
 * trace), and running a long-lived process until a signal or its parent stops it.
 */
import type { Command } from 'commander';
import { Code, FlotillaError } from '../core/errors.js';
import { ExitCode, type Lifecycle } from '../core/lifecycle.js';
import { stopWhenParentGoes } from '../core/supervisor.js';

const usageCodes: ReadonlySet<Code> = new Set([Code.CONFIG_INVALID, Code.INVALID_ARGUMENT, Code.FLOW_SPEC_INVALID]);

export function exitCodeFor(err: FlotillaError): number {
  return usageCodes.has(err.code) ? ExitCode.USAGE : ExitCode.FAILURE;
}

/** Prints `flotilla: <message>` and exits non-zero. With FLOTILLA_DEBUG=1 the cause is printed too. */
export function fail(err: unknown): never {
  const fe = FlotillaError.from(err);
  process.stderr.write(`flotilla: ${fe.message}\n`);
  if (process.env.FLOTILLA_DEBUG === '1' && fe.cause !== undefined) {
    process.stderr.write(`${fe.cause instanceof Error ? (fe.cause.stack ?? fe.cause.message) : JSON.stringify(fe.cause)}\n`);
  }
  process.exit(exitCodeFor(fe));
}

/** Wraps a command action so that any error ends in `fail`. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      fail(err);
    }
  };
}

/** The options the user actually gave on the command line (commander defaults are not used). */
export function givenOptions(cmd: Command): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(cmd.opts())) {
    if (key === 'config') continue;
    if (cmd.getOptionValueSource(key) === 'cli') out[key] = value;
  }
  return out;
}

/**
 * Starts a lifecycle, prints `banner()` on stdout once it is up, and keeps the process alive until
 * SIGINT/SIGTERM or the supervising parent goes away; then stops cleanly and exits 0.
 */
export async function runUntilStopped(lifecycle: Lifecycle, banner: () => string): Promise<void> {
  lifecycle.handleSignals();
  stopWhenParentGoes(() => {
    lifecycle.stop().then(
      () => process.exit(ExitCode.OK),
      () => process.exit(ExitCode.FAILURE),
    );
  });
  await lifecycle.start();
  process.stdout.write(banner());
  await lifecycle.whenStopped();
}

/** Left-aligned two-column lines for banners. */
export function table(rows: [string, string][], indent = '  '): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${indent}${k.padEnd(width)}  ${v}`).join('\n') + '\n';
}
