/**
 * How a server session answers a client's GOAWAY(NO_ERROR): keep serving every stream the client opens,
 * and close once none is open, as grpc-go (etcd) does, instead of Node's default.
 *
 * Node answers a peer's GOAWAY(NO_ERROR) with `session.close()`, synchronously after emitting 'goaway',
 * and from then on refuses (RST_STREAM REFUSED_STREAM) every stream whose HEADERS come later. But a client
 * that shuts a connection down while a call on it is starting sends exactly that order: nghttp2 writes the
 * queued GOAWAY frame ahead of the queued HEADERS of the new stream. grpc-js does this whenever its last
 * channel on a connection closes; the etcd3 client closes all its channels when a watch stream errors
 * (and cancelling one is such an error), so the call made right after a watch was cancelled was refused,
 * retried on the closed channel, and failed with "14 UNAVAILABLE: Channel closed before call started".
 * grpc-go ignores a client's GOAWAY; the client closes the connection once its calls are done.
 *
 * Node also stops reading a session that received a GOAWAY once it has no open stream (nghttp2 no longer
 * wants to read), so a session left open would never see the client's FIN and would leak. Hence: close it
 * (gracefully) once no stream is open, checked after the frames that came with the GOAWAY are handled.
 */
import http2, { type ServerHttp2Session } from 'node:http2';

export function servePastPeerGoaway(session: ServerHttp2Session): void {
  let open = 0;
  let peerGoneAway = false;
  const closeIfIdle = (): void => {
    if (peerGoneAway && open === 0 && !session.closed && !session.destroyed) session.close();
  };
  session.on('stream', (stream) => {
    open++;
    stream.once('close', () => {
      open--;
      closeIfIdle();
    });
  });
  session.on('goaway', (code: number) => {
    if (code !== http2.constants.NGHTTP2_NO_ERROR || peerGoneAway) return;
    peerGoneAway = true;
    // Node calls session.close() right after this event returns; shadow it for that one call.
    const restore = (): void => {
      delete (session as { close?: unknown }).close;
    };
    Object.defineProperty(session, 'close', { configurable: true, writable: true, value: restore });
    // Never swallow a later close(), should a future Node not make that call.
    process.nextTick(restore);
    // HEADERS that arrived in the same read as the GOAWAY are handled before this runs.
    setImmediate(closeIfIdle);
  });
}
