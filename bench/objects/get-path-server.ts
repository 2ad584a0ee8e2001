/**
 * The server of `bench objects --part path` (get-path.ts), a child process: one 64 MiB blob in a directory
 * backend (the nodes' own code), served by Fastify the ways a GET could answer, plus the plain loopback
 * stream on a TCP port. Sends its ports to the parent over IPC; exits when the parent goes.
 */
import { createReadStream } from 'node:fs';
import { createServer } from 'node:net';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import { createDirBackend } from '../../src/objects/backends/index.js';
import { bodyCheckFor, VerifyingStream } from '../../src/objects/store/streams.js';

const [dir, sizeArg] = process.argv.slice(2) as [string, string];
const size = Number(sizeArg);
const backend = createDirBackend({ path: dir });
await backend.start();
let crc = '';
await backend.put('blob', Readable.from([randomBytes(size)]), { digests: { sha256: true, md5: false, crc32: true }, finish: (w) => ((crc = w.crc32 ?? ''), JSON.stringify({ crc32: w.crc32, sha256: w.sha256 })) });
const meta = { sha256: '', crc32: crc };
const file = `${dir}/blobs/blob~`;
const damaged = (): void => undefined;

const app = Fastify();
const headers = { 'content-type': 'application/octet-stream', 'content-length': String(size) };
// Now: the backend's one-stage reader, checked in its read loop, through reply.send.
app.get('/send-fused', async (_req, reply) => {
  const r = await backend.get('blob', undefined, { check: () => bodyCheckFor(meta, damaged) });
  return reply.headers(headers).send(r.body);
});
// The same reader, unchecked (what the CRC32 costs).
app.get('/send-unchecked', async (_req, reply) => reply.headers(headers).send((await backend.get('blob')).body));
// Before: a 1 MiB fs read stream piped through a VerifyingStream (Transform), through reply.send.
app.get('/send-transform', async (_req, reply) => {
  const v = new VerifyingStream(meta, damaged);
  return reply.headers(headers).send(createReadStream(file, { start: 0, end: size - 1, highWaterMark: 1024 * 1024 }).pipe(v));
});
// The fused reader piped to reply.raw directly (Fastify's reply path skipped).
app.get('/raw-fused', async (_req, reply) => {
  const r = await backend.get('blob', undefined, { check: () => bodyCheckFor(meta, damaged) });
  reply.hijack();
  reply.raw.writeHead(200, headers);
  r.body.pipe(reply.raw);
});
await app.listen({ host: '127.0.0.1', port: 0 });
const net = createServer((s) => {
  const r = createReadStream(file, { start: 0, end: size - 1, highWaterMark: 1024 * 1024 });
  r.pipe(s);
  s.on('error', () => r.destroy());
});
await new Promise<void>((res) => net.listen(0, '127.0.0.1', res));
const port = (a: unknown): number => (a as { port: number }).port;
process.send!({ http: port(app.server.address()), net: port(net.address()) });
process.on('disconnect', () => process.exit(0));
