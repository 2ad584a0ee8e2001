/**
 * Notifications of a workflow (FLOW-6): on run success or failure and on task failure, as the flow's
 * `notify.on` asks, a JSON POST to each webhook, a mail over SMTP to `notify.email.to`, and the same JSON
 * published on each message channel of `notify.channel` (scheduled messaging, delivered now). Only the active
 * scheduler notifies (it alone emits engine events). Deliveries run in the background with retries and
 * backoff; a delivery that fails after its retries is logged and counted, never thrown at the engine.
 */
import type { Logger } from '../../core/log.js';
import type { FlowSpec, NotifyEvent } from '../spec/index.js';
import type { RunStateEvent, TaskStateEvent } from '../scheduler/run-engine.js';
import { publishToChannel } from './channel.js';
import { sendMail } from './smtp.js';
import { postWebhook, type DeliveryOptions } from './webhook.js';

/** The JSON a webhook receives. */
export interface NotificationPayload {
  event: NotifyEvent;
  flow: string;
  run_id: string;
  /** The failed task (task_failed only). */
  task?: string;
  try_number?: number;
  state: string;
  reason: string;
  /** ISO time of the state change. */
  time: string;
}

export interface NotifierOptions {
  logger: Logger;
  /** The spec a run is pinned to. */
  specOf: (runId: string) => Promise<FlowSpec | undefined>;
  /** Retry policy of every delivery. Default: 5 retries, backoff from 500 ms to 30 s. */
  delivery?: DeliveryOptions;
  /**
   * Publishes on a message channel (the server's pubsub broker; durable when it resolves). Without it, a
   * flow with `notify.channel` logs the notification as failed.
   */
  publish?: (channel: string, payload: NotificationPayload) => Promise<void>;
  /** Notifications being delivered at once (each with its retries); beyond it new ones are dropped, counted and logged. Default 1000. */
  maxInFlight?: number;
}

export class FlowNotifier {
  /** Deliveries that failed after their retries. */
  failedTotal = 0;
  deliveredTotal = 0;
  /** Notifications dropped because `maxInFlight` were already being delivered (endpoints down or slow). */
  droppedTotal = 0;
  private lastDropLogMs = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly abort = new AbortController();

  constructor(private readonly o: NotifierOptions) {}

  onRun(e: RunStateEvent): void {
    if (e.state !== 'success' && e.state !== 'failed') return;
    const event: NotifyEvent = e.state === 'success' ? 'run_success' : 'run_failed';
    this.track(() => this.notify(event, { event, flow: e.flow, run_id: e.runId, state: e.state, reason: e.reason, time: new Date(e.timeMs).toISOString() }));
  }

  onTask(e: TaskStateEvent): void {
    if (e.state !== 'failed') return;
    this.track(
      () => this.notify('task_failed', {
        event: 'task_failed', flow: e.flow, run_id: e.runId, task: e.task, try_number: e.tryNumber, state: e.state, reason: e.reason, time: new Date(e.timeMs).toISOString(),
      }),
    );
  }

  /** Waits for deliveries in flight (bounded by their retries); `abandon` stops their retry waits. */
  async stop(abandon = true): Promise<void> {
    if (abandon) this.abort.abort();
    await Promise.all([...this.inFlight]);
  }

  private track(start: () => Promise<void>): void {
    const max = this.o.maxInFlight ?? 1000;
    if (this.inFlight.size >= max) {
      this.droppedTotal++;
      if (Date.now() - this.lastDropLogMs >= 60_000) {
        this.lastDropLogMs = Date.now();
        this.o.logger.warn({ inFlight: max, dropped: this.droppedTotal }, 'notifications: too many deliveries in flight (endpoints down or slow); dropping new ones');
      }
      return;
    }
    const p = start();
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private async notify(event: NotifyEvent, payload: NotificationPayload): Promise<void> {
    const spec = await this.o.specOf(payload.run_id).catch(() => undefined);
    if (spec === undefined || !spec.notify.on.includes(event)) return;
    const options: DeliveryOptions = { ...this.o.delivery, signal: this.abort.signal };
    const jobs: Promise<void>[] = spec.notify.webhooks.map((url) => this.deliver(`webhook ${url}`, payload, () => postWebhook(url, payload, options)));
    for (const channel of spec.notify.channels) {
      jobs.push(this.deliver(`channel ${channel}`, payload, () => publishToChannel(channel, payload, this.o.publish, options)));
    }
    const mail = spec.notify.email;
    if (mail !== undefined) {
      const what = payload.task !== undefined ? `task ${payload.task} failed` : `run ${payload.state}`;
      jobs.push(
        this.deliver(`mail to ${mail.to.join(', ')}`, payload, () =>
          sendMail(
            {
              smtp: mail.smtp, from: mail.from, to: mail.to,
              subject: `[flotilla] ${payload.flow}: ${what} (${payload.run_id})`,
              text: [`Flow: ${payload.flow}`, `Run: ${payload.run_id}`, ...(payload.task !== undefined ? [`Task: ${payload.task} (try ${payload.try_number})`] : []), `State: ${payload.state}`, `Reason: ${payload.reason}`, `Time: ${payload.time}`].join('\n'),
            },
            options,
          ),
        ),
      );
    }
    await Promise.all(jobs);
  }

  private async deliver(target: string, payload: NotificationPayload, send: () => Promise<void>): Promise<void> {
    try {
      await send();
      this.deliveredTotal++;
      this.o.logger.info({ target, event: payload.event, run: payload.run_id }, 'notification delivered');
    } catch (err) {
      this.failedTotal++;
      this.o.logger.warn({ target, event: payload.event, run: payload.run_id, err: err instanceof Error ? err.message : String(err) }, 'notification failed after its retries');
    }
  }
}
