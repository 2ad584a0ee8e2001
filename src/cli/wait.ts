import { setTimeout as sleep } from 'node:timers/promises';

/** Polls an HTTP URL until it answers 200; stops when the signal aborts. */
export async function waitForHttpReady(url: string, signal: AbortSignal, intervalMs = 100): Promise<void> {
  while (!signal.aborted) {
    try {
      const res = await fetch(url, { signal });
      await res.body?.cancel();
      if (res.ok) return;
    } catch {
      // Not listening yet.
    }
    await sleep(intervalMs, undefined, { signal }).catch(() => undefined);
  }
}
