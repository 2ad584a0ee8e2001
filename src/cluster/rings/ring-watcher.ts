/**
 * The rings every process holds. At start it reads every ring under `/flotilla/rings/`, then watches the
 * prefix from the revision it read (the Coord watch resumes right after the last delivered revision when
 * its stream breaks, so no version is missed). It keeps, per ring, the value the store holds, so every
 * process converges on the same ring list (OBJ-4).
 *
 * - A put with a readable ring replaces the one held (normally version + 1) and emits
 *   `ring:version:changed`. A version lower than the one held (the ring was deleted and rebuilt, or
 *   written by hand) is taken as well, with a warning: the store is the truth.
 * - A put that is not a readable ring (corrupt, wrong name) is refused: the last good ring stays in use,
 *   `ring:load:failed` is emitted and `loadError(name)` reports it until a good version arrives.
 * - A delete drops the ring (`ring:deleted`); services that need it become "not ready".
 * - While the coordination store is unreachable nothing changes: the last known rings keep serving and
 *   no read of a ring ever waits on the store. A watch ended for good (history compacted) is replaced by
 *   a full reload, retried with backoff.
 */
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelayMs } from '../../core/backoff.js';
import { Code, FlotillaError } from '../../core/errors.js';
import { silentLogger, type Logger } from '../../core/log.js';
import type { Coord, KeyValue, Watch, WatchEvent } from '../../coord/index.js';
import type { Ring } from '../ring/index.js';
import { RINGS_PREFIX, ringNameOfKey, storedRingFromKv } from './ring-store.js';

export interface RingWatcherEventMap {
  /** A ring appeared or changed; `previousVersion` is undefined for a ring seen for the first time. */
  'ring:version:changed': [name: string, version: number, previousVersion: number | undefined, ring: Ring];
  /** The ring's key was deleted. */
  'ring:deleted': [name: string, lastVersion: number];
  /** A stored value could not be read as a ring; the last good ring (if any) stays in use. */
  'ring:load:failed': [name: string, error: FlotillaError];
}

export interface RingWatcherOptions {
  coord: Coord;
  logger?: Logger;
}

interface Held {
  ring: Ring;
  modRevision: number;
}

export class RingWatcher extends EventEmitter<RingWatcherEventMap> {
  readonly name = 'ring-watcher';
  private readonly held = new Map<string, Held>();
  private readonly errors = new Map<string, FlotillaError>();
  private readonly logger: Logger;
  private watch: Watch | undefined;
  private started = false;
  private stopped = false;
  private connected = true;
  private appliedRevision = 0;
  private reload: Promise<void> | undefined;

  constructor(private readonly options: RingWatcherOptions) {
    super();
    this.logger = options.logger ?? silentLogger();
  }

  /** Loads every ring and starts watching. UNAVAILABLE when the store does not answer. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.load();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const w = this.watch;
    this.watch = undefined;
    await w?.close().catch(() => undefined);
    await this.reload;
  }

  /** The ring held under `name`, or undefined. Never waits on the store. */
  get(name: string): Ring | undefined {
    return this.held.get(name)?.ring;
  }

  /** The ring `name`; FAILED_PRECONDITION (retryable) while it does not exist. */
  require(name: string): Ring {
    const ring = this.get(name);
    if (ring === undefined) {
      throw new FlotillaError(Code.FAILED_PRECONDITION, `ring ${name} does not exist yet`, { retryable: true, details: { ring: name } });
    }
    return ring;
  }

  /** Every ring held, by name. */
  list(): Ring[] {
    return [...this.held.keys()].sort().map((n) => (this.held.get(n) as Held).ring);
  }

  /** True once a ring `name` is held. */
  ready(name: string): boolean {
    return this.held.has(name);
  }

  /** Ring name -> version held (what a node publishes in its record). */
  versions(): Record<string, number> {
    return Object.fromEntries(this.list().map((r) => [r.name, r.version]));
  }

  /** Why the newest stored value of `name` was refused, while the refusal stands. */
  loadError(name: string): FlotillaError | undefined {
    return this.errors.get(name);
  }

  /** Every ring whose newest stored value is refused, by name. */
  refused(): Record<string, FlotillaError> {
    return Object.fromEntries([...this.errors].sort(([a], [b]) => (a < b ? -1 : 1)));
  }

  /** The last store revision applied. */
  get revision(): number {
    return this.appliedRevision;
  }

  /** Whether the watch on the coordination store is connected right now. */
  get coordinationReachable(): boolean {
    return this.connected;
  }

