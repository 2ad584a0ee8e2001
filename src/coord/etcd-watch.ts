/**
 * A resumable watch over one etcd Watch stream. The etcd3 library's own watcher advances its resume
 * point to the header revision of the create response, which loses the replayed events still in flight
 * when the stream breaks; this one advances only past events it has delivered (or a progress
 * notification, which etcd sends only once a watcher is caught up), so a reconnect neither loses nor
 * repeats an event.
 */
import { EventEmitter } from 'node:events';
import type { IDuplexStream, IWatchRequest, IWatchResponse, WatchClient } from 'etcd3';
import type { Logger } from 'pino';
import { Code, FlotillaError } from '../core/errors.js';
import type { Watch, WatchEvent, WatchEventMap, WatchOptions } from './coord.js';
import { prefixEnd, toBuffer, toFlotillaError, toKeyValue } from './etcd-convert.js';

export interface EtcdWatchDeps {
  watchClient: WatchClient;
  logger: Logger;
  /** First reconnect delay; doubles up to `maxBackoffMs`. */
  minBackoffMs: number;
  maxBackoffMs: number;
  onClose: (w: EtcdWatch) => void;
}

type Stream = IDuplexStream<IWatchRequest, IWatchResponse> & { pause?: () => void; resume?: () => void };

export class EtcdWatch extends EventEmitter implements Watch {
  readonly ready: Promise<void>;
  private next: number;
  private stream: Stream | undefined;
  private closed = false;
  private failed: FlotillaError | undefined;
  private backoffMs: number;
  private timer: NodeJS.Timeout | undefined;
  private everConnected = false;
  private resolveReady!: () => void;
  private rejectReady!: (err: FlotillaError) => void;
  // Async-iterator state.
  private readonly queue: WatchEvent[] = [];
  private waiter: (() => void) | undefined;
  private iterating = false;
  private paused = false;
  private readonly highWaterMark: number;

  constructor(
    private readonly options: WatchOptions,
    private readonly deps: EtcdWatchDeps,
  ) {
    super();
    this.next = options.fromRevision ?? 0;
    this.backoffMs = deps.minBackoffMs;
    this.highWaterMark = options.highWaterMark ?? 1000;
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // A caller that never awaits `ready` must not get an unhandled rejection.
    this.ready.catch(() => undefined);
    this.connect();
  }

  get nextRevision(): number {
    return this.next;
  }

  override on<E extends keyof WatchEventMap>(event: E, listener: (...args: WatchEventMap[E]) => void): this {
    return super.on(event, listener as (...args: unknown[]) => void);
  }

  override off<E extends keyof WatchEventMap>(event: E, listener: (...args: WatchEventMap[E]) => void): this {
    return super.off(event, listener as (...args: unknown[]) => void);
  }

  private connect(): void {
    if (this.closed) return;
    this.deps.watchClient
      .watch()
      .then((s) => {
        const stream = s as Stream;
        if (this.closed) {
          stream.cancel();
          return;
        }
        this.stream = stream;
        stream.on('data', (res) => this.onResponse(stream, res));
        stream.on('error', (err) => this.onBroken(stream, toFlotillaError(err, 'watch stream')));
        stream.on('end', () => this.onBroken(stream, new FlotillaError(Code.UNAVAILABLE, 'watch stream ended')));
        const key = toBuffer(this.options.key);
        const create: IWatchRequest['create_request'] = { key, progress_notify: true };
        if (this.options.prefix === true) create.range_end = prefixEnd(key);
        if (this.next > 0) create.start_revision = this.next;
        if (this.options.prevKv === true) create.prev_kv = true;
        if (this.options.only === 'put') create.filters = ['Nodelete'];
        if (this.options.only === 'delete') create.filters = ['Noput'];
        stream.write({ create_request: create });
      })
      .catch((err: unknown) => this.onBroken(undefined, toFlotillaError(err, 'watch connect')));
  }

