/**
 * The unary fast path answers malformed and unroutable gRPC requests as etcd 3.4 (grpc-go 1.26) does.
 * Each expected status and message below was read from real etcd 3.4.23 with the same bytes; the
 * answers are trailers-only (grpc-status in the one HEADERS frame), as grpc-go sends them.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createEmbeddedCoordServer, type EmbeddedCoordServer } from '../../../src/coord/embedded/index.js';

let server: EmbeddedCoordServer;
let dataDir: string;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flotilla-coord-fast-path-'));
  server = createEmbeddedCoordServer({ listen: '127.0.0.1:0', dataDir });
  await server.start();
});

after(async () => {
  await server?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

interface Answer {
  status: string | undefined;
  message: string | undefined;
  trailersOnly: boolean;
  bytes: number;
}

function call(path: string, body: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${server.address}`);
    session.on('error', reject);
    const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
    const answer: Answer = { status: undefined, message: undefined, trailersOnly: false, bytes: 0 };
    const take = (h: http2.IncomingHttpHeaders): void => {
      if (h['grpc-status'] !== undefined) answer.status = h['grpc-status'] as string;
      if (h['grpc-message'] !== undefined) answer.message = decodeURIComponent(h['grpc-message'] as string);
    };
    req.on('response', (h, flags) => {
      answer.trailersOnly = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
      take(h);
    });
    req.on('trailers', take);
    req.on('data', (d: Buffer) => (answer.bytes += d.length));
    req.on('error', reject);
    req.on('close', () => {
      session.close();
      resolve(answer);
    });
    req.end(body);
  });
}

function frame(message: Buffer, declaredLength = message.length): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(declaredLength, 1);
  return Buffer.concat([head, message]);
}

// RangeRequest{key(1): "k"}
const rangeK = Buffer.from([0x0a, 1, 0x6b]);
const RANGE = '/etcdserverpb.KV/Range';

void describe('unary fast path: bad requests get etcd 3.4 answers', () => {
  const cases: { name: string; path: string; body: Buffer; status: string; message: string | undefined }[] = [
    { name: 'an unknown method', path: '/etcdserverpb.KV/Nope', body: frame(Buffer.alloc(0)), status: '12', message: 'unknown method Nope for service etcdserverpb.KV' },
    { name: 'an unknown method of a streaming service', path: '/etcdserverpb.Watch/Nope', body: frame(Buffer.alloc(0)), status: '12', message: 'unknown method Nope for service etcdserverpb.Watch' },
    { name: 'an unknown service', path: '/nope.Nope/Range', body: frame(Buffer.alloc(0)), status: '12', message: 'unknown service nope.Nope' },
    { name: 'a path with extra segments', path: '/a/etcdserverpb.KV/Range', body: frame(Buffer.alloc(0)), status: '12', message: 'unknown service a/etcdserverpb.KV' },
    { name: 'a path without a service', path: '/foo', body: frame(Buffer.alloc(0)), status: '8', message: 'malformed method name: "/foo"' },
    { name: 'no frame at all', path: RANGE, body: Buffer.alloc(0), status: '2', message: 'EOF' },
    { name: 'a partial frame prefix', path: RANGE, body: Buffer.from([0, 0, 0]), status: '2', message: 'unexpected EOF' },
    { name: 'a frame shorter than its declared length', path: RANGE, body: frame(rangeK, 100), status: '2', message: 'unexpected EOF' },
    {
      name: 'a declared length over the receive limit',
      path: RANGE,
      body: frame(rangeK, 0x7fffffff),
      status: '8',
      message: 'grpc: received message larger than max (2147483647 vs. 2097152)',
    },
  ];
  for (const c of cases) {
    void it(`${c.name}: ${c.status} ${c.message ?? ''}`, async () => {
      const answer = await call(c.path, c.body);
      assert.deepEqual(answer, { status: c.status, message: c.message, trailersOnly: true, bytes: 0 });
    });
  }

  void it('bytes after the first message are ignored, as grpc-go reads one message of a unary call', async () => {
    for (const body of [Buffer.concat([frame(rangeK), frame(rangeK)]), Buffer.concat([frame(rangeK), Buffer.from([1, 2])])]) {
      const answer = await call(RANGE, body);
      assert.equal(answer.status, '0');
      assert.ok(answer.bytes > 5, 'one RangeResponse');
    }
  });
});
