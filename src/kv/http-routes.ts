/**
 * The KV part of a node's HTTP API, for the dashboard and curl (`/api/v1/kv/...`):
 *
 *   GET    /api/v1/kv/keys/:key            the value: JSON { key, value, version, expiresAtMs }
 *   PUT    /api/v1/kv/keys/:key            body: the value (any content type, raw bytes); ?ttl=10s
 *   DELETE /api/v1/kv/keys/:key
 *   GET    /api/v1/kv/scan?prefix=&limit=&pageToken=
 *   GET    /api/v1/kv/health
 *
 * Keys in the path are URL-encoded UTF-8; with ?encoding=base64 keys, values and tokens are base64
 * (binary keys and values). ?consistency=one|quorum|all|N on every data route. Errors are problem+json.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parseDuration } from '../core/duration.js';
import { Code, FlotillaError } from '../core/errors.js';
import { formatHlc } from '../core/hlc.js';
import type { Coordinator, QuorumOptions } from './coordinator/coordinator.js';
import { parseConsistency } from './coordinator/validate.js';
import type { Entry } from './types.js';
import { MAX_VALUE_BYTES } from './types.js';

interface Query {
  encoding?: string;
  consistency?: string;
  ttl?: string;
  prefix?: string;
  limit?: string;
  pageToken?: string;
}

export interface KvHttpDeps {
  coordinator: () => Coordinator;
}

function codec(q: Query): { decode: (s: string) => Buffer; encode: (b: Uint8Array) => string } {
  const enc = q.encoding ?? 'utf8';
  if (enc !== 'utf8' && enc !== 'base64') throw new FlotillaError(Code.INVALID_ARGUMENT, `unknown encoding ${JSON.stringify(enc)}: use utf8 or base64`);
  if (enc === 'base64') {
    return {
      decode: (s) => {
        if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(s)) throw new FlotillaError(Code.INVALID_ARGUMENT, 'not valid base64');
        return Buffer.from(s, 'base64');
      },
      encode: (b) => Buffer.from(b).toString('base64'),
    };
  }
  return { decode: (s) => Buffer.from(s, 'utf8'), encode: (b) => Buffer.from(b).toString('utf8') };
}

function quorum(q: Query): QuorumOptions {
  if (q.consistency === undefined) return {};
  const c = parseConsistency(q.consistency);
  if (c.error !== undefined) throw new FlotillaError(Code.INVALID_ARGUMENT, c.error);
  return c.value;
}

function entryJson(e: Entry, encode: (b: Uint8Array) => string): Record<string, unknown> {
  return { key: encode(e.key), value: encode(e.value), version: formatHlc(e.version), expiresAtMs: e.expiresAtMs };
}

function bodyBytes(req: FastifyRequest): Buffer {
  const b = req.body;
  if (Buffer.isBuffer(b)) return b;
  if (typeof b === 'string') return Buffer.from(b, 'utf8');
  if (b === undefined || b === null) return Buffer.alloc(0);
  throw new FlotillaError(Code.INVALID_ARGUMENT, 'the body must be the raw value');
}

/** Registers the routes on `app` (in their own scope, with a raw-body parser). */
export function registerKvHttpRoutes(app: FastifyInstance, deps: KvHttpDeps): void {
  void app.register(
    async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 2 * MAX_VALUE_BYTES }, (_req, body, done) => done(null, body));
      scope.get<{ Params: { key: string }; Querystring: Query }>('/keys/:key', async (req) => {
        const { decode, encode } = codec(req.query);
        const r = await deps.coordinator().get(decode(req.params.key), quorum(req.query));
        if (r.entry === undefined) throw new FlotillaError(Code.NOT_FOUND, `key ${JSON.stringify(req.params.key)} not found`);
        return entryJson(r.entry, encode);
      });
      scope.put<{ Params: { key: string }; Querystring: Query }>('/keys/:key', { bodyLimit: 2 * MAX_VALUE_BYTES }, async (req) => {
        const { decode } = codec(req.query);
        let ttlMs = 0;
        if (req.query.ttl !== undefined) {
          const d = parseDuration(req.query.ttl);
          if (d.error !== undefined) throw new FlotillaError(Code.INVALID_ARGUMENT, `ttl: ${d.error}`);
          ttlMs = d.value;
        }
        const r = await deps.coordinator().put(decode(req.params.key), bodyBytes(req), { ...quorum(req.query), ttlMs });
        return { version: formatHlc(r.version), acks: r.acks };
      });
      scope.delete<{ Params: { key: string }; Querystring: Query }>('/keys/:key', async (req) => {
        const { decode } = codec(req.query);
        const r = await deps.coordinator().del(decode(req.params.key), quorum(req.query));
        return { version: formatHlc(r.version), acks: r.acks };
      });
      scope.get<{ Querystring: Query }>('/scan', async (req) => {
        const { decode, encode } = codec(req.query);
        const limit = req.query.limit === undefined ? 100 : Number(req.query.limit);
        const page = await deps.coordinator().scan(decode(req.query.prefix ?? ''), {
          ...quorum(req.query),
          limit,
          ...(req.query.pageToken !== undefined && req.query.pageToken !== '' ? { pageToken: decode(req.query.pageToken) } : {}),
        });
        return { entries: page.entries.map((e) => entryJson(e, encode)), nextPageToken: page.nextPageToken === undefined ? null : encode(page.nextPageToken) };
      });
      scope.get('/health', async () => deps.coordinator().settings());
    },
    { prefix: '/api/v1/kv' },
  );
}
