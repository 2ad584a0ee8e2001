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

const stacks = new WeakMap<Cleanup, (() => unknown)[]>();

/**
 * Registers `fn` to run when `owner` ends, in reverse order of registration among the testkit's own
 * cleanups: the process started last is stopped first, and a temp dir or test network goes after what
 * used it. (node:test runs a test's after hooks in the order they were added, which would stop a server
 * before the nodes still talking to it, and each of those would then wait for it on its way out.) Every
 * cleanup runs even when one before it fails; the first failure is rethrown at the end.
 */
export function onCleanup(owner: Cleanup, fn: () => unknown): void {
  let stack = stacks.get(owner);
  if (stack === undefined) {
    const fns: (() => unknown)[] = [];
    stack = fns;
    stacks.set(owner, fns);
    owner.after(async () => {
      let failure: { err: unknown } | undefined;
      while (fns.length > 0) {
        try {
          await fns.pop()!();
        } catch (err) {
          failure ??= { err };
        }
      }
      if (failure !== undefined) throw failure.err;
    });
  }
  stack.push(fn);
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
