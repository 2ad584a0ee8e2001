/**
 * The peer gRPC server of a Flotilla process: ConnectRPC (gRPC protocol only) over HTTP/2 without TLS
 * (h2c). Capabilities register their services on it (ClusterService here; replication and forwarding
 * later). Stopping destroys open HTTP/2 sessions, since `http2Server.close()` waits for them otherwise.
 */
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { networkInterfaces } from 'node:os';
import type { ConnectRouter } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { formatHostPort, parseHostPort } from '../../core/address.js';
import { listenH2c, type H2cServer, type H2cServerOptions } from '../../core/h2c-server.js';
import { Code, FlotillaError } from '../../core/errors.js';
import type { Component } from '../../core/lifecycle.js';
import { silentLogger, type Logger } from '../../core/log.js';
import { answerGrpcError } from '../../core/grpc-unary-server.js';

export interface PeerServerOptions {
  /** host:port to listen on; port 0 picks a free port. */
  listen: string;
  /** Registers the services this process offers to its peers. */
  routes: (router: ConnectRouter) => void;
  logger?: Logger;
  /** Largest request accepted, in bytes. Default: 4 MiB. */
  readMaxBytes?: number;
  /**
   * A lean handler tried before ConnectRPC (e.g. the KV services' unary fast path): it serves a request
   * and returns true, or returns false to let ConnectRPC serve it.
   */
  fastPath?: (req: Http2ServerRequest, res: Http2ServerResponse) => boolean;
  /** The same from the raw HTTP/2 stream, before the compatibility objects exist (listenH2c `stream`). */
  fastStream?: H2cServerOptions['stream'];
  /** Checks every request before any service (ConnectRPC or the fast path) sees it: authentication, see listenH2c. Default: none. */
  authorize?: H2cServerOptions['authorize'];
}

export interface PeerServer extends Component {
  /** The bound address host:port (after start). */
  readonly address: string;
  /** The bound port (after start). */
  readonly port: number;
}

/**
 * A request no registered service serves: a gRPC call gets UNIMPLEMENTED in a trailers-only answer, as
 * grpc-go answers (ConnectRPC's router would answer a bare HTTP 404 without a grpc-status); anything else
 * a 404.
 */
function unknownMethod(req: Http2ServerRequest, res: Http2ServerResponse): void {
  req.resume();
  if (res.headersSent || res.stream.destroyed) return;
  if (/^application\/grpc($|[+;])/.test(req.headers['content-type'] ?? '')) {
    answerGrpcError(res, 12, `unknown method ${req.url.slice(0, 200)}`);
    return;
  }
  res.writeHead(404).end();
}

/** host:port for a host and port ([v6]:port for IPv6). */
export const formatAddress = formatHostPort;

export function createPeerServer(options: PeerServerOptions): PeerServer {
  const parsed = parseHostPort(options.listen);
  if (parsed.error !== undefined) throw new FlotillaError(Code.CONFIG_INVALID, `invalid peer listen address ${options.listen}: ${parsed.error}`);
  const { host, port } = parsed;
  const logger = options.logger ?? silentLogger();
  let server: H2cServer | undefined;
  let boundPort = 0;

  return {
    name: 'peer-server',
    get address() {
      return formatAddress(host, boundPort);
    },
    get port() {
      return boundPort;
    },
    async start() {
      const connectHandler = connectNodeAdapter({
        grpc: true,
        connect: false,
        grpcWeb: false,
        readMaxBytes: options.readMaxBytes ?? 4 * 1024 * 1024,
        routes: options.routes,
        fallback: (req, res) => unknownMethod(req as Http2ServerRequest, res as unknown as Http2ServerResponse),
      });
      const fastPath = options.fastPath;
      const handler = fastPath === undefined ? connectHandler : (req: Http2ServerRequest, res: Http2ServerResponse) => void (fastPath(req, res) || connectHandler(req, res));
      const srv = await listenH2c({
        host,
        port,
        handler,
        logger,
        what: 'peer gRPC',
        ...(options.authorize !== undefined ? { authorize: options.authorize } : {}),
        ...(options.fastStream !== undefined ? { stream: options.fastStream } : {}),
      });
      server = srv;
      boundPort = srv.bound.port;
    },
    async stop() {
      const srv = server;
      server = undefined;
      await srv?.close();
    },
  };
}

/**
 * The address peers should dial for a server bound to `listen`: `advertiseHost` when given; the listen
 * host unless it is a wildcard; else this machine's first non-internal IPv4 address (127.0.0.1 if none).
 */
export function advertisedAddress(listen: string, boundPort: number, advertiseHost?: string): string {
  const p = parseHostPort(listen);
  let host = advertiseHost ?? (p.error === undefined ? p.host : '0.0.0.0');
  if (host === '0.0.0.0' || host === '::' || host === '') {
    const ifaces = Object.values(networkInterfaces()).flat();
    host = ifaces.find((i) => i !== undefined && i.family === 'IPv4' && !i.internal)?.address ?? '127.0.0.1';
  }
  return formatAddress(host, boundPort);
}
