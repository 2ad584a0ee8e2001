/**
 * The one publisher of each peer. Flotilla: `POST /api/v1/publish` (deliver now) over keep-alive HTTP,
 * a few requests in flight; each message is durable in the SQL store before the answer. NATS: `publish`
 * on one connection of the `nats` package (fire and forget, then a flush). Data: {"s":SEQ,"t":SENT_MS,"p":PAD}.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as natsConnect, type NatsConnection } from 'nats';
import { Code, FlotillaError } from '../../src/core/errors.js';

const nowMs = (): number => performance.timeOrigin + performance.now();

export interface Publisher {
  /** Publishes `count` messages as fast as the peer takes them; resolves when all were accepted. */
  burst(count: number): Promise<void>;
  /** Publishes `count` messages at `perSecond`. */
  paced(count: number, perSecond: number): Promise<void>;
  close(): Promise<void>;
}

const data = (seq: number, pad: string): { s: number; t: number; p: string } => ({ s: seq, t: nowMs(), p: pad });

export function flotillaPublisher(o: { http: string; channel: string; concurrency: number; payloadBytes: number }): Publisher {
  const pad = 'x'.repeat(Math.max(0, o.payloadBytes - 40));
  let seq = 0;
  const publishOne = async (): Promise<void> => {
    const res = await fetch(`${o.http}/api/v1/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ channel: o.channel, data: data(seq++, pad) }),
      signal: AbortSignal.timeout(120_000),
    });
    const text = await res.text();
    if (res.status !== 202) throw new FlotillaError(Code.UNAVAILABLE, `bench pubsub: publish answered HTTP ${res.status}: ${text.slice(0, 200)}`);
  };
  return {
    async burst(count) {
      let left = count;
      await Promise.all(
        Array.from({ length: o.concurrency }, async () => {
          while (left > 0) {
            left--;
            await publishOne();
          }
        }),
      );
    },
    async paced(count, perSecond) {
      const start = nowMs();
      const inFlight: Promise<void>[] = [];
      for (let i = 0; i < count; i++) {
        const wait = start + (i * 1000) / perSecond - nowMs();
        if (wait > 0) await sleep(wait);
        inFlight.push(publishOne());
      }
      await Promise.all(inFlight);
    },
    async close() {},
  };
}

export async function natsPublisher(o: { url: string; subject: string; payloadBytes: number }): Promise<Publisher> {
  const nc: NatsConnection = await natsConnect({ servers: o.url, name: 'bench-publisher', maxReconnectAttempts: 0 });
  const pad = 'x'.repeat(Math.max(0, o.payloadBytes - 40));
  const enc = new TextEncoder();
  let seq = 0;
  return {
    async burst(count) {
      for (let i = 0; i < count; i++) {
        nc.publish(o.subject, enc.encode(JSON.stringify(data(seq++, pad))));
        // Yield now and then so the socket drains instead of one huge buffer.
        if (i % 100 === 99) await nc.flush();
      }
      await nc.flush();
    },
    async paced(count, perSecond) {
      const start = nowMs();
      for (let i = 0; i < count; i++) {
        const wait = start + (i * 1000) / perSecond - nowMs();
        if (wait > 0) await sleep(wait);
        nc.publish(o.subject, enc.encode(JSON.stringify(data(seq++, pad))));
        await nc.flush();
      }
    },
    async close() {
      await nc.close();
    },
  };
}
