/**
 * The file transfer endpoints of XFER-1/2 on their own port (default 5001):
 *   curl -X POST -F 'file=@<filename>' HOST:5001/upload
 *   curl -X POST -F 'name=<filename>' HOST:5001/download > <filename>
 * Files live in the bucket `files` (policy replicated-3, XFER-3; created on first use) under their plain
 * name (checkFileName: no "/", no "..", at most 255 bytes). Uploads stream from the request through the
 * multipart parser into the store; a truncated upload stores nothing. Errors are one line of text.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { Code, FlotillaError } from '../../core/errors.js';
import { requireHostPort } from '../../core/address.js';
import { silentLogger, type Logger } from '../../core/log.js';
import { DEFAULT_POLICY, checkFileName } from '../store/names.js';
import type { ObjectService } from '../object-service.js';
import { boundaryOf, parseMultipart } from './multipart-parser.js';

export const FILES_BUCKET = 'files';

export interface XferServerOptions {
  /** host:port. */
  listen: string;
  service: () => ObjectService;
  logger?: Logger;
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
      const meta = await o.service().putObject({ bucket: FILES_BUCKET, key: part.filename, body: part.body, contentType: part.contentType ?? 'application/octet-stream' });
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
    const route = req.method === 'POST' && path === '/upload' ? upload : req.method === 'POST' && path === '/download' ? download : undefined;
    const run = route !== undefined ? route(req, res) : Promise.reject(new FlotillaError(Code.NOT_FOUND, 'use POST /upload or POST /download'));
    run.catch((err: unknown) => {
      const e = FlotillaError.from(err);
      if (e.code === Code.INTERNAL) logger.error({ err }, 'file transfer failed');
      else logger.warn({ route: path, err: e.message }, `file transfer ${path ?? ''} failed: ${req.complete ? e.rawMessage : `the client went away before the body was complete (${e.rawMessage}); nothing was stored`}`);
      if (!res.headersSent) {
        res.writeHead(e.toProblem().status, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' }).end(`error: ${e.code === Code.INTERNAL ? 'internal error' : e.rawMessage}\n`);
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
      const s = createServer(handle);
      server = s;
      s.on('connection', (sock) => {
        sockets.add(sock);
        sock.once('close', () => sockets.delete(sock));
      });
      await new Promise<void>((res, rej) => {
        s.once('error', (e) => rej(FlotillaError.from(e)));
        s.listen(port, host, () => res());
      });
      logger.info({ address: `${host}:${this.port}` }, `file transfer on ${host}:${this.port} (POST /upload, POST /download)`);
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
