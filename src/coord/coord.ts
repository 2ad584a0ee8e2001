/**
 * The `Coord` seam: the small interface every Flotilla module uses to coordinate (membership, config,
 * heartbeats, rings, leader election). It speaks the etcd v3 data model and hides which backend serves it
 * (real etcd or the embedded etcd-API store). Keys are strings (UTF-8); values are bytes (a string is
 * stored as its UTF-8 encoding). Revisions are numbers (etcd's int64 revisions stay far below 2^53); lease
 * IDs are decimal strings (they use all 64 bits). Every error is a FlotillaError (src/core/errors.ts).
 */
import type { FlotillaError } from '../core/errors.js';

/** A value as given by a caller: bytes, or a string stored as UTF-8. */
export type Bytes = Buffer | string;

/** One key as stored: etcd's mvccpb.KeyValue. */
export interface KeyValue {
  key: string;
  value: Buffer;
  /** Revision of the last creation of this key (a delete then put gives a new one). */
  createRevision: number;
  /** Revision of the last modification (put or delete). */
  modRevision: number;
  /** Number of puts since the key was last created; a delete resets it (the next put gives 1). */
  version: number;
  /** ID of the lease the key is attached to, '0' for none. */
  lease: string;
}

export interface GetOptions {
  /** Read at this past revision. Default: the newest. */
  revision?: number;
}

export interface RangeOptions extends GetOptions {
  /** Most keys returned (0 = no limit). Default: 0. */
  limit?: number;
  /** Return keys and revisions but empty values. Default: false. */
  keysOnly?: boolean;
  /** Start at this key instead of the prefix itself (for paging: the last key seen + '\0'). Default: the prefix. */
  startKey?: string;
}

export interface RangeResult {
  kvs: KeyValue[];
  /** True when `limit` cut the result short. */
  more: boolean;
  /** Number of keys in the range (before `limit`). */
  count: number;
  /** The store's revision when the read was served. */
  revision: number;
}

export interface PutOptions {
  /** Attach the key to this lease (a Lease or its ID); the key is deleted when the lease ends. Default: none. */
  lease?: Lease | string;
  /** Return the previous key-value in `prev`. Default: false. */
  prevKv?: boolean;
}

export interface PutResult {
  /** The revision of this write. */
  revision: number;
  /** The previous key-value, when `prevKv` was asked for and the key existed. */
  prev?: KeyValue;
}

export interface DeleteOptions {
  /** Delete every key starting with `key`. Default: false (only `key` itself). */
  prefix?: boolean;
  /** Return the deleted key-values in `prev`. Default: false. */
  prevKv?: boolean;
}

export interface DeleteResult {
  /** The store's revision after the delete (unchanged when nothing was deleted). */
  revision: number;
  deleted: number;
  prev: KeyValue[];
}

/** A comparison of a transaction. `prefix: true` compares every key under `key` (all must match). */
export type Compare =
  | { key: string; prefix?: boolean; target: 'version' | 'createRevision' | 'modRevision'; op: CompareOp; value: number }
  | { key: string; prefix?: boolean; target: 'value'; op: CompareOp; value: Bytes }
  | { key: string; prefix?: boolean; target: 'lease'; op: CompareOp; value: string };

export type CompareOp = '=' | '!=' | '<' | '>';

/** An operation of a transaction branch. */
export type TxnOp =
  | { type: 'get'; key: string; prefix?: boolean; limit?: number }
  | { type: 'put'; key: string; value: Bytes; lease?: Lease | string; prevKv?: boolean }
  | { type: 'delete'; key: string; prefix?: boolean; prevKv?: boolean };

export type TxnOpResult =
  | { type: 'get'; kvs: KeyValue[]; more: boolean; count: number }
  | { type: 'put'; prev?: KeyValue }
  | { type: 'delete'; deleted: number; prev: KeyValue[] };

export interface TxnRequest {
  /** All must hold for `then` to run; otherwise `else` runs. Default: [] (always `then`). */
  compare?: Compare[];
  then?: TxnOp[];
  else?: TxnOp[];
}

