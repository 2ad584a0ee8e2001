/**
 * Anti-entropy (KV-11 recovery): this node compares its Merkle tree with each other replica of the
 * partitions it holds, periodically and on demand (at start, when a peer comes back). Differing leaves
 * are read from both sides (SyncRange) and reconciled both ways, newest version wins: entries newer
 * there are stored here, entries newer here are pushed there. One exchange with a peer costs one round
 * trip per tree level for the digests, then one per batch of differing leaves.
 *
 * Tombstone collection is repair-aware: an exchange with peer P over partition p that completes proves
 * every entry this node held when it began is now on P. Tombstones (and expired values) of p are purged
 * here only once every other replica of p has such a proof newer than the tombstone's arrival here, and
 * the grace period has passed (engine.purge), so a deleted key cannot come back from a replica that
 * missed the delete.
 */
import { create } from '@bufbuild/protobuf';
import { peerCallError } from '../../cluster/index.js';
import { FlotillaError } from '../../core/errors.js';
import { compareHlc } from '../../core/hlc.js';
import { silentLogger, type Logger } from '../../core/log.js';
import { GetTreeNodesRequestSchema, HashRangeSchema, SyncRangeRequestSchema } from '../../gen/flotilla/v1/kv_pb.js';
import type { ReplicaAccess } from '../coordinator/replica-access.js';
import type { KvEngine } from '../engine/kv-engine.js';
import { entryFromProto } from '../replica/convert.js';
import type { Entry, KvMembership, KvPlacement } from '../types.js';
import { findDifferingLeaves, nodeForPartition, nodeRange, partitionRange } from './merkle-tree.js';

export interface AntiEntropyOptions {
  engine: KvEngine;
  replicas: ReplicaAccess;
  membership: KvMembership;
  placement: () => KvPlacement | undefined;
  /** Time between rounds, ms. Default 10 000. */
  intervalMs?: number;
  /** Leaves per SyncRange request. Default 256. */
  leavesPerRequest?: number;
  logger?: Logger;
  now?: () => number;
}

export interface ExchangeReport {
  peer: string;
  partitions: number;
  nodesExchanged: number;
  differingLeaves: number;
  /** Entries stored here / pushed to the peer. */
  pulled: number;
  pushed: number;
}

export interface RoundReport {
  exchanges: ExchangeReport[];
  /** Peers that could not be compared (down or failing). */
  skipped: string[];
  purged: number;
  /** Entries of partitions this node no longer holds, handed to their owners and removed here. */
  handedOff: number;
}

export interface AntiEntropy {
  start(): void;
  stop(): Promise<void>;
  /** Runs a round now (or joins the one running) and reports it. */
  runNow(): Promise<RoundReport>;
  /** Compares with one peer over the partitions both hold. */
  exchange(peer: string): Promise<ExchangeReport>;
}

