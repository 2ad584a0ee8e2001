/**
 * A lean gRPC handler for the unary etcd methods (KV, Lease, Cluster, Maintenance), in front of the
 * ConnectRPC adapter, which keeps serving the streams and anything this path does not take (compressed
 * messages, other content types, unknown paths).
 *
 * Why: measured on the project's 2-core machine with 64 concurrent etcd3 clients, a ConnectRPC handler
 * that does nothing serves ~2,700 unary calls/s (its per-call abort signals, async iterables and header
 * conversions dominate), while this path serves ~5,400/s and real etcd 3.4 ~6,000 puts/s. The store's
 * target is half of etcd's put throughput. The implementations are the same functions ConnectRPC calls.
 *
 * Protocol: one length-prefixed message in, one out, status in trailers; an error is headers and trailers
 * (grpc-status, percent-encoded grpc-message) with no message, as gRPC over HTTP/2 specifies.
 */
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { create, fromBinary, toBinary, type DescMessage, type DescService } from '@bufbuild/protobuf';
import { Code as ConnectCode, ConnectError, type HandlerContext } from '@connectrpc/connect';
import type { Logger } from '../../core/log.js';

type UnaryFn = (req: unknown, ctx: HandlerContext) => Promise<unknown>;

interface Route {
  input: DescMessage;
  output: DescMessage;
  fn: UnaryFn;
}

export interface FastPathOptions {
  /** Services and their implementations; only unary methods are taken. */
  services: Array<{ service: DescService; impl: object }>;
  readMaxBytes: number;
  logger: Logger;
}

/** Percent-encodes a grpc-message (bytes outside printable ASCII and '%'). */
function encodeGrpcMessage(message: string): string {
  return Buffer.from(message, 'utf8').reduce(
    (out, b) => out + (b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`),
    '',
  );
}

/**
 * Returns a handler that serves the request and returns true, or returns false to let the caller pass
 * the request on (to the ConnectRPC adapter).
 */
export function createUnaryFastPath(o: FastPathOptions): (req: Http2ServerRequest, res: Http2ServerResponse) => boolean {
  const routes = new Map<string, Route>();
  for (const { service, impl } of o.services) {
    for (const method of service.methods) {
      if (method.methodKind !== 'unary') continue;
      const fn = (impl as Record<string, UnaryFn | undefined>)[method.localName];
      if (fn !== undefined) routes.set(`/${service.typeName}/${method.name}`, { input: method.input, output: method.output, fn });
    }
  }

  function fail(res: Http2ServerResponse, code: number, message: string): void {
    if (res.headersSent || res.destroyed) return;
    res.writeHead(200, { 'content-type': 'application/grpc' });
    res.addTrailers({ 'grpc-status': String(code), 'grpc-message': encodeGrpcMessage(message) });
    res.end();
  }

  async function serve(route: Route, body: Buffer, res: Http2ServerResponse): Promise<void> {
    if (body.length < 5 || body.readUInt32BE(1) !== body.length - 5) {
      fail(res, ConnectCode.Internal, 'grpc: malformed message frame');
      return;
    }
    if (body[0] !== 0) {
      fail(res, ConnectCode.Internal, 'grpc: compressed flag set with identity or empty encoding');
      return;
    }
    let request: unknown;
    try {
      request = fromBinary(route.input, body.subarray(5));
    } catch (err) {
      fail(res, ConnectCode.Internal, `grpc: error unmarshalling request: ${(err as Error).message}`);
      return;
    }
    let payload: Uint8Array;
    try {
      const init = await route.fn(request, undefined as unknown as HandlerContext);
      payload = toBinary(route.output, create(route.output, init as never));
    } catch (err) {
      const ce = err instanceof ConnectError ? err : ConnectError.from(err);
      if (!(err instanceof ConnectError)) o.logger.error({ err }, 'coordination store: unexpected error');
      fail(res, ce.code, ce.rawMessage);
      return;
    }
    if (res.destroyed) return;
    const frame = Buffer.allocUnsafe(5 + payload.length);
    frame[0] = 0;
    frame.writeUInt32BE(payload.length, 1);
    frame.set(payload, 5);
    res.writeHead(200, { 'content-type': 'application/grpc' });
    res.addTrailers({ 'grpc-status': '0' });
    res.end(frame);
  }

  return (req, res) => {
    if (req.method !== 'POST') return false;
    const route = routes.get(req.url);
    if (route === undefined) return false;
    const contentType = req.headers['content-type'];
    if (contentType !== 'application/grpc' && contentType !== 'application/grpc+proto') return false;
    const encoding = req.headers['grpc-encoding'];
    if (encoding !== undefined && encoding !== 'identity') return false;
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (chunk: Buffer) => {
      if (tooBig) return;
      size += chunk.length;
      if (size > o.readMaxBytes + 5) {
        tooBig = true;
        chunks.length = 0;
        fail(res, ConnectCode.ResourceExhausted, `grpc: received message larger than max (${size} vs. ${o.readMaxBytes})`);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!tooBig) void serve(route, chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks), res);
    });
    req.on('error', () => res.destroy());
    return true;
  };
}
