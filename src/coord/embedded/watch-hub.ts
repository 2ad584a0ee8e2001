/**
 * Watches. The hub learns of every newly durable revision range from the engine and hands each watcher
 * its matching events, in revision order. A watcher that starts in the past first replays the retained
 * history from its start revision, then goes live, with no gap and no duplicate: replay and registration
 * happen in one synchronous step, and every watcher tracks the next revision it needs (`nextRev`).
 *
 * Back-pressure: when a stream's outgoing queue is over its limit, its watchers stop taking live events
 * and are marked lagging; when the queue drains they catch up from the history (etcd's "unsynced"
 * watchers). A lagging watcher whose next revision gets compacted is canceled with compact_revision set.
 */
import { recToKeyValue, type MvccStore, type Rec } from './mvcc-store.js';
import { spanContains, type KeySpan, type WatchEvent } from './types.js';

export interface WatchOptions {
  span: KeySpan;
  /** First revision to report; 0 or less: from the next revision on. */
  startRevision: number;
  prevKv: boolean;
  noPut: boolean;
  noDelete: boolean;
  progressNotify: boolean;
}

/** One response on a watch stream, in domain terms. */
export interface WatchMessage {
  watchId: bigint;
  /** Header revision. */
  revision: number;
  created?: boolean;
  canceled?: boolean;
  compactRevision?: number;
  cancelReason?: string;
  events: WatchEvent[];
}

/** Where a session's messages go; `backlogged` tells when the receiver is too far behind. */
export interface WatchSink {
  send(message: WatchMessage): void;
  backlogged(): boolean;
}

interface Watcher {
  id: bigint;
  opts: WatchOptions;
  nextRev: number;
  lagging: boolean;
  sentSinceTick: boolean;
}

/** Events per response when replaying history (a revision is never split). */
const REPLAY_CHUNK_EVENTS = 1000;

export class WatchHub {
  private readonly sessions = new Set<WatchSession>();

  constructor(
    readonly store: MvccStore,
    /** The newest durable revision: what watchers may see. */
    readonly committedRev: () => number,
  ) {}

  openSession(sink: WatchSink): WatchSession {
    const session = new WatchSession(this, sink);
    this.sessions.add(session);
    return session;
  }

  /** @internal */
  forget(session: WatchSession): void {
    this.sessions.delete(session);
  }

  get watcherCount(): number {
    let n = 0;
    for (const s of this.sessions) n += s.size;
    return n;
  }

  /** Delivers the events of revisions (fromExclusive, toInclusive], which just became durable. */
  notify(fromExclusive: number, toInclusive: number): void {
    if (this.sessions.size === 0) return;
    const recs = this.store.eventsBetween(fromExclusive + 1, toInclusive);
    if (recs.length === 0) return;
    for (const session of this.sessions) session.deliver(recs, toInclusive);
  }

  /** Sends a progress notification to every synced watcher that asked for them and got nothing since. */
  progressTick(): void {
    for (const session of this.sessions) session.progressTick();
  }

  /** Cancels every watch of every session (server stopping). */
  closeAll(): void {
    for (const session of [...this.sessions]) session.close();
  }
}

export class WatchSession {
  private readonly watchers = new Map<bigint, Watcher>();
  private nextId = 0n;
  private closed = false;

  constructor(
    private readonly hub: WatchHub,
    private readonly sink: WatchSink,
  ) {}

  get size(): number {
    return this.watchers.size;
  }

  /** etcd's create: answers `created`, then replays history (or cancels when it is compacted). */
  create(opts: WatchOptions, requestedId: bigint): void {
    if (this.closed) return;
    const committed = this.hub.committedRev();
    let id = requestedId;
    if (id === 0n) {
      while (this.watchers.has(this.nextId)) this.nextId++;
      id = this.nextId++;
    } else if (this.watchers.has(id)) {
      // etcd answers a duplicate id with watch id -1 (no watch was made).
      this.sink.send({
        watchId: -1n,
        revision: committed,
        created: true,
        canceled: true,
        cancelReason: 'mvcc: duplicate watch ID provided on the WatchStream',
        events: [],
      });
      return;
    }
    this.sink.send({ watchId: id, revision: committed, created: true, events: [] });
    const compactRev = this.hub.store.compactRev;
    if (opts.startRevision > 0 && opts.startRevision < compactRev) {
      this.sink.send({ watchId: id, revision: committed, canceled: true, compactRevision: compactRev, events: [] });
      return;
    }
    const nextRev = opts.startRevision > 0 ? opts.startRevision : committed + 1;
    const w: Watcher = { id, opts, nextRev, lagging: nextRev <= committed, sentSinceTick: false };
    this.watchers.set(id, w);
    if (w.lagging) this.catchUp(w);
  }

