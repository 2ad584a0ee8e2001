/**
 * The HTTP API of scheduled messaging, registered on the server's Fastify app:
 *   POST   /api/v1/publish              {channel, data | dataBase64, deliverAt? | delay?, ttl?, idempotencyKey?} -> 202
 *   GET    /api/v1/messages?channel=C&state=scheduled&limit=100
 *   GET    /api/v1/messages/:id
 *   DELETE /api/v1/messages/:id         cancel a scheduled message
 *   POST   /api/v1/channel-tokens       {channel, ttl?} -> {token, expiresAt}
 *   GET    /ws                          WebSocket subscribers (ws-session.ts)
 *   GET    /sse?channel=C               Server-Sent Events subscribers (sse.ts)
 * Publishing and minting tokens are open for now (a later issue puts them behind API tokens); bind the
 * HTTP listener to loopback until then. Subscribing to a non-public channel needs a valid channel token.
 */
import websocket from '@fastify/websocket';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parseDuration } from '../core/duration.js';
import { Code, FlotillaError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Broker } from './broker.js';
import { signChannelToken } from './channel-token.js';
import { validateChannel, type MessageState, type StoredMessage } from './message.js';
import { handleSse, type SseQuery } from './sse.js';
import { handleWsSession, type WsLike } from './ws-session.js';

/** The JSON view of a stored message. */
export function messageView(m: StoredMessage): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: m.id,
    channel: m.channel,
    state: m.state,
    deliverAt: new Date(m.deliverAtMs).toISOString(),
    deliverAtMs: m.deliverAtMs,
    createdAt: new Date(m.createdAtMs).toISOString(),
  };
  if (m.encoding === 'json') out.data = JSON.parse(m.data) as unknown;
  else out.dataBase64 = m.data;
  if (m.expiresAtMs !== undefined) out.expiresAt = new Date(m.expiresAtMs).toISOString();
  if (m.idempotencyKey !== undefined) out.idempotencyKey = m.idempotencyKey;
  if (m.deliveredAtMs !== undefined) out.deliveredAt = new Date(m.deliveredAtMs).toISOString();
  return out;
}

const states: readonly MessageState[] = ['scheduled', 'delivered', 'cancelled', 'expired'];
const ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function requireId(id: string): string {
  if (!ID_RE.test(id)) throw new FlotillaError(Code.INVALID_ARGUMENT, `invalid message id ${JSON.stringify(id)}: expected a UUID`);
  return id;
}

export function registerPubsubRoutes(app: FastifyInstance, broker: Broker, logger: Logger): void {
  // Streams would keep the HTTP server from closing: end them first.
  app.addHook('preClose', async () => broker.closeConnections());
  // The JSON body limit must let a message of maxDataBytes through, with room for the envelope.
  const bodyLimit = Math.max(1024 * 1024, broker.limits.maxDataBytes * 2 + 4096);

  app.post('/api/v1/publish', { bodyLimit }, async (request, reply) => {
    const { message, duplicate } = await broker.publish(request.body);
    return reply.status(duplicate ? 200 : 202).send({ ...messageView(message), duplicate });
  });

  app.get<{ Querystring: { channel?: string; state?: string; limit?: string } }>('/api/v1/messages', async (request) => {
    const q = request.query;
    const state = (q.state ?? 'scheduled') as MessageState;
    if (!states.includes(state)) throw new FlotillaError(Code.INVALID_ARGUMENT, `state must be one of ${states.join(', ')}`);
    const limit = q.limit === undefined ? 100 : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new FlotillaError(Code.INVALID_ARGUMENT, 'limit must be an integer from 1 to 10000');
    const channel = q.channel === undefined ? undefined : validateChannel(q.channel);
    const list = await broker.store.list({ ...(channel !== undefined ? { channel } : {}), state, limit });
    return { messages: list.map(messageView) };
  });

  app.get<{ Params: { id: string } }>('/api/v1/messages/:id', async (request) => {
    const m = await broker.store.getMessage(requireId(request.params.id));
    if (m === undefined) throw new FlotillaError(Code.NOT_FOUND, `no message ${request.params.id}`);
    return messageView(m);
  });

  app.delete<{ Params: { id: string } }>('/api/v1/messages/:id', async (request) => messageView(await broker.cancel(requireId(request.params.id))));

  app.post('/api/v1/channel-tokens', async (request) => {
    const body = request.body as { channel?: unknown; ttl?: unknown; sub?: unknown } | null;
    if (body === null || typeof body !== 'object') throw new FlotillaError(Code.INVALID_ARGUMENT, 'expected a JSON body {channel, ttl?}');
    const channel = validateChannel(body.channel);
    let ttlMs = 3_600_000;
    if (body.ttl !== undefined) {
      const parsed = typeof body.ttl === 'number' ? { value: body.ttl } : typeof body.ttl === 'string' ? parseDuration(body.ttl) : { error: 'expected a duration' };
      if (parsed.error !== undefined || parsed.value === undefined || parsed.value <= 0 || parsed.value > 366 * 86_400_000) {
        throw new FlotillaError(Code.INVALID_ARGUMENT, 'ttl must be a positive duration (e.g. 1h) of at most 366 days');
      }
      ttlMs = parsed.value;
    }
    const nowMs = Date.now();
    const token = signChannelToken({ channel, secret: broker.tokenSecret, ttlMs, nowMs, ...(typeof body.sub === 'string' ? { sub: body.sub } : {}) });
    return { channel, token, expiresAt: new Date(Math.floor((nowMs + ttlMs) / 1000) * 1000).toISOString() };
  });

  // At the root: the plugin takes every upgrade request of the HTTP server through Fastify, and its hook
  // that closes the socket after a plain HTTP answer must run for every route, not only /ws (an upgrade
  // request to another route otherwise held its socket for good).
  void app.register(websocket, {
    options: { maxPayload: broker.limits.maxDataBytes + 16 * 1024 },
    // A socket error here is the client's doing (a frame over the limit, bad framing, a reset): logged as a
    // warning with its cause, not as a server error with a stack (the plugin's default).
    errorHandler: (err: Error, socket: unknown, request: FastifyRequest) => {
      logger.warn({ err: err.message, remote: request.ip }, 'pubsub: websocket closed on a client error');
      (socket as { terminate(): void }).terminate();
    },
  });
  // The plugin closes such a socket only when its own onRequest hook ran, which an earlier hook's answer
  // (a 401 from authentication) skips: an upgrade request answered over plain HTTP ends its socket here.
  app.addHook('onResponse', (request, reply, done) => {
    if (request.headers.upgrade !== undefined && reply.statusCode !== 101) request.raw.socket?.destroy();
    done();
  });
  void app.register(async (scope) => {
    // Typed here as the part of `ws` the session uses (the package ships no types of its own).
    scope.get('/ws', { websocket: true }, (socket: unknown, request) => {
      handleWsSession(socket as WsLike, broker, logger, { tcp: request.raw.socket });
    });
  });

  app.get<{ Querystring: SseQuery }>('/sse', async (request, reply) => handleSse(request, reply, broker));
}
