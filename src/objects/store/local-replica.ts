/**
 * This node's replicas: blobs in its backend, plus an ordered index (classic-level) of what it holds:
 *   `o\0<bucket>\0<key>` -> the object's StoredMeta + blob name (objects and tombstones), listing order =
 *                           UTF-8 byte order, as S3 lists;
 *   `p\0<blob name>`     -> StoredMeta of a multipart part.
 * The backend is the truth; the auditor brings the index back in line with it (a crash between the
 * blob's rename and the index write leaves a blob the auditor indexes).
 */
import { ClassicLevel } from 'classic-level';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Code, FlotillaError } from '../../core/errors.js';
import { checkBlobName, type BodyDigests, type ObjectBackend, type WrittenBody } from '../backends/index.js';
import { parseStoredMeta, type MetaDraft, type StoredMeta } from './blob-meta.js';
import { bodyCheckFor, VerifyingStream } from './streams.js';

export interface IndexedMeta extends StoredMeta {
  blob: string;
}

export interface WriteExpectations {
  size?: number;
  /** What a remote holder checks what it received with (sent by the writer): `crc32` (default `sha256`, as older writers expect). */
  verify?: 'crc32' | 'sha256';
  sha256?: string;
  md5?: string;
}

/**
 * A replica write in two phases: the body streams into the backend unpublished (`received` resolves
 * with its size and digests once it has all arrived); `commit` then publishes it with the final
 * metadata (fsync, rename, index) and `abort` drops it. Nothing of it is visible before `commit`.
 */
export interface StagedWrite {
  /** Names this staged write among the node's pending ones (for the replica API). */
  readonly id: string;
  readonly blob: string;
  /** Resolves once the whole body arrived; rejects when it failed (nothing was kept). */
  readonly received: Promise<WrittenBody>;
  /** Publishes the replica. Refuses (INVALID_ARGUMENT) metadata whose size or SHA-256 is not what arrived. */
  commit(meta: StoredMeta): Promise<StoredMeta>;
  /** Drops the write (idempotent; a no-op after a commit). */
  abort(reason?: Error): Promise<void>;
}

export interface StageOptions {
  expectedSize?: number;
  /** Digests this replica computes itself (default SHA-256 only: the integrity check of what it received). */
  digests?: BodyDigests;
  /** A staged write whose body has arrived and that is neither committed nor aborted after this long is aborted. Default 120 s. */
  timeoutMs?: number;
}

export const DEFAULT_STAGE_TIMEOUT_MS = 120_000;
/** How long a revert's marker refuses a later commit of the same (blob, version). */
export const DEFAULT_REVERT_MARKER_TTL_MS = 10 * 60_000;
/** Most revert markers kept (the oldest goes first beyond it). */
export const DEFAULT_MAX_REVERT_MARKERS = 10_000;
/** Longest version a revert accepts (versions are 28 characters, blob-meta.ts newVersion): bounds a marker's size. */
const MAX_VERSION_CHARS = 128;

export interface LocalReplicaOptions {
  /** Default DEFAULT_REVERT_MARKER_TTL_MS. */
  revertMarkerTtlMs?: number;
  /** Default DEFAULT_MAX_REVERT_MARKERS. */
  maxRevertMarkers?: number;
}

export interface LocalListItem {
  key?: string;
  meta?: IndexedMeta;
  prefix?: string;
}

const SEP = '\0';
const objKey = (bucket: string, key: string): Buffer => Buffer.from(`o${SEP}${bucket}${SEP}${key}`, 'utf8');
const partKey = (blob: string): Buffer => Buffer.from(`p${SEP}${blob}`, 'utf8');
const FF = Buffer.from([0xff]);
/** A (blob, version) pair as one map key (NUL occurs in neither). */
const versionKey = (blob: string, version: string): string => `${blob}${SEP}${version}`;

