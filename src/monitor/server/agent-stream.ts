/**
 * A lean transport for the agents' MonitorService.CommandStream, placed in front of ConnectRPC on the
 * server's gRPC listener (the peer server's `fastPath`), as grpc-unary-server.ts does for unary calls.
 * It reads the length-prefixed messages from the HTTP/2 request itself and writes the answers to the
 * response, and hands the stream to the same function ConnectRPC calls (serveCommandStream): the same
 * hello check, acks, commands, tasks, limits and errors. Everything else (other methods, compressed
 * messages, a deadline, other content types) is left to ConnectRPC, which keeps serving it.
 *
 * Why: at 100 agents streaming batches, ConnectRPC's chain of async iterables (envelope, serialization,
 * per-message promises and abort signals) cost more server CPU than taking the samples into the view.
 * Here a message costs one decode (a batch of scrapes straight into the server's types, batch-decode.ts)
 * and one promise; reading pauses while `maxBufferedMessages` wait
 * (HTTP/2 flow control pushes back on the agent), and writing waits for the response to drain.
 *
 * Authentication and TLS are the listener's (listenH2c checks every request before any handler).
 */
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { ConnectError } from '@connectrpc/connect';
import { Code, FlotillaError } from '../../core/errors.js';
import { answerGrpcError, encodeGrpcMessage } from '../../core/grpc-unary-server.js';
import type { Logger } from '../../core/log.js';
import { AgentMessageSchema, MonitorService, ServerMessageSchema, type ServerMessage } from '../../gen/flotilla/v1/monitor_pb.js';
import { decodeAgentBatch } from './batch-decode.js';
import type { AgentInput } from './monitor-service.js';

export interface AgentStreamHandlerOptions {
  /** Serves one stream: the agent's messages in, the server's out (MonitorServiceImpl.serveCommandStream). */
  serve: (requests: AsyncIterable<AgentInput>, signal: AbortSignal) => AsyncIterable<ServerMessage>;
  /** Largest message accepted, bytes (as the listener's readMaxBytes). Default 4 MiB. */
  readMaxBytes?: number;
  /**
   * Messages read ahead of the stream's reader before the request is paused (HTTP/2 flow control then
   * holds the agent); also paused once they hold `readMaxBytes`. Default 16 (pausing and resuming the
   * request for every few messages costs more than a little read-ahead).
   */
  maxBufferedMessages?: number;
  logger: Logger;
}

/** Serves the request and returns true, or returns false to let ConnectRPC serve it. */
export type AgentStreamHandler = (req: Http2ServerRequest, res: Http2ServerResponse) => boolean;

const COMMAND_STREAM_PATH = `/${MonitorService.typeName}/${MonitorService.method.commandStream.name}`;

/**
 * The agent's messages as an async iterator over the request's length-prefixed frames: frames are cut as
 * data arrives and decoded when read; a malformed stream ends the iteration with INVALID_ARGUMENT (or
 * RESOURCE_EXHAUSTED for a message over the limit).
 */
class FrameReader implements AsyncIterableIterator<AgentInput> {
  private readonly frames: Buffer[] = [];
  /** Bytes of the messages in `frames`. */
  private framesBytes = 0;
  private chunks: Buffer[] = [];
  private size = 0;
  private ended = false;
  private failure: FlotillaError | undefined;
  private waiter: { resolve: (r: IteratorResult<AgentInput>) => void; reject: (e: unknown) => void } | undefined;
  private paused = false;
  private done = false;

  constructor(
    private readonly req: Http2ServerRequest,
    private readonly maxBytes: number,
    private readonly maxBuffered: number,
  ) {
    req.on('data', (chunk: Buffer) => this.onData(chunk));
    req.on('end', () => {
      if (this.size > 0 && this.failure === undefined) this.failure = new FlotillaError(Code.INVALID_ARGUMENT, 'the request stream ended inside a message');
      this.ended = true;
      this.wake();
    });
    req.on('error', () => {
      this.ended = true;
      this.failure ??= new FlotillaError(Code.CANCELLED, 'the agent closed its stream');
      this.wake();
    });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private onData(chunk: Buffer): void {
    if (this.done || this.failure !== undefined) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size >= 5) {
      let head = this.chunks[0]!;
      if (head.length < 5) {
        head = Buffer.concat(this.chunks);
        this.chunks = [head];
      }
      const flags = head[0]!;
      const length = head.readUInt32BE(1);
      if (length > this.maxBytes) return this.fail(new FlotillaError(Code.RESOURCE_EXHAUSTED, `message is larger than configured readMaxBytes ${this.maxBytes} (got ${length} bytes)`));
      if (flags !== 0) return this.fail(new FlotillaError(Code.INVALID_ARGUMENT, flags === 1 ? 'a compressed message without grpc-encoding' : `unexpected frame flags ${flags}`));
      if (this.size < 5 + length) break;
      let frame: Buffer;
      if (head.length >= 5 + length) {
        frame = head.subarray(5, 5 + length);
        if (head.length === 5 + length) this.chunks.shift();
        else this.chunks[0] = head.subarray(5 + length);
      } else {
        const all = Buffer.concat(this.chunks);
        frame = all.subarray(5, 5 + length);
        this.chunks = all.length > 5 + length ? [all.subarray(5 + length)] : [];
      }
      this.size -= 5 + length;
      this.frames.push(frame);
      this.framesBytes += length;
    }
    if ((this.frames.length >= this.maxBuffered || this.framesBytes >= this.maxBytes) && !this.paused) {
      this.paused = true;
      this.req.pause();
    }
    this.wake();
  }

