/**
 * The file transfer endpoints of XFER-1/2 on their own port (default 5001):
 *   curl -X POST -F 'file=@<filename>' HOST:5001/upload
 *   curl -X POST -F 'name=<filename>' HOST:5001/download > <filename>
 * Files live in the bucket `files` (policy replicated-3, XFER-3; created on first use) under their plain
 * name (checkFileName: no "/", no "..", at most 255 bytes). Uploads stream from the request through the
 * multipart parser into the store; a truncated upload stores nothing. Errors are one line of text.
 *
 * With the process's TLS (core/tls.ts) the port serves HTTPS (client certificate optional). With `tokens`
 * (authentication on) every request needs an API token (Authorization: Bearer): /download the reader
 * role, /upload the operator role, and a scoped token the `objects` scope; the cluster's join token may
 * do both (node-to-node use). A refusal is 401/403 with one line of text, before any body is read.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { Code, FlotillaError } from '../../core/errors.js';
import { requireHostPort } from '../../core/address.js';
import { silentLogger, type Logger } from '../../core/log.js';
import { DEFAULT_POLICY, checkFileName } from '../store/names.js';
import type { ObjectService } from '../object-service.js';
import { boundaryOf, parseMultipart } from './multipart-parser.js';
import { processTls, type ProcessTls } from '../../core/tls.js';
import { authorize, bearerOf, type Requirement, type TokenVerifier } from '../../auth/index.js';

export const FILES_BUCKET = 'files';

export interface XferServerOptions {
  /** host:port. */
  listen: string;
  service: () => ObjectService;
  logger?: Logger;
  /** Authentication: the tokens a request's bearer token is checked against (undefined while they load). Default: no check. */
  tokens?: () => TokenVerifier | undefined;
  /** TLS: HTTPS with this material; null: plain HTTP. Default: the process's (core/tls.ts processTls()), when it has a certificate. */
  tls?: ProcessTls | null;
}

/** The transfer port's routes and what each needs (the route-enumeration test walks this list). */
export const XFER_ROUTES: readonly { method: 'POST'; path: '/upload' | '/download'; need: Exclude<Requirement, { public: true }> }[] = [
  { method: 'POST', path: '/upload', need: { role: 'operator', scope: 'objects' } },
  { method: 'POST', path: '/download', need: { role: 'reader', scope: 'objects' } },
];

function checkToken(tokens: () => TokenVerifier | undefined, headers: IncomingHttpHeaders, need: Exclude<Requirement, { public: true }>, what: string): void {
  const token = bearerOf(headers.authorization);
  let principal;
  if (token !== undefined) {
    const v = tokens();
    if (v === undefined) throw new FlotillaError(Code.UNAVAILABLE, 'authentication is starting: the token list is not loaded yet');
    principal = v.verify(token);
  }
  authorize(principal, need, what);
}

export interface XferServer {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly port: number;
}

