/**
 * KvService as served by a node: the client API. Converts wire messages to coordinator calls and back;
 * every error leaves as a gRPC status with a FlotillaError message.
 */
import { create } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import { asGrpcCall } from '../core/grpc-client.js';
import { Code, FlotillaError } from '../core/errors.js';
import type { GetResponse, KvService, PutResponse } from '../gen/flotilla/v1/kv_pb.js';
import {
  Consistency,
  DeleteResponseSchema,
  KvHealthResponseSchema,
  ScanEntrySchema,
  ScanResponseSchema,
} from '../gen/flotilla/v1/kv_pb.js';
import type { Coordinator, QuorumOptions } from './coordinator/coordinator.js';
import type { ConsistencyLevel } from './coordinator/validate.js';
import { versionToProto } from './replica/convert.js';

export interface KvHealth {
  node: string;
  serving: boolean;
  up: string[];
  down: string[];
  pendingHints: number;
}

export interface ClientServiceDeps {
  coordinator: () => Coordinator;
  health: () => KvHealth;
}

export function consistencyFromProto(c: Consistency): ConsistencyLevel {
  switch (c) {
    case Consistency.UNSPECIFIED:
      return 'default';
    case Consistency.ONE:
      return 'one';
    case Consistency.QUORUM:
      return 'quorum';
    case Consistency.ALL:
      return 'all';
    default:
      throw new FlotillaError(Code.INVALID_ARGUMENT, `unknown consistency level ${String(c)}: use ONE, QUORUM or ALL`);
  }
}

export function consistencyToProto(level: ConsistencyLevel): Consistency {
  return { default: Consistency.UNSPECIFIED, one: Consistency.ONE, quorum: Consistency.QUORUM, all: Consistency.ALL }[level];
}

function quorum(c: Consistency, replicas: number): QuorumOptions {
  return { level: consistencyFromProto(c), replicas };
}

export function createClientServiceImpl(deps: ClientServiceDeps): ServiceImpl<typeof KvService> {
  const guard = asGrpcCall;
  return {
    put: (req) =>
      guard(async () => {
        const ttl = Number(req.ttlMs);
        const r = await deps.coordinator().put(req.key, req.value, { ...quorum(req.consistency, req.replicas), ttlMs: ttl });
        const out: PutResponse = { $typeName: 'flotilla.v1.PutResponse', version: versionToProto(r.version), acks: r.acks };
        return out;
      }),
    get: (req) =>
      guard(async () => {
        const r = await deps.coordinator().get(req.key, quorum(req.consistency, req.replicas));
        const e = r.entry;
        const out: GetResponse = {
          $typeName: 'flotilla.v1.GetResponse',
          found: e !== undefined,
          value: e?.value ?? new Uint8Array(0),
          expiresAtMs: BigInt(e?.expiresAtMs ?? 0),
          answered: r.answered,
          repaired: r.repaired,
        };
        if (e !== undefined) out.version = versionToProto(e.version);
        return out;
      }),
    delete: (req) =>
      guard(async () => {
        const r = await deps.coordinator().del(req.key, quorum(req.consistency, req.replicas));
        return create(DeleteResponseSchema, { version: versionToProto(r.version), acks: r.acks });
      }),
    scan: (req) =>
      guard(async () => {
        const page = await deps.coordinator().scan(req.prefix, {
          ...quorum(req.consistency, req.replicas),
          limit: req.limit === 0 ? 100 : req.limit,
          pageToken: req.pageToken,
        });
        return create(ScanResponseSchema, {
          entries: page.entries.map((e) => create(ScanEntrySchema, { key: e.key, value: e.value, version: versionToProto(e.version), expiresAtMs: BigInt(e.expiresAtMs) })),
          nextPageToken: page.nextPageToken ?? new Uint8Array(0),
        });
      }),
    checkHealth: () =>
      guard(async () => {
        const h = deps.health();
        const s = deps.coordinator().settings();
        return create(KvHealthResponseSchema, {
          node: h.node,
          serving: h.serving,
          replicas: s.n,
          writeQuorum: s.w,
          readQuorum: s.r,
          up: h.up,
          down: h.down,
          pendingHints: BigInt(h.pendingHints),
          ringVersion: BigInt(s.ringVersion),
        });
      }),
  };
}
