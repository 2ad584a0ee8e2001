/**
 * Cleanup ownership for the testkit. A test passes its context (`t`, which has `after` and `passed`) so
 * everything it starts is stopped when it ends, pass or fail. As a last resort every child still running
 * when this process exits (or is told to stop) is killed with SIGKILL.
 */
import type { ChildProcess } from 'node:child_process';

/** What the testkit needs from a node:test context (TestContext or a suite's hooks object). */
export interface Cleanup {
  after: (fn: () => unknown) => void;
  /** node:test's TestContext.passed: false once the test failed (used to decide whether to print logs). */
  readonly passed?: boolean;
}

const live = new Set<ChildProcess>();
let hooked = false;

function killAll(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

/** Tracks a child so it is killed when this process exits, whatever the reason. */
export function trackChild(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!hooked) {
    hooked = true;
    process.once('exit', killAll);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(sig, () => {
        killAll();
        process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
      });
    }
  }
}
