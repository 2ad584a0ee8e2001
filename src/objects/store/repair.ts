/**
 * Background repair on one node.
 * - Replicator (every `replicateIntervalMs`, at start, and when a peer becomes ACTIVE): compares this
 *   node's inventory with every live peer's. For each partition this node is a primary of, a missing,
 *   damaged or older replica is pulled from a holder of the newest version (checked against its SHA-256
 *   as it is stored). A replica this node holds but is not a primary for (a handoff copy, or a partition
 *   moved by a ring change) is removed once every primary holds that version or a newer one.
 * - Auditor (every `auditIntervalMs`): re-reads every local replica and checks its SHA-256; a damaged one
 *   is marked (never served, not offered to peers) and the replicator restores it from a good copy.
 * - Garbage collection, at the end of every replication round: a tombstone older than `tombstoneGraceMs`
 *   is removed here (and no longer pulled from peers, which drop it in their own rounds); a multipart part
 *   blob older than `multipartExpiryMs` is removed (its upload is that old too), and `expireUploads`, when
 *   given, aborts the upload records older than that limit.
 */
import { createHash } from 'node:crypto';
import { primaryNodes, type Ring } from '../../cluster/index.js';
import { FlotillaError } from '../../core/errors.js';
import { silentLogger, type Logger } from '../../core/log.js';
import { parseStoredMeta, type StoredMeta } from './blob-meta.js';
import type { LocalReplica } from './local-replica.js';
import { parseBlobName, ringNameOf } from './names.js';
import type { ReplicaClient } from './replica-client.js';
import type { ObjectPeer } from './object-store.js';

export interface RepairOptions {
  self: string;
  local: LocalReplica;
  client: ReplicaClient;
  ring: (name: string) => Ring | undefined;
  peers: () => ObjectPeer[];
  /** Default 30 s. */
  replicateIntervalMs?: number;
  /** Default 10 min. */
  auditIntervalMs?: number;
  /** Tombstones older than this are removed. Default 7 days. */
  tombstoneGraceMs?: number;
  /** Multipart parts (and, through expireUploads, uploads) older than this are removed. Default 7 days. */
  multipartExpiryMs?: number;
  /** Aborts the multipart uploads started more than `maxAgeMs` ago; returns how many. */
  expireUploads?: (maxAgeMs: number) => Promise<number>;
  now?: () => number;
  logger?: Logger;
}

export const DEFAULT_REPLICATE_INTERVAL_MS = 30_000;
export const DEFAULT_AUDIT_INTERVAL_MS = 600_000;
export const DEFAULT_TOMBSTONE_GRACE_MS = 7 * 86_400_000;
export const DEFAULT_MULTIPART_EXPIRY_MS = 7 * 86_400_000;

/** The write time (ms) a version string starts with (see newVersion). */
const versionMs = (version: string): number => Number(version.slice(0, 15));

export interface RepairStats {
  pulled: number;
  removed: number;
  damaged: number;
  audited: number;
  rounds: number;
  /** Audit passes completed. */
  audits: number;
  /** Tombstones removed by garbage collection. */
  tombstonesCollected: number;
  /** Part blobs removed by garbage collection. */
  partsCollected: number;
  /** Multipart uploads aborted for being older than the limit. */
  uploadsExpired: number;
}

export class Repairer {
  readonly name = 'objects-repair';
  readonly stats: RepairStats = { pulled: 0, removed: 0, damaged: 0, audited: 0, rounds: 0, audits: 0, tombstonesCollected: 0, partsCollected: 0, uploadsExpired: 0 };
  private timers: NodeJS.Timeout[] = [];
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private readonly logger: Logger;

  constructor(private readonly o: RepairOptions) {
    this.logger = o.logger ?? silentLogger();
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.timers.push(setInterval(() => this.trigger(), this.o.replicateIntervalMs ?? DEFAULT_REPLICATE_INTERVAL_MS));
    this.timers.push(setInterval(() => void this.timedAudit(), this.o.auditIntervalMs ?? DEFAULT_AUDIT_INTERVAL_MS));
    for (const t of this.timers) t.unref();
    this.trigger();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.running;
  }

  /** Starts a replication round now (or right after the running one). */
  trigger(): void {
    if (this.stopped) return;
    if (this.running !== undefined) {
      this.again = true;
      return;
    }
    this.running = this.replicate()
      .catch((e: unknown) => this.logger.warn({ err: FlotillaError.from(e).message }, 'replication round failed'))
      .finally(() => {
        this.running = undefined;
        if (this.again && !this.stopped) {
          this.again = false;
          this.trigger();
        }
      });
  }

  private auditing = false;

  /** One timed audit pass (skipped when the previous one still runs). */
  private async timedAudit(): Promise<void> {
    if (this.auditing || this.stopped) return;
    this.auditing = true;
    try {
      await this.audit();
    } catch (e) {
      this.logger.warn({ err: FlotillaError.from(e).message }, 'audit failed');
    } finally {
      this.auditing = false;
    }
  }

  /** A replica here was found damaged by a reader: mark it and restore it. */
  reportDamaged(blob: string): void {
    this.o.local.damaged.add(blob);
    this.stats.damaged++;
    this.logger.warn({ blob }, 'replica marked damaged; restoring it from another replica');
    this.trigger();
  }

  /** Waits for the running round, then runs one more. */
  async runNow(): Promise<void> {
    await this.running;
    this.trigger();
    await this.running;
  }

