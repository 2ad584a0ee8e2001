/**
 * The start of a server-sent event stream on a Fastify route: the reply is taken over (hijacked) and the
 * event-stream head written, the same for every feed of the project. A HEAD request gets the head and an
 * end at once (a stream has no length to announce), never an answer that stays open.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';

const HEAD = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' };

/** The raw response to write events to, or undefined when the request was a HEAD (already answered). */
export function openEventStream(request: FastifyRequest, reply: FastifyReply): ServerResponse | undefined {
  reply.hijack();
  const raw = reply.raw;
  if (request.method === 'HEAD') {
    raw.writeHead(200, { ...HEAD, connection: 'close' });
    raw.end();
    return undefined;
  }
  raw.writeHead(200, HEAD);
  return raw;
}
