/**
 * Background repair on one node.
 * - Replicator (every `replicateIntervalMs`, at start, and when a peer becomes ACTIVE): compares this
 *   node's inventory with every live peer's. For each partition this node is a primary of, a missing,
 *   damaged or older replica is pulled from a holder of the newest version (checked against its SHA-256
 *   as it is stored). A replica this node holds but is not a primary for (a handoff copy, or a partition
 *   moved by a ring change) is removed once every primary holds that version or a newer one.
 * - Auditor (every `auditIntervalMs`): re-reads every local replica and checks its SHA-256; a damaged one
 *   is marked (never served, not offered to peers) and the replicator restores it from a good copy.
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
  logger?: Logger;
}

export interface RepairStats {
  pulled: number;
  removed: number;
  damaged: number;
  audited: number;
  rounds: number;
}

export class Repairer {
  readonly name = 'objects-repair';
  readonly stats: RepairStats = { pulled: 0, removed: 0, damaged: 0, audited: 0, rounds: 0 };
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
    this.timers.push(setInterval(() => this.trigger(), this.o.replicateIntervalMs ?? 30_000));
    this.timers.push(setInterval(() => void this.audit().catch((e: unknown) => this.logger.warn({ err: FlotillaError.from(e).message }, 'audit failed')), this.o.auditIntervalMs ?? 600_000));
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
    const versions = new Map<string, Map<string, string>>();
    const add = (node: string, blob: string, version: string): void => {
      let m = versions.get(blob);
      if (m === undefined) versions.set(blob, (m = new Map<string, string>()));
      m.set(node, version);
    };
    for await (const e of local.inventory()) add(self, e.blob, e.version);
    for (const b of local.damaged) if (!versions.has(b)) versions.set(b, new Map<string, string>());
    const answered = new Set<string>([self]);
    await Promise.all(
      peers.map(async (p) => {
        try {
          for await (const e of client.inventory(p.name, p.httpAddress)) add(p.name, e.blob, e.version);
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
      try {
        if (primaries.includes(self)) {
          if (mine !== newest && newest !== '') await this.pull(blob, newest, [...holders].filter(([n, v]) => v === newest && n !== self).map(([n]) => n));
        } else if (mine !== undefined && primaries.every((p) => answered.has(p) && (holders.get(p) ?? '') >= mine)) {
          await local.remove(blob);
          this.stats.removed++;
        }
      } catch (err) {
        this.logger.warn({ blob, err: FlotillaError.from(err).message }, 'replica not repaired this round');
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
      const { size, sha256, md5: _md5, ...draft } = m;
      await this.o.local.write(blob, r.body, draft, { size, sha256 });
      this.stats.pulled++;
      this.logger.info({ blob, from: node, bucket: m.bucket, key: m.key }, 'replica restored');
      return;
    }
  }

  /** Re-verifies every local replica now. */
  async audit(): Promise<void> {
    const { local } = this.o;
    let found = 0;
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
    if (found > 0) this.trigger();
  }
}
