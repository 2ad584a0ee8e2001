/**
 * The scheduled-message broker of one server. Publishing stores the message (durable before the answer);
 * a bounded in-memory timer queue holds the messages due within the next `windowMs` (the rest stay in
 * the store and are loaded as their time approaches); at deliverAt the message is appended to its
 * channel's history (offset assigned, marked delivered, one transaction) and fanned out to subscribers.
 *
 * With NATS, the due message is published to NATS instead (marked delivered once NATS confirmed it), and
 * every server, the origin included, appends what it receives from NATS to its own history and fans it
 * out to its own subscribers: a subscriber on any server gets every message once.
 *
 * The server's own internal channels (`$flotilla.*`, publishInternal) are live state instead: published
 * only while this server has a subscriber to them, fanned out in order with the rest, never stored (their
 * offsets and a short history live in memory, live-channels.ts).
 */
import { randomUUID } from 'node:crypto';
import { Code, FlotillaError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { SqlStore } from '../core/sql/index.js';
import { Hub } from './hub.js';
import { LiveChannels } from './live-channels.js';
import { defaultLimits, INTERNAL_PREFIX, isInternalChannel, validateChannel, validatePublish, type NewMessage, type PubsubLimits, type Publication, type StoredMessage } from './message.js';
import { NatsClient } from './nats-client.js';
import { PubsubStore } from './pubsub-store.js';
import { systemClock, TimerQueue, type Clock } from './timer-queue.js';

export interface BrokerOptions {
  /** The server's SQL store, or a function giving it once the server has opened it (at start). */
  sql: SqlStore | (() => SqlStore);
  logger: Logger;
  /** HMAC secret of channel tokens (at least 32 characters). */
  tokenSecret: string;
  limits?: Partial<PubsubLimits>;
  /** Publications kept per channel for recovery. Default 1000. */
  historySize?: number;
  /** Age after which a publication leaves the history. Default 24 h. */
  historyTtlMs?: number;
  /** Messages due within this window are held in memory. Default 60 000. */
  windowMs?: number;
  /** Most messages held in memory at once. Default 200 000. */
  maxQueued?: number;
  /** See Hub. Default 5000. */
  ackTimeoutMs?: number;
  /** Publish requests waiting for their store transaction; more are refused with RESOURCE_EXHAUSTED (HTTP 429). Default 10 000. */
  maxPendingPublishes?: number;
  /** Publications from NATS (and, separately, internal ones) waiting to be stored or fanned out; beyond it the oldest are dropped and counted. Default 100 000. */
  maxIncoming?: number;
  /** Publications of each internal channel kept in memory for a subscriber that reconnects. Default 256. */
  liveHistorySize?: number;
  /** nats://host:port: fan out through NATS. */
  natsUrl?: string;
  /** NATS subject carrying publications. Default `flotilla.pubsub.publications`. */
  natsSubject?: string;
  clock?: Clock;
}

interface NatsEnvelope {
  v: 1;
  pub: Publication;
}

export class Broker {
  readonly name = 'pubsub';
  private storeInstance: PubsubStore | undefined;
  readonly hub: Hub;
  readonly limits: PubsubLimits;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly queue: TimerQueue<StoredMessage>;
  private readonly windowMs: number;
  private readonly maxQueued: number;
  private readonly historySize: number;
  private readonly historyTtlMs: number;
  private readonly inFlight = new Set<string>();
  private toInsert: { msg: NewMessage; resolve: (r: { message: StoredMessage; duplicate: boolean }) => void; reject: (err: unknown) => void }[] = [];
  private inserting = false;
  private pending: StoredMessage[] = [];
  private incoming: Publication[] = [];
  /** Internal publications waiting to be fanned out (never stored). */
  private liveIncoming: Publication[] = [];
  private readonly live: LiveChannels;
  private chain: Promise<void> = Promise.resolve();
  private draining = false;
  private windowEndMs = 0;
  private overflow = false;
  private refillTimer: unknown;
  private sweepTimer: unknown;
  private nats: NatsClient | undefined;
  private readonly natsSubject: string;
  private readonly recentIds = new Set<string>();
  private started = false;
  private readonly stopHooks = new Set<() => void>();
  /** Lateness (ms after deliverAt) of the last deliveries, for diagnostics. */
  readonly lateness: number[] = [];
  /** Publications from NATS (or internal ones) dropped because `maxIncoming` were already waiting (this server fell behind). */
  droppedIncoming = 0;
  private lastDropLogMs = 0;

  constructor(private readonly options: BrokerOptions) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
    this.limits = { ...defaultLimits, ...options.limits };
    this.windowMs = options.windowMs ?? 60_000;
    this.maxQueued = options.maxQueued ?? 200_000;
    this.historySize = options.historySize ?? 1000;
    this.historyTtlMs = options.historyTtlMs ?? 86_400_000;
    this.natsSubject = options.natsSubject ?? 'flotilla.pubsub.publications';
    this.live = new LiveChannels({ ...(options.liveHistorySize !== undefined ? { historySize: options.liveHistorySize } : {}) });
    this.hub = new Hub({ store: () => this.store, live: this.live, logger: this.logger, historySize: this.historySize, ackTimeoutMs: options.ackTimeoutMs, now: () => this.clock.now() });
    this.queue = new TimerQueue<StoredMessage>({ clock: this.clock, onDue: (items) => this.onDue(items) });
  }

  /** The HMAC secret of channel tokens. */
  get tokenSecret(): string {
    return this.options.tokenSecret;
  }

  /** The store (after start). */
  get store(): PubsubStore {
    if (this.storeInstance === undefined) {
      const sql = typeof this.options.sql === 'function' ? this.options.sql() : this.options.sql;
      this.storeInstance = new PubsubStore(sql);
    }
    return this.storeInstance;
  }

  async start(): Promise<void> {
    await this.store.migrate();
    if (this.options.natsUrl !== undefined) {
      this.nats = new NatsClient({ url: this.options.natsUrl, logger: this.logger.child({ component: 'nats' }), name: 'flotilla-pubsub' });
      this.nats.subscribe(this.natsSubject, (_subject, payload) => this.onNatsMessage(payload));
      await this.nats.connect();
    }
    this.started = true;
    await this.refill();
    const sweep = (): void => {
      this.hub.redeliver();
      if (this.started) this.sweepTimer = this.clock.setTimer(sweep, 250);
    };
    this.sweepTimer = this.clock.setTimer(sweep, 250);
  }

  /** Registers a connection to end when the broker stops; returns the function that unregisters it. */
  onStop(fn: () => void): () => void {
    this.stopHooks.add(fn);
    return () => this.stopHooks.delete(fn);
  }

  /** Ends every WebSocket and SSE connection (the HTTP server is closing, or the broker stops). */
  closeConnections(): void {
    for (const fn of [...this.stopHooks]) fn();
    this.stopHooks.clear();
  }

  async stop(): Promise<void> {
    this.started = false;
    this.closeConnections();
    if (this.refillTimer !== undefined) this.clock.clearTimer(this.refillTimer);
    if (this.sweepTimer !== undefined) this.clock.clearTimer(this.sweepTimer);
    this.queue.stop();
    await this.idle();
    this.hub.closeAll();
    await this.nats?.close();
  }

  /** Resolves once every delivery started so far has finished (tests). */
  async idle(): Promise<void> {
    for (;;) {
      const c = this.chain;
      await c;
      if (c === this.chain && !this.draining) return;
    }
  }

  /**
   * Validates and stores a message; it is durable when this resolves. Publications arriving while a
   * store transaction runs are stored together in the next one (group commit: one sync for the group).
   */
  async publish(body: unknown): Promise<{ message: StoredMessage; duplicate: boolean }> {
    if (!this.started) throw new FlotillaError(Code.UNAVAILABLE, 'the message broker is not running');
    const msg = validatePublish(body, this.clock.now(), this.limits);
    const maxPending = this.options.maxPendingPublishes ?? 10_000;
    if (this.toInsert.length >= maxPending) {
      throw new FlotillaError(Code.RESOURCE_EXHAUSTED, `the message store is behind: ${maxPending} publications are waiting to be stored; retry shortly`, { retryable: true });
    }
    return new Promise((resolve, reject) => {
      this.toInsert.push({ msg, resolve, reject });
      if (this.inserting) return;
      this.inserting = true;
      // The SQL store may be synchronous (SQLite): wait one turn of the event loop so that every request
      // read in this turn joins the group.
      setImmediate(() => void this.insertQueued());
    });
  }

  /** True when a subscriber on this server reads `channel` now (an internal channel nobody reads need not be fed). */
  hasSubscribers(channel: string): boolean {
    return this.hub.hasSubscribers(channel);
  }

  /**
   * Publishes one of the server's own messages on an internal channel (`$flotilla.*`), now, on this
   * server only (never through NATS: each server describes what it sees). Internal channels are live
   * state: never stored, only fanned out (in order, batched with other deliveries) and kept in memory
   * for a while so that a subscriber that reconnects recovers what it missed (live-channels.ts). Dropped
   * when nobody on this server subscribes to the channel, and while the broker is not running.
   */
  publishInternal(channel: string, data: unknown): void {
    if (!isInternalChannel(channel)) throw new FlotillaError(Code.INVALID_ARGUMENT, `${channel} is not an internal channel (${INTERNAL_PREFIX}...)`);
    validateChannel(channel);
    if (!this.started || !this.hub.hasSubscribers(channel)) return;
    this.enqueue(this.liveIncoming, { id: randomUUID(), channel, data: JSON.stringify(data), encoding: 'json', deliverAtMs: this.clock.now() });
  }

  /** Queues a publication to store and fan out; when `maxIncoming` wait already, the oldest is dropped and counted. */
  private enqueueIncoming(pub: Publication): void {
    this.enqueue(this.incoming, pub);
  }

  private enqueue(queue: Publication[], pub: Publication): void {
    const max = this.options.maxIncoming ?? 100_000;
    if (queue.length >= max) {
      queue.shift();
      this.droppedIncoming++;
      const now = this.clock.now();
      if (now - this.lastDropLogMs >= 60_000) {
        this.lastDropLogMs = now;
        this.logger.warn({ waiting: max, dropped: this.droppedIncoming }, 'pubsub: this server is behind on publications; dropping the oldest');
      }
    }
    queue.push(pub);
    this.kick();
  }

  private async insertQueued(): Promise<void> {
    try {
      while (this.toInsert.length > 0) {
        const group = this.toInsert.splice(0, 1000);
        try {
          const results = await this.store.insertBatch(
            group.map((g) => g.msg),
            this.clock.now(),
          );
          for (const [i, res] of results.entries()) {
            if (!res.duplicate) this.track(res.message);
            group[i]!.resolve(res);
          }
        } catch (err) {
          for (const g of group) g.reject(err);
        }
      }
    } finally {
      this.inserting = false;
    }
  }

  async cancel(id: string): Promise<StoredMessage> {
    const m = await this.store.cancel(id);
    if (m === undefined) throw new FlotillaError(Code.NOT_FOUND, `no message ${JSON.stringify(id)}`);
    if (m.state !== 'cancelled') throw new FlotillaError(Code.FAILED_PRECONDITION, `message ${id} is ${m.state}; only scheduled messages can be cancelled`);
    this.queue.remove(id);
    return m;
  }

  private track(m: StoredMessage): void {
    if (m.state !== 'scheduled' || this.inFlight.has(m.id) || this.queue.has(m.id)) return;
    if (m.deliverAtMs >= this.windowEndMs) return; // loaded by a later refill
    if (this.queue.size >= this.maxQueued) {
      this.overflow = true;
      return;
    }
    this.queue.add(m.id, m.deliverAtMs, m);
  }

  /** Loads the messages due within the window into the timer queue, and schedules the next refill. */
  private async refill(): Promise<void> {
    if (!this.started) return;
    const now = this.clock.now();
    const end = now + this.windowMs;
    try {
      const due = await this.store.due(end, this.maxQueued);
      this.windowEndMs = due.length >= this.maxQueued ? (due[due.length - 1]?.deliverAtMs ?? end) : end;
      this.overflow = due.length >= this.maxQueued;
      for (const m of due) {
        if (m.deliverAtMs >= this.windowEndMs) break;
        if (!this.queue.has(m.id) && !this.inFlight.has(m.id) && this.queue.size < this.maxQueued) this.queue.add(m.id, m.deliverAtMs, m);
      }
    } catch (err) {
      this.logger.error({ err: FlotillaError.from(err).message }, 'pubsub: loading scheduled messages failed; retrying');
    }
    if (!this.started) return;
    const next = this.overflow ? 1000 : Math.max(100, Math.floor(this.windowMs / 3));
    this.refillTimer = this.clock.setTimer(() => void this.refill(), next);
  }

  private onDue(items: StoredMessage[]): void {
    for (const m of items) this.inFlight.add(m.id);
    this.pending.push(...items);
    this.kick();
  }

  private kick(): void {
    if (this.draining) return;
    this.draining = true;
    this.chain = this.chain
      .then(() => this.drain())
      .catch((err: unknown) => this.logger.error({ err: FlotillaError.from(err).message }, 'pubsub: delivery step failed'))
      .finally(() => {
      this.draining = false;
      if (this.pending.length > 0 || this.incoming.length > 0 || this.liveIncoming.length > 0) this.kick();
    });
  }

  /** One delivery step at a time, batching whatever became due meanwhile. */
  private async drain(): Promise<void> {
    while (this.pending.length > 0 || this.incoming.length > 0 || this.liveIncoming.length > 0) {
      const batch = this.pending.splice(0);
      if (batch.length > 0) await this.deliverScheduled(batch);
      const live = this.liveIncoming.splice(0);
      if (live.length > 0) {
        const { entries, epochs } = this.live.append(live, this.clock.now());
        await this.hub.fanOut(entries, epochs);
      }
      const pubs = this.incoming.splice(0);
      if (pubs.length === 0) continue;
      try {
        await this.appendAndFanOut(pubs, false);
      } catch (err) {
        this.logger.warn({ err: FlotillaError.from(err).message, count: pubs.length }, 'pubsub: storing publications from NATS failed; retrying in 1 s');
        this.incoming.unshift(...pubs);
        if (!this.started) return;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  private async deliverScheduled(batch: StoredMessage[]): Promise<void> {
    const now = this.clock.now();
    const expired = batch.filter((m) => m.expiresAtMs !== undefined && m.expiresAtMs < now);
    const live = batch.filter((m) => !(m.expiresAtMs !== undefined && m.expiresAtMs < now));
    try {
      if (expired.length > 0) await this.store.markExpired(expired.map((m) => m.id));
      const pubs: Publication[] = live.map((m) => ({ id: m.id, channel: m.channel, data: m.data, encoding: m.encoding, deliverAtMs: m.deliverAtMs }));
      if (this.nats !== undefined) {
        for (const p of pubs) this.nats.publish(this.natsSubject, JSON.stringify({ v: 1, pub: p } satisfies NatsEnvelope));
        await this.nats.flush();
        await this.store.markDelivered(pubs.map((p) => p.id), this.clock.now());
      } else {
        await this.appendAndFanOut(pubs, true);
      }
      for (const m of batch) this.inFlight.delete(m.id);
    } catch (err) {
      // Not delivered: keep them scheduled and try again shortly (at-least-once).
      this.logger.warn({ err: FlotillaError.from(err).message, count: batch.length }, 'pubsub: delivery failed; retrying in 1 s');
      for (const m of batch) {
        this.inFlight.delete(m.id);
        if (this.started) this.queue.add(m.id, this.clock.now() + 1000, m);
      }
    }
  }

  private async appendAndFanOut(pubs: Publication[], fromSchedule: boolean): Promise<void> {
    if (pubs.length === 0) return;
    const now = this.clock.now();
    const { entries, epochs } = await this.store.append(pubs, now, { historySize: this.historySize, historyTtlMs: this.historyTtlMs }, fromSchedule);
    await this.hub.fanOut(entries, epochs);
    const after = this.clock.now();
    for (const e of entries) {
      this.lateness.push(after - e.deliverAtMs);
      if (this.lateness.length > 10_000) this.lateness.splice(0, 5000);
    }
    if (Math.random() < 0.01) void this.pruneHistory();
  }

  private async pruneHistory(): Promise<void> {
    try {
      await this.store.pruneHistory(this.clock.now() - this.historyTtlMs);
    } catch (err) {
      this.logger.warn({ err: FlotillaError.from(err).message }, 'pubsub: history pruning failed');
    }
  }

  private onNatsMessage(payload: Buffer): void {
    let env: NatsEnvelope;
    try {
      env = JSON.parse(payload.toString('utf8')) as NatsEnvelope;
      const p = env.pub;
      if (env.v !== 1 || typeof p?.id !== 'string' || typeof p.channel !== 'string' || typeof p.data !== 'string' || (p.encoding !== 'json' && p.encoding !== 'base64') || typeof p.deliverAtMs !== 'number') {
        throw new Error('unexpected shape');
      }
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'pubsub: ignoring a malformed message from NATS');
      return;
    }
    // The origin may publish again after a crash (at-least-once); one copy per server is enough.
    if (this.recentIds.has(env.pub.id)) return;
    this.recentIds.add(env.pub.id);
    if (this.recentIds.size > 100_000) {
      const it = this.recentIds.values();
      for (let i = 0; i < 50_000; i++) this.recentIds.delete(it.next().value as string);
    }
    this.enqueueIncoming(env.pub);
  }
}
