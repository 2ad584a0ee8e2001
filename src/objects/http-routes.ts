/**
 * The object store on a node's HTTP API (`/api/v1/objects/...`), for the dashboard, the CLI and curl:
 *   GET    /api/v1/objects/policies
 *   GET    /api/v1/objects/buckets                              JSON { buckets }
 *   PUT    /api/v1/objects/buckets/:bucket?policy=replicated-3   create
 *   DELETE /api/v1/objects/buckets/:bucket                      (must be empty)
 *   GET    /api/v1/objects/buckets/:bucket/objects?prefix=&delimiter=&after=&limit=
 *   PUT    /api/v1/objects/buckets/:bucket/objects/KEY          raw body, streamed; Content-Type kept;
 *                                                                ETag "sha256-<hex SHA-256>" (no MD5 pass)
 *   GET    /api/v1/objects/buckets/:bucket/objects/KEY          the bytes (Range: bytes=a-b honoured)
 *   HEAD   /api/v1/objects/buckets/:bucket/objects/KEY          the GET's headers, from the metadata alone
 *   GET    /api/v1/objects/buckets/:bucket/objects/KEY?stat=1   metadata and where each replica is
 *   DELETE /api/v1/objects/buckets/:bucket/objects/KEY
 * Errors are problem+json (FlotillaError).
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { Code, FlotillaError } from '../core/errors.js';
import type { ObjectMeta } from './object-service.js';
import { POLICIES } from './store/names.js';
import type { ObjectStore } from './store/object-store.js';

function parseRange(h: string | undefined): { start: number; end: number } | undefined {
  if (h === undefined) return undefined;
  const m = /^bytes=(\d+)-(\d*)$/.exec(h.trim());
  if (m === null) throw new FlotillaError(Code.INVALID_ARGUMENT, 'only a single Range: bytes=START-[END] is supported');
  return { start: Number(m[1]), end: m[2] === '' ? Number.MAX_SAFE_INTEGER : Number(m[2]) };
}

/** The headers a GET and a HEAD of an object answer with (the length is the caller's: a range's). */
function objectHeaders(reply: FastifyReply, meta: ObjectMeta): FastifyReply {
  return reply.header('etag', `"${meta.etag}"`).header('x-flotilla-sha256', meta.sha256).header('accept-ranges', 'bytes').type(meta.contentType || 'application/octet-stream');
}

export function registerObjectHttpRoutes(app: FastifyInstance, store: ObjectStore): void {
  void app.register(async (sub) => {
    sub.removeAllContentTypeParsers();
    sub.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));
    const base = '/api/v1/objects';
    sub.get(`${base}/policies`, async () => ({ policies: POLICIES }));
    sub.get(`${base}/buckets`, async () => ({ buckets: await store.listBuckets() }));
    sub.put<{ Params: { bucket: string }; Querystring: { policy?: string } }>(`${base}/buckets/:bucket`, async (req, reply) => {
      req.raw.resume();
      return reply.status(201).send(await store.createBucket(req.params.bucket, req.query.policy !== undefined ? { policy: req.query.policy } : {}));
    });
    sub.delete<{ Params: { bucket: string } }>(`${base}/buckets/:bucket`, async (req) => {
      await store.deleteBucket(req.params.bucket);
      return { deleted: req.params.bucket };
    });
    sub.get<{ Params: { bucket: string }; Querystring: Record<string, string | undefined> }>(`${base}/buckets/:bucket/objects`, async (req) => {
      const q = req.query;
      const limit = q.limit !== undefined ? Number(q.limit) : undefined;
      if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new FlotillaError(Code.INVALID_ARGUMENT, 'limit is a positive integer');
      return store.listObjects({ bucket: req.params.bucket, ...(q.prefix !== undefined ? { prefix: q.prefix } : {}), ...(q.delimiter !== undefined ? { delimiter: q.delimiter } : {}), ...(q.after !== undefined ? { after: q.after } : {}), ...(limit !== undefined ? { limit } : {}) });
    });
    sub.put<{ Params: { bucket: string; '*': string } }>(`${base}/buckets/:bucket/objects/*`, async (req) => {
      const len = req.headers['content-length'];
      return store.putObject({
        bucket: req.params.bucket,
        key: req.params['*'],
        body: req.raw,
        // No MD5 pass: S3's ETag is an MD5, this API's is the SHA-256 (ObjectMeta.etag).
        etag: 'sha256',
        ...(len !== undefined ? { size: Number(len) } : {}),
        ...(req.headers['content-type'] !== undefined ? { contentType: req.headers['content-type'] } : {}),
      });
    });
    // No HEAD made from this GET (fastify's would run it and read the whole body to drop it): its own below.
    sub.get<{ Params: { bucket: string; '*': string }; Querystring: { stat?: string } }>(`${base}/buckets/:bucket/objects/*`, { exposeHeadRoute: false }, async (req, reply) => {
      const { bucket } = req.params;
      const key = req.params['*'];
      if (req.query.stat !== undefined) return { meta: await store.headObject(bucket, key), placement: await store.replicaStatus(bucket, key) };
      const range = parseRange(req.headers.range);
      const r = await store.getObject({ bucket, key, ...(range !== undefined ? { range } : {}) });
      objectHeaders(reply, r.meta);
      if (range !== undefined) {
        const end = Math.min(range.end, r.meta.size - 1);
        reply.status(206).header('content-range', `bytes ${range.start}-${end}/${r.meta.size}`).header('content-length', end - range.start + 1);
      } else reply.header('content-length', r.meta.size);
      return reply.send(r.body);
    });
    // Range is for GET only (RFC 9110): a HEAD answers the whole object's headers.
    sub.head<{ Params: { bucket: string; '*': string } }>(`${base}/buckets/:bucket/objects/*`, async (req, reply) => {
      const meta = await store.headObject(req.params.bucket, req.params['*']);
      return objectHeaders(reply, meta).header('content-length', meta.size).send();
    });
    sub.delete<{ Params: { bucket: string; '*': string } }>(`${base}/buckets/:bucket/objects/*`, async (req) => {
      await store.deleteObject(req.params.bucket, req.params['*']);
      return { deleted: req.params['*'] };
    });
  });
}
