/** Calls to another node's replica API (replica-routes.ts) over HTTP with keep-alive (HTTPS when the process has TLS, core/tls.ts). */
import type { IncomingMessage } from 'node:http';
import { clusterAgent, clusterRequest as request } from '../../core/tls.js';
import type { Readable } from 'node:stream';
import { Code, FlotillaError } from '../../core/errors.js';
import { defaultToken } from '../../core/grpc-client.js';
import { metaHeader, parseMetaHeader, type StoredMeta } from './blob-meta.js';
import type { LocalListItem, WriteExpectations } from './local-replica.js';

export interface ReplicaClientOptions {
  /** A call that sees no bytes for this long fails. Default 15000 ms. */
  idleTimeoutMs?: number;
}

export type ReplicaClient = ReturnType<typeof createReplicaClient>;

async function readText(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function failure(res: IncomingMessage, node: string, what: string): Promise<FlotillaError> {
  const text = await readText(res).catch(() => '');
  let code: Code = res.statusCode === 404 ? Code.NOT_FOUND : res.statusCode === 400 ? Code.INVALID_ARGUMENT : Code.UNAVAILABLE;
  let detail = text.slice(0, 300);
  try {
    const p = JSON.parse(text) as { code?: string; detail?: string };
    if (p.code !== undefined && p.code in Code) code = p.code as Code;
    if (p.detail !== undefined) detail = p.detail;
  } catch {
    /* not problem+json */
  }
  return new FlotillaError(code, `node ${node}: ${what}: ${detail}`);
}

export function createReplicaClient(options: ReplicaClientOptions = {}) {
  const agent = clusterAgent({ keepAlive: true, maxSockets: 64 });
  const idle = options.idleTimeoutMs ?? 15_000;

  /** A body with `content-length` in `headers` is sent as is (no chunked framing). */
  function call(address: string, method: string, path: string, headers: Record<string, string> = {}, body?: Readable): Promise<IncomingMessage> {
    const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
    return new Promise((resolve, reject) => {
      // The process's token (a node's join token) authenticates it to the other node's replica API.
      const token = defaultToken();
      const auth: Record<string, string> = token !== undefined ? { authorization: `Bearer ${token}` } : {};
      const req = request({ host: host.replace(/^\[|\]$/g, ''), port, method, path, agent, headers: { ...headers, ...auth, ...(body === undefined ? { 'content-length': '0' } : { 'content-type': 'application/octet-stream' }) } }, resolve);
      req.setTimeout(idle, () => req.destroy(new FlotillaError(Code.DEADLINE_EXCEEDED, `${method} ${path} to ${address}: no progress for ${idle} ms`)));
      req.once('error', (e) => reject(FlotillaError.from(e, Code.UNAVAILABLE)));
      if (body === undefined) req.end();
      else {
        body.once('error', (e) => req.destroy(e));
        body.pipe(req);
      }
    });
  }
  const enc = encodeURIComponent;

  return {
    /** Phase 1 of a two-phase write (see replica-routes.ts): the body, staged unpublished on `node`. */
    async stage(node: string, address: string, blob: string, body: Readable, expect: WriteExpectations): Promise<{ stage: string; size: number; sha256?: string; crc32?: string }> {
      const length: Record<string, string> = expect.size !== undefined ? { 'content-length': String(expect.size) } : {};
      const res = await call(address, 'PUT', `/internal/objects/blobs/${enc(blob)}`, { 'x-flotilla-expect': metaHeader({ ...(expect.size !== undefined ? { size: expect.size } : {}), ...(expect.verify !== undefined ? { verify: expect.verify } : {}) }), ...length }, body);
      if (res.statusCode !== 200) throw await failure(res, node, 'write');
      return JSON.parse(await readText(res)) as { stage: string; size: number; sha256?: string; crc32?: string };
    },
    /** Phase 2: publishes a staged write with its final metadata. */
    async commit(node: string, address: string, stage: string, meta: StoredMeta): Promise<StoredMeta> {
      const res = await call(address, 'POST', `/internal/objects/stages/${enc(stage)}/commit`, { 'x-flotilla-meta': metaHeader(meta) });
      if (res.statusCode !== 200) throw await failure(res, node, 'commit');
      return JSON.parse(await readText(res)) as StoredMeta;
    },
    /** Drops a staged write. */
    async abort(node: string, address: string, stage: string): Promise<void> {
      const res = await call(address, 'DELETE', `/internal/objects/stages/${enc(stage)}`);
      if (res.statusCode !== 200) throw await failure(res, node, 'abort');
      res.resume();
    },
    /** Removes `node`'s replica of `blob` if it holds `version` (a commit whose quorum failed). */
    async revert(node: string, address: string, blob: string, version: string): Promise<void> {
      const res = await call(address, 'POST', `/internal/objects/revert/${enc(blob)}?version=${enc(version)}`);
      if (res.statusCode !== 200) throw await failure(res, node, 'revert');
      res.resume();
    },
    async read(node: string, address: string, blob: string, range?: { start: number; end: number }): Promise<{ meta: StoredMeta; body: Readable }> {
      const q = range !== undefined ? `?start=${range.start}&end=${range.end}` : '';
      const res = await call(address, 'GET', `/internal/objects/blobs/${enc(blob)}${q}`);
      if (res.statusCode !== 200) throw await failure(res, node, 'read');
      return { meta: parseMetaHeader<StoredMeta>(res.headers['x-flotilla-meta']), body: res };
    },
    async head(node: string, address: string, blob: string): Promise<StoredMeta | undefined> {
      const res = await call(address, 'GET', `/internal/objects/heads/${enc(blob)}`);
      if (res.statusCode === 404) {
        res.resume();
        return undefined;
      }
      if (res.statusCode !== 200) throw await failure(res, node, 'head');
      return JSON.parse(await readText(res)) as StoredMeta;
    },
    async remove(node: string, address: string, blob: string): Promise<void> {
      const res = await call(address, 'DELETE', `/internal/objects/blobs/${enc(blob)}`);
      if (res.statusCode !== 200) throw await failure(res, node, 'delete');
      res.resume();
    },
    async reportDamaged(address: string, blob: string): Promise<void> {
      const res = await call(address, 'POST', `/internal/objects/damaged/${enc(blob)}`);
      res.resume();
    },
    async *inventory(node: string, address: string): AsyncIterable<{ blob: string; version: string; kind: string }> {
      const res = await call(address, 'GET', '/internal/objects/inventory');
      if (res.statusCode !== 200) throw await failure(res, node, 'inventory');
      let rest = '';
      for await (const c of res.setEncoding('utf8')) {
        rest += c as string;
        let i;
        while ((i = rest.indexOf('\n')) >= 0) {
          yield JSON.parse(rest.slice(0, i)) as { blob: string; version: string; kind: string };
          rest = rest.slice(i + 1);
        }
      }
    },
    async list(node: string, address: string, q: { bucket: string; prefix: string; delimiter: string; after: string; limit: number }): Promise<{ items: LocalListItem[]; more: boolean }> {
      const qs = new URLSearchParams({ bucket: q.bucket, prefix: q.prefix, delimiter: q.delimiter, after: q.after, limit: String(q.limit) });
      const res = await call(address, 'GET', `/internal/objects/list?${qs.toString()}`);
      if (res.statusCode !== 200) throw await failure(res, node, 'list');
      return JSON.parse(await readText(res)) as { items: LocalListItem[]; more: boolean };
    },
    close(): void {
      agent.destroy();
    },
  };
}
