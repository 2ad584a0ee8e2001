/**
 * Collection triggers of the active scheduler: a cron expression creates a run at every tick (run key
 * `cron:<tick ms>`, unique per flow, so a takeover never starts a tick twice); an ISO time creates one
 * run (`once:<ms>`). Missed ticks (scheduler down, flow paused) are caught up when `catchup` is set;
 * otherwise only the latest missed tick runs.
 */
import type { Logger } from '../../core/log.js';
import type { FlowSpec } from '../spec/index.js';
import { cronTicks, timerAt } from './timing.js';

export interface TriggerHost {
  now(): number;
  logger: Logger;
  /** Creates a run for a tick (idempotent by run key). */
  fire(flowKey: string, runKey: string, trigger: 'cron' | 'once' | 'catchup', logicalMs: number): Promise<void>;
  setLastTick(flowKey: string, tickMs: number): Promise<void>;
}

/** Most missed ticks started at once by a catch-up. */
export const MAX_CATCHUP_RUNS = 1000;

export class FlowTriggers {
  private readonly timers = new Map<string, { cancel(): void }>();
  constructor(private readonly host: TriggerHost) {}

  /** (Re)arms the trigger of one flow; `lastTickMs` is the last tick already handled. */
  async arm(flowKey: string, spec: FlowSpec | undefined, paused: boolean, lastTickMs: number): Promise<void> {
    this.disarm(flowKey);
    if (spec === undefined || paused || spec.trigger === undefined) return;
    const trigger = spec.trigger;
    const now = this.host.now();
    if (trigger.kind === 'once') {
      if (trigger.atMs <= now) await this.host.fire(flowKey, `once:${trigger.atMs}`, 'once', trigger.atMs);
      else this.timers.set(flowKey, timerAt(trigger.atMs, () => this.host.now(), () => void this.host.fire(flowKey, `once:${trigger.atMs}`, 'once', trigger.atMs).catch(() => undefined)));
      return;
    }
    const missed = cronTicks(trigger.expr, lastTickMs, now, spec.catchup ? MAX_CATCHUP_RUNS : Number.MAX_SAFE_INTEGER);
    const toRun = spec.catchup ? missed : missed.slice(-1);
    for (const tick of toRun) await this.host.fire(flowKey, `cron:${tick}`, spec.catchup ? 'catchup' : 'cron', tick);
    if (missed.length > 0) await this.host.setLastTick(flowKey, missed[missed.length - 1]!);
    this.armNext(flowKey, trigger.expr, Math.max(now, lastTickMs));
  }

  private armNext(flowKey: string, expr: string, afterMs: number): void {
    const next = cronTicks(expr, afterMs, Number.MAX_SAFE_INTEGER, 1)[0];
    if (next === undefined) return;
    this.timers.set(flowKey, timerAt(next, () => this.host.now(), () => {
      this.host
        .fire(flowKey, `cron:${next}`, 'cron', next)
        .then(() => this.host.setLastTick(flowKey, next))
        .catch((err: unknown) => this.host.logger.error({ err, flow: flowKey }, 'cron trigger failed'))
        .finally(() => {
          if (this.timers.has(flowKey)) this.armNext(flowKey, expr, next);
        });
    }));
  }

  disarm(flowKey: string): void {
    this.timers.get(flowKey)?.cancel();
    this.timers.delete(flowKey);
  }

  stop(): void {
    for (const k of [...this.timers.keys()]) this.disarm(k);
  }
}
