/**
 * The object store on one node: implements ObjectService. Any node is an access point.
 *
 * - Placement: the bucket's policy names a ring `objects-<policy>`; an object's partition is
 *   partitionForKey(ring, "<bucket>/<key>"), its replica holders the partition's primaries; a primary
 *   that is not ACTIVE is replaced by the next live handoff node (the replicator moves the copy back).
 * - PUT streams to every holder in parallel (fanOut) and succeeds once a write quorum (a majority of the
 *   ring's replica count) has stored and fsynced its copy. The access node hashes the body once (SHA-256,
 *   CRC32, and MD5 when the ETag needs it); each remote holder computes the CRC32 of what it received.
 * - GET asks the live holders for their metadata, takes the newest version (a newer version wins; a
 *   tombstone is a delete), and streams from this node when it holds that version, else from the nearest
 *   holder by measured RTT, falling back to the next on failure. Whole-object reads are verified against
 *   the replica's CRC32 (its SHA-256 when it has none): up to `verifyInMemoryBytes` before the first byte
 *   is sent (a bad replica is skipped), above that while streaming (a mismatch cuts the stream before its
 *   last bytes). Either way the bad replica is reported damaged. Latency: the holders are asked while the
 *   bucket is looked up (on its cached policy), and this node's replica is opened while they answer.
 * - Listing merges one page of every live node's ordered index (local-replica.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { handoffNodes, partitionForKey, primaryNodes, type Ring } from '../../cluster/index.js';
import { Code, FlotillaError } from '../../core/errors.js';
import { silentLogger, type Logger } from '../../core/log.js';
import type { Coord } from '../../coord/index.js';
import { createBodyDigester } from '../backends/digest-worker.js';
import type { GetObjectInput, ListObjectsInput, ListObjectsResult, MultipartPart, ObjectMeta, ObjectService, PutObjectInput } from '../object-service.js';
import { newVersion, toObjectMeta, type MetaDraft, type StoredMeta } from './blob-meta.js';
import { BucketRegistry } from './buckets.js';
import type { LocalListItem, LocalReplica, WriteExpectations } from './local-replica.js';
import { checkKey, objectBlobName, partBlobName, policyOf, ringNameOf, writeQuorum } from './names.js';
import type { ReplicaClient } from './replica-client.js';
import { fanOut, readAllBounded, readCheckFor, VerifyingStream } from './streams.js';

export interface ObjectPeer {
  name: string;
  /** host:port of its HTTP server (the replica API). */
  httpAddress: string;
  /** ACTIVE and registered, with the objects role. */
  up: boolean;
  rttMs: number | undefined;
}

export interface ObjectStoreOptions {
  self: string;
  local: LocalReplica;
  client: ReplicaClient;
  coord: () => Coord;
  ring: (name: string) => Ring | undefined;
  /** Other nodes with the objects role. */
  peers: () => ObjectPeer[];
  /** Reported when a replica here or elsewhere is found damaged. */
  onDamaged: (node: string, blob: string) => void;
  /** Whole-object reads up to this size are verified before the first byte is sent. Default 8 MiB. */
  verifyInMemoryBytes?: number;
  logger?: Logger;
  now?: () => number;
}

export const UPLOADS_PREFIX = '/flotilla/objects/uploads/';
const MIN_PART_BYTES = 5 * 1024 * 1024;

interface Placement {
  policy: string;
  ring: Ring;
  partition: number;
  replicas: number;
}

interface Located {
  meta: StoredMeta;
  /** Holders of `meta.version`, best first (this node, then by RTT). */
  holders: string[];
  /** This node's replica of `meta.version`, opened while the others were asked (locate's `openLocal`); not yet read. */
  localBody?: Readable;
}

export type ObjectStore = ObjectService & {
  readonly buckets: BucketRegistry;
  /** Holders of an object's replicas and what each holds (for `flotilla obj stat`). */
  replicaStatus(bucket: string, key: string): Promise<{ partition: number; ring: string; replicas: { node: string; primary: boolean; state: string; version?: string }[] }>;
  placementOf(policy: string, bucket: string, key: string): Placement;
  /** Aborts the multipart uploads started more than `maxAgeMs` ago (their parts removed); returns how many. */
  expireUploads(maxAgeMs: number): Promise<number>;
};