  cancel(id: bigint): void {
    if (!this.watchers.delete(id)) return;
    this.sink.send({ watchId: id, revision: this.hub.committedRev(), canceled: true, events: [] });
  }

  /** WatchProgressRequest: the current revision, for all watches of the stream (watch id -1). */
  progress(): void {
    this.sink.send({ watchId: -1n, revision: this.hub.committedRev(), events: [] });
  }

  /** The receiver drained its backlog: catch lagging watchers up. */
  resume(): void {
    for (const w of [...this.watchers.values()]) {
      if (this.sink.backlogged()) return;
      if (w.lagging) this.catchUp(w);
    }
  }

  close(): void {
    this.closed = true;
    this.watchers.clear();
    this.hub.forget(this);
  }

  /** @internal live delivery of newly durable records (all with main <= upTo). */
  deliver(recs: readonly Rec[], upTo: number): void {
    const backlogged = this.sink.backlogged();
    for (const w of this.watchers.values()) {
      if (w.lagging || w.nextRev > upTo) continue;
      if (backlogged) {
        w.lagging = true;
        continue;
      }
      const events = this.matching(w, recs);
      w.nextRev = upTo + 1;
      if (events.length > 0) this.sendEvents(w, events, upTo);
    }
  }

  /** @internal */
  progressTick(): void {
    const rev = this.hub.committedRev();
    for (const w of this.watchers.values()) {
      if (w.opts.progressNotify && !w.lagging && !w.sentSinceTick) this.sink.send({ watchId: w.id, revision: rev, events: [] });
      w.sentSinceTick = false;
    }
  }

  private catchUp(w: Watcher): void {
    const store = this.hub.store;
    const upTo = this.hub.committedRev();
    if (w.nextRev < store.compactRev) {
      this.watchers.delete(w.id);
      this.sink.send({ watchId: w.id, revision: upTo, canceled: true, compactRevision: store.compactRev, events: [] });
      return;
    }
    const recs = store.eventsBetween(w.nextRev, upTo);
    let start = 0;
    while (start < recs.length) {
      if (this.sink.backlogged()) return; // stays lagging from nextRev
      let end = Math.min(start + REPLAY_CHUNK_EVENTS, recs.length);
      while (end < recs.length && (recs[end] as Rec).main === (recs[end - 1] as Rec).main) end++;
      const chunk = recs.slice(start, end);
      const events = this.matching(w, chunk);
      w.nextRev = (chunk[chunk.length - 1] as Rec).main + 1;
      if (events.length > 0) this.sendEvents(w, events, upTo);
      start = end;
    }
    w.nextRev = upTo + 1;
    w.lagging = false;
  }

  private matching(w: Watcher, recs: readonly Rec[]): WatchEvent[] {
    const out: WatchEvent[] = [];
    const { span, noPut, noDelete, prevKv } = w.opts;
    for (const rec of recs) {
      if (rec.main < w.nextRev || !spanContains(span, rec.key)) continue;
      if (rec.tombstone ? noDelete : noPut) continue;
      const event: WatchEvent = rec.tombstone
        ? {
            type: 'delete',
            kv: { key: rec.keyBytes, createRevision: 0, modRevision: rec.main, version: 0, value: new Uint8Array(0), lease: 0n },
          }
        : { type: 'put', kv: recToKeyValue(rec) };
      if (prevKv) {
        const prev = this.hub.store.previousOf(rec);
        if (prev !== undefined) event.prevKv = recToKeyValue(prev);
      }
      out.push(event);
    }
    return out;
  }

  private sendEvents(w: Watcher, events: WatchEvent[], revision: number): void {
    w.sentSinceTick = true;
    this.sink.send({ watchId: w.id, revision, events });
  }
}
