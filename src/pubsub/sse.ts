/**
 * Server-Sent Events, the fallback for clients without WebSocket: `GET /sse?channel=C[&token=T][&since=OFFSET&epoch=E]`.
 * A reconnecting EventSource sends `Last-Event-ID: EPOCH:OFFSET`, which recovers the same way. Events:
 *   event: subscribed   data: {"channel","epoch","offset","recovered"?}
 *   event: pub          id: EPOCH:OFFSET   data: {publication, as on the WebSocket}
 *   event: error        data: {"code","message"}   (then the stream ends)
 * and a comment line every 15 s to keep proxies from closing an idle stream. No acknowledgements:
 * recovery by offset is the delivery guarantee here.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { openEventStream } from '../core/event-stream.js';
import { Code, FlotillaError } from '../core/errors.js';
import type { Broker } from './broker.js';
import { verifyChannelToken } from './channel-token.js';
import { Subscription } from './hub.js';
import { isPublicChannel, validateChannel } from './message.js';

export interface SseQuery {
  channel?: string;
  token?: string;
  since?: string;
  epoch?: string;
}

function parseSince(query: SseQuery, lastEventId: string | undefined): { offset: number; epoch: string } | undefined {
  if (lastEventId !== undefined && lastEventId !== '') {
    const m = /^([A-Za-z0-9_-]{1,64}):(\d{1,15})$/.exec(lastEventId);
    if (m === null) throw new FlotillaError(Code.INVALID_ARGUMENT, 'Last-Event-ID must be EPOCH:OFFSET');
    return { epoch: m[1]!, offset: Number(m[2]) };
  }
  if (query.since === undefined) return undefined;
  if (!/^\d{1,15}$/.test(query.since)) throw new FlotillaError(Code.INVALID_ARGUMENT, 'since must be a non-negative integer offset');
  if (query.epoch === undefined || !/^[A-Za-z0-9_-]{1,64}$/.test(query.epoch)) throw new FlotillaError(Code.INVALID_ARGUMENT, 'since needs epoch (the epoch the offset belongs to)');
  return { offset: Number(query.since), epoch: query.epoch };
}

export async function handleSse(request: FastifyRequest<{ Querystring: SseQuery }>, reply: FastifyReply, broker: Broker): Promise<void> {
  const query = request.query;
  const channel = validateChannel(query.channel);
  if (!isPublicChannel(channel)) {
    if (typeof query.token !== 'string') throw new FlotillaError(Code.UNAUTHENTICATED, `channel ${channel} needs a channel token (?token=); channels named public:... do not`);
    verifyChannelToken(query.token, { channel, secret: broker.tokenSecret });
  }
  const lastEventId = request.headers['last-event-id'];
  const since = parseSince(query, Array.isArray(lastEventId) ? lastEventId[0] : lastEventId);

  const opened = openEventStream(request, reply);
  if (opened === undefined) return;
  const raw = opened;
  raw.write(': flotilla\n\n');
  let closed = false;
  const write = (text: string): boolean => {
    if (closed || raw.destroyed) return false;
    if (raw.writableLength > 16 * 1024 * 1024) {
      end(new FlotillaError(Code.RESOURCE_EXHAUSTED, 'too slow: the server buffered too much for this stream; reconnect to recover'));
      return false;
    }
    raw.write(text);
    return true;
  };
  const sub: Subscription = new Subscription(
    channel,
    {
      sendPublication: (json, entry): boolean => write(`event: pub\nid: ${sub.epoch}:${entry.offset}\ndata: ${json}\n\n`),
      fail: (err) => end(err),
    },
    false,
  );
  const keepAlive = setInterval(() => write(': keep-alive\n\n'), 15_000);
  keepAlive.unref();
  function end(err?: FlotillaError): void {
    if (closed) return;
    if (err !== undefined) raw.write(`event: error\ndata: ${JSON.stringify({ code: err.code, message: err.rawMessage })}\n\n`);
    closed = true;
    clearInterval(keepAlive);
    broker.hub.unsubscribe(sub);
    raw.end();
  }
  const unregister = broker.onStop(() => end());
  raw.on('close', () => {
    closed = true;
    clearInterval(keepAlive);
    unregister();
    broker.hub.unsubscribe(sub);
  });
  try {
    await broker.hub.subscribe(sub, since, (result) => write(`event: subscribed\ndata: ${JSON.stringify(result)}\n\n`));
  } catch (err) {
    end(FlotillaError.from(err));
  }
}
