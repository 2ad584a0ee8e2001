/**
 * KvReplicaService as served by a node: what other nodes call to write to, read from, hint for, and
 * compare trees with this replica. Entries are checked here (the edge) before they reach the engine.
 */
import { create } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import { asGrpcCall } from '../../core/grpc-client.js';
import { Code, FlotillaError } from '../../core/errors.js';
import type { HybridLogicalClock } from '../../core/hlc.js';
import type { KvReplicaService, ReadResponse, ReadResult, ReplicateResponse } from '../../gen/flotilla/v1/kv_pb.js';
import {
  GetTreeNodesResponseSchema,
  LocalScanResponseSchema,
  StoreHintsResponseSchema,
  SyncRangeResponseSchema,
} from '../../gen/flotilla/v1/kv_pb.js';
import type { KvEngine } from '../engine/kv-engine.js';
import type { Entry } from '../types.js';
import { checkEntry } from '../coordinator/validate.js';
import { entryFromProto, entryToProto } from './convert.js';

export interface ReplicaServiceDeps {
  engine: KvEngine;
  /** This node's clock: merged with every incoming version so later local writes order after them. */
  clock: HybridLogicalClock;
  /** Largest number of entries one SyncRange answer carries. Default 50 000. */
  maxSyncEntries?: number;
}

const MAX_BATCH = 10_000;

/** Checks and converts incoming entries; merges their versions into the local clock. */
export function acceptEntries(entries: readonly Entry[], clock: HybridLogicalClock): void {
  if (entries.length > MAX_BATCH) throw new FlotillaError(Code.INVALID_ARGUMENT, `at most ${MAX_BATCH} entries per request, got ${entries.length}`);
  for (const e of entries) {
    checkEntry(e);
    clock.update(e.version);
  }
}

export function createReplicaServiceImpl(deps: ReplicaServiceDeps): ServiceImpl<typeof KvReplicaService> {
  const { engine, clock } = deps;
  const maxSync = deps.maxSyncEntries ?? 50_000;
  const maxSyncBytes = 8 * 1024 * 1024;
  const guard = asGrpcCall;
  return {
    replicate: (req) =>
      guard(async () => {
        const entries = req.entries.map(entryFromProto);
        acceptEntries(entries, clock);
        const out: ReplicateResponse = { $typeName: 'flotilla.v1.ReplicateResponse', applied: await engine.apply(entries) };
        return out;
      }),
    read: (req) =>
      guard(async () => {
        if (req.keys.length > MAX_BATCH) throw new FlotillaError(Code.INVALID_ARGUMENT, `at most ${MAX_BATCH} keys per read`);
        const found = await engine.getMany(req.keys);
        const out: ReadResponse = {
          $typeName: 'flotilla.v1.ReadResponse',
          results: found.map((e): ReadResult => (e === undefined ? { $typeName: 'flotilla.v1.ReadResult', found: false } : { $typeName: 'flotilla.v1.ReadResult', found: true, entry: entryToProto(e) })),
        };
        return out;
      }),
    storeHints: (req) =>
      guard(async () => {
        if (req.target === '') throw new FlotillaError(Code.INVALID_ARGUMENT, 'a hint needs a target node');
        const entries = req.entries.map(entryFromProto);
        acceptEntries(entries, clock);
        await engine.storeHints(req.target, entries);
        return create(StoreHintsResponseSchema, {});
      }),
    getTreeNodes: (req) =>
      guard(async () => {
        if (req.depth !== engine.tree.depth) {
          throw new FlotillaError(Code.FAILED_PRECONDITION, `Merkle tree depth differs: caller ${req.depth}, this replica ${engine.tree.depth}`);
        }
        if (req.ids.length > 1 << 20) throw new FlotillaError(Code.INVALID_ARGUMENT, 'too many tree nodes in one request');
        return create(GetTreeNodesResponseSchema, { digests: Array.from(engine.tree.digests(req.ids)) });
      }),
    syncRange: (req) =>
      guard(async () => {
        const out: Entry[] = [];
        let bytes = 0;
        let done = 0;
        for (const r of req.ranges) {
          const start = Number(r.start);
          const end = Number(r.end);
          if (!(start >= 0 && end <= 2 ** 32 && start <= end)) throw new FlotillaError(Code.INVALID_ARGUMENT, `bad hash range [${start}, ${end})`);
          const entries = await engine.scanRange(start, end, maxSync + 1);
          const size = entries.reduce((n, e) => n + e.key.length + e.value.length + 64, 0);
          // Always answer at least one range whole, unless it alone is too big to answer at all.
          if (done > 0 && (out.length + entries.length > maxSync || bytes + size > maxSyncBytes)) break;
          if (entries.length > maxSync) throw new FlotillaError(Code.RESOURCE_EXHAUSTED, `hash range [${start}, ${end}) holds more than ${maxSync} entries: use a deeper tree`);
          out.push(...entries);
          bytes += size;
          done++;
        }
        return create(SyncRangeResponseSchema, { entries: out.map(entryToProto), rangesDone: done });
      }),
    localScan: (req) =>
      guard(async () => {
        const limit = Math.min(Math.max(req.limit, 1), 1000);
        const r = await engine.scanPrefix(req.prefix, req.startAfter, limit);
        return create(LocalScanResponseSchema, { entries: r.entries.map(entryToProto), more: r.more });
      }),
  };
}
