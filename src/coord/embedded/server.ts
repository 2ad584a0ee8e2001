/**
 * The embedded coordination server: the engine behind etcd's gRPC API, served by ConnectRPC (gRPC
 * protocol only) over HTTP/2 without TLS (h2c), as etcd serves http:// client URLs.
 */
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { formatHostPort, requireHostPort } from '../../core/address.js';
import { Code, FlotillaError } from '../../core/errors.js';
import { silentLogger, type Logger } from '../../core/log.js';
import { createRefusalLog, listenH2c, type H2cServer } from '../../core/h2c-server.js';
import { CoordEngine } from './coord-engine.js';
import { Auth, Cluster, KV, Lease, Maintenance, Watch } from '../../gen/etcdserverpb/rpc_pb.js';
import { createStoreAuth, type EmbeddedCoordAuth } from './auth-service.js';
import { createEtcdServiceImpls, registerEtcdServices } from './grpc-services.js';
import { answerGrpcError, createUnaryGrpcHandler } from '../../core/grpc-unary-server.js';
import type { Clock } from './lease-manager.js';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { grpcCodeOf } from './types.js';

export interface EmbeddedCoordOptions {
  /** host:port to listen on for gRPC (h2c). Port 0 picks a free port. */
  listen: string;
  /** Directory for the store's files (created if missing). */
  dataDir: string;
  logger?: Logger;
  /** Max request size in bytes; default 1.5 MiB like etcd (--max-request-bytes). */
  maxRequestBytes?: number;
  /** History kept by automatic compaction, in ms; 0 turns it off. Default 1 hour. */
  autoCompactionRetentionMs?: number;
  /**
   * Authentication: every call must carry a credential this accepts (auth-service.ts; the server gives
   * one checking Flotilla API tokens). Checked before any service, the unary fast path included.
   * Default: none (anyone who reaches the port may do everything: keep it on loopback).
   */
  auth?: EmbeddedCoordAuth;
}

export interface EmbeddedCoordServer {
  /** The bound address host:port (after start). */
  readonly address: string;
  start(): Promise<void>;
  /** Stops accepting, closes every open HTTP/2 session and stream, flushes and closes the store. */
  stop(): Promise<void>;
}

/** Knobs for tests of this module only (not part of the public door). */
export interface EmbeddedCoordInternals {
  clock?: Clock;
  leaseCheckIntervalMs?: number;
  progressIntervalMs?: number;
}

/** etcd's default --max-request-bytes. */
export const DEFAULT_MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;
/** etcd lets gRPC read this much more than max-request-bytes, then answers "request is too large". */
const GRPC_OVERHEAD_BYTES = 512 * 1024;

export function createEmbeddedCoordServer(options: EmbeddedCoordOptions, internals: EmbeddedCoordInternals = {}): EmbeddedCoordServer {
  const logger = options.logger ?? silentLogger();
  const maxRequestBytes = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  const { host, port } = requireHostPort(options.listen, 'coordination listen address');
  let address = '';
  let engine: CoordEngine | undefined;
  let server: H2cServer | undefined;
  let state: 'new' | 'starting' | 'running' | 'stopped' = 'new';

  async function start(): Promise<void> {
    if (state !== 'new') throw new FlotillaError(Code.FAILED_PRECONDITION, 'embedded coordination server already started');
    state = 'starting';
    const eng = new CoordEngine({
      dataDir: options.dataDir,
      logger,
      ...(options.autoCompactionRetentionMs !== undefined ? { autoCompactionRetentionMs: options.autoCompactionRetentionMs } : {}),
      ...internals,
    });
    engine = eng;
    await eng.open();
    const storeAuth = createStoreAuth(options.auth, internals.clock);
    const impls = createEtcdServiceImpls({
      engine: eng,
      logger,
      maxRequestBytes,
      clientUrl: () => `http://${address}`,
      ...(options.auth !== undefined ? { auth: options.auth } : {}),
      ...(storeAuth.sessions !== undefined ? { sessions: storeAuth.sessions } : {}),
    });
    const readMaxBytes = maxRequestBytes + GRPC_OVERHEAD_BYTES;
    const connectHandler = connectNodeAdapter({
      grpc: true,
      connect: false,
      grpcWeb: false,
      readMaxBytes,
      routes: (router) => registerEtcdServices(router, impls),
    });
    const fastPath = createUnaryGrpcHandler({
      readMaxBytes,
      logger,
      what: 'coordination store',
      dialect: 'grpc-go',
      services: [
        { service: KV, impl: impls.kv },
        { service: Watch, impl: impls.watch },
        { service: Lease, impl: impls.lease },
        { service: Cluster, impl: impls.cluster },
        { service: Maintenance, impl: impls.maintenance },
        { service: Auth, impl: impls.auth },
      ],
    });
    let srv: H2cServer;
    try {
      srv = await listenH2c({
        host,
        port,
        handler: (req, res) => {
          const refused = storeAuth.check(req.url, req.headers);
          if (refused !== undefined) {
            refuseCall(req, res, refused);
            return;
          }
          if (!fastPath(req, res)) connectHandler(req, res);
        },
        logger,
        what: 'coordination store',
      });
    } catch (err) {
      state = 'stopped';
      await eng.close();
      throw err;
    }
    server = srv;
    const bound = srv.bound;
    address = formatHostPort(host === '0.0.0.0' || host === '::' ? host : bound.address, bound.port);
    state = 'running';
    logger.info({ address, dataDir: options.dataDir }, 'coordination store listening');
  }

  const logRefusal = createRefusalLog(logger, 'coordination store');
  function refuseCall(req: Http2ServerRequest, res: Http2ServerResponse, err: FlotillaError): void {
    req.resume();
    // etcd's own errors leave with etcd's text (clients match it, e.g. to authenticate again).
    answerGrpcError(res, grpcCodeOf(err), err.details?.etcdError !== undefined ? err.rawMessage : err.message);
    if (err.code === Code.UNAUTHENTICATED && err.details?.etcdError !== undefined) return; // an expired etcd token: routine
    logRefusal(req, err);
  }

  async function stop(): Promise<void> {
    if (state === 'stopped' || state === 'new') {
      state = 'stopped';
      return;
    }
    state = 'stopped';
    await server?.close();
    await engine?.close();
    logger.info({ address }, 'coordination store stopped');
  }

  return {
    get address() {
      return address;
    },
    start,
    stop,
  };
}