  /** Resolves with the ring once it is held; rejects with CANCELLED when `signal` aborts. */
  async whenReady(name: string, options: { signal?: AbortSignal } = {}): Promise<Ring> {
    const now = this.get(name);
    if (now !== undefined) return now;
    const { signal } = options;
    return new Promise<Ring>((resolve, reject) => {
      const onChange = (n: string, _v: number, _p: number | undefined, ring: Ring): void => {
        if (n !== name) return;
        done();
        resolve(ring);
      };
      const onAbort = (): void => {
        done();
        reject(new FlotillaError(Code.CANCELLED, `stopped waiting for ring ${name}`));
      };
      const done = (): void => {
        this.off('ring:version:changed', onChange);
        signal?.removeEventListener('abort', onAbort);
      };
      if (signal?.aborted === true) return onAbort();
      this.on('ring:version:changed', onChange);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private async load(): Promise<void> {
    const res = await this.options.coord.range(RINGS_PREFIX);
    if (this.stopped) return;
    const seen = new Set<string>();
    for (const kv of res.kvs) {
      const name = ringNameOfKey(kv.key);
      if (name === undefined) continue;
      seen.add(name);
      this.applyPut(name, kv);
    }
    // After a reload: rings deleted while the watch was gone.
    for (const name of [...this.held.keys()]) if (!seen.has(name)) this.applyDelete(name);
    this.appliedRevision = Math.max(this.appliedRevision, res.revision);
    const w = this.options.coord.watch({ key: RINGS_PREFIX, prefix: true, fromRevision: res.revision + 1 });
    this.watch = w;
    w.on('watch:event', (ev) => this.onEvent(ev));
    w.on('watch:connected', () => {
      if (!this.connected) this.logger.info('coordination store reachable again; ring watch resumed');
      this.connected = true;
    });
    w.on('watch:disconnected', (err) => {
      if (this.connected) this.logger.warn({ err: err.message }, 'coordination store unreachable; serving the last known rings');
      this.connected = false;
    });
    w.on('watch:error', (err) => this.restart(err));
  }

  private restart(err: FlotillaError): void {
    if (this.stopped || this.reload !== undefined) return;
    this.logger.warn({ err: err.message }, 'ring watch ended; reloading every ring');
    this.reload = (async () => {
      const w = this.watch;
      this.watch = undefined;
      await w?.close().catch(() => undefined);
      for (let attempt = 0; !this.stopped; attempt++) {
        try {
          await this.load();
          return;
        } catch (e) {
          this.logger.debug({ err: FlotillaError.from(e).message }, 'ring reload failed');
          await sleep(backoffDelayMs(attempt, { baseMs: 200, maxMs: 5000, jitter: 'equal' }));
        }
      }
    })().finally(() => {
      this.reload = undefined;
    });
  }

  private onEvent(ev: WatchEvent): void {
    if (this.stopped) return;
    this.appliedRevision = Math.max(this.appliedRevision, ev.revision);
    const name = ringNameOfKey(ev.kv.key);
    if (name === undefined) return;
    if (ev.type === 'put') this.applyPut(name, ev.kv);
    else this.applyDelete(name);
  }

  private applyPut(name: string, kv: KeyValue): void {
    const current = this.held.get(name);
    if (current !== undefined && kv.modRevision <= current.modRevision) return;
    let ring: Ring;
    try {
      ring = storedRingFromKv(name, kv).ring;
    } catch (err) {
      const e = FlotillaError.from(err);
      this.errors.set(name, e);
      this.logger.error(
        { ring: name, err: e.message, keptVersion: current?.ring.version },
        current === undefined ? `ring ${name}: stored value refused; no ring to use yet` : `ring ${name}: stored value refused; keeping version ${current.ring.version}`,
      );
      this.emit('ring:load:failed', name, e);
      return;
    }
    this.errors.delete(name);
    this.held.set(name, { ring, modRevision: kv.modRevision });
    const previous = current?.ring.version;
    if (previous !== undefined && ring.version < previous) {
      this.logger.warn({ ring: name, version: ring.version, previous }, `ring ${name} went back from version ${previous} to ${ring.version} (rebuilt or written by hand)`);
    } else {
      this.logger.info({ ring: name, version: ring.version, previous }, `ring ${name} version ${ring.version} loaded`);
    }
    this.emit('ring:version:changed', name, ring.version, previous, ring);
  }

  private applyDelete(name: string): void {
    const current = this.held.get(name);
    this.errors.delete(name);
    if (current === undefined) return;
    this.held.delete(name);
    this.logger.warn({ ring: name, version: current.ring.version }, `ring ${name} was deleted from the coordination store`);
    this.emit('ring:deleted', name, current.ring.version);
  }
}
