/**
 * The etcd v3 gRPC services (KV, Watch, Lease, Cluster, Maintenance) over the engine, as ConnectRPC
 * service implementations. Errors leave as etcd's gRPC status codes and messages; anything unexpected is
 * logged and answered with INTERNAL, never a crash.
 */
import { toBinary } from '@bufbuild/protobuf';
import { Code as ConnectCode, ConnectError, type ConnectRouter, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import { FlotillaError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { Auth, Cluster, KV, Lease, Maintenance, TxnRequestSchema, Watch, type WatchRequest } from '../../gen/etcdserverpb/rpc_pb.js';
import type { AuthSessions } from './auth-sessions.js';
import { createAuthServiceImpl, type EmbeddedCoordAuth } from './auth-service.js';
import type { CoordEngine } from './coord-engine.js';
import {
  fromDeleteRequest,
  fromPutRequest,
  fromRangeRequest,
  fromTxnRequest,
  fromWatchCreate,
  toKeyValue,
  toRangeResponse,
  toTxnResponse,
  toWatchResponse,
  type HeaderInit,
} from './proto-convert.js';
import { ResponseQueue } from './response-queue.js';
import { etcdError, grpcCodeOf } from './types.js';

/** The version reported by Maintenance.Status: the etcd API level this store speaks. */
export const API_VERSION = '3.4.0';
const MEMBER_NAME = 'flotilla';

export interface ServiceOptions {
  engine: CoordEngine;
  logger: Logger;
  maxRequestBytes: number;
  /** Client URL of this member, e.g. http://127.0.0.1:2379 (known after listen). */
  clientUrl: () => string;
  /** Authentication (auth-service.ts); undefined: off (Authenticate answers "not enabled"). */
  auth?: EmbeddedCoordAuth;
  /** The etcd tokens Authenticate issues (with `auth`). */
  sessions?: AuthSessions;
}

/** The service implementations, for the ConnectRPC router and the unary fast path alike. */
export interface EtcdServiceImpls {
  kv: ServiceImpl<typeof KV>;
  watch: ServiceImpl<typeof Watch>;
  lease: ServiceImpl<typeof Lease>;
  cluster: ServiceImpl<typeof Cluster>;
  maintenance: ServiceImpl<typeof Maintenance>;
  auth: ServiceImpl<typeof Auth>;
}

export function registerEtcdServices(router: ConnectRouter, impls: EtcdServiceImpls): void {
  router.service(KV, impls.kv);
  router.service(Watch, impls.watch);
  router.service(Lease, impls.lease);
  router.service(Cluster, impls.cluster);
  router.service(Maintenance, impls.maintenance);
  router.service(Auth, impls.auth);
}

export function createEtcdServiceImpls(o: ServiceOptions): EtcdServiceImpls {
  const { engine, logger } = o;
  const header = (revision: number): HeaderInit => ({
    clusterId: engine.ids.clusterId,
    memberId: engine.ids.memberId,
    revision: BigInt(revision),
    raftTerm: 1n,
  });
  const toConnectError = (err: unknown): ConnectError => {
    if (err instanceof ConnectError) return err;
    if (err instanceof FlotillaError) return new ConnectError(err.rawMessage, grpcCodeOf(err));
    if ((err as NodeJS.ErrnoException | undefined)?.code === 'ERR_STREAM_PREMATURE_CLOSE') {
      // The client went away mid-stream (killed, or its connection dropped): routine, not a store fault.
      logger.debug('client closed a stream early');
      return new ConnectError('client closed the stream', ConnectCode.Canceled);
    }
    logger.error({ err }, 'coordination store: unexpected error');
    return new ConnectError('etcdserver: internal error', ConnectCode.Internal);
  };
  const guard = <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        return await fn(...args);
      } catch (err) {
        throw toConnectError(err);
      }
    };
  const checkSize = (bytes: number): void => {
    if (bytes > o.maxRequestBytes) throw etcdError('requestTooLarge');
  };

  const kv: ServiceImpl<typeof KV> = {
    range: guard(async (req) => {
      const r = await engine.range(fromRangeRequest(req));
      return toRangeResponse(r.value, header(r.revision));
    }),
    put: guard(async (req) => {
      checkSize(req.key.length + req.value.length + 32);
      const r = await engine.put(fromPutRequest(req));
      return { header: header(r.revision), prevKv: r.value.prevKv && toKeyValue(r.value.prevKv) };
    }),
    deleteRange: guard(async (req) => {
      const r = await engine.deleteRange(fromDeleteRequest(req));
      return { header: header(r.revision), deleted: BigInt(r.value.deleted), prevKvs: r.value.prevKvs.map(toKeyValue) };
    }),
    txn: guard(async (req) => {
      checkSize(toBinary(TxnRequestSchema, req).length);
      const r = await engine.txn(fromTxnRequest(req));
      return toTxnResponse(r.value, header(r.revision));
    }),
    compact: guard(async (req) => {
      const r = await engine.compact(Number(req.revision));
      return { header: header(r.revision) };
    }),
  };

  const watch: ServiceImpl<typeof Watch> = {
    watch: (requests, ctx) => watchStream(requests, ctx),
  };

  async function* watchStream(requests: AsyncIterable<WatchRequest>, ctx: HandlerContext) {
    const queue = new ResponseQueue<ReturnType<typeof toWatchResponse>>();
    const session = engine.watches.openSession({
      send: (m) => queue.push(toWatchResponse(m, header(m.revision))),
      backlogged: () => queue.backlogged,
    });
    queue.onDrain = () => session.resume();
    const onAbort = (): void => queue.close();
    ctx.signal.addEventListener('abort', onAbort);
    const reader = (async () => {
      for await (const req of requests) {
        const u = req.requestUnion;
        if (u.case === 'createRequest') session.create(fromWatchCreate(u.value), u.value.watchId);
        else if (u.case === 'cancelRequest') session.cancel(u.value.watchId);
        else if (u.case === 'progressRequest') session.progress();
      }
    })();
    reader.then(
      () => queue.close(),
      (err: unknown) => queue.fail(toConnectError(err)),
    );
    try {
      yield* queue;
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
      session.close();
    }
  }

  const lease: ServiceImpl<typeof Lease> = {
    leaseGrant: guard(async (req) => {
      const r = await engine.leaseGrant(Number(req.TTL), req.ID);
      return { header: header(r.revision), ID: r.value.id, TTL: BigInt(r.value.ttlSeconds), error: '' };
    }),
    leaseRevoke: guard(async (req) => {
      const r = await engine.leaseRevoke(req.ID);
      return { header: header(r.revision) };
    }),
    leaseKeepAlive: async function* (requests) {
      try {
        for await (const req of requests) {
          const r = await engine.leaseKeepAlive(req.ID);
          yield { header: header(r.revision), ID: req.ID, TTL: BigInt(r.value) };
        }
      } catch (err) {
        throw toConnectError(err);
      }
    },
    leaseTimeToLive: guard(async (req) => {
      const r = engine.leaseTimeToLive(req.ID, req.keys);
      const info = r.value;
      return {
        header: header(r.revision),
        ID: info.id,
        TTL: BigInt(info.remainingSeconds),
        grantedTTL: BigInt(info.ttlSeconds),
        keys: info.keys,
      };
    }),
    leaseLeases: guard(async () => {
      const r = engine.leaseList();
      return { header: header(r.revision), leases: r.value.map((id) => ({ ID: id })) };
    }),
  };

  const cluster: ServiceImpl<typeof Cluster> = {
    memberList: guard(async () => ({
      header: header(engine.committedRev),
      members: [{ ID: engine.ids.memberId, name: MEMBER_NAME, peerURLs: [], clientURLs: [o.clientUrl()], isLearner: false }],
    })),
  };

  const maintenance: ServiceImpl<typeof Maintenance> = {
    alarm: guard(async () => ({ header: header(engine.committedRev), alarms: [] })),
    status: guard(async () => {
      const dbSize = BigInt(await engine.dbSizeBytes());
      const index = BigInt(engine.committedRev);
      return {
        header: header(engine.committedRev),
        version: API_VERSION,
        dbSize,
        dbSizeInUse: dbSize,
        leader: engine.ids.memberId,
        raftIndex: index,
        raftTerm: 1n,
        raftAppliedIndex: index,
        errors: [],
        isLearner: false,
      };
    }),
  };

  const authImpl = createAuthServiceImpl({ auth: o.auth, sessions: o.sessions, header: () => header(engine.committedRev) });
  const auth = Object.fromEntries(
    Object.entries(authImpl).map(([name, fn]) => [name, guard(fn as (...args: unknown[]) => Promise<unknown>)]),
  ) as unknown as ServiceImpl<typeof Auth>;

  return { kv, watch, lease, cluster, maintenance, auth };
}