export function createAntiEntropy(options: AntiEntropyOptions): AntiEntropy {
  const { engine, replicas, membership } = options;
  const logger = options.logger ?? silentLogger();
  const now = options.now ?? Date.now;
  const intervalMs = options.intervalMs ?? 10_000;
  const leavesPerRequest = options.leavesPerRequest ?? 256;
  const depth = engine.tree.depth;
  /** `${partition}|${peer}` -> start time of the last complete exchange. */
  const confirmed = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<RoundReport> | undefined;
  let stopped = true;
  let closed = false;

  function shared(placement: KvPlacement): Map<string, number[]> {
    const byPeer = new Map<string, number[]>();
    for (const p of placement.partitionsOf(membership.self)) {
      for (const q of placement.primaries(p)) {
        if (q === membership.self) continue;
        const list = byPeer.get(q) ?? [];
        list.push(p);
        byPeer.set(q, list);
      }
    }
    return byPeer;
  }

  async function exchangeParts(peer: string, placement: KvPlacement, parts: readonly number[]): Promise<ExchangeReport> {
    const startedMs = now();
    const { client, address } = replicas.client(peer);
    const rpc = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
      try {
        return await fn();
      } catch (err) {
        throw peerCallError(err, `${peer} (${address})`, what);
      }
    };
    const pp = placement.partPower;
    const roots = [...new Set(parts.map((p) => nodeForPartition(p, pp, depth)))];
    const diff = await findDifferingLeaves(engine.tree, roots, async (ids) => {
      const res = await rpc('tree nodes', () => client.getTreeNodes(create(GetTreeNodesRequestSchema, { ids, depth }), { timeoutMs: 10_000 }));
      return res.digests;
    });
    const ranges: [number, number][] = [];
    for (const leaf of diff.leaves) {
      if (pp <= depth) ranges.push(nodeRange(leaf));
      else for (const p of parts) if (nodeForPartition(p, pp, depth) === leaf) ranges.push(partitionRange(p, pp));
    }
    let pulled = 0;
    let pushed = 0;
    // Bounded: every request completes at least one range.
    for (let i = 0; i < ranges.length && !closed; ) {
      const ask = ranges.slice(i, i + leavesPerRequest);
      const res = await rpc('sync range', () =>
        client.syncRange(create(SyncRangeRequestSchema, { ranges: ask.map(([start, end]) => create(HashRangeSchema, { start: BigInt(start), end: BigInt(end) })) }), {
          timeoutMs: 30_000,
        }),
      );
      const done = Math.max(1, Math.min(res.rangesDone, ask.length));
      const theirs = res.entries.map(entryFromProto);
      const mine: Entry[] = [];
      for (const [start, end] of ask.slice(0, done)) mine.push(...(await engine.scanRange(start, end)));
      const { pull, push } = reconcile(mine, theirs);
      for (let j = 0; j < pull.length; j += 1000) pulled += await engine.apply(pull.slice(j, j + 1000));
      for (let j = 0; j < push.length; j += 1000) {
        await replicas.replicate(peer, push.slice(j, j + 1000));
        pushed += Math.min(1000, push.length - j);
      }
      i += done;
    }
    for (const p of parts) confirmed.set(`${p}|${peer}`, startedMs);
    return { peer, partitions: parts.length, nodesExchanged: diff.nodesExchanged, differingLeaves: diff.leaves.length, pulled, pushed };
  }

  async function collect(placement: KvPlacement): Promise<number> {
    let purged = 0;
    for (const p of placement.partitionsOf(membership.self)) {
      let proof = Infinity;
      for (const q of placement.primaries(p)) {
        if (q === membership.self) continue;
        proof = Math.min(proof, confirmed.get(`${p}|${q}`) ?? -Infinity);
      }
      if (proof === -Infinity) continue;
      const [start, end] = partitionRange(p, placement.partPower);
      purged += await engine.purge(start, end, proof === Infinity ? now() : proof);
    }
    return purged;
  }

  /**
   * Rebalance: data this node holds for partitions the ring now places elsewhere goes to the new
   * primaries (each must have it on disk), then is removed here unless written again meanwhile (the
   * next round moves that too). A partition with a primary down waits for a later round.
   */
  async function handOffMoved(placement: KvPlacement): Promise<number> {
    const pp = placement.partPower;
    const owned = new Set(placement.partitionsOf(membership.self));
    let moved = 0;
    for (let p = 0; p < 2 ** pp && !closed; p++) {
      if (owned.has(p)) continue;
      const [hi, lo] = engine.tree.digest(nodeForPartition(p, pp, depth));
      if (hi === 0 && lo === 0) continue;
      const targets = placement.primaries(p);
      if (!targets.every((q) => membership.isUp(q))) continue;
      const [start, end] = partitionRange(p, pp);
      // Bounded: 100 batches of 1000 per partition per round.
      for (let i = 0; i < 100 && !closed; i++) {
        const batch = await engine.scanRange(start, end, 1000);
        if (batch.length === 0) break;
        try {
          await Promise.all(targets.map((q) => replicas.replicate(q, batch)));
        } catch (err) {
          logger.debug({ partition: p, err: FlotillaError.from(err).message }, 'handing off a moved partition failed; will retry');
          break;
        }
        const removed = await engine.removeIfUnchanged(batch);
        moved += removed;
        if (batch.length < 1000 || removed === 0) break;
      }
    }
    if (moved > 0) logger.info({ moved }, 'handed off entries of partitions now held by other nodes');
    return moved;
  }

  async function round(): Promise<RoundReport> {
    const report: RoundReport = { exchanges: [], skipped: [], purged: 0, handedOff: 0 };
    const placement = options.placement();
    if (placement === undefined) return report;
    for (const [peer, parts] of shared(placement)) {
      if (closed) break;
      if (!membership.isUp(peer)) {
        report.skipped.push(peer);
        continue;
      }
      try {
        const x = await exchangeParts(peer, placement, parts);
        report.exchanges.push(x);
        if (x.pulled + x.pushed > 0) logger.info(x, 'anti-entropy repaired differences');
      } catch (err) {
        report.skipped.push(peer);
        logger.debug({ peer, err: FlotillaError.from(err).message }, 'anti-entropy exchange failed');
      }
    }
    if (!closed) report.purged = await collect(placement);
    if (!closed) report.handedOff = await handOffMoved(placement);
    return report;
  }

  function runNow(): Promise<RoundReport> {
    running ??= round().finally(() => {
      running = undefined;
    });
    return running;
  }

  function schedule(delayMs: number): void {
    if (stopped) return;
    timer = setTimeout(() => {
      runNow()
        .catch((err: unknown) => logger.warn({ err: FlotillaError.from(err).message }, 'anti-entropy round failed'))
        .finally(() => schedule(intervalMs));
    }, delayMs);
    timer.unref();
  }

  return {
    start() {
      if (!stopped) return;
      stopped = false;
      // The first round at start: recovery of what this node missed while it was down.
      schedule(0);
    },
    async stop() {
      stopped = true;
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      await running?.catch(() => undefined);
    },
    runNow,
    async exchange(peer) {
      const placement = options.placement();
      if (placement === undefined) return { peer, partitions: 0, nodesExchanged: 0, differingLeaves: 0, pulled: 0, pushed: 0 };
      return exchangeParts(peer, placement, shared(placement).get(peer) ?? []);
    },
  };
}

/** Which entries each side lacks or holds older: newest version wins. */
export function reconcile(mine: readonly Entry[], theirs: readonly Entry[]): { pull: Entry[]; push: Entry[] } {
  const id = (e: Entry): string => Buffer.from(e.key).toString('latin1');
  const mineById = new Map(mine.map((e) => [id(e), e]));
  const theirsById = new Map(theirs.map((e) => [id(e), e]));
  const pull: Entry[] = [];
  const push: Entry[] = [];
  for (const [k, t] of theirsById) {
    const m = mineById.get(k);
    if (m === undefined || compareHlc(t.version, m.version) > 0) pull.push(t);
  }
  for (const [k, m] of mineById) {
    const t = theirsById.get(k);
    if (t === undefined || compareHlc(m.version, t.version) > 0) push.push(m);
  }
  return { pull, push };
}