export interface TxnResult {
  /** True when every comparison held and the `then` branch ran. */
  succeeded: boolean;
  /** The store's revision after the transaction. */
  revision: number;
  /** One result per operation of the branch that ran, in order. */
  results: TxnOpResult[];
}

export interface WatchOptions {
  /** The key to watch, or the prefix when `prefix` is true. */
  key: string;
  /** Watch every key starting with `key`. Default: false. */
  prefix?: boolean;
  /** Replay every event from this revision on (inclusive). Default: only events after the watch starts. */
  fromRevision?: number;
  /** Include the previous key-value in each event. Default: false. */
  prevKv?: boolean;
  /** Only these event types. Default: both. */
  only?: 'put' | 'delete';
  /** Events buffered for a slow async-iterator consumer before the stream is paused. Default: 1000. */
  highWaterMark?: number;
}

export interface WatchEvent {
  type: 'put' | 'delete';
  /** For a delete: the key, an empty value and the delete's revision as `modRevision`. */
  kv: KeyValue;
  /** The key-value before this event, when `prevKv` was asked for and the key existed. */
  prev?: KeyValue;
  /** The revision of this event (equal to `kv.modRevision`). Events of one transaction share it. */
  revision: number;
}

/** Events a Watch emits: `watch:event`, `watch:error` (terminal), `watch:connected`, `watch:disconnected`. */
export interface WatchEventMap {
  'watch:event': [WatchEvent];
  /** Terminal: COORD_COMPACTED (details.compactRevision), or the store cancelled the watch. */
  'watch:error': [FlotillaError];
  'watch:connected': [];
  /** The stream broke; the watch reconnects on its own and resumes after the last event delivered. */
  'watch:disconnected': [FlotillaError];
}

/**
 * A running watch. Read it either as an async iterable (ends when closed, throws the terminal error) or
 * through `on('watch:event', ...)` attached right after watch() returns; not both (while a 'watch:event'
 * listener is attached, events go to it and are not buffered for the iterator). It reconnects by itself and resumes right after the last
 * delivered revision, so no event is lost or delivered twice.
 */
export interface Watch extends AsyncIterable<WatchEvent> {
  /** Resolves once the store has accepted the watch (rejects with the terminal error if it refused it). */
  readonly ready: Promise<void>;
  /** The revision from which a resumed stream would start (last delivered revision + 1). */
  readonly nextRevision: number;
  on<E extends keyof WatchEventMap>(event: E, listener: (...args: WatchEventMap[E]) => void): this;
  off<E extends keyof WatchEventMap>(event: E, listener: (...args: WatchEventMap[E]) => void): this;
  close(): Promise<void>;
}

/** Events a Lease emits. */
export interface LeaseEventMap {
  /**
   * The lease is gone: the store says it no longer exists (COORD_LEASE_NOT_FOUND), or no keep-alive
   * succeeded for a whole TTL (UNAVAILABLE), after which the store has expired it. Not emitted on revoke().
   */
  'lease:lost': [FlotillaError];
  'lease:keepalive:success': [number];
}

export interface Lease {
  /** The lease ID (decimal). */
  readonly id: string;
  /** The TTL granted by the store, in seconds. */
  readonly ttlSeconds: number;
  /** True after 'lease:lost' or revoke()/release(). */
  readonly closed: boolean;
  /** Sends one keep-alive now; resolves to the TTL the store set. COORD_LEASE_NOT_FOUND when it is gone. */
  keepAliveOnce(): Promise<number>;
  /** Remaining seconds to live as the store sees it, or -1 if the lease does not exist. */
  timeToLive(): Promise<number>;
  /** Revokes the lease now: its keys are deleted at once. Succeeds if the lease is already gone. */
  revoke(): Promise<void>;
  /** Stops the automatic keep-alive and lets the lease expire on its own. */
  release(): void;
  on<E extends keyof LeaseEventMap>(event: E, listener: (...args: LeaseEventMap[E]) => void): this;
  off<E extends keyof LeaseEventMap>(event: E, listener: (...args: LeaseEventMap[E]) => void): this;
}

