/**
 * One WebSocket connection on `/ws`: JSON text frames, one command per frame.
 *
 *   client -> server  {"id":1,"subscribe":{"channel":"news","token":"JWT","since":{"offset":12,"epoch":"ab12"},"ack":true}}
 *                     {"id":2,"unsubscribe":{"channel":"news"}}
 *                     {"ack":{"channel":"news","offset":13}}          (cumulative, no reply)
 *                     {"id":3,"ping":{}}
 *   server -> client  {"id":1,"result":{"channel":"news","epoch":"ab12","offset":14,"recovered":true}}
 *                     {"id":2,"result":{}}   {"id":3,"pong":{}}
 *                     {"id":1,"error":{"code":"UNAUTHENTICATED","message":"..."}}   (a bad frame without id: no id)
 *                     {"pub":{"channel":"news","offset":13,"epoch":"ab12","id":"...","data":...,"deliverAt":...,"publishedAt":...,"duplicate":true?}}
 *
 * A bad frame is answered with an error and the connection stays open (it is closed with 1008 after
 * `maxBadFrames`); a frame larger than the limit closes the connection (1009). Other connections are
 * never affected.
 */
import { Code, FlotillaError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Broker } from './broker.js';
import { verifyChannelToken } from './channel-token.js';
import { Subscription, type SharedFrames } from './hub.js';
import { isPublicChannel, validateChannel, type ChannelEntry } from './message.js';

/** The part of a `ws` WebSocket the session uses. */
export interface WsLike {
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: string | Buffer, options?: { binary: boolean }): void;
  close(code?: number, reason?: string): void;
  on(event: 'message', listener: (data: unknown, isBinary: boolean) => void): unknown;
  on(event: 'close', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

export interface WsSessionOptions {
  /** Subscriptions one connection may hold. Default 128. */
  maxSubscriptions?: number;
  /** Bad frames tolerated before the connection is closed. Default 20. */
  maxBadFrames?: number;
  /** Bytes queued on the socket before the client counts as too slow. Default 16 MiB. */
  maxBufferedBytes?: number;
  /**
   * The TCP socket under the WebSocket. When given, frames written in one turn of the event loop (a
   * fan-out of a batch of publications) are corked and leave in one write: one system call per
   * connection per batch instead of one per publication.
   */
  tcp?: { cork(): void; uncork(): void; readonly destroyed: boolean };
}

const OPEN = 1;

function rawText(data: unknown): string | undefined {
  if (typeof data === 'string') return data;
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data as Buffer[]).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return undefined;
}

function asObject(v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new FlotillaError(Code.INVALID_ARGUMENT, `${what} must be a JSON object`);
  return v as Record<string, unknown>;
}

function asOffset(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new FlotillaError(Code.INVALID_ARGUMENT, `${what} must be a non-negative integer`);
  return v;
}

