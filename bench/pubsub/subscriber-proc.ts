/**
 * One load-generator child process of bench/pubsub: holds a share of the subscribers (Flotilla WebSocket
 * connections on /ws, and NATS connections through the `nats` package), counts what they receive and
 * records publish-to-receive latencies. Driven by its parent over the IPC channel (subscribers.ts).
 *
 * A message's data is `{"s":SEQ,"t":SENT_MS}` (SENT_MS = performance.timeOrigin + performance.now() of
 * the publisher, on the same machine). Counting only looks at the frame's first bytes; latency phases
 * parse every message.
 */
import { createRequire } from 'node:module';
import { connect as natsConnect, type NatsConnection } from 'nats';
import type { ChildCommand, ChildReport } from './subscribers.js';

interface WsClient {
  readyState: number;
  send(data: string): void;
  close(code?: number): void;
  terminate(): void;
  on(event: 'message', fn: (data: Buffer, isBinary: boolean) => void): void;
  on(event: 'open', fn: () => void): void;
  on(event: 'close', fn: () => void): void;
  on(event: 'error', fn: (err: Error) => void): void;
  once(event: 'message', fn: (data: Buffer) => void): void;
}
const require = createRequire(import.meta.url);
const { WebSocket } = require('ws') as { WebSocket: new (url: string, opts?: Record<string, unknown>) => WsClient };

const nowMs = (): number => performance.timeOrigin + performance.now();

/** What the current phase counts. */
const phase = { measureLatency: false, received: 0, firstAtMs: 0, lastAtMs: 0, latencies: [] as number[], perSub: new Uint32Array(0) };
const flotilla: WsClient[] = [];
const nats: NatsConnection[] = [];
let lost = 0;

function send(msg: ChildReport): void {
  process.send?.(msg);
}

function onReceive(index: number, payload: () => string): void {
  const at = nowMs();
  if (phase.received === 0) phase.firstAtMs = at;
  phase.received++;
  phase.lastAtMs = at;
  phase.perSub[index] = (phase.perSub[index] ?? 0) + 1;
  if (phase.measureLatency) {
    const m = /"t":([0-9.]+)/.exec(payload());
    if (m !== null) phase.latencies.push(at - Number(m[1]));
  }
}

async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function connectFlotilla(url: string, channel: string, count: number, base: number, acks: boolean): Promise<void> {
  const indexes = Array.from({ length: count }, (_, i) => base + i);
  await pool(indexes, 50, async (index) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.on('error', reject);
      ws.on('open', () => {
        ws.once('message', (data) => {
          const text = data.toString('utf8');
          if (!text.includes('"result"')) reject(new Error(`subscribe failed: ${text}`));
          else resolve();
        });
        ws.send(JSON.stringify({ id: 1, subscribe: { channel, ack: acks } }));
      });
    });
    let sinceAck = 0;
    ws.on('message', (data, isBinary) => {
      // {"pub":{...}}: the third byte is the p of pub.
      if (isBinary || data[2] !== 0x70) return;
      onReceive(index, () => data.toString('utf8'));
      if (acks && ++sinceAck >= 64) {
        sinceAck = 0;
        const m = /"offset":(\d+)/.exec(data.toString('utf8'));
        if (m !== null) ws.send(`{"ack":{"channel":${JSON.stringify(channel)},"offset":${m[1]}}}`);
      }
    });
    ws.on('close', () => void lost++);
    flotilla.push(ws);
  });
}

async function connectNats(url: string, subject: string, count: number, base: number): Promise<void> {
  const indexes = Array.from({ length: count }, (_, i) => base + i);
  const decoder = new TextDecoder();
  await pool(indexes, 50, async (index) => {
    const nc = await natsConnect({ servers: url, name: `bench-sub-${index}`, pingInterval: 600_000, maxReconnectAttempts: 0 });
    nc.subscribe(subject, { callback: (_err, msg) => onReceive(index, () => decoder.decode(msg.data)) });
    await nc.flush();
    void nc.closed().then(() => void lost++);
    nats.push(nc);
  });
}

async function handle(cmd: ChildCommand): Promise<void> {
  switch (cmd.cmd) {
    case 'connect':
      if (cmd.peer === 'flotilla') await connectFlotilla(cmd.url, cmd.target, cmd.count, cmd.base, cmd.acks);
      else await connectNats(cmd.url, cmd.target, cmd.count, cmd.base);
      send({ type: 'connected' });
      return;
    case 'reset':
      phase.measureLatency = cmd.measureLatency;
      phase.received = 0;
      phase.firstAtMs = 0;
      phase.lastAtMs = 0;
      phase.latencies = [];
      phase.perSub = new Uint32Array(cmd.totalSubscribers);
      send({ type: 'ready' });
      return;
    case 'report': {
      let minPerSub = Number.POSITIVE_INFINITY;
      let maxPerSub = 0;
      for (let i = cmd.base; i < cmd.base + cmd.count; i++) {
        const n = phase.perSub[i] ?? 0;
        if (n < minPerSub) minPerSub = n;
        if (n > maxPerSub) maxPerSub = n;
      }
      send({ type: 'report', received: phase.received, firstAtMs: phase.firstAtMs, lastAtMs: phase.lastAtMs, minPerSub, maxPerSub, lost, latencies: cmd.withLatencies ? phase.latencies : [] });
      return;
    }
    case 'close':
      for (const ws of flotilla.splice(0)) ws.terminate();
      await Promise.all(nats.splice(0).map((nc) => nc.close().catch(() => undefined)));
      send({ type: 'closed' });
      return;
  }
}

process.on('message', (cmd: ChildCommand) => {
  handle(cmd).catch((err: unknown) => send({ type: 'error', message: err instanceof Error ? err.message : String(err) }));
});
// The parent is gone (Ctrl-C, crash): do not linger.
process.on('disconnect', () => process.exit(0));