export class LocalReplica {
  private readonly db: ClassicLevel<Buffer, string>;
  /** Blobs found damaged (bad checksum); treated as missing until rewritten. */
  readonly damaged = new Set<string>();
  /** Staged writes waiting for their commit or abort, by id. */
  private readonly staged = new Map<string, StagedWrite>();
  /**
   * Commits publishing now, by (blob, version): a revert of that version waits for them, then removes
   * what they published. Several entries per key are possible (two stages committed with one version).
   */
  private readonly committing = new Map<string, Set<Promise<unknown>>>();
  /**
   * Reverts seen, by (blob, version) -> expiry (ms): a commit of a reverted version that arrives later
   * (a slow or delayed commit request) is refused. Insertion order = age: expired and, beyond the bound,
   * oldest entries are dropped from the front. In memory only (see revert()).
   */
  private readonly reverted = new Map<string, number>();
  private readonly revertTtlMs: number;
  private readonly maxReverted: number;

  constructor(
    readonly backend: ObjectBackend,
    indexDir: string,
    options: LocalReplicaOptions = {},
  ) {
    this.db = new ClassicLevel<Buffer, string>(indexDir, { keyEncoding: 'buffer', valueEncoding: 'utf8' });
    this.revertTtlMs = options.revertMarkerTtlMs ?? DEFAULT_REVERT_MARKER_TTL_MS;
    this.maxReverted = options.maxRevertMarkers ?? DEFAULT_MAX_REVERT_MARKERS;
    if (!(this.revertTtlMs > 0)) throw new FlotillaError(Code.INVALID_ARGUMENT, `revertMarkerTtlMs must be > 0 (got ${String(options.revertMarkerTtlMs)})`);
    if (!Number.isSafeInteger(this.maxReverted) || this.maxReverted < 1) throw new FlotillaError(Code.INVALID_ARGUMENT, `maxRevertMarkers must be a whole number >= 1 (got ${String(options.maxRevertMarkers)})`);
  }

  /** How many revert markers are held now (expired ones dropped first). */
  revertMarkers(): number {
    this.expireMarkers(Date.now());
    return this.reverted.size;
  }

  /** True when a revert of (blob, version) was seen and its marker has not expired. */
  wasReverted(blob: string, version: string): boolean {
    const k = versionKey(blob, version);
    const until = this.reverted.get(k);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.reverted.delete(k);
    return false;
  }

  private expireMarkers(now: number): void {
    for (const [k, until] of this.reverted) {
      if (until > now) break;
      this.reverted.delete(k);
    }
  }

  private markReverted(blob: string, version: string): void {
    const now = Date.now();
    const k = versionKey(blob, version);
    // Re-inserted at the back: its age (and its place in the eviction order) is this revert's.
    this.reverted.delete(k);
    this.expireMarkers(now);
    while (this.reverted.size >= this.maxReverted) {
      const oldest = this.reverted.keys().next().value;
      if (oldest === undefined) break;
      this.reverted.delete(oldest);
    }
    this.reverted.set(k, now + this.revertTtlMs);
  }

