/**
 * The coordinator: what the node receiving a client request does with it (KV-8: any node accepts any
 * request). It finds the key's N primary replicas on the `kv` ring and:
 *
 * - put / delete: stamps a new HLC version, sends the entry to every primary it believes up, and
 *   acknowledges once W of them have it on disk. Primaries that are down or fail get the entry as a hint,
 *   stored on the first live handoff node of the partition (or here when there is none) and delivered
 *   when they return. Hints never count toward W: quorums are strict, never sloppy.
 * - get: reads R primaries (this node first when it is one), returns the newest version, and writes that
 *   version back to the primaries that answered with an older one or none (read repair).
 * - scan: asks every node it believes up for the keys under a prefix, checks that each partition had at
 *   least R of its primaries answer, merges by newest version and returns one page in key order.
 *
 * When the request cannot reach W (R) primaries it fails with KV_QUORUM_NOT_MET (gRPC UNAVAILABLE,
 * HTTP 503). A failed write may still have reached some replicas (it is not rolled back);
 * it then wins or loses against other writes by its version, like any write.
 */
import { Code, FlotillaError } from '../../core/errors.js';
import { compareHlc, type HybridLogicalClock } from '../../core/hlc.js';
import { silentLogger, type Logger } from '../../core/log.js';
import { isLive } from '../engine/kv-engine.js';
import type { Entry, KvMembership, KvPlacement, Version } from '../types.js';
import type { ReplicaAccess } from './replica-access.js';
import { scanCluster, type ScanOptions, type ScanPage } from './scan.js';
import { checkKey, checkTtl, checkValue, resolveQuorum, type ConsistencyLevel } from './validate.js';

export interface QuorumOptions {
  level?: ConsistencyLevel;
  /** Explicit W or R (> 0 overrides `level`). */
  replicas?: number;
}

export interface PutOptions extends QuorumOptions {
  /** Time to live in ms; 0 or absent = forever. */
  ttlMs?: number;
}

export interface WriteResult {
  version: Version;
  acks: number;
}

export interface ReadResult {
  /** The newest live entry; undefined when not found, deleted or expired. */
  entry: Entry | undefined;
  answered: number;
  repaired: number;
}

export interface CoordinatorDeps {
  placement: () => KvPlacement | undefined;
  membership: KvMembership;
  replicas: ReplicaAccess;
  clock: HybridLogicalClock;
  /** Cluster default W. Default 2. */
  writeQuorum?: number;
  /** Cluster default R. Default 2. */
  readQuorum?: number;
  logger?: Logger;
  now?: () => number;
}

export interface Coordinator {
  put(key: Uint8Array, value: Uint8Array, options?: PutOptions): Promise<WriteResult>;
  del(key: Uint8Array, options?: QuorumOptions): Promise<WriteResult>;
  get(key: Uint8Array, options?: QuorumOptions): Promise<ReadResult>;
  scan(prefix: Uint8Array, options?: ScanOptions): Promise<ScanPage>;
  /** The effective defaults: N of the current ring (0 when unknown), W, R. */
  settings(): { n: number; w: number; r: number; ringVersion: number };
  /** Background work started by requests (repairs, hints) still running. */
  idle(): Promise<void>;
}

export function quorumError(what: string, needed: number, got: number, failures: readonly string[]): FlotillaError {
  const why = failures.length > 0 ? `: ${failures.slice(0, 3).join('; ')}` : '';
  return new FlotillaError(Code.KV_QUORUM_NOT_MET, `quorum not met for ${what}: needed ${needed} replicas, ${got} answered${why}`, {
    details: { needed, answered: got },
  });
}

