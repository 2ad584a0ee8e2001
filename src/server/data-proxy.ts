/**
 * The server's door to the data APIs that live on the nodes, so that the dashboard (served by the
 * server) reaches them on its own origin:
 *
 *   /api/v1/kv/...        the nodes' KV routes, forwarded to a live node with the `kv` role
 *   /api/v1/objects/...   the nodes' object routes, forwarded to a live node with the `objects` role
 *   GET /api/v1/kv/replicas/:key   answered here: each primary replica of the key on the `kv` ring, read
 *                                  directly (KvReplicaService.Read), with its version and state
 *
 * A live node is ACTIVE and registered in the server's membership view, with the role and an HTTP
 * address. Nodes are tried in turn (round robin); one that does not accept the connection is skipped
 * and the next is tried. Bodies are streamed both ways, never buffered: the request body is piped only
 * once the connection to a node is up, so a refused connection never consumes it. When no node is live,
 * or none accepts, the answer is 503 problem+json naming what was tried. The answering node is named in
 * the `x-flotilla-node` response header. With TLS on (core/tls.ts) nodes are reached over HTTPS with the
 * server's certificate, trusting only the cluster CA.
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { clusterAgent, clusterRequest } from '../core/tls.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { create } from '@bufbuild/protobuf';
import { dialableAddress, parseHostPort } from '../core/address.js';
import { Code, FlotillaError } from '../core/errors.js';
import { compareHlc, formatHlc, type HlcTimestamp } from '../core/hlc.js';
import type { Component } from '../core/lifecycle.js';
import type { MembershipView, Ring } from '../cluster/index.js';
import { checkKey, createKvClients, placementFromRing } from '../kv/index.js';
import { ReadRequestSchema, type KvEntry } from '../gen/flotilla/v1/kv_pb.js';

export interface DataProxyOptions {
  /** The server's membership view (undefined before it starts). */
  view: () => MembershipView | undefined;
  /** The ring held under `name` (the server's ring watcher). */
  ring: (name: string) => Ring | undefined;
  /** How long to wait for a node to accept the connection before trying the next. Default 2000 ms. */
  connectTimeoutMs?: number;
  /** Deadline of one replica read for /api/v1/kv/replicas. Default 3000 ms. */
  replicaTimeoutMs?: number;
}

/** A lifecycle component: stop() closes the connections to the nodes. */
export type DataProxy = Component;

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);

function forwardHeaders(h: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  return out;
}

interface Target {
  name: string;
  host: string;
  port: number;
}

/** Thrown when a node did not take the request (connection refused, timed out, reset before any byte of the body went out). */
class NotTaken extends Error {}

/** A replica's answer, from the wire message (kv.proto's KvEntry). */
interface ReplicaEntry {
  version: HlcTimestamp;
  tombstone: boolean;
  valueBytes: number;
  expiresAtMs: number;
}

function replicaEntry(m: KvEntry): ReplicaEntry {
  const v = m.version;
  return {
    version: v === undefined ? { wallMs: 0, logical: 0, node: '' } : { wallMs: Number(v.wallMs), logical: v.logical, node: v.node },
    tombstone: m.tombstone,
    valueBytes: m.value.length,
    expiresAtMs: Number(m.expiresAtMs),
  };
}

type Method = 'GET' | 'HEAD' | 'PUT' | 'DELETE';

/** The nodes' KV and object routes the server forwards: role, URL pattern, methods. */
const NODE_ROUTES: readonly (readonly [role: string, url: string, methods: readonly Method[]])[] = [
  ['kv', '/api/v1/kv/keys/:key', ['GET', 'HEAD', 'PUT', 'DELETE']],
  ['kv', '/api/v1/kv/scan', ['GET', 'HEAD']],
  ['kv', '/api/v1/kv/health', ['GET', 'HEAD']],
  ['objects', '/api/v1/objects/policies', ['GET', 'HEAD']],
  ['objects', '/api/v1/objects/buckets', ['GET', 'HEAD']],
  ['objects', '/api/v1/objects/buckets/:bucket', ['PUT', 'DELETE']],
  ['objects', '/api/v1/objects/buckets/:bucket/objects', ['GET', 'HEAD']],
  ['objects', '/api/v1/objects/buckets/:bucket/objects/*', ['GET', 'HEAD', 'PUT', 'DELETE']],
];

