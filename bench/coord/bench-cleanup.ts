/**
 * The cleanup owner of one benchmark run. The testkit stops what it starts in its owner's `after` hooks;
 * a benchmark is not a test, so this owner runs those hooks itself, newest first, in the bench's finally
 * block. On SIGINT/SIGTERM/SIGHUP (Ctrl-C) it cannot wait for async hooks: it SIGKILLs the processes it
 * was told about, removes the directories it was told about, and exits with 128 + the signal number.
 */
import { rmSync } from 'node:fs';
import type { Cleanup, ProcessHandle } from '../../test/testkit/index.js';

const SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;
type Sig = keyof typeof SIGNALS;

export class BenchCleanup implements Cleanup {
  /** Set to false when the run failed: the testkit then prints the output of the processes it stops. */
  passed = true;
  private readonly hooks: Array<() => unknown> = [];
  private readonly procs = new Set<ProcessHandle>();
  private readonly dirs = new Set<string>();
  private readonly onSignal = new Map<Sig, () => void>();

  after(fn: () => unknown): void {
    this.hooks.push(fn);
  }

  /** A process to SIGKILL if the bench is interrupted (its graceful stop is an `after` hook). */
  trackProcess(h: ProcessHandle): void {
    this.procs.add(h);
  }

  /** A directory to remove when the bench ends, normally or by a signal. */
  trackDir(dir: string): void {
    this.dirs.add(dir);
  }

  /** Installs the Ctrl-C handlers; call before starting any process. */
  installSignalHandlers(): void {
    for (const sig of Object.keys(SIGNALS) as Sig[]) {
      const fn = (): void => this.interrupted(sig);
      this.onSignal.set(sig, fn);
      process.once(sig, fn);
    }
  }

  private interrupted(sig: Sig): void {
    process.stderr.write(`\nbench: ${sig}: killing the peers and removing their data dirs\n`);
    for (const h of this.procs) h.signal('SIGKILL');
    for (const dir of this.dirs) {
      try {
        rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      } catch {
        // best effort on the way out
      }
    }
    process.exit(128 + SIGNALS[sig]);
  }

  /** Runs every hook (newest first; a failing hook does not stop the others), then removes the dirs. */
  async run(): Promise<void> {
    for (const fn of this.hooks.splice(0).reverse()) {
      try {
        await fn();
      } catch (err) {
        process.stderr.write(`bench: cleanup step failed: ${err instanceof Error ? err.message : String(err)}\n`);
      }
    }
    for (const dir of this.dirs) {
      try {
        rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      } catch (err) {
        process.stderr.write(`bench: could not remove ${dir}: ${err instanceof Error ? err.message : String(err)}\n`);
      }
    }
    this.dirs.clear();
    this.procs.clear();
    for (const [sig, fn] of this.onSignal) process.off(sig, fn);
    this.onSignal.clear();
  }
}