  async start(): Promise<void> {
    await this.backend.start();
    await this.db.open();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.staged.values()].map((w) => w.abort(new FlotillaError(Code.UNAVAILABLE, 'the node is stopping'))));
    await this.db.close();
    await this.backend.stop();
  }

  /**
   * Stores a replica from a stream in one step; size and digests come from the bytes and are checked
   * against `expect`. With `md5` given (a copy of a replica whose MD5 is known), only SHA-256 is computed.
   */
  async write(blob: string, body: Readable, draft: MetaDraft, expect: WriteExpectations = {}, known: { md5?: string } = {}): Promise<StoredMeta> {
    let meta: StoredMeta | undefined;
    await this.backend.put(blob, body, {
      ...(expect.size !== undefined ? { expectedSize: expect.size } : {}),
      digests: { sha256: true, md5: known.md5 === undefined, crc32: true },
      finish: (w: WrittenBody) => {
        const sha256 = w.sha256 ?? '';
        const md5 = known.md5 ?? w.md5 ?? '';
        if (expect.sha256 !== undefined && expect.sha256 !== sha256) throw new FlotillaError(Code.INVALID_ARGUMENT, `body SHA-256 ${sha256} does not match the expected ${expect.sha256}`);
        if (expect.md5 !== undefined && expect.md5 !== md5) throw new FlotillaError(Code.INVALID_ARGUMENT, `body MD5 ${md5} does not match the expected ${expect.md5} (Content-MD5)`);
        // The CRC32 GETs verify with comes from these bytes too (whatever the draft carried).
        meta = { ...draft, size: w.size, sha256, md5, ...(w.crc32 !== undefined ? { crc32: w.crc32 } : {}), etag: draft.etag ?? md5 };
        return JSON.stringify(meta);
      },
    });
    await this.index(blob, meta!);
    this.damaged.delete(blob);
    return meta!;
  }

  /** Starts a two-phase write of `blob` (see StagedWrite). */
  stage(blob: string, body: Readable, options: StageOptions = {}): StagedWrite {
    const id = randomBytes(16).toString('hex');
    let onReceived!: (w: WrittenBody) => void;
    let onFailed!: (e: unknown) => void;
    const received = new Promise<WrittenBody>((res, rej) => {
      onReceived = res;
      onFailed = rej;
    });
    received.catch(() => undefined);
    let decide!: { publish: (meta: string) => void; drop: (e: Error) => void };
    const decision = new Promise<string>((publish, drop) => (decide = { publish, drop }));
    decision.catch(() => undefined);
    let written: WrittenBody | undefined;
    let state: 'pending' | 'committing' | 'done' = 'pending';
    let timer: NodeJS.Timeout | undefined;
    const done = this.backend.put(blob, body, {
      ...(options.expectedSize !== undefined ? { expectedSize: options.expectedSize } : {}),
      digests: options.digests ?? { sha256: true, md5: false },
      finish: (w) => {
        written = w;
        // The wait for the commit is bounded from here (the body itself may take as long as it takes).
        if (state === 'pending') {
          timer = setTimeout(() => void staged.abort(new FlotillaError(Code.DEADLINE_EXCEEDED, `staged write of ${blob} neither committed nor aborted in time`)), options.timeoutMs ?? DEFAULT_STAGE_TIMEOUT_MS);
          timer.unref();
        }
        onReceived(w);
        return decision;
      },
    });
    done.catch((e: unknown) => onFailed(e));
    const forget = (): void => {
      clearTimeout(timer);
      this.staged.delete(id);
    };
    const staged: StagedWrite = {
      id,
      blob,
      received,
      commit: async (meta) => {
        if (state !== 'pending') throw new FlotillaError(Code.FAILED_PRECONDITION, `staged write ${id} is no longer pending`);
        const w = await received;
        if (state !== 'pending') throw new FlotillaError(Code.FAILED_PRECONDITION, `staged write ${id} was aborted`);
        if (meta.size !== w.size || (w.sha256 !== undefined && w.sha256 !== meta.sha256) || (w.crc32 !== undefined && w.crc32 !== meta.crc32)) {
          await staged.abort(new FlotillaError(Code.INVALID_ARGUMENT, 'the bytes received differ from the ones committed'));
          const got = w.crc32 !== undefined ? `CRC32 ${w.crc32}` : `SHA-256 ${w.sha256 ?? '?'}`;
          const want = w.crc32 !== undefined ? `CRC32 ${meta.crc32 ?? '(none)'}` : `SHA-256 ${meta.sha256}`;
          throw new FlotillaError(Code.INVALID_ARGUMENT, `replica of ${blob} received ${w.size} bytes with ${got}; the writer committed ${meta.size} bytes with ${want}`);
        }
        // From here to the registration below nothing awaits: a revert of this version either came
        // before (its marker refuses this commit) or comes after (it waits for this commit to finish).
        if (this.wasReverted(blob, meta.version)) {
          await staged.abort(new FlotillaError(Code.FAILED_PRECONDITION, `version ${meta.version} of ${blob} was reverted`));
          throw new FlotillaError(Code.FAILED_PRECONDITION, `version ${meta.version} of ${blob} was reverted here (its write failed its quorum); the commit is refused and nothing was published`);
        }
        state = 'committing';
        forget();
        decide.publish(JSON.stringify(meta));
        const publishing = (async () => {
          await done;
          await this.index(blob, meta);
          this.damaged.delete(blob);
        })();
        const k = versionKey(blob, meta.version);
        const inFlight = this.committing.get(k) ?? new Set<Promise<unknown>>();
        inFlight.add(publishing);
        this.committing.set(k, inFlight);
        try {
          await publishing;
        } finally {
          inFlight.delete(publishing);
          if (inFlight.size === 0 && this.committing.get(k) === inFlight) this.committing.delete(k);
          state = 'done';
        }
        return meta;
      },
      abort: async (reason) => {
        if (state !== 'pending') return;
        state = 'done';
        forget();
        const e = reason ?? new FlotillaError(Code.CANCELLED, `write of ${blob} aborted`);
        if (written === undefined) body.destroy(e);
        decide.drop(e);
        await done.catch(() => undefined);
      },
    };
    this.staged.set(id, staged);
    return staged;
  }

  /** A pending staged write by id (NOT_FOUND when unknown, committed, aborted or timed out). */
  stagedWrite(id: string): StagedWrite {
    const w = this.staged.get(id);
    if (w === undefined) throw new FlotillaError(Code.NOT_FOUND, `no pending staged write ${id} here (it timed out, or was committed or aborted)`);
    return w;
  }

  /**
   * Undoes a committed write whose quorum failed: removes the replica when it still holds `version`
   * (the replicator then restores whatever version the other holders have). A revert wins over a commit
   * of the same version whatever their order: it leaves a marker (bounded table, expiring after
   * revertMarkerTtlMs) that refuses a commit of this version arriving later, and waits for a commit of it
   * already publishing, then removes what it published. Markers live in memory: across a restart none
   * is needed, for staged writes do not survive one (a commit arriving after it finds no stage).
   */
  async revert(blob: string, version: string): Promise<boolean> {
    checkBlobName(blob);
    if (typeof version !== 'string' || version.length === 0 || version.length > MAX_VERSION_CHARS) throw new FlotillaError(Code.INVALID_ARGUMENT, `a version to revert is 1-${MAX_VERSION_CHARS} characters`);
    this.markReverted(blob, version);
    const inFlight = this.committing.get(versionKey(blob, version));
    if (inFlight !== undefined) await Promise.allSettled([...inFlight]);
    const m = await this.head(blob).catch(() => undefined);
    if (m === undefined || m.version !== version) return false;
    await this.remove(blob, m);
    return true;
  }

  /** Records a blob in the index (after a write, or when the auditor finds one). */
  async index(blob: string, meta: StoredMeta): Promise<void> {
    const value = JSON.stringify({ ...meta, blob });
    if (meta.kind === 'part') await this.db.put(partKey(blob), value);
    else await this.db.put(objKey(meta.bucket, meta.key), value);
  }

  async unindex(blob: string, meta: StoredMeta): Promise<void> {
    if (meta.kind === 'part') await this.db.del(partKey(blob));
    else {
      const cur = await this.indexed(meta.bucket, meta.key);
      if (cur?.blob === blob) await this.db.del(objKey(meta.bucket, meta.key));
    }
  }

  async indexed(bucket: string, key: string): Promise<IndexedMeta | undefined> {
    const v = await this.db.get(objKey(bucket, key));
    return v === undefined ? undefined : (JSON.parse(v) as IndexedMeta);
  }

  /** The stored metadata of a blob (from the backend); undefined when missing or marked damaged. */
  async head(blob: string): Promise<StoredMeta | undefined> {
    if (this.damaged.has(blob)) return undefined;
    const h = await this.backend.head(blob).catch((err: unknown) => {
      if (FlotillaError.from(err).code === Code.INTERNAL) {
        this.damaged.add(blob);
        return undefined;
      }
      throw err;
    });
    return h === undefined ? undefined : parseStoredMeta(h.meta);
  }

  /**
   * A replica's metadata and bytes. With `verify`, when `verify.when(meta)`, the bytes are checked against
   * its checksum (readCheckFor; in the backend's own read loop when it can, else by a VerifyingStream): a
   * mismatch errors the stream before its last bytes and calls `onMismatch`.
   */
  async read(blob: string, range?: { start: number; end: number }, verify?: { when: (meta: StoredMeta) => boolean; onMismatch: () => void }): Promise<{ meta: StoredMeta; body: Readable }> {
    if (this.damaged.has(blob)) throw new FlotillaError(Code.NOT_FOUND, `replica ${blob} is damaged here`);
    let meta: StoredMeta | undefined;
    const r = await this.backend.get(blob, range, {
      check: (head) => {
        meta = parseStoredMeta(head.meta);
        return verify !== undefined && verify.when(meta) ? bodyCheckFor(meta, verify.onMismatch) : undefined;
      },
    });
    meta ??= parseStoredMeta(r.head.meta);
    if (verify !== undefined && r.checked !== true && verify.when(meta)) {
      const v = new VerifyingStream(meta, verify.onMismatch);
      r.body.once('error', (e) => v.destroy(e));
      return { meta, body: r.body.pipe(v) };
    }
    return { meta, body: r.body };
  }

  /** Removes a replica and its index entry. */
  async remove(blob: string, meta?: StoredMeta): Promise<void> {
    const m = meta ?? (await this.backend.head(blob).then((h) => (h ? parseStoredMeta(h.meta) : undefined)).catch(() => undefined));
    await this.backend.delete(blob);
    if (m !== undefined) await this.unindex(blob, m);
    else await this.unindexByBlob(blob);
    this.damaged.delete(blob);
  }

  /**
   * Drops the index entries of a blob whose stored metadata cannot be read any more (its file is gone
   * or unreadable): without this an entry would stay in the inventory forever and be "collected" again
   * every round. A scan of the index, taken only on this rare path.
   */
  private async unindexByBlob(blob: string): Promise<void> {
    await this.db.del(partKey(blob));
    const stale: Buffer[] = [];
    for await (const [k, v] of this.db.iterator()) {
      if ((JSON.parse(v) as IndexedMeta).blob === blob) stale.push(k);
    }
    for (const k of stale) await this.db.del(k);
  }

  /** Every indexed blob: name, version and kind (what the replicator compares between nodes). */
  async *inventory(): AsyncIterable<{ blob: string; version: string; kind: string }> {
    for await (const v of this.db.values()) {
      const m = JSON.parse(v) as IndexedMeta;
      if (!this.damaged.has(m.blob)) yield { blob: m.blob, version: m.version, kind: m.kind };
    }
  }

  /**
   * One page of this node's index for a bucket, in key order, tombstones included (a newer tombstone
   * elsewhere must hide an older object here). With a delimiter, keys sharing a common prefix come
   * back once as `{ prefix }` (only when a live key lies under it here). `more` says the page was cut.
   */
  async list(bucket: string, prefix: string, delimiter: string, after: string, limit: number): Promise<{ items: LocalListItem[]; more: boolean }> {
    const base = objKey(bucket, '');
    const items: LocalListItem[] = [];
    const lt = Buffer.concat([objKey(bucket, prefix), FF]);
    let cursor: { gt?: Buffer; gte?: Buffer } = { gte: objKey(bucket, prefix) };
    if (after !== '' && after >= prefix) {
      const i = delimiter !== '' ? after.indexOf(delimiter, prefix.length) : -1;
      // After a common prefix: skip everything under it.
      cursor = i >= 0 ? { gte: Buffer.concat([objKey(bucket, after.slice(0, i + delimiter.length)), FF]) } : { gt: objKey(bucket, after) };
    }
    for (let rounds = 0; items.length < limit && rounds < 1_000_000; rounds++) {
      let jump: Buffer | undefined;
      for await (const [k, v] of this.db.iterator({ ...cursor, lt })) {
        const key = k.subarray(base.length).toString('utf8');
        const i = delimiter !== '' ? key.indexOf(delimiter, prefix.length) : -1;
        if (i >= 0) {
          const cp = key.slice(0, i + delimiter.length);
          if (await this.hasLive(bucket, cp)) items.push({ prefix: cp });
          jump = Buffer.concat([objKey(bucket, cp), FF]);
          break;
        }
        items.push({ key, meta: JSON.parse(v) as IndexedMeta });
        cursor = { gt: k };
        if (items.length >= limit) break;
      }
      if (jump === undefined) break;
      cursor = { gte: jump };
    }
    for await (const _ of this.db.keys({ ...cursor, lt, limit: 1 })) return { items, more: true };
    return { items, more: false };
  }

  private async hasLive(bucket: string, cp: string): Promise<boolean> {
    for await (const v of this.db.values({ gte: objKey(bucket, cp), lt: Buffer.concat([objKey(bucket, cp), FF]) })) {
      if ((JSON.parse(v) as IndexedMeta).kind === 'object') return true;
    }
    return false;
  }

  /** True when the bucket holds any live object here. */
  async bucketHasObjects(bucket: string): Promise<boolean> {
    return this.hasLive(bucket, '');
  }
}