export function registerDataProxy(app: FastifyInstance, options: DataProxyOptions): DataProxy {
  const connectTimeoutMs = options.connectTimeoutMs ?? 2000;
  const replicaTimeoutMs = options.replicaTimeoutMs ?? 3000;
  const agent = clusterAgent({ keepAlive: true, maxSockets: 64 });
  const kvClients = createKvClients({ timeoutMs: replicaTimeoutMs });
  const next: Record<string, number> = {};

  function liveNodes(role: string): Target[] {
    const members = options.view()?.members() ?? [];
    const live: Target[] = [];
    for (const m of members) {
      if (m.status !== 'ACTIVE' || !m.registered || !m.record.roles.includes(role) || m.record.httpAddress === '') continue;
      const p = parseHostPort(dialableAddress(m.record.httpAddress));
      if (p.error !== undefined) continue;
      live.push({ name: m.record.name, host: p.host, port: p.port });
    }
    // Round robin: each request starts one node further.
    const start = live.length === 0 ? 0 : (next[role] = ((next[role] ?? -1) + 1) % live.length);
    return [...live.slice(start), ...live.slice(0, start)];
  }

  /** Sends the request to `t`; resolves with its response, or rejects with NotTaken when `t` did not take it. */
  function attempt(t: Target, req: FastifyRequest, hasBody: boolean): Promise<IncomingMessage> {
    return new Promise<IncomingMessage>((resolve, reject) => {
      let bodySent = false;
      const headers = forwardHeaders(req.headers);
      headers['x-forwarded-for'] = req.ip;
      // A body that is not forwarded (GET, HEAD) is not announced either: the node would wait for it.
      if (!hasBody) {
        delete headers['content-length'];
        delete headers['content-type'];
      }
      // A body goes on a new connection: one that is known to be up when the first byte is sent (a kept-alive
      // socket may have been closed by the node meanwhile, and the body could not be sent again).
      const out = clusterRequest({ host: t.host, port: t.port, method: req.method, path: req.raw.url, headers, agent: hasBody ? false : agent });
      const timer = setTimeout(() => out.destroy(new NotTaken(`${t.name} did not accept a connection within ${connectTimeoutMs} ms`)), connectTimeoutMs);
      const send = (): void => {
        clearTimeout(timer);
        if (!hasBody) {
          out.end();
          return;
        }
        bodySent = true;
        req.raw.pipe(out);
        // The client went away mid-upload: the node gets a cut body and stores nothing.
        req.raw.once('close', () => {
          if (!req.raw.complete) out.destroy();
        });
      };
      out.once('socket', (socket) => {
        // Over TLS the body waits for the handshake: a node refusing it has then taken nothing.
        const tls = (socket as { encrypted?: boolean }).encrypted === true;
        if (tls && (socket.connecting || (socket as { authorized?: boolean }).authorized !== true)) socket.once('secureConnect', send);
        else if (socket.connecting) socket.once('connect', send);
        else send();
      });
      out.once('response', (res) => {
        clearTimeout(timer);
        resolve(res);
      });
      // on, not once: an error after the answer began (the promise is settled then) must not go unhandled.
      out.on('error', (err: Error) => {
        clearTimeout(timer);
        if (err instanceof NotTaken) reject(err);
        // Nothing of the body went out (or there is none): another node can take the request whole.
        else if (!bodySent) reject(new NotTaken(`${t.name}: ${err.message}`));
        else reject(new FlotillaError(Code.UNAVAILABLE, `node ${t.name} failed while taking the request: ${err.message}`));
      });
    });
  }

  async function forward(role: string, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const targets = liveNodes(role);
    if (targets.length === 0) {
      req.raw.resume();
      throw new FlotillaError(Code.UNAVAILABLE, `no live node with the ${role} role: none is ACTIVE in the server's membership view`, { details: { reason: 'no_live_node', role } });
    }
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD' && (req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0);
    const refused: string[] = [];
    for (const t of targets) {
      let res: IncomingMessage;
      try {
        res = await attempt(t, req, hasBody);
      } catch (err) {
        if (err instanceof NotTaken) {
          refused.push(err.message);
          req.log.warn({ node: t.name, err: err.message }, `proxy: node ${t.name} did not take the request; trying the next`);
          continue;
        }
        throw err;
      }
      reply.raw.once('close', () => {
        if (!res.complete) res.destroy();
      });
      return reply
        .status(res.statusCode ?? 502)
        .headers({ ...forwardHeaders(res.headers), 'x-flotilla-node': t.name })
        .send(res);
    }
    req.raw.resume();
    throw new FlotillaError(Code.UNAVAILABLE, `no node with the ${role} role took the request: ${refused.join('; ')}`, { details: { reason: 'no_live_node', role, tried: targets.map((t) => t.name) } });
  }

  async function kvReplicas(keyText: string, encoding: string | undefined): Promise<Record<string, unknown>> {
    if (encoding !== undefined && encoding !== 'utf8' && encoding !== 'base64') throw new FlotillaError(Code.INVALID_ARGUMENT, `unknown encoding ${JSON.stringify(encoding)}: use utf8 or base64`);
    const key = encoding === 'base64' ? Buffer.from(keyText, 'base64') : Buffer.from(keyText, 'utf8');
    checkKey(key);
    const ring = options.ring('kv');
    if (ring === undefined) throw new FlotillaError(Code.FAILED_PRECONDITION, 'the kv ring does not exist yet: build it (flotilla ring build kv --from-members --role kv, or the cluster page)');
    const placement = placementFromRing(ring);
    const partition = placement.partitionForKey(key);
    const view = options.view();
    const now = Date.now();
    const answers = await Promise.all(
      placement.primaries(partition).map(async (node): Promise<{ node: string; state: string; entry?: ReplicaEntry }> => {
        const m = view?.member(node);
        if (m === undefined || m.status !== 'ACTIVE' || !m.registered) return { node, state: 'node down' };
        try {
          const res = await kvClients.replica(dialableAddress(m.record.peerAddress)).read(create(ReadRequestSchema, { keys: [key] }), { timeoutMs: replicaTimeoutMs });
          const r = res.results[0];
          if (r === undefined || !r.found || r.entry === undefined) return { node, state: 'missing' };
          const entry = replicaEntry(r.entry);
          return { node, state: entry.tombstone ? 'deleted' : entry.expiresAtMs > 0 && entry.expiresAtMs <= now ? 'expired' : 'ok', entry };
        } catch (err) {
          return { node, state: `error: ${FlotillaError.from(err).rawMessage}` };
        }
      }),
    );
    let newest: ReplicaEntry | undefined;
    for (const a of answers) if (a.entry !== undefined && (newest === undefined || compareHlc(a.entry.version, newest.version) > 0)) newest = a.entry;
    return {
      key: keyText,
      ring: 'kv',
      ringVersion: ring.version,
      partition,
      newestVersion: newest === undefined ? null : formatHlc(newest.version),
      replicas: answers.map((a) => ({
        node: a.node,
        state: a.state,
        version: a.entry === undefined ? null : formatHlc(a.entry.version),
        current: a.entry !== undefined && newest !== undefined && compareHlc(a.entry.version, newest.version) === 0,
        valueBytes: a.entry === undefined || a.entry.tombstone ? null : a.entry.valueBytes,
        expiresAtMs: a.entry?.expiresAtMs ?? 0,
      })),
    };
  }

  void app.register(async (scope) => {
    // Bodies are not parsed here: they stream to the node.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));
    scope.get<{ Params: { key: string }; Querystring: { encoding?: string } }>('/api/v1/kv/replicas/:key', async (req) => kvReplicas(req.params.key, req.query.encoding));
    // Exactly the nodes' routes (src/kv/http-routes.ts, src/objects/http-routes.ts): any other path is this
    // server's 404, never a request a node would take for its S3 API.
    for (const [role, url, methods] of NODE_ROUTES) {
      scope.route({ method: [...methods], url, exposeHeadRoute: false, handler: (req, reply) => forward(role, req, reply) });
    }
  });

  return {
    name: 'data-proxy',
    start: async () => undefined,
    async stop() {
      agent.destroy();
      kvClients.close();
    },
  };
}