  private fail(err: FlotillaError): void {
    this.failure = err;
    this.chunks = [];
    this.size = 0;
    this.wake();
  }

  /** The next message, or what ended the stream; undefined when nothing is ready. */
  private take(): IteratorResult<AgentInput> | FlotillaError | undefined {
    const frame = this.frames.shift();
    if (frame !== undefined) {
      this.framesBytes -= frame.length;
      if (this.paused && this.frames.length < this.maxBuffered / 2 && this.framesBytes < this.maxBytes / 2) {
        this.paused = false;
        this.req.resume();
      }
      // The common message (a batch of scrapes) decoded directly; anything else by protobuf-es.
      const batch = decodeAgentBatch(frame);
      if (batch !== undefined) return { value: { kind: { case: 'decodedBatch', value: batch } }, done: false };
      try {
        return { value: fromBinary(AgentMessageSchema, frame), done: false };
      } catch (err) {
        return new FlotillaError(Code.INVALID_ARGUMENT, `cannot decode AgentMessage: ${(err as Error).message}`);
      }
    }
    if (this.failure !== undefined) return this.failure;
    if (this.ended || this.done) return { value: undefined, done: true };
    return undefined;
  }

  private wake(): void {
    const w = this.waiter;
    if (w === undefined) return;
    const r = this.take();
    if (r === undefined) return;
    this.waiter = undefined;
    if (r instanceof FlotillaError) w.reject(r);
    else w.resolve(r);
  }

  next(): Promise<IteratorResult<AgentInput>> {
    if (this.waiter !== undefined) return Promise.reject(new FlotillaError(Code.INTERNAL, 'the agent stream is read twice at once'));
    const r = this.take();
    if (r instanceof FlotillaError) return Promise.reject(r);
    if (r !== undefined) return Promise.resolve(r);
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  /** Stops reading: what the agent still sends is discarded. */
  return(): Promise<IteratorResult<AgentInput>> {
    this.done = true;
    this.frames.length = 0;
    this.framesBytes = 0;
    this.chunks = [];
    this.size = 0;
    if (this.paused) this.req.resume();
    this.wake();
    return Promise.resolve({ value: undefined, done: true });
  }
}

/** Resolves when the response drained or closed. */
function drained(res: Http2ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function frameOf(message: ServerMessage): Buffer {
  const payload = toBinary(ServerMessageSchema, message);
  const frame = Buffer.allocUnsafe(5 + payload.length);
  frame[0] = 0;
  frame.writeUInt32BE(payload.length, 1);
  frame.set(payload, 5);
  return frame;
}

async function serveStream(o: AgentStreamHandlerOptions, req: Http2ServerRequest, res: Http2ServerResponse, contentType: string): Promise<void> {
  const reader = new FrameReader(req, o.readMaxBytes ?? 4 * 1024 * 1024, o.maxBufferedMessages ?? 16);
  const abort = new AbortController();
  const onClose = (): void => abort.abort();
  res.on('close', onClose);
  let started = false;
  const gone = (): boolean => res.destroyed || res.stream.destroyed;
  try {
    for await (const message of o.serve(reader, abort.signal)) {
      if (gone()) break;
      if (!started) {
        started = true;
        res.writeHead(200, { 'content-type': contentType });
      }
      if (!res.write(frameOf(message))) await drained(res);
    }
    if (gone()) return;
    if (!started) res.writeHead(200, { 'content-type': contentType });
    res.addTrailers({ 'grpc-status': '0' });
    res.end();
  } catch (err) {
    if (gone()) return;
    const ce = err instanceof ConnectError ? err : ConnectError.from(err);
    if (!(err instanceof ConnectError)) o.logger.error({ err }, 'agent stream: unexpected error');
    if (!started) {
      answerGrpcError(res, ce.code, ce.rawMessage);
      return;
    }
    res.addTrailers({ 'grpc-status': String(ce.code), 'grpc-message': encodeGrpcMessage(ce.rawMessage) });
    res.end();
  } finally {
    res.off('close', onClose);
    void reader.return();
  }
}

export function createAgentStreamHandler(o: AgentStreamHandlerOptions): AgentStreamHandler {
  return (req, res) => {
    if (req.method !== 'POST' || req.url !== COMMAND_STREAM_PATH) return false;
    const contentType = req.headers['content-type'];
    if (contentType !== 'application/grpc' && contentType !== 'application/grpc+proto') return false;
    const encoding = req.headers['grpc-encoding'];
    if (encoding !== undefined && encoding !== 'identity') return false;
    // A deadline is ConnectRPC's to enforce.
    if (req.headers['grpc-timeout'] !== undefined) return false;
    serveStream(o, req, res, contentType).catch((err: unknown) => {
      // Answering failed (the stream went away meanwhile): nothing left to tell the agent.
      o.logger.debug({ err: FlotillaError.from(err).message }, 'agent stream: could not finish the answer');
      res.destroy();
    });
    return true;
  };
}
