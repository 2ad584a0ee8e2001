/** What the process-level fuzz runs share: the seed, a bounded worker pool, and the scan of a process's output. */

/** The seed every fuzz run uses unless FLOTILLA_FUZZ_SEED names another (the runs are deterministic). */
export const DEFAULT_FUZZ_SEED = 20261103;

export function fuzzSeed(): number {
  const s = process.env.FLOTILLA_FUZZ_SEED;
  if (s === undefined || s === '') return DEFAULT_FUZZ_SEED;
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new Error(`FLOTILLA_FUZZ_SEED must be an integer, not ${JSON.stringify(s)}`);
  return n;
}

/** Runs `fn` over `items` with at most `concurrency` calls in flight. */
export async function runPool<T>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

/**
 * Lines of a process's output that show a crash or an escaped error: an uncaught exception, an unhandled
 * rejection, a fatal V8 error, a stack overflow, or a warning Node prints for a leak (MaxListeners).
 */
export function outputProblems(output: string): string[] {
  const bad = /uncaught|unhandled|triggerUncaughtException|FATAL ERROR|Maximum call stack|MaxListenersExceededWarning|JavaScript heap out of memory/i;
  return output.split('\n').filter((l) => bad.test(l)).map((l) => l.slice(0, 400));
}

/** Resident set size of a process in bytes (Linux /proc), or undefined when it is gone. */
export async function rssBytes(pid: number): Promise<number | undefined> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  const m = status === undefined ? null : /^VmRSS:\s+(\d+) kB/m.exec(status);
  return m === null ? undefined : Number(m[1]) * 1024;
}