export function handleWsSession(socket: WsLike, broker: Broker, logger: Logger, options: WsSessionOptions = {}): void {
  const maxSubs = options.maxSubscriptions ?? 128;
  const maxBad = options.maxBadFrames ?? 20;
  const maxBuffered = options.maxBufferedBytes ?? 16 * 1024 * 1024;
  const subs = new Map<string, Subscription>();
  let bad = 0;
  let closed = false;
  const tcp = options.tcp;
  let corked = false;
  const uncork = (): void => {
    corked = false;
    if (tcp !== undefined && !tcp.destroyed) tcp.uncork();
  };

  const write = (text: string | Buffer): boolean => {
    if (closed || socket.readyState !== OPEN) return false;
    if (socket.bufferedAmount > maxBuffered) {
      closeWith(4008, 'too slow: the server buffered too much for this connection');
      return false;
    }
    if (tcp !== undefined && !corked) {
      corked = true;
      tcp.cork();
      process.nextTick(uncork);
    }
    // A Buffer is the UTF-8 of a JSON text frame (shared by every subscriber of a fan-out).
    if (typeof text === 'string') socket.send(text);
    else socket.send(text, { binary: false });
    return true;
  };
  const reply = (id: number | undefined, body: string): void => {
    write(id === undefined ? `{${body}}` : `{"id":${id},${body}}`);
  };
  const replyError = (id: number | undefined, err: unknown): void => {
    const fe = FlotillaError.from(err);
    const message = fe.code === Code.INTERNAL ? 'internal error (see the server log)' : fe.rawMessage;
    if (fe.code === Code.INTERNAL) logger.error({ err: fe.message }, 'pubsub: websocket command failed');
    reply(id, `"error":${JSON.stringify({ code: fe.code, message })}`);
  };
  function closeWith(code: number, reason: string): void {
    if (closed) return;
    cleanup();
    try {
      socket.close(code, reason.slice(0, 120));
    } catch {
      // already closing
    }
  }
  function cleanup(): void {
    closed = true;
    unregister();
    for (const s of subs.values()) broker.hub.unsubscribe(s);
    subs.clear();
  }

  const subscribe = async (id: number | undefined, body: Record<string, unknown>): Promise<void> => {
    const channel = validateChannel(body.channel);
    if (subs.has(channel)) throw new FlotillaError(Code.ALREADY_EXISTS, `already subscribed to ${channel}`);
    if (subs.size >= maxSubs) throw new FlotillaError(Code.RESOURCE_EXHAUSTED, `at most ${maxSubs} subscriptions per connection`, { retryable: false });
    if (!isPublicChannel(channel)) {
      if (typeof body.token !== 'string') throw new FlotillaError(Code.UNAUTHENTICATED, `channel ${channel} needs a channel token (subscribe.token); channels named public:... do not`);
      verifyChannelToken(body.token, { channel, secret: broker.tokenSecret });
    }
    let since: { offset: number; epoch: string } | undefined;
    if (body.since !== undefined) {
      const s = asObject(body.since, 'subscribe.since');
      if (typeof s.epoch !== 'string' || s.epoch.length > 64) throw new FlotillaError(Code.INVALID_ARGUMENT, 'subscribe.since.epoch must be a string');
      since = { offset: asOffset(s.offset, 'subscribe.since.offset'), epoch: s.epoch };
    }
    if (body.ack !== undefined && typeof body.ack !== 'boolean') throw new FlotillaError(Code.INVALID_ARGUMENT, 'subscribe.ack must be true or false');
    const sub = new Subscription(
      channel,
      {
        sendPublication: (json: string, _entry: ChannelEntry, shared?: SharedFrames) => {
          if (shared === undefined) return write(`{"pub":${json}}`);
          shared.ws ??= Buffer.from(`{"pub":${json}}`, 'utf8');
          return write(shared.ws);
        },
        fail: (err) => {
          subs.delete(channel);
          replyError(undefined, err);
          write(`{"unsubscribed":${JSON.stringify({ channel, reason: err.rawMessage })}}`);
        },
      },
      body.ack !== false,
    );
    subs.set(channel, sub);
    try {
      // The reply goes out before any publication of this subscription (recovered ones included).
      await broker.hub.subscribe(sub, since, (result) => reply(id, `"result":${JSON.stringify(result)}`));
    } catch (err) {
      subs.delete(channel);
      throw err;
    }
  };

  const onFrame = async (data: unknown, isBinary: boolean): Promise<void> => {
    let id: number | undefined;
    try {
      const text = isBinary ? undefined : rawText(data);
      if (text === undefined) throw new FlotillaError(Code.INVALID_ARGUMENT, 'frames are JSON text, not binary');
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new FlotillaError(Code.INVALID_ARGUMENT, 'frame is not valid JSON');
      }
      const frame = asObject(parsed, 'a frame');
      if (frame.id !== undefined) {
        if (typeof frame.id !== 'number' || !Number.isSafeInteger(frame.id) || frame.id < 0) throw new FlotillaError(Code.INVALID_ARGUMENT, 'frame id must be a non-negative integer');
        id = frame.id;
      }
      const commands = Object.keys(frame).filter((k) => k !== 'id');
      if (commands.length !== 1) throw new FlotillaError(Code.INVALID_ARGUMENT, `a frame holds exactly one of subscribe, unsubscribe, ack, ping; got ${commands.length === 0 ? 'none' : commands.join(', ')}`);
      const cmd = commands[0]!;
      switch (cmd) {
        case 'subscribe':
          await subscribe(id, asObject(frame.subscribe, 'subscribe'));
          return;
        case 'unsubscribe': {
          const channel = validateChannel(asObject(frame.unsubscribe, 'unsubscribe').channel);
          const sub = subs.get(channel);
          if (sub === undefined) throw new FlotillaError(Code.NOT_FOUND, `not subscribed to ${channel}`);
          subs.delete(channel);
          broker.hub.unsubscribe(sub);
          reply(id, '"result":{}');
          return;
        }
        case 'ack': {
          const a = asObject(frame.ack, 'ack');
          const channel = validateChannel(a.channel);
          const offset = asOffset(a.offset, 'ack.offset');
          const sub = subs.get(channel);
          if (sub === undefined) throw new FlotillaError(Code.NOT_FOUND, `not subscribed to ${channel}`);
          broker.hub.ack(sub, offset);
          return;
        }
        case 'ping':
          reply(id, '"pong":{}');
          return;
        default:
          throw new FlotillaError(Code.INVALID_ARGUMENT, `unknown command ${JSON.stringify(cmd)}: expected subscribe, unsubscribe, ack or ping`);
      }
    } catch (err) {
      const fe = FlotillaError.from(err);
      if (fe.code === Code.INVALID_ARGUMENT) bad += 1;
      replyError(id, fe);
      if (bad >= maxBad) closeWith(1008, `too many malformed frames (${bad})`);
    }
  };

  const unregister = broker.onStop(() => closeWith(1001, 'server stopping'));
  socket.on('message', (data, isBinary) => {
    void onFrame(data, isBinary);
  });
  socket.on('close', cleanup);
  socket.on('error', (err) => {
    logger.debug({ err: err.message }, 'pubsub: websocket error');
    cleanup();
  });
}
