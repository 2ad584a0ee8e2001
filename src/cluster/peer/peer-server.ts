/**
 * The peer gRPC server of a Flotilla process: ConnectRPC (gRPC protocol only) over HTTP/2 without TLS
 * (h2c). Capabilities register their services on it (ClusterService here; replication and forwarding
 * later). Stopping destroys open HTTP/2 sessions, since `http2Server.close()` waits for them otherwise.
 */
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { ConnectRouter } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { parseHostPort } from '../../core/config.js';
import { Code, FlotillaError } from '../../core/errors.js';
import type { Component } from '../../core/lifecycle.js';
import { silentLogger, type Logger } from '../../core/log.js';

export interface PeerServerOptions {
  /** host:port to listen on; port 0 picks a free port. */
  listen: string;
  /** Registers the services this process offers to its peers. */
  routes: (router: ConnectRouter) => void;
  logger?: Logger;
  /** Largest request accepted, in bytes. Default: 4 MiB. */
  readMaxBytes?: number;
}

export interface PeerServer extends Component {
  /** The bound address host:port (after start). */
  readonly address: string;
  /** The bound port (after start). */
  readonly port: number;
}

export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export function createPeerServer(options: PeerServerOptions): PeerServer {
  const parsed = parseHostPort(options.listen);
  if (parsed.error !== undefined) throw new FlotillaError(Code.CONFIG_INVALID, `invalid peer listen address ${options.listen}: ${parsed.error}`);
  const { host, port } = parsed;
  const logger = options.logger ?? silentLogger();
  const sessions = new Set<http2.ServerHttp2Session>();
  let server: http2.Http2Server | undefined;
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
      const handler = connectNodeAdapter({
        grpc: true,
        connect: false,
        grpcWeb: false,
        readMaxBytes: options.readMaxBytes ?? 4 * 1024 * 1024,
        routes: options.routes,
      });
      const srv = http2.createServer({}, handler);
      srv.on('session', (session) => {
        sessions.add(session);
        session.on('close', () => sessions.delete(session));
        session.on('error', (err: Error) => logger.debug({ err: err.message }, 'peer server: HTTP/2 session error'));
      });
      srv.on('sessionError', (err: Error) => logger.debug({ err: err.message }, 'peer server: HTTP/2 session error'));
      try {
        await new Promise<void>((resolve, reject) => {
          srv.once('error', reject);
          srv.listen(port, host, () => {
            srv.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        throw new FlotillaError(Code.LISTEN_FAILED, `cannot listen for peer gRPC on ${options.listen}: ${(err as Error).message}`, { cause: err });
      }
      srv.on('error', (err: Error) => logger.error({ err: err.message }, 'peer server error'));
      server = srv;
      boundPort = (srv.address() as AddressInfo).port;
    },
    async stop() {
      const srv = server;
      server = undefined;
      if (srv === undefined) return;
      const closed = new Promise<void>((resolve) => srv.close(() => resolve()));
      for (const session of sessions) session.destroy();
      sessions.clear();
      await closed;
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
