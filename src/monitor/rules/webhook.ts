/**
 * Sends alert notifications to webhooks as JSON POSTs in Alertmanager's webhook payload shape
 * (`version: "4"`, `status`, `alerts[]` with `status`, `labels`, `annotations`, `startsAt`, `endsAt`,
 * `generatorURL`, `fingerprint`). Never blocks the rule evaluation: payloads wait in a bounded queue per
 * URL (the oldest is dropped and counted when full) and are retried with exponential backoff on network
 * errors and 5xx/429 answers; other 4xx answers are not retried.
 */
import { createHash } from 'node:crypto';
import { backoffDelayMs } from '../../core/backoff.js';
import type { Logger } from '../../core/log.js';
import type { Labels } from '../tsdb/types.js';

export interface WebhookAlert {
  status: 'firing' | 'resolved';
  labels: Labels;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}

export interface WebhookPayload {
  version: '4';
  groupKey: string;
  truncatedAlerts: number;
  status: 'firing' | 'resolved';
  receiver: string;
  groupLabels: Labels;
  commonLabels: Labels;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  alerts: WebhookAlert[];
}

export interface WebhookSenderOptions {
  urls: readonly string[];
  logger: Logger;
  /** Payloads waiting per URL before the oldest is dropped. Default 1000. */
  maxQueue?: number;
  /** Retries after the first attempt. Default 5. */
  retries?: number;
  /** Per-request timeout. Default 10 000 ms. */
  timeoutMs?: number;
  /** Backoff of retries. Default base 500 ms, cap 30 000 ms. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
}

export interface WebhookStats {
  sent: number;
  failed: number;
  dropped: number;
  queued: number;
}

export interface WebhookSender {
  /** Queues a payload for every URL; returns at once. */
  send(payload: WebhookPayload): void;
  stats(): WebhookStats;
  /** Resolves when every queue is empty (or stop was called). */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

export function fingerprint(labels: Labels): string {
  const text = Object.keys(labels).sort().map((k) => `${k}\xff${labels[k]}`).join('\xff');
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

export function createWebhookSender(options: WebhookSenderOptions): WebhookSender {
  const maxQueue = options.maxQueue ?? 1000;
  const retries = options.retries ?? 5;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const stats: WebhookStats = { sent: 0, failed: 0, dropped: 0, queued: 0 };
  const abort = new AbortController();
  const queues = new Map<string, WebhookPayload[]>(options.urls.map((u) => [u, []]));
  const running = new Map<string, Promise<void>>();
  let stopped = false;

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      if (abort.signal.aborted) return resolve();
      const t = setTimeout(resolve, ms);
      abort.signal.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      }, { once: true });
    });

  async function deliver(url: string, payload: WebhookPayload): Promise<void> {
    const body = JSON.stringify(payload);
    for (let attempt = 0; attempt <= retries && !stopped; attempt++) {
      let retryable = true;
      let reason: string;
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'flotilla-rules' },
          body,
          signal: AbortSignal.any([abort.signal, AbortSignal.timeout(timeoutMs)]),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) {
          stats.sent++;
          return;
        }
        retryable = res.status >= 500 || res.status === 429;
        reason = `HTTP ${res.status}`;
      } catch (err) {
        reason = (err as Error).message;
      }
      if (!retryable || attempt === retries || stopped) {
        stats.failed++;
        options.logger.warn({ url, reason, attempts: attempt + 1 }, 'alert webhook failed');
        return;
      }
      await sleep(backoffDelayMs(attempt, { baseMs: options.backoffBaseMs ?? 500, maxMs: options.backoffMaxMs ?? 30_000, jitter: 'equal' }));
    }
  }

  function drain(url: string): void {
    if (running.has(url)) return;
    const q = queues.get(url)!;
    const p = (async () => {
      while (q.length > 0 && !stopped) {
        const payload = q.shift()!;
        stats.queued--;
        await deliver(url, payload);
      }
    })().finally(() => running.delete(url));
    running.set(url, p);
  }

  return {
    send(payload) {
      if (stopped) return;
      for (const [url, q] of queues) {
        if (q.length >= maxQueue) {
          q.shift();
          stats.queued--;
          stats.dropped++;
        }
        q.push(payload);
        stats.queued++;
        drain(url);
      }
    },
    stats: () => ({ ...stats }),
    async idle() {
      while (running.size > 0) await Promise.all([...running.values()]);
    },
    async stop() {
      stopped = true;
      abort.abort();
      await Promise.allSettled([...running.values()]);
    },
  };
}