export function createCoordinator(deps: CoordinatorDeps): Coordinator {
  const { membership, replicas, clock } = deps;
  const logger = deps.logger ?? silentLogger();
  const now = deps.now ?? Date.now;
  const defaultW = deps.writeQuorum ?? 2;
  const defaultR = deps.readQuorum ?? 2;
  const background = new Set<Promise<unknown>>();
  const track = (p: Promise<unknown>): void => {
    const q = p.catch((err: unknown) => logger.debug({ err: FlotillaError.from(err).message }, 'kv background work failed'));
    background.add(q);
    void q.finally(() => background.delete(q));
  };

  function ring(): KvPlacement {
    const p = deps.placement();
    if (p === undefined) throw new FlotillaError(Code.UNAVAILABLE, 'the kv ring is not known yet (is the cluster up, with kv nodes?)');
    return p;
  }

  /** Stores `entry` as a hint for `target` on the first live handoff node, or here. */
  async function hint(placement: KvPlacement, partition: number, target: string, entry: Entry): Promise<void> {
    const holders = [...placement.handoffs(partition).filter((n) => n !== target && membership.isUp(n)), membership.self];
    for (const holder of holders) {
      try {
        await replicas.storeHints(holder, target, [entry]);
        return;
      } catch (err) {
        logger.debug({ holder, target, err: FlotillaError.from(err).message }, 'storing a hint failed');
      }
    }
  }

  async function write(entry: Entry, options: QuorumOptions, what: string): Promise<WriteResult> {
    const placement = ring();
    const n = placement.replicas;
    const w = resolveQuorum(options.level ?? 'default', options.replicas ?? 0, n, defaultW, 'W');
    const partition = placement.partitionForKey(entry.key);
    const primaries = placement.primaries(partition);
    const up = primaries.filter((p) => membership.isUp(p));
    if (up.length < w) {
      throw quorumError(what, w, 0, primaries.filter((p) => !membership.isUp(p)).map((p) => `${p} is down`));
    }
    for (const p of primaries) if (!up.includes(p)) track(hint(placement, partition, p, entry));
    return new Promise<WriteResult>((resolve, reject) => {
      let acks = 0;
      let failed = 0;
      let settled = false;
      const failures: string[] = [];
      for (const node of up) {
        const sent = replicas.replicate(node, [entry]).then(
          () => {
            acks++;
            if (!settled && acks >= w) {
              settled = true;
              resolve({ version: entry.version, acks });
            }
          },
          async (err: unknown) => {
            failed++;
            failures.push(FlotillaError.from(err).message);
            if (!settled && up.length - failed < w) {
              settled = true;
              reject(quorumError(what, w, acks, failures));
            }
            await hint(placement, partition, node, entry);
          },
        );
        track(sent);
      }
    });
  }

  async function get(key: Uint8Array, options: QuorumOptions = {}): Promise<ReadResult> {
    checkKey(key);
    const placement = ring();
    const n = placement.replicas;
    const r = resolveQuorum(options.level ?? 'default', options.replicas ?? 0, n, defaultR, 'R');
    const partition = placement.partitionForKey(key);
    const primaries = placement.primaries(partition);
    // This node first (no RPC), then the others believed up, then the rest (they may be up after all).
    const candidates = [...primaries].sort((a, b) => rank(a) - rank(b));
    function rank(node: string): number {
      return node === membership.self ? 0 : membership.isUp(node) ? 1 : 2;
    }
    const answers = new Map<string, Entry | undefined>();
    const failures: string[] = [];
    let next = 0;
    // Ask r at a time; replace each failure with the next candidate.
    while (answers.size < r && next < candidates.length) {
      const batch = candidates.slice(next, next + (r - answers.size));
      next += batch.length;
      const results = await Promise.allSettled(batch.map((node) => replicas.read(node, [key])));
      results.forEach((res, i) => {
        const node = batch[i] as string;
        if (res.status === 'fulfilled') answers.set(node, res.value[0]);
        else failures.push(FlotillaError.from(res.reason).message);
      });
    }
    if (answers.size < r) throw quorumError('read', r, answers.size, failures);
    let newest: Entry | undefined;
    for (const e of answers.values()) if (e !== undefined && (newest === undefined || compareHlc(e.version, newest.version) > 0)) newest = e;
    let repaired = 0;
    if (newest !== undefined) {
      const best = newest;
      for (const [node, e] of answers) {
        if (e !== undefined && compareHlc(e.version, best.version) === 0) continue;
        repaired++;
        track(replicas.replicate(node, [best]));
      }
    }
    return { entry: newest !== undefined && isLive(newest, now()) ? newest : undefined, answered: answers.size, repaired };
  }

  return {
    async put(key, value, options = {}) {
      checkKey(key);
      checkValue(value);
      const ttlMs = options.ttlMs ?? 0;
      checkTtl(ttlMs);
      const version = clock.now();
      const entry: Entry = { key, value, version, tombstone: false, expiresAtMs: ttlMs > 0 ? version.wallMs + ttlMs : 0 };
      return write(entry, options, 'put');
    },
    async del(key, options = {}) {
      checkKey(key);
      const entry: Entry = { key, value: new Uint8Array(0), version: clock.now(), tombstone: true, expiresAtMs: 0 };
      return write(entry, options, 'delete');
    },
    get,
    scan: (prefix, options = {}) => scanCluster({ placement: ring(), membership, replicas, defaultR, now: now() }, prefix, options),
    settings() {
      const p = deps.placement();
      const n = p?.replicas ?? 0;
      return { n, w: n === 0 ? defaultW : Math.min(defaultW, n), r: n === 0 ? defaultR : Math.min(defaultR, n), ringVersion: p?.version ?? 0 };
    },
    async idle() {
      while (background.size > 0) await Promise.all([...background]);
    },
  };
}