  private onResponse(stream: Stream, res: IWatchResponse): void {
    if (stream !== this.stream || this.closed) return;
    if (res.canceled) {
      const compactRevision = Number(res.compact_revision ?? 0);
      const err =
        compactRevision > 0
          ? new FlotillaError(Code.COORD_COMPACTED, `watch from revision ${this.next}: history compacted up to revision ${compactRevision}`, {
              details: { compactRevision, requestedRevision: this.next },
            })
          : toFlotillaError(new Error(res.cancel_reason || 'watch cancelled by the store'), 'watch');
      this.fail(err);
      return;
    }
    if (res.created) {
      this.backoffMs = this.deps.minBackoffMs;
      // A watch "from now" pins its start so that a reconnect resumes right after it.
      if (this.next === 0) this.next = Number(res.header.revision) + 1;
      if (!this.everConnected) {
        this.everConnected = true;
        this.resolveReady();
      }
      this.emit('watch:connected');
      return;
    }
    const events = res.events ?? [];
    if (events.length === 0) {
      // Progress notification: everything up to the header revision has been sent.
      const rev = Number(res.header.revision);
      if (rev + 1 > this.next) this.next = rev + 1;
      return;
    }
    let maxRev = 0;
    for (const ev of events) {
      const kv = toKeyValue(ev.kv);
      const revision = kv.modRevision;
      if (revision < this.next) continue; // already delivered before a reconnect
      if (revision > maxRev) maxRev = revision;
      const event: WatchEvent = { type: ev.type === 'Delete' || (ev.type as unknown) === 1 ? 'delete' : 'put', kv, revision };
      if (ev.prev_kv) event.prev = toKeyValue(ev.prev_kv);
      this.deliver(event);
    }
    if (maxRev + 1 > this.next) this.next = maxRev + 1;
  }

  private deliver(event: WatchEvent): void {
    if (this.listenerCount('watch:event') > 0) {
      this.emit('watch:event', event);
      return;
    }
    // No listener: buffer for the async iterator (which may start later), pausing the stream when full.
    this.queue.push(event);
    if (this.queue.length >= this.highWaterMark && !this.paused && this.stream?.pause) {
      this.paused = true;
      this.stream.pause();
    }
    this.wake();
  }

  private onBroken(stream: Stream | undefined, err: FlotillaError): void {
    if (this.closed || this.failed) return;
    if (stream !== undefined && stream !== this.stream) return;
    // The store refused this client's token (missing, revoked, too low a role): retrying cannot help.
    if (err.code === Code.UNAUTHENTICATED || err.code === Code.PERMISSION_DENIED) {
      this.fail(err);
      return;
    }
    if (this.stream) {
      const old = this.stream;
      this.stream = undefined;
      old.cancel();
    }
    this.paused = false;
    this.deps.logger.debug({ err: err.message, nextRevision: this.next }, 'coord watch disconnected; reconnecting');
    this.emit('watch:disconnected', err);
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.deps.maxBackoffMs);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.connect();
    }, delay);
  }

  private fail(err: FlotillaError): void {
    if (this.failed || this.closed) return;
    this.failed = err;
    this.rejectReady(err);
    this.teardown();
    if (this.listenerCount('watch:error') > 0) this.emit('watch:error', err);
    else if (!this.iterating) this.deps.logger.warn({ err: err.message }, 'coord watch ended with an error nobody listened to');
    this.wake();
  }

  private teardown(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const s = this.stream;
    this.stream = undefined;
    if (s) {
      s.cancel();
    }
    this.deps.onClose(this);
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.rejectReady(new FlotillaError(Code.CANCELLED, 'watch closed'));
    this.teardown();
    this.wake();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<WatchEvent> {
    if (this.iterating) throw new FlotillaError(Code.FAILED_PRECONDITION, 'a Watch can be iterated only once');
    this.iterating = true;
    try {
      for (;;) {
        const ev = this.queue.shift();
        if (ev !== undefined) {
          if (this.paused && this.queue.length < this.highWaterMark / 2) {
            this.paused = false;
            this.stream?.resume?.();
          }
          yield ev;
          continue;
        }
        if (this.failed) throw this.failed;
        if (this.closed) return;
        await new Promise<void>((resolve) => (this.waiter = resolve));
      }
    } finally {
      this.iterating = false;
      await this.close();
    }
  }
}
