/**
 * The internal replica API between nodes, on each node's HTTP port (streams are plain HTTP bodies):
 *   PUT  /internal/objects/blobs/:blob   phase 1 of a two-phase write: body: the bytes;
 *                                         x-flotilla-expect: base64url JSON {size, verify}
 *                                         -> JSON {stage, size, crc32} once the whole body is in the
 *                                         backend, unpublished: this node computed the CRC32 of what it
 *                                         received (verify: 'crc32'), or its SHA-256 ({stage, size,
 *                                         sha256}) for a writer that did not ask (older versions)
 *   POST /internal/objects/stages/:id/commit   phase 2: x-flotilla-meta: base64url JSON StoredMeta
 *                                         -> JSON StoredMeta once published (fsynced, renamed, indexed);
 *                                         409 FAILED_PRECONDITION (stage dropped) when this version was
 *                                         reverted here first
 *   DELETE /internal/objects/stages/:id  drops a staged write (a staged write also times out)
 *   POST /internal/objects/revert/:blob?version=V   removes the replica if it holds version V (a commit
 *                                         whose quorum failed is undone); waits for a commit of V in
 *                                         flight and refuses later ones (LocalReplica.revert)
 *   GET  /internal/objects/blobs/:blob?start=&end=   the bytes; x-flotilla-meta: StoredMeta
 *   GET  /internal/objects/heads/:blob   JSON StoredMeta, 404 when missing or damaged
 *   DELETE /internal/objects/blobs/:blob
 *   POST /internal/objects/damaged/:blob  a reader found this replica's bytes bad: re-verify and repair
 *   GET  /internal/objects/inventory     NDJSON {blob, version, kind} of every replica held
 *   GET  /internal/objects/list?bucket=&prefix=&delimiter=&after=&limit=   one page of the local index
 * Blob names are checked by the backend (checkBlobName); nothing here touches a path.
 */
import type { FastifyInstance } from 'fastify';
import { Readable } from 'node:stream';
import { Code, FlotillaError } from '../../core/errors.js';
import { metaHeader, parseMetaHeader, type StoredMeta } from './blob-meta.js';
import type { LocalReplica, WriteExpectations } from './local-replica.js';

export interface ReplicaRoutesDeps {
  local: () => LocalReplica;
  /** Called when a peer reports a damaged replica here. */
  reportDamaged: (blob: string) => void;
  /** How long a staged write waits for its commit. Default DEFAULT_STAGE_TIMEOUT_MS. */
  stageTimeoutMs?: number;
}

export function registerReplicaRoutes(app: FastifyInstance, deps: ReplicaRoutesDeps): void {
  void app.register(async (sub) => {
    // Bodies stay unread streams: the handler pipes request.raw into the backend.
    sub.removeAllContentTypeParsers();
    sub.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));
    sub.put<{ Params: { blob: string } }>('/internal/objects/blobs/:blob', async (req) => {
      const expect = req.headers['x-flotilla-expect'] !== undefined ? parseMetaHeader<WriteExpectations>(req.headers['x-flotilla-expect']) : {};
      const body = req.raw as unknown as Readable;
      // A peer that goes away mid-body must fail the write (no partial replica).
      req.raw.once('aborted', () => body.destroy(new FlotillaError(Code.CANCELLED, 'sender went away')));
      const digests = expect.verify === 'crc32' ? { sha256: false, md5: false, crc32: true } : { sha256: true, md5: false };
      const staged = deps.local().stage(req.params.blob, body, { digests, ...(expect.size !== undefined ? { expectedSize: expect.size } : {}), ...(deps.stageTimeoutMs !== undefined ? { timeoutMs: deps.stageTimeoutMs } : {}) });
      const w = await staged.received;
      return { stage: staged.id, size: w.size, ...(w.crc32 !== undefined ? { crc32: w.crc32 } : { sha256: w.sha256 }) };
    });
    sub.post<{ Params: { id: string } }>('/internal/objects/stages/:id/commit', async (req) => {
      req.raw.resume();
      const meta = parseMetaHeader<StoredMeta>(req.headers['x-flotilla-meta']);
      return deps.local().stagedWrite(req.params.id).commit(meta);
    });
    sub.delete<{ Params: { id: string } }>('/internal/objects/stages/:id', async (req) => {
      const local = deps.local();
      let w;
      try {
        w = local.stagedWrite(req.params.id);
      } catch {
        return { aborted: false };
      }
      await w.abort();
      return { aborted: true };
    });
    sub.post<{ Params: { blob: string }; Querystring: { version?: string } }>('/internal/objects/revert/:blob', async (req) => {
      req.raw.resume();
      if (typeof req.query.version !== 'string' || req.query.version === '') throw new FlotillaError(Code.INVALID_ARGUMENT, 'revert needs ?version=');
      return { reverted: await deps.local().revert(req.params.blob, req.query.version) };
    });
    // The streamed answers (a blob, the inventory) have no HEAD: fastify's would read them whole to drop them.
    sub.get<{ Params: { blob: string }; Querystring: { start?: string; end?: string } }>('/internal/objects/blobs/:blob', { exposeHeadRoute: false }, async (req, reply) => {
      const q = req.query;
      const range = q.start !== undefined && q.end !== undefined ? { start: Number(q.start), end: Number(q.end) } : undefined;
      const r = await deps.local().read(req.params.blob, range);
      return reply.header('x-flotilla-meta', metaHeader(r.meta)).type('application/octet-stream').send(r.body);
    });
    sub.get<{ Params: { blob: string } }>('/internal/objects/heads/:blob', async (req) => {
      const m = await deps.local().head(req.params.blob);
      if (m === undefined) throw new FlotillaError(Code.NOT_FOUND, 'no replica here');
      return m;
    });
    sub.delete<{ Params: { blob: string } }>('/internal/objects/blobs/:blob', async (req) => {
      await deps.local().remove(req.params.blob);
      return { ok: true };
    });
    sub.post<{ Params: { blob: string } }>('/internal/objects/damaged/:blob', async (req) => {
      deps.reportDamaged(req.params.blob);
      return { ok: true };
    });
    sub.get('/internal/objects/inventory', { exposeHeadRoute: false }, async (_req, reply) => {
      const local = deps.local();
      const lines = async function* (): AsyncIterable<string> {
        for await (const e of local.inventory()) yield JSON.stringify(e) + '\n';
      };
      return reply.type('application/x-ndjson').send(Readable.from(lines()));
    });
    sub.get<{ Querystring: Record<string, string | undefined> }>('/internal/objects/list', async (req) => {
      const q = req.query;
      const limit = Math.min(Math.max(Number(q.limit ?? 1000) || 1000, 1), 10_000);
      return deps.local().list(q.bucket ?? '', q.prefix ?? '', q.delimiter ?? '', q.after ?? '', limit);
    });
  });
}