export interface LeaseOptions {
  /** Keep the lease alive automatically (every TTL/3) until revoke(), release() or close(). Default: true. */
  keepAlive?: boolean;
}

/** The leader of an election as read from the store. */
export interface LeaderInfo {
  /** The candidate's key: `<prefix>/<lease id in hex>`. */
  key: string;
  value: Buffer;
  lease: string;
  createRevision: number;
}

export interface CampaignOptions {
  /** Campaign on this lease (leadership ends with it). Default: a lease of `ttlSeconds` owned by the campaign. */
  lease?: Lease;
  /** TTL of the lease granted when `lease` is not given, in seconds. Default: 10. */
  ttlSeconds?: number;
  /** Abort the wait: the candidate withdraws and campaign() rejects with CANCELLED. */
  signal?: AbortSignal;
}

export interface LeadershipEventMap {
  /** Leadership ended without resign(): the lease was lost or the leader key was deleted. */
  'leadership:lost': [FlotillaError];
}

/** Held by the elected leader until resign() or 'leadership:lost'. */
export interface Leadership {
  readonly key: string;
  readonly lease: Lease;
  /** The create revision of the leader key (a fencing token: higher means a later term). */
  readonly revision: number;
  readonly lost: boolean;
  /** Changes the announced value, only while still the leader (COORD_NOT_LEADER otherwise). */
  proclaim(value: Bytes): Promise<void>;
  /** Gives up leadership: deletes the key (and revokes the lease if the campaign granted it). */
  resign(): Promise<void>;
  on<E extends keyof LeadershipEventMap>(event: E, listener: (...args: LeadershipEventMap[E]) => void): this;
  off<E extends keyof LeadershipEventMap>(event: E, listener: (...args: LeadershipEventMap[E]) => void): this;
}

/** Leader changes of an election; yields the leader now, then on every change (undefined: no leader). */
export interface LeaderObserver extends AsyncIterable<LeaderInfo | undefined> {
  close(): Promise<void>;
}

/** An election under a key prefix, like etcd's concurrency.Election (compatible keys). */
export interface Election {
  readonly prefix: string;
  /** Waits until elected (candidates are served in the order they joined). */
  campaign(value: Bytes, options?: CampaignOptions): Promise<Leadership>;
  /** The current leader, or undefined. */
  leader(): Promise<LeaderInfo | undefined>;
  observe(): LeaderObserver;
}

export interface Coord {
  get(key: string, options?: GetOptions): Promise<KeyValue | undefined>;
  /** Keys starting with `prefix`, in key order. */
  range(prefix: string, options?: RangeOptions): Promise<RangeResult>;
  put(key: string, value: Bytes, options?: PutOptions): Promise<PutResult>;
  delete(key: string, options?: DeleteOptions): Promise<DeleteResult>;
  txn(request: TxnRequest): Promise<TxnResult>;
  /**
   * Compare-and-swap on the mod revision: writes `value` only if `key` was last modified at
   * `expectedModRevision` (0: only if the key does not exist). Returns the write's revision, or
   * undefined (and the current key-value in `current`) when the comparison failed.
   */
  compareAndSwap(
    key: string,
    expectedModRevision: number,
    value: Bytes,
    options?: { lease?: Lease | string },
  ): Promise<{ revision: number | undefined; current?: KeyValue }>;
  watch(options: WatchOptions): Watch;
  grantLease(ttlSeconds: number, options?: LeaseOptions): Promise<Lease>;
  election(prefix: string): Election;
  /** The store's current revision. */
  revision(): Promise<number>;
  /** Discards history before `revision` (watches and reads below it get COORD_COMPACTED). */
  compact(revision: number, options?: { physical?: boolean }): Promise<void>;
  /** Stops every watch, keep-alive and campaign of this client and closes its connections. */
  close(): Promise<void>;
}