export function createXferServer(o: XferServerOptions): XferServer {
  const logger = o.logger ?? silentLogger();
  let server: Server | undefined;
  let scheme: 'http' | 'https' = 'http';
  const sockets = new Set<Socket>();

  async function ensureBucket(): Promise<void> {
    await o
      .service()
      .createBucket(FILES_BUCKET, { policy: DEFAULT_POLICY })
      .catch((err: unknown) => {
        if (FlotillaError.from(err).code !== Code.ALREADY_EXISTS) throw err;
      });
  }

  async function upload(req: IncomingMessage, res: ServerResponse): Promise<void> {
    await ensureBucket();
    const stored: string[] = [];
    await parseMultipart(req, boundaryOf(req.headers['content-type']), async (part) => {
      if (part.name !== 'file' || part.filename === undefined) {
        part.body.resume();
        return;
      }
      checkFileName(part.filename);
      const meta = await o.service().putObject({ bucket: FILES_BUCKET, key: part.filename, body: part.body, contentType: part.contentType ?? 'application/octet-stream', etag: 'sha256' });
      stored.push(`${meta.key} ${meta.size} bytes sha256 ${meta.sha256}`);
    });
    if (stored.length === 0) throw new FlotillaError(Code.INVALID_ARGUMENT, "no file field: use curl -X POST -F 'file=@<filename>' HOST:5001/upload");
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(stored.map((s) => `uploaded ${s}\n`).join(''));
  }

  async function download(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let name: string | undefined;
    const ct = req.headers['content-type'] ?? '';
    if (/^application\/x-www-form-urlencoded/i.test(ct)) {
      let text = '';
      for await (const c of req) {
        text += (c as Buffer).toString('utf8');
        if (text.length > 8192) throw new FlotillaError(Code.INVALID_ARGUMENT, 'form too large');
      }
      name = new URLSearchParams(text).get('name') ?? undefined;
    } else {
      await parseMultipart(req, boundaryOf(ct), async (part) => {
        let text = '';
        for await (const c of part.body) {
          text += (c as Buffer).toString('utf8');
          if (text.length > 4096) throw new FlotillaError(Code.INVALID_ARGUMENT, 'form field too large');
        }
        if (part.name === 'name') name = text;
      });
    }
    if (name === undefined) throw new FlotillaError(Code.INVALID_ARGUMENT, "no name field: use curl -X POST -F 'name=<filename>' HOST:5001/download");
    checkFileName(name);
    const r = await o.service().getObject({ bucket: FILES_BUCKET, key: name });
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': r.meta.size, 'content-disposition': `attachment; filename*=UTF-8''${encodeURIComponent(name)}` });
    await pipeline(r.body, res);
  }

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '').split('?')[0];
    const known = XFER_ROUTES.find((r) => r.method === req.method && r.path === path);
    const route = known?.path === '/upload' ? upload : known?.path === '/download' ? download : undefined;
    const run = (async (): Promise<void> => {
      // Every request, a route or not, needs a token when authentication is on: probing learns nothing.
      if (o.tokens !== undefined) checkToken(o.tokens, req.headers, known?.need ?? { role: 'reader', scope: 'objects' }, `${req.method ?? ''} ${path ?? ''}`);
      if (route === undefined) throw new FlotillaError(Code.NOT_FOUND, 'use POST /upload or POST /download');
      await route(req, res);
    })();
    run.catch((err: unknown) => {
      const e = FlotillaError.from(err);
      if (e.code === Code.INTERNAL) logger.error({ err }, 'file transfer failed');
      else logger.warn({ route: path, err: e.message }, `file transfer ${path ?? ''} failed: ${req.complete ? e.rawMessage : `the client went away before the body was complete (${e.rawMessage}); nothing was stored`}`);
      if (!res.headersSent) {
        const challenge = e.code === Code.UNAUTHENTICATED ? { 'www-authenticate': 'Bearer realm="flotilla"' } : {};
        res.writeHead(e.toProblem().status, { 'content-type': 'text/plain; charset=utf-8', connection: 'close', ...challenge }).end(`error: ${e.code === Code.INTERNAL ? 'internal error' : e.rawMessage}\n`);
      } else res.destroy();
      req.resume();
    });
  };

  return {
    name: 'xfer',
    get port() {
      return (server?.address() as AddressInfo | null)?.port ?? 0;
    },
    async start() {
      const { host, port } = requireHostPort(o.listen, '--xfer');
      const own = o.tls === null ? undefined : (o.tls ?? processTls());
      const tls = own?.cert !== undefined && own.key !== undefined ? own : undefined;
      const s: Server =
        tls === undefined
          ? createServer(handle)
          : (createHttpsServer({ cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2', handshakeTimeout: 10_000 }, handle));
      // Connection timeouts: headers within 30 s, an idle socket closed after 5 min; a transfer that moves is never cut.
      s.headersTimeout = 30_000;
      s.requestTimeout = 0;
      s.keepAliveTimeout = 65_000;
      s.setTimeout(300_000);
      scheme = tls === undefined ? 'http' : 'https';
      server = s;
      s.on('connection', (sock) => {
        sockets.add(sock);
        sock.once('close', () => sockets.delete(sock));
      });
      await new Promise<void>((res, rej) => {
        s.once('error', (e) => rej(FlotillaError.from(e)));
        s.listen(port, host, () => res());
      });
      logger.info({ address: `${host}:${this.port}` }, `file transfer on ${scheme}://${host}:${this.port} (POST /upload, POST /download${o.tokens !== undefined ? '; API token required' : ''})`);
    },
    async stop() {
      const s = server;
      if (s === undefined) return;
      await new Promise<void>((res) => {
        s.close(() => res());
        for (const sock of sockets) sock.destroy();
      });
    },
  };
}