  async replicate(): Promise<void> {
    const { self, local, client } = this.o;
    const peers = this.o.peers().filter((p) => p.up);
    const now = (this.o.now ?? Date.now)();
    const graceMs = this.o.tombstoneGraceMs ?? DEFAULT_TOMBSTONE_GRACE_MS;
    const partsMs = this.o.multipartExpiryMs ?? DEFAULT_MULTIPART_EXPIRY_MS;
    const versions = new Map<string, Map<string, string>>();
    /** Blobs whose newest version is a tombstone or a part: version -> kind. */
    const kinds = new Map<string, string>();
    const add = (node: string, blob: string, version: string, kind: string): void => {
      let m = versions.get(blob);
      if (m === undefined) versions.set(blob, (m = new Map<string, string>()));
      m.set(node, version);
      if (kind !== 'object') kinds.set(`${blob} ${version}`, kind);
    };
    for await (const e of local.inventory()) add(self, e.blob, e.version, e.kind);
    for (const b of local.damaged) if (!versions.has(b)) versions.set(b, new Map<string, string>());
    const answered = new Set<string>([self]);
    await Promise.all(
      peers.map(async (p) => {
        try {
          for await (const e of client.inventory(p.name, p.httpAddress)) add(p.name, e.blob, e.version, e.kind);
          answered.add(p.name);
        } catch (err) {
          this.logger.debug({ node: p.name, err: FlotillaError.from(err).message }, 'inventory not read');
        }
      }),
    );
    for (const [blob, holders] of versions) {
      if (this.stopped) return;
      const where = parseBlobName(blob);
      const ring = where !== undefined ? this.o.ring(ringNameOf(where.policy)) : undefined;
      if (where === undefined || ring === undefined) continue;
      const primaries = primaryNodes(ring, where.partition);
      let newest = '';
      for (const v of holders.values()) if (v > newest) newest = v;
      const mine = holders.get(self);
      const kind = kinds.get(`${blob} ${newest}`) ?? 'object';
      const expired = (kind === 'tombstone' && versionMs(newest) < now - graceMs) || (kind === 'part' && versionMs(newest) < now - partsMs);
      try {
        if (expired) {
          // Garbage: every node drops its own copy; nobody pulls it again.
          if (mine !== undefined) {
            await local.remove(blob);
            if (kind === 'tombstone') this.stats.tombstonesCollected++;
            else this.stats.partsCollected++;
            this.logger.debug({ blob, kind }, 'garbage collected');
          }
        } else if (primaries.includes(self)) {
          if (mine !== newest && newest !== '') await this.pull(blob, newest, [...holders].filter(([n, v]) => v === newest && n !== self).map(([n]) => n));
        } else if (mine !== undefined && primaries.every((p) => answered.has(p) && (holders.get(p) ?? '') >= mine)) {
          await local.remove(blob);
          this.stats.removed++;
        }
      } catch (err) {
        this.logger.warn({ blob, err: FlotillaError.from(err).message }, 'replica not repaired this round');
      }
    }
    if (this.o.expireUploads !== undefined && !this.stopped) {
      try {
        const n = await this.o.expireUploads(partsMs);
        this.stats.uploadsExpired += n;
        if (n > 0) this.logger.info({ uploads: n }, 'abandoned multipart uploads aborted');
      } catch (err) {
        this.logger.warn({ err: FlotillaError.from(err).message }, 'abandoned multipart uploads not expired this round');
      }
    }
    this.stats.rounds++;
  }

  private async pull(blob: string, version: string, from: string[]): Promise<void> {
    for (const node of from) {
      const p = this.o.peers().find((x) => x.name === node);
      if (p === undefined) continue;
      let r;
      try {
        r = await this.o.client.read(node, p.httpAddress, blob);
      } catch {
        continue;
      }
      if (r.meta.version !== version) {
        r.body.destroy();
        continue;
      }
      const m: StoredMeta = r.meta;
      const { size, sha256, md5, ...draft } = m;
      await this.o.local.write(blob, r.body, draft, { size, sha256 }, { md5 });
      this.stats.pulled++;
      this.logger.info({ blob, from: node, bucket: m.bucket, key: m.key }, 'replica restored');
      return;
    }
  }

  /** Re-verifies every local replica now. */
  async audit(): Promise<void> {
    const { local } = this.o;
    let found = 0;
    let checked = 0;
    for await (const l of local.backend.list('')) {
      if (this.stopped) return;
      if (parseBlobName(l.name) === undefined) continue;
      let meta: StoredMeta | undefined;
      let ok = false;
      try {
        const r = await local.backend.get(l.name);
        meta = parseStoredMeta(r.head.meta);
        const h = createHash('sha256');
        for await (const c of r.body) h.update(c as Buffer);
        ok = h.digest('hex') === meta.sha256;
      } catch (err) {
        this.logger.debug({ blob: l.name, err: FlotillaError.from(err).message }, 'audit: unreadable replica');
      }
      this.stats.audited++;
      checked++;
      if (!ok) {
        if (!local.damaged.has(l.name)) {
          local.damaged.add(l.name);
          this.stats.damaged++;
          found++;
          this.logger.warn({ blob: l.name }, 'audit: replica damaged; restoring it from another replica');
        }
      } else if (meta !== undefined) {
        const cur = meta.kind === 'part' ? undefined : await local.indexed(meta.bucket, meta.key);
        if (meta.kind !== 'part' && (cur === undefined || cur.version < meta.version)) await local.index(l.name, meta);
      }
    }
    this.stats.audits++;
    (found > 0 ? this.logger.info.bind(this.logger) : this.logger.debug.bind(this.logger))({ replicas: checked, damaged: found }, 'audit pass done');
    if (found > 0) this.trigger();
  }
}
