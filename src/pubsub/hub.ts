/**
 * The subscriber side of one server: which connections read which channels, fan-out of new channel
 * entries to them in offset order, recovery from a client's last (offset, epoch), and per-subscriber
 * acknowledgements with redelivery of what was not acknowledged in time (marked `duplicate`).
 *
 * Transport-neutral: a subscription writes through a `sink` (WebSocket, SSE).
 */
import { Code, FlotillaError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { LiveChannels } from './live-channels.js';
import { isInternalChannel, publicationJson, type ChannelEntry } from './message.js';
import type { PubsubStore } from './pubsub-store.js';

/**
 * The encodings of one publication shared by every subscriber it fans out to: a transport encodes the
 * publication into its frame once and every later subscriber reuses the bytes.
 */
export interface SharedFrames {
  /** The WebSocket text frame payload `{"pub":...}`. */
  ws?: Buffer;
}

/** Where a subscription writes frames. `send` returns false when the transport is gone or overloaded. */
export interface SubscriptionSink {
  /**
   * Sends one publication (the JSON text of its frame body). `shared` is the same object for every
   * subscriber of one fan-out (absent for a send to one subscriber).
   */
  sendPublication(json: string, entry: ChannelEntry, shared?: SharedFrames): boolean;
  /** Ends the subscription from the server's side (slow consumer, too many unacknowledged). */
  fail(err: FlotillaError): void;
}

export interface HubOptions {
  /** The store holding channel histories (a function: the store exists once the server started). */
  store: () => PubsubStore;
  /** The internal channels' publications (kept in memory, never stored); without it they are read from the store too. */
  live?: LiveChannels;
  logger: Logger;
  /** Publications kept per channel (recovery window). */
  historySize: number;
  /** Unacknowledged publications are sent again after this long. Default 5000. */
  ackTimeoutMs?: number;
  /** Redeliveries of one publication to one subscriber before giving up on it. Default 5. */
  maxRedeliveries?: number;
  /** Unacknowledged publications one subscription may hold before it is ended. Default 10 000. */
  maxUnacked?: number;
  /** A fan-out yields to the event loop after running this long. Default 20 ms. */
  sliceMs?: number;
  now?: () => number;
}

interface Unacked {
  entry: ChannelEntry;
  sentAtMs: number;
  attempts: number;
}

export interface SubscribeResult {
  channel: string;
  epoch: string;
  /** Offset of the channel's last publication when the subscription went live. */
  offset: number;
  /** Present when the client asked to recover: true if every missed publication was (re)sent. */
  recovered?: boolean;
}

export class Subscription {
  epoch = '';
  lastSentOffset = 0;
  live = false;
  closed = false;
  readonly buffer: ChannelEntry[] = [];
  readonly unacked = new Map<number, Unacked>();

  constructor(
    readonly channel: string,
    readonly sink: SubscriptionSink,
    /** The subscriber acknowledges publications (WebSocket with acks); SSE does not. */
    readonly acks: boolean,
  ) {}
}

export class Hub {
  private readonly channels = new Map<string, Set<Subscription>>();
  private readonly epochs = new Map<string, string>();
  private readonly ackTimeoutMs: number;
  private readonly maxRedeliveries: number;
  private readonly maxUnacked: number;
  private readonly sliceMs: number;
  private readonly now: () => number;
  /** Counters for tests and diagnostics. */
  readonly stats = { delivered: 0, redelivered: 0, gaveUp: 0, slowConsumers: 0 };

  constructor(private readonly options: HubOptions) {
    this.ackTimeoutMs = options.ackTimeoutMs ?? 5000;
    this.maxRedeliveries = options.maxRedeliveries ?? 5;
    this.maxUnacked = options.maxUnacked ?? 10_000;
    this.sliceMs = options.sliceMs ?? 20;
    this.now = options.now ?? Date.now;
  }

  get subscriptionCount(): number {
    let n = 0;
    for (const s of this.channels.values()) n += s.size;
    return n;
  }

  hasSubscribers(channel: string): boolean {
    return (this.channels.get(channel)?.size ?? 0) > 0;
  }

  /** Where a channel's position and history are read: memory for the internal channels, else the store. */
  private source(channel: string): Pick<PubsubStore, 'position' | 'history'> {
    const live = this.options.live;
    if (live === undefined || !isInternalChannel(channel)) return this.options.store();
    return {
      position: async (c) => live.position(c),
      history: async (c, after, limit) => live.history(c, after, limit),
    };
  }

  /**
   * Makes `sub` live on its channel. With `since`, first sends what the client missed after that
   * offset (if the epoch matches and the history still holds it); publications arriving meanwhile are
   * buffered and sent after, so nothing is skipped or sent twice.
   */
  async subscribe(sub: Subscription, since?: { offset: number; epoch: string }, onResult?: (result: SubscribeResult) => void): Promise<SubscribeResult> {
    let set = this.channels.get(sub.channel);
    if (set === undefined) {
      set = new Set();
      this.channels.set(sub.channel, set);
    }
    set.add(sub);
    const source = this.source(sub.channel);
    try {
      const pos = await source.position(sub.channel);
      this.epochs.set(sub.channel, pos.epoch);
      sub.epoch = pos.epoch;
      let recovered: boolean | undefined;
      let page: ChannelEntry[] = [];
      if (since === undefined) {
        sub.lastSentOffset = pos.offset;
      } else if (since.epoch !== pos.epoch || since.offset > pos.offset) {
        recovered = false;
        sub.lastSentOffset = pos.offset;
      } else if (since.offset === pos.offset) {
        recovered = true;
        sub.lastSentOffset = pos.offset;
      } else {
        const first = await source.history(sub.channel, since.offset, 1000);
        if (first.oldestOffset === undefined || first.oldestOffset > since.offset + 1) {
          recovered = false;
          sub.lastSentOffset = pos.offset;
        } else {
          recovered = true;
          sub.lastSentOffset = since.offset;
          page = first.entries;
        }
      }
      const result: SubscribeResult = { channel: sub.channel, epoch: pos.epoch, offset: pos.offset, ...(recovered !== undefined ? { recovered } : {}) };
      onResult?.(result);
      // Missed publications in pages, then what arrived meanwhile (buffered), then live.
      while (page.length > 0 && !sub.closed) {
        for (const e of page) this.send(sub, e, false);
        const last = page[page.length - 1]!.offset;
        page = page.length < 1000 ? [] : (await source.history(sub.channel, last, 1000)).entries;
      }
      for (const e of sub.buffer.splice(0)) this.send(sub, e, false);
      sub.live = true;
      return result;
    } catch (err) {
      this.unsubscribe(sub);
      throw err;
    }
  }

  unsubscribe(sub: Subscription): void {
    sub.closed = true;
    const set = this.channels.get(sub.channel);
    if (set === undefined) return;
    set.delete(sub);
    if (set.size > 0) return;
    this.channels.delete(sub.channel);
    // Nothing is published on an internal channel nobody reads: the next subscriber starts a new epoch.
    if (isInternalChannel(sub.channel)) this.options.live?.reset(sub.channel);
  }

  /**
   * Sends new entries (already durable in this server's history) to every subscriber of their channel,
   * subscriber by subscriber (a transport that corks sends one write per subscriber for the whole
   * batch). A large fan-out yields to the event loop every `sliceMs` so that other work (publishing,
   * leases, health checks) is not starved; callers await it before fanning out the next batch, which
   * keeps every subscriber's publications in offset order.
   */
  async fanOut(entries: readonly ChannelEntry[], epochs: ReadonlyMap<string, string>): Promise<void> {
    for (const [c, e] of epochs) this.epochs.set(c, e);
    const byChannel = new Map<string, ChannelEntry[]>();
    for (const entry of entries) {
      if (!this.channels.has(entry.channel)) continue;
      let list = byChannel.get(entry.channel);
      if (list === undefined) byChannel.set(entry.channel, (list = []));
      list.push(entry);
    }
    let sliceStart = performance.now();
    for (const [channel, list] of byChannel) {
      const set = this.channels.get(channel);
      if (set === undefined) continue;
      const epoch = epochs.get(channel) ?? this.epochs.get(channel) ?? '';
      const jsons = list.map((entry) => publicationJson(entry, epoch));
      const shared: SharedFrames[] = list.map(() => ({}));
      let n = 0;
      for (const sub of [...set]) {
        for (let i = 0; i < list.length; i++) {
          if (sub.closed) break;
          const entry = list[i]!;
          if (!sub.live) {
            if (sub.buffer.length >= this.maxUnacked) this.drop(sub, 'too many publications arrived while recovering');
            else sub.buffer.push(entry);
            continue;
          }
          if (entry.offset <= sub.lastSentOffset || sub.epoch !== epoch) continue;
          this.sendJson(sub, entry, jsons[i]!, shared[i]);
        }
        if (++n % 64 === 0 && performance.now() - sliceStart > this.sliceMs) {
          await new Promise((resolve) => setImmediate(resolve));
          sliceStart = performance.now();
        }
      }
    }
  }

  /** Cumulative acknowledgement: every publication of the channel up to `offset` was processed. */
  ack(sub: Subscription, offset: number): void {
    if (sub.unacked.size === 0) return;
    for (const k of sub.unacked.keys()) if (k <= offset) sub.unacked.delete(k);
  }

  /** Sends again every publication whose acknowledgement is overdue (call periodically). */
  redeliver(): void {
    const now = this.now();
    for (const set of this.channels.values()) {
      for (const sub of set) {
        if (sub.unacked.size === 0) continue;
        for (const [offset, u] of sub.unacked) {
          if (u.sentAtMs + this.ackTimeoutMs > now) continue;
          if (u.attempts > this.maxRedeliveries) {
            sub.unacked.delete(offset);
            this.stats.gaveUp += 1;
            continue;
          }
          u.attempts += 1;
          u.sentAtMs = now;
          this.stats.redelivered += 1;
          if (!sub.sink.sendPublication(publicationJson(u.entry, sub.epoch, true), u.entry)) break;
        }
      }
    }
  }

  /** Ends every subscription (server stopping). */
  closeAll(): void {
    for (const set of this.channels.values()) for (const sub of set) sub.closed = true;
    this.channels.clear();
  }

  private send(sub: Subscription, entry: ChannelEntry, duplicate: boolean): void {
    if (entry.offset <= sub.lastSentOffset) return;
    this.sendJson(sub, entry, publicationJson(entry, sub.epoch, duplicate));
  }

  private sendJson(sub: Subscription, entry: ChannelEntry, json: string, shared?: SharedFrames): void {
    if (sub.closed) return;
    sub.lastSentOffset = entry.offset;
    if (!sub.sink.sendPublication(json, entry, shared)) return;
    this.stats.delivered += 1;
    if (sub.acks) {
      if (sub.unacked.size >= this.maxUnacked) {
        this.drop(sub, `more than ${this.maxUnacked} publications are unacknowledged`);
        return;
      }
      sub.unacked.set(entry.offset, { entry, sentAtMs: this.now(), attempts: 0 });
    }
  }

  private drop(sub: Subscription, why: string): void {
    this.stats.slowConsumers += 1;
    this.options.logger.warn({ channel: sub.channel, why }, 'pubsub: ending a slow subscriber');
    this.unsubscribe(sub);
    sub.sink.fail(new FlotillaError(Code.RESOURCE_EXHAUSTED, `subscription to ${sub.channel} ended: ${why}; reconnect and recover from your last offset`));
  }
}