export function createObjectStore(o: ObjectStoreOptions): ObjectStore {
  const logger = o.logger ?? silentLogger();
  const now = o.now ?? Date.now;
  const verifyInMemory = o.verifyInMemoryBytes ?? 8 * 1024 * 1024;
  const buckets = new BucketRegistry(o.coord);
  const { self, local, client } = o;

  const peer = (name: string): ObjectPeer | undefined => o.peers().find((p) => p.name === name);
  const isUp = (name: string): boolean => name === self || peer(name)?.up === true;
  const addressOf = (name: string): string => {
    const p = peer(name);
    if (p === undefined) throw new FlotillaError(Code.UNAVAILABLE, `node ${name} is not known here`);
    return p.httpAddress;
  };
  const byDistance = (names: string[]): string[] =>
    [...names].sort((a, b) => (a === self ? -1 : b === self ? 1 : (peer(a)?.rttMs ?? 1e9) - (peer(b)?.rttMs ?? 1e9)));

  function placementOf(policy: string, bucket: string, key: string): Placement {
    const p = policyOf(policy);
    const ring = o.ring(ringNameOf(policy));
    if (ring === undefined) throw new FlotillaError(Code.FAILED_PRECONDITION, `ring ${ringNameOf(policy)} does not exist yet (it is built once nodes with the objects role are ACTIVE, or by flotilla ring build)`);
    return { policy: p.name, ring, partition: partitionForKey(ring, `${bucket}/${key}`), replicas: ring.replicas };
  }

  /** Where to write: live primaries, topped up with live handoffs. */
  function writeTargets(pl: Placement): string[] {
    const targets = primaryNodes(pl.ring, pl.partition).filter(isUp);
    for (const h of handoffNodes(pl.ring, pl.partition)) {
      if (targets.length >= pl.replicas) break;
      if (isUp(h)) targets.push(h);
    }
    return targets;
  }

  /** Where to look: live primaries, then as many live handoffs again (copies written during a failure). */
  function readCandidates(pl: Placement): string[] {
    const out = primaryNodes(pl.ring, pl.partition).filter(isUp);
    let extra = 0;
    for (const h of handoffNodes(pl.ring, pl.partition)) {
      if (extra >= pl.replicas) break;
      if (isUp(h)) {
        out.push(h);
        extra++;
      }
    }
    return out;
  }

  async function headAt(node: string, blob: string): Promise<StoredMeta | undefined> {
    return node === self ? local.head(blob) : client.head(node, addressOf(node), blob);
  }

  /** A replica write in phase 1 (staged, unpublished) on one node. */
  interface Staged {
    node: string;
    /** This node's own copy: made of the very Buffers hashed here, it computes nothing itself. */
    local: boolean;
    size: number;
    /** The CRC32 a remote holder computed of what it received (what this version asks for). */
    crc32: string | undefined;
    /** The SHA-256 a remote holder of an older version computed instead. */
    sha256: string | undefined;
    commit(meta: StoredMeta): Promise<unknown>;
    abort(): Promise<void>;
    revert(version: string): Promise<void>;
  }

  async function stageAt(node: string, blob: string, body: Readable, size: number | undefined): Promise<Staged> {
    if (node === self) {
      // This node's copy is made of the very Buffers hashed here: it hashes nothing itself.
      const st = local.stage(blob, body, { ...(size !== undefined ? { expectedSize: size } : {}), digests: { sha256: false, md5: false } });
      // A copy that fails while receiving is aborted here, which waits until its temporary file is gone:
      // nobody else holds it to abort it, and the caller answers only after this.
      const w = await st.received.catch(async (err: unknown) => {
        await st.abort(FlotillaError.from(err));
        throw err;
      });
      return { node, local: true, size: w.size, crc32: undefined, sha256: undefined, commit: (m) => st.commit(m), abort: () => st.abort(), revert: async (v) => void (await local.revert(blob, v)) };
    }
    const address = addressOf(node);
    const r = await client.stage(node, address, blob, body, { verify: 'crc32', ...(size !== undefined ? { size } : {}) });
    return {
      node,
      local: false,
      size: r.size,
      crc32: r.crc32,
      sha256: r.sha256,
      commit: (m) => client.commit(node, address, r.stage, m),
      abort: () => client.abort(node, address, r.stage),
      revert: (v) => client.revert(node, address, blob, v),
    };
  }

  /**
   * Writes a blob to its holders in two phases, so that a write that fails its quorum leaves nothing
   * visible anywhere: (1) the body streams to every holder in parallel, hashed once here (SHA-256, CRC32,
   * and MD5 when the ETag needs it) while each remote holder computes the CRC32 of what it received and
   * keeps it unpublished; (2) once a write quorum staged the same bytes, every such holder publishes it (fsync,
   * rename, index). Holders that failed or disagree are aborted. Should fewer than a quorum publish, the
   * published ones and those whose commit failed are reverted (removed where they hold this version).
   * `how.fromClient`: the body is a client's request (drained on failure, not destroyed); `how.sha256Etag`:
   * the ETag is `sha256-<hex>` and no MD5 is computed (unless `expect.md5` asks for one).
   */
  async function writeBlob(pl: Placement, blob: string, body: Readable, draft: MetaDraft, expect: WriteExpectations, how: { fromClient?: boolean; sha256Etag?: boolean } = {}): Promise<StoredMeta> {
    const { fromClient = false, sha256Etag = false } = how;
    // On failure a client's request body is drained (destroying it would reset the connection before
    // the client reads the error); a source of our own (a copy, a multipart completion) is destroyed.
    const dropBody = (): void => {
      if (body.destroyed) return;
      if (fromClient) body.resume();
      else body.destroy();
    };
    const targets = writeTargets(pl);
    const quorum = writeQuorum(pl.replicas);
    if (targets.length < quorum) {
      dropBody();
      throw new FlotillaError(Code.UNAVAILABLE, `only ${targets.length} replica holders are up for ${draft.bucket}/${draft.key}; the write quorum is ${quorum} of ${pl.replicas}`);
    }
    const needMd5 = (draft.etag === undefined && !sha256Etag) || expect.md5 !== undefined;
    // Large bodies with an MD5 (or a SHA-256 without the CPU's instructions) are hashed on the process's
    // hashing thread (digest-worker.ts): this thread moves the bytes.
    const hasher = createBodyDigester(expect.size, { sha256: true, md5: needMd5, crc32: true });
    let r: Awaited<ReturnType<typeof fanOut<Staged>>>;
    try {
      r = await fanOut(body, targets, quorum, (node, stream) => stageAt(node, blob, stream, expect.size), (chunk) => hasher.update(chunk));
    } catch (err) {
      hasher.abort();
      dropBody();
      throw err;
    }
    for (const e of r.errors) logger.warn({ node: e.target, blob, err: e.error.message }, 'replica write failed');
    const staged = r.ok;
    const committed: Staged[] = [];
    try {
      const mine = await hasher.result();
      const sha256 = mine.sha256!;
      const md5 = mine.md5 ?? '';
      const crc32 = mine.crc32!;
      if (expect.sha256 !== undefined && expect.sha256 !== sha256) throw new FlotillaError(Code.INVALID_ARGUMENT, `body SHA-256 ${sha256} does not match the expected ${expect.sha256}`);
      if (expect.md5 !== undefined && expect.md5 !== md5) throw new FlotillaError(Code.INVALID_ARGUMENT, `body MD5 ${md5} does not match the expected ${expect.md5} (Content-MD5)`);
      // Each remote holder received what was sent when its size and CRC32 (or, from an older version, its
      // SHA-256) are this node's; this node's own copy is made of the Buffers hashed here.
      const same = (s: Staged): boolean => s.size === mine.size && (s.local || (s.crc32 !== undefined ? s.crc32 === crc32 : s.sha256 === sha256));
      const good = staged.filter(same);
      for (const s of staged) if (!good.includes(s)) logger.warn({ node: s.node, blob, size: s.size, crc32: s.crc32, sha256: s.sha256, want: { size: mine.size, crc32, sha256 } }, 'replica received other bytes than were sent; dropped');
      if (good.length < quorum) {
        const bad = r.errors.find((e) => e.error.code === Code.INVALID_ARGUMENT);
        if (bad !== undefined) throw bad.error;
        throw new FlotillaError(Code.UNAVAILABLE, `write quorum not met for ${draft.bucket}/${draft.key}: ${good.length} of ${quorum} replicas stored (${r.errors.map((e) => `${e.target}: ${e.error.rawMessage}`).join('; ')}); nothing was stored`);
      }
      const meta: StoredMeta = { ...draft, size: mine.size, sha256, md5, crc32, etag: draft.etag ?? (sha256Etag && md5 === '' ? `sha256-${sha256}` : md5) };
      const errors: string[] = [];
      const failed: Staged[] = [];
      await Promise.all(
        good.map(async (s) => {
          try {
            await s.commit(meta);
            committed.push(s);
          } catch (err) {
            failed.push(s);
            errors.push(`${s.node}: ${FlotillaError.from(err).rawMessage}`);
            logger.warn({ node: s.node, blob, err: FlotillaError.from(err).message }, 'replica commit failed');
          }
        }),
      );
      if (committed.length < quorum) {
        const published = committed.length;
        // Undo: the holders that published, and those whose commit failed too (a commit can fail after
        // its holder published, e.g. when the answer is lost): each removes the replica only where it
        // holds this version, so a holder that kept the previous version keeps it.
        await Promise.all([...committed, ...failed].map((s) => s.revert(meta.version).catch((err: unknown) => logger.warn({ node: s.node, blob, err: FlotillaError.from(err).message }, 'revert of a replica failed; the replicator settles it'))));
        logger.warn({ blob, published, quorum, reverted: [...committed, ...failed].map((s) => s.node) }, 'write quorum not met after the commits; the write was undone');
        committed.length = 0;
        throw new FlotillaError(Code.UNAVAILABLE, `write quorum not met for ${draft.bucket}/${draft.key}: ${published} of ${quorum} replicas published (${errors.join('; ')}); the write was undone`);
      }
      return meta;
    } finally {
      await Promise.all(staged.filter((s) => !committed.includes(s)).map((s) => s.abort().catch(() => undefined)));
    }
  }

  /** How this node's replica of `blob` is checked while it streams: whole reads above verifyInMemory. */
  const localCheck = (blob: string, whole: boolean): { when: (m: StoredMeta) => boolean; onMismatch: () => void } => ({
    when: (m) => whole && m.size > verifyInMemory,
    onMismatch: () => {
      logger.warn({ node: self, blob }, 'replica checksum mismatch on read; the stream was cut');
      o.onDamaged(self, blob);
    },
  });

  /**
   * The newest version of a blob among the live holders, and who holds it. With `openLocal` (a whole-object
   * read), this node's replica is opened (its head read from the open file) while the others are asked:
   * when it holds the newest version, its body is ready to stream as soon as the last answer is in.
   */
  async function locate(pl: Placement, blob: string, openLocal = false): Promise<Located | undefined> {
    const candidates = readCandidates(pl);
    let opened: { meta: StoredMeta; body: Readable } | undefined;
    const headHere = async (): Promise<StoredMeta | undefined> => {
      try {
        opened = await local.read(blob, undefined, localCheck(blob, true));
        return opened.meta;
      } catch (err) {
        // Missing here; or unreadable, which the plain head reports (and marks damaged).
        return FlotillaError.from(err).code === Code.NOT_FOUND ? undefined : local.head(blob);
      }
    };
    const heads = await Promise.all(candidates.map(async (n) => ({ node: n, meta: await (openLocal && n === self ? headHere() : headAt(n, blob)).catch(() => undefined) })));
    let newest: StoredMeta | undefined;
    for (const h of heads) if (h.meta !== undefined && (newest === undefined || h.meta.version > newest.version)) newest = h.meta;
    const useLocal = opened !== undefined && newest !== undefined && opened.meta.version === newest.version && newest.kind === 'object';
    if (!useLocal) opened?.body.destroy();
    if (newest === undefined) return undefined;
    const v = newest.version;
    return { meta: newest, holders: byDistance(heads.filter((h) => h.meta?.version === v).map((h) => h.node)), ...(useLocal ? { localBody: opened!.body } : {}) };
  }

  async function readFrom(node: string, blob: string, range?: { start: number; end: number }): Promise<{ meta: StoredMeta; body: Readable }> {
    return node === self ? local.read(blob, range, localCheck(blob, range === undefined)) : client.read(node, addressOf(node), blob, range);
  }

  /** Streams a located blob, verified as described at the top; falls back across holders. */
  async function openVerified(blob: string, found: Located, range?: { start: number; end: number }): Promise<Readable> {
    const errors: string[] = [];
    let localBody = range === undefined ? found.localBody : undefined;
    if (localBody === undefined) found.localBody?.destroy();
    try {
      return await openFromHolders(blob, found, errors, range, () => {
        const b = localBody;
        localBody = undefined;
        return b;
      });
    } finally {
      localBody?.destroy();
    }
  }

  async function openFromHolders(blob: string, found: Located, errors: string[], range: { start: number; end: number } | undefined, takeLocal: () => Readable | undefined): Promise<Readable> {
    for (const node of found.holders) {
      let r: { meta: StoredMeta; body: Readable };
      try {
        const pre = node === self ? takeLocal() : undefined;
        r = pre !== undefined ? { meta: found.meta, body: pre } : await readFrom(node, blob, range);
      } catch (err) {
        errors.push(`${node}: ${FlotillaError.from(err).rawMessage}`);
        continue;
      }
      if (r.meta.version !== found.meta.version) {
        r.body.destroy();
        errors.push(`${node}: holds another version now`);
        continue;
      }
      if (range !== undefined) return r.body;
      if (r.meta.size <= verifyInMemory) {
        try {
          const buf = await readAllBounded(r.body, verifyInMemory);
          const check = readCheckFor(r.meta);
          check.update(buf);
          if (check.matches()) return Readable.from([buf]);
          errors.push(`${node}: checksum mismatch`);
        } catch (err) {
          errors.push(`${node}: ${FlotillaError.from(err).rawMessage}`);
          continue;
        }
        logger.warn({ node, blob }, 'replica checksum mismatch on read; trying another replica');
        o.onDamaged(node, blob);
        continue;
      }
      // This node's replica is checked in its own read loop (local.read); another's by a stage here.
      if (node === self) return r.body;
      const v = new VerifyingStream(r.meta, () => o.onDamaged(node, blob));
      r.body.once('error', (e) => v.destroy(e));
      return r.body.pipe(v);
    }
    throw new FlotillaError(Code.UNAVAILABLE, `no replica of ${found.meta.bucket}/${found.meta.key} could be read (${errors.join('; ')})`);
  }

  /** `openLocal`: see locate (the caller then owns `found.localBody`). */
  async function findObject(bucket: string, key: string, openLocal = false): Promise<{ pl: Placement; blob: string; found: Located }> {
    checkKey(key);
    const where = (policy: string): { pl: Placement; blob: string } => {
      const pl = placementOf(policy, bucket, key);
      return { pl, blob: objectBlobName(pl.policy, pl.partition, bucket, key) };
    };
    // The bucket's policy (where the object lives) comes from the coordination store. With the bucket
    // seen before, the holders are asked at the same time, on the policy it had: the answer counts only
    // when the bucket still exists with that policy (else they are asked again on the new one).
    const cached = buckets.cached(bucket);
    let early: { pl: Placement; blob: string } | undefined;
    try {
      early = cached !== undefined ? where(cached.policy) : undefined;
    } catch {
      early = undefined; // (no ring yet: the error comes below, after the bucket's own look-up)
    }
    const located = early !== undefined ? locate(early.pl, early.blob, openLocal) : undefined;
    located?.catch(() => undefined);
    let b;
    try {
      b = await buckets.get(bucket);
    } catch (err) {
      (await located?.catch(() => undefined))?.localBody?.destroy();
      throw err;
    }
    let pl: Placement;
    let blob: string;
    let found: Located | undefined;
    if (early !== undefined && b.policy === cached!.policy) {
      ({ pl, blob } = early);
      found = await located!;
    } else {
      (await located?.catch(() => undefined))?.localBody?.destroy();
      ({ pl, blob } = where(b.policy));
      found = await locate(pl, blob, openLocal);
    }
    if (found === undefined || found.meta.kind !== 'object') {
      found?.localBody?.destroy();
      throw new FlotillaError(Code.NOT_FOUND, `object ${bucket}/${key} not found`);
    }
    return { pl, blob, found };
  }

  async function putObject(input: PutObjectInput, etag?: string, fromClient = false): Promise<ObjectMeta> {
    checkKey(input.key);
    const b = await buckets.get(input.bucket);
    const pl = placementOf(b.policy, input.bucket, input.key);
    const t = now();
    const draft: MetaDraft = {
      kind: 'object',
      bucket: input.bucket,
      key: input.key,
      contentType: input.contentType ?? 'application/octet-stream',
      userMetadata: input.userMetadata ?? {},
      lastModifiedMs: t,
      version: newVersion(t),
      ...(etag !== undefined ? { etag } : {}),
    };
    const expect: WriteExpectations = {
      ...(input.size !== undefined ? { size: input.size } : {}),
      ...(input.expectedSha256 !== undefined ? { sha256: input.expectedSha256.toLowerCase() } : {}),
      ...(input.expectedMd5 !== undefined ? { md5: input.expectedMd5.toLowerCase() } : {}),
    };
    const meta = await writeBlob(pl, objectBlobName(pl.policy, pl.partition, input.bucket, input.key), input.body, draft, expect, { fromClient, sha256Etag: input.etag === 'sha256' });
    return toObjectMeta(meta);
  }

  // ---- multipart ----
  interface Upload {
    bucket: string;
    key: string;
    contentType?: string;
    userMetadata?: Record<string, string>;
    initiatedMs: number;
  }
  const uploadKey = (id: string): string => `${UPLOADS_PREFIX}${id}`;
  const partKey = (id: string, n: number): string => `${UPLOADS_PREFIX}${id}/parts/${String(n).padStart(5, '0')}`;
  async function getUpload(bucket: string, key: string, uploadId: string): Promise<Upload> {
    if (!/^[0-9a-f]{32}$/.test(uploadId)) throw new FlotillaError(Code.NOT_FOUND, 'no such upload');
    const kv = await o.coord().get(uploadKey(uploadId));
    const u = kv === undefined ? undefined : (JSON.parse(kv.value.toString('utf8')) as Upload);
    if (u === undefined || u.bucket !== bucket || u.key !== key) throw new FlotillaError(Code.NOT_FOUND, `no upload ${uploadId} for ${bucket}/${key}`);
    return u;
  }
  async function listStoredParts(uploadId: string): Promise<(MultipartPart & { sha256: string })[]> {
    const r = await o.coord().range(`${uploadKey(uploadId)}/parts/`);
    return r.kvs.map((kv) => JSON.parse(kv.value.toString('utf8')) as MultipartPart & { sha256: string });
  }
  async function dropParts(bucket: string, key: string, uploadId: string, parts: MultipartPart[]): Promise<void> {
    const b = await buckets.get(bucket).catch(() => undefined);
    if (b !== undefined) {
      const pl = placementOf(b.policy, bucket, key);
      for (const p of parts) {
        const blob = partBlobName(pl.policy, pl.partition, uploadId, p.partNumber);
        for (const n of readCandidates(pl)) {
          await (n === self ? local.remove(blob) : client.remove(n, addressOf(n), blob)).catch(() => undefined);
        }
      }
    }
    await o.coord().delete(`${uploadKey(uploadId)}/`, { prefix: true });
    await o.coord().delete(uploadKey(uploadId));
  }

  const store: ObjectStore = {
    buckets,
    placementOf,
    listBuckets: () => buckets.list(),
    createBucket: (name, options) => buckets.create(name, options?.policy, now()),
    async deleteBucket(name) {
      await buckets.get(name);
      const l = await store.listObjects({ bucket: name, limit: 1 });
      if (l.objects.length > 0 || l.commonPrefixes.length > 0) throw new FlotillaError(Code.FAILED_PRECONDITION, `bucket ${name} is not empty`);
      await buckets.delete(name);
    },
    headBucket: (name) => buckets.get(name),

    putObject: (input) => putObject(input, undefined, true),

    async getObject(input: GetObjectInput) {
      const { blob, found } = await findObject(input.bucket, input.key, input.range === undefined);
      let asked = input.range;
      if (input.rangeFor !== undefined) {
        try {
          asked = input.rangeFor(toObjectMeta(found.meta));
        } catch (err) {
          found.localBody?.destroy();
          throw err;
        }
      }
      if (asked !== undefined) {
        const { start, end } = asked;
        found.localBody?.destroy();
        if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || start >= found.meta.size) {
          throw new FlotillaError(Code.INVALID_ARGUMENT, `range ${start}-${end} is not satisfiable for an object of ${found.meta.size} bytes`, { details: { reason: 'range-not-satisfiable', size: found.meta.size } });
        }
      }
      const range = asked !== undefined ? { start: asked.start, end: Math.min(asked.end, found.meta.size - 1) } : undefined;
      const whole = range === undefined || (range.start === 0 && range.end === found.meta.size - 1);
      if (found.meta.size === 0) {
        found.localBody?.destroy();
        return { meta: toObjectMeta(found.meta), body: Readable.from([]) };
      }
      const body = await openVerified(blob, found, whole ? undefined : range);
      return { meta: toObjectMeta(found.meta), body };
    },

    async headObject(bucket, key) {
      return toObjectMeta((await findObject(bucket, key)).found.meta);
    },

    async deleteObject(bucket, key) {
      checkKey(key);
      const b = await buckets.get(bucket);
      const pl = placementOf(b.policy, bucket, key);
      const blob = objectBlobName(pl.policy, pl.partition, bucket, key);
      const found = await locate(pl, blob);
      if (found === undefined || found.meta.kind !== 'object') return;
      const t = Math.max(now(), found.meta.lastModifiedMs + 1);
      await writeBlob(pl, blob, Readable.from([]), { kind: 'tombstone', bucket, key, contentType: '', userMetadata: {}, lastModifiedMs: t, version: newVersion(t) }, { size: 0 });
    },

    async copyObject(from, to, options) {
      const src = await store.getObject({ bucket: from.bucket, key: from.key });
      return putObject({
        bucket: to.bucket,
        key: to.key,
        body: src.body,
        size: src.meta.size,
        contentType: options?.metadata?.contentType ?? src.meta.contentType,
        userMetadata: options?.metadata?.userMetadata ?? src.meta.userMetadata,
        expectedSha256: src.meta.sha256,
      }, src.meta.etag.includes('-') && options?.metadata === undefined ? src.meta.etag : undefined);
    },

    async listObjects(input: ListObjectsInput): Promise<ListObjectsResult> {
      const b = await buckets.get(input.bucket);
      const limit = Math.min(Math.max(input.limit ?? 1000, 1), 10_000);
      const q = { bucket: input.bucket, prefix: input.prefix ?? '', delimiter: input.delimiter ?? '', after: input.after ?? '', limit };
      const ring = o.ring(ringNameOf(b.policy));
      const replicas = ring?.replicas ?? policyOf(b.policy).replicas;
      const devices = ring !== undefined ? [...new Set(ring.devices.map((d) => d.id))] : [];
      const pageOf = async (n: string): Promise<{ items: LocalListItem[]; more: boolean } | undefined> => {
        try {
          return n === self ? await local.list(q.bucket, q.prefix, q.delimiter, q.after, limit) : await client.list(n, addressOf(n), q);
        } catch (err) {
          logger.warn({ node: n, err: FlotillaError.from(err).message }, 'listing: a node did not answer; its replicas are read from the others');
          return undefined;
        }
      };
      const answered = new Map<string, { items: LocalListItem[]; more: boolean }>();
      const ask = async (names: string[]): Promise<void> => {
        await Promise.all(names.map(async (n) => {
          const p = await pageOf(n);
          if (p !== undefined) answered.set(n, p);
        }));
      };
      await ask([self, ...o.peers().filter((p) => p.up).map((p) => p.name)]);
      // Every key has `replicas` holders among the ring's devices: the merged page is complete while fewer
      // than `replicas` of them are missing. Otherwise ask the nodes believed down too (a busy node can
      // miss health checks), and refuse an incomplete listing rather than silently omit keys.
      const missing = (): string[] => devices.filter((d) => !answered.has(d));
      if (missing().length >= replicas) {
        await ask(missing().filter((d) => peer(d) !== undefined));
        if (missing().length >= replicas) {
          throw new FlotillaError(Code.UNAVAILABLE, `cannot list bucket ${input.bucket} completely: ${missing().join(', ')} did not answer and its policy ${b.policy} keeps ${replicas} cop${replicas === 1 ? 'y' : 'ies'} of each object`);
        }
      }
      const pages = [...answered.values()];
      // Items are valid up to the smallest last name of a page that was cut.
      const nameOf = (i: LocalListItem): string => i.key ?? i.prefix ?? '';
      let bound: string | undefined;
      for (const p of pages) {
        const last = p.items[p.items.length - 1];
        if (p.more && last !== undefined && (bound === undefined || nameOf(last) < bound)) bound = nameOf(last);
      }
      const merged = new Map<string, LocalListItem>();
      for (const p of pages) {
        for (const i of p.items) {
          const n = nameOf(i);
          if (bound !== undefined && n > bound) continue;
          const cur = merged.get(n);
          if (cur === undefined || (i.meta !== undefined && cur.meta !== undefined && i.meta.version > cur.meta.version) || (i.prefix !== undefined && cur.meta !== undefined)) merged.set(n, i);
        }
      }
      const names = [...merged.keys()].sort((a, b) => (Buffer.compare(Buffer.from(a), Buffer.from(b))));
      const out: ListObjectsResult = { objects: [], commonPrefixes: [] };
      let last: string | undefined;
      for (const n of names) {
        if (out.objects.length + out.commonPrefixes.length >= limit) break;
        const i = merged.get(n)!;
        last = n;
        if (i.prefix !== undefined) out.commonPrefixes.push(i.prefix);
        else if (i.meta?.kind === 'object') out.objects.push(toObjectMeta(i.meta));
      }
      const cut = last !== undefined && names[names.length - 1] !== last;
      if (cut || bound !== undefined) out.nextAfter = cut ? last : (bound);
      return out;
    },

    async createMultipartUpload(bucket, key, options) {
      checkKey(key);
      await buckets.get(bucket);
      const uploadId = randomBytes(16).toString('hex');
      const u: Upload = { bucket, key, initiatedMs: now(), ...(options?.contentType !== undefined ? { contentType: options.contentType } : {}), ...(options?.userMetadata !== undefined ? { userMetadata: options.userMetadata } : {}) };
      await o.coord().put(uploadKey(uploadId), JSON.stringify(u));
      return { uploadId };
    },

    async uploadPart(bucket, key, uploadId, partNumber, body, size) {
      if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10_000) throw new FlotillaError(Code.INVALID_ARGUMENT, 'a part number is 1-10000');
      await getUpload(bucket, key, uploadId);
      const b = await buckets.get(bucket);
      const pl = placementOf(b.policy, bucket, key);
      const t = now();
      const meta = await writeBlob(
        pl,
        partBlobName(pl.policy, pl.partition, uploadId, partNumber),
        body,
        { kind: 'part', bucket, key, contentType: '', userMetadata: {}, lastModifiedMs: t, version: newVersion(t), uploadId, partNumber },
        size !== undefined ? { size } : {},
        { fromClient: true },
      );
      const part = { partNumber, etag: meta.md5, size: meta.size, sha256: meta.sha256 };
      await o.coord().put(partKey(uploadId, partNumber), JSON.stringify(part));
      return { partNumber, etag: part.etag, size: part.size };
    },

    async listParts(bucket, key, uploadId) {
      await getUpload(bucket, key, uploadId);
      return (await listStoredParts(uploadId)).map(({ partNumber, etag, size }) => ({ partNumber, etag, size }));
    },

    async completeMultipartUpload(bucket, key, uploadId, parts) {
      const u = await getUpload(bucket, key, uploadId);
      if (parts.length === 0) throw new FlotillaError(Code.INVALID_ARGUMENT, 'a multipart upload needs at least one part');
      const stored = new Map((await listStoredParts(uploadId)).map((p) => [p.partNumber, p]));
      const chosen = parts.map((p, i) => {
        const s = stored.get(p.partNumber);
        const etag = p.etag.replace(/"/g, '').toLowerCase();
        if (s === undefined || s.etag !== etag) throw new FlotillaError(Code.INVALID_ARGUMENT, `part ${p.partNumber} was not uploaded or its ETag differs`, { details: { reason: 'invalid-part' } });
        if (i > 0 && p.partNumber <= (parts[i - 1] as { partNumber: number }).partNumber) throw new FlotillaError(Code.INVALID_ARGUMENT, 'parts must be listed in ascending order', { details: { reason: 'invalid-part-order' } });
        if (i < parts.length - 1 && s.size < MIN_PART_BYTES) throw new FlotillaError(Code.INVALID_ARGUMENT, `part ${p.partNumber} is ${s.size} bytes; every part but the last needs at least 5 MiB`, { details: { reason: 'entity-too-small' } });
        return s;
      });
      const b = await buckets.get(bucket);
      const pl = placementOf(b.policy, bucket, key);
      const md5s = Buffer.concat(chosen.map((p) => Buffer.from(p.etag, 'hex')));
      const etag = `${createHash('md5').update(md5s).digest('hex')}-${chosen.length}`;
      const total = chosen.reduce((a, p) => a + p.size, 0);
      const concat = async function* (): AsyncIterable<Buffer> {
        for (const p of chosen) {
          const blob = partBlobName(pl.policy, pl.partition, uploadId, p.partNumber);
          const found = await locate(pl, blob);
          if (found === undefined || found.meta.sha256 !== p.sha256) throw new FlotillaError(Code.UNAVAILABLE, `part ${p.partNumber} cannot be read from any replica`);
          for await (const c of await openVerified(blob, found)) yield c as Buffer;
        }
      };
      const meta = await putObject({ bucket, key, body: Readable.from(concat()), size: total, ...(u.contentType !== undefined ? { contentType: u.contentType } : {}), ...(u.userMetadata !== undefined ? { userMetadata: u.userMetadata } : {}) }, etag);
      await dropParts(bucket, key, uploadId, [...stored.values()]).catch((err: unknown) => logger.warn({ err: FlotillaError.from(err).message, uploadId }, 'multipart parts not all removed'));
      return meta;
    },

    async abortMultipartUpload(bucket, key, uploadId) {
      await getUpload(bucket, key, uploadId);
      await dropParts(bucket, key, uploadId, await listStoredParts(uploadId));
    },

    async expireUploads(maxAgeMs) {
      const r = await o.coord().range(UPLOADS_PREFIX);
      const cutoff = now() - maxAgeMs;
      let n = 0;
      for (const kv of r.kvs) {
        const id = kv.key.slice(UPLOADS_PREFIX.length);
        if (!/^[0-9a-f]{32}$/.test(id)) continue;
        let u: Upload;
        try {
          u = JSON.parse(kv.value.toString('utf8')) as Upload;
        } catch {
          continue;
        }
        if (!(u.initiatedMs < cutoff)) continue;
        await dropParts(u.bucket, u.key, id, await listStoredParts(id));
        logger.info({ uploadId: id, bucket: u.bucket, key: u.key, initiatedMs: u.initiatedMs }, 'abandoned multipart upload aborted');
        n++;
      }
      return n;
    },

    async replicaStatus(bucket, key) {
      checkKey(key);
      const b = await buckets.get(bucket);
      const pl = placementOf(b.policy, bucket, key);
      const blob = objectBlobName(pl.policy, pl.partition, bucket, key);
      const primaries = primaryNodes(pl.ring, pl.partition);
      const nodes = [...new Set([...primaries, ...handoffNodes(pl.ring, pl.partition)])];
      const replicas = await Promise.all(
        nodes.map(async (node) => {
          const primary = primaries.includes(node);
          if (!isUp(node)) return { node, primary, state: 'node down' };
          try {
            const m = await headAt(node, blob);
            return m === undefined ? { node, primary, state: 'missing' } : { node, primary, state: m.kind === 'object' ? 'ok' : m.kind, version: m.version };
          } catch (err) {
            return { node, primary, state: `error: ${FlotillaError.from(err).rawMessage}` };
          }
        }),
      );
      return { partition: pl.partition, ring: ringNameOf(pl.policy), replicas: replicas.filter((r) => r.primary || r.state === 'ok' || r.state === 'tombstone') };
    },
  };
  return store;
}
