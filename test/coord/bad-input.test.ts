// Bad input to the embedded store, over raw HTTP/2 gRPC frames and through the etcd3 client: each case gets
// the gRPC status real etcd 3.4 answers (both stores are asked and must agree), and the store keeps serving.
import assert from 'node:assert/strict';
import { connect, constants } from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { Code, FlotillaError } from '../../src/core/errors.js';
import type { Coord } from '../../src/coord/coord.js';
import { createCoord } from '../../src/coord/etcd-coord.js';
import type { Cleanup, CoordProcess } from '../testkit/index.js';
import { startEmbeddedCoord, startEtcd } from '../testkit/index.js';

// --- a minimal protobuf writer (varint and length-delimited fields are all these requests need) ---
function varint(n: bigint): Buffer {
  const out: number[] = [];
  let v = BigInt.asUintN(64, n);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return Buffer.from(out);
}
const fieldBytes = (no: number, b: Buffer): Buffer => Buffer.concat([varint(BigInt((no << 3) | 2)), varint(BigInt(b.length)), b]);
const fieldInt = (no: number, n: bigint): Buffer => Buffer.concat([varint(BigInt(no << 3)), varint(n)]);

/** A gRPC length-prefixed message frame. */
function frame(message: Buffer, opts: { compressed?: boolean; declaredLength?: number } = {}): Buffer {
  const head = Buffer.alloc(5);
  head[0] = opts.compressed === true ? 1 : 0;
  head.writeUInt32BE(opts.declaredLength ?? message.length, 1);
  return Buffer.concat([head, message]);
}

interface GrpcAnswer {
  status: number;
  message: string;
  messages: number;
}

/** One raw gRPC call over HTTP/2: POST `path` with `body` (already framed), read grpc-status. */
async function rawCall(endpoint: string, path: string, body: Buffer, headers: Record<string, string> = {}): Promise<GrpcAnswer> {
  const session = connect(`http://${endpoint}`);
  session.on('error', () => undefined);
  try {
    return await new Promise<GrpcAnswer>((resolve, reject) => {
      const req = session.request({
        [constants.HTTP2_HEADER_METHOD]: 'POST',
        [constants.HTTP2_HEADER_PATH]: path,
        'content-type': 'application/grpc',
        te: 'trailers',
        ...headers,
      });
      const timer = setTimeout(() => {
        req.close();
        reject(new Error(`${path}: no answer in 10 s`));
      }, 10_000);
      let status: number | undefined;
      let httpStatus: unknown;
      let message = '';
      let bytes = 0;
      const take = (h: Record<string, unknown>): void => {
        if (h['grpc-status'] !== undefined) status = Number(h['grpc-status']);
        if (typeof h['grpc-message'] === 'string') message = decodeURIComponent(h['grpc-message']);
      };
      req.on('response', (h) => {
        httpStatus = h[':status'];
        take(h);
      });
      req.on('trailers', take);
      req.on('data', (d: Buffer) => (bytes += d.length));
      req.on('error', (err: Error) => {
        clearTimeout(timer);
        reject(err);
      });
      req.on('close', () => {
        clearTimeout(timer);
        // No grpc-status at all is not a gRPC answer; reported as -1 so the comparison shows it.
        if (status === undefined) resolve({ status: -1, message: `no grpc-status (HTTP ${String(httpStatus)}, RST ${req.rstCode})`, messages: bytes });
        else resolve({ status, message, messages: bytes });
      });
      req.end(body);
    });
  } finally {
    session.close();
  }
}

const RANGE = '/etcdserverpb.KV/Range';
const PUT = '/etcdserverpb.KV/Put';

describe('bad input to the embedded store gets the error code real etcd gives, and the store keeps serving', () => {
  const cleanups: (() => unknown)[] = [];
  const owner: Cleanup = { after: (fn) => void cleanups.push(fn), passed: false };
  let etcd: CoordProcess;
  let embedded: CoordProcess;
  let etcdCoord: Coord;
  let ourCoord: Coord;

  before(async () => {
    [etcd, embedded] = await Promise.all([startEtcd({ t: owner }), startEmbeddedCoord({ t: owner })]);
    etcdCoord = await createCoord({ endpoints: [etcd.endpoint] });
    ourCoord = await createCoord({ endpoints: [embedded.endpoint] });
  });
  after(async () => {
    await etcdCoord?.close();
    await ourCoord?.close();
    for (const fn of cleanups.reverse()) await fn();
  });

  async function stillServes(): Promise<void> {
    assert.ok(embedded.running, 'the store process is still running');
    const w = await ourCoord.put('/bad/alive', String(Date.now()));
    assert.equal((await ourCoord.get('/bad/alive'))?.modRevision, w.revision);
  }

  const rawCases: { name: string; path: string; body: () => Buffer; headers?: Record<string, string>; expect: number }[] = [
    { name: 'protobuf garbage', path: RANGE, body: () => frame(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01])), expect: 13 },
    { name: 'a field with a wrong wire type', path: RANGE, body: () => frame(Buffer.from([0x0d, 1, 2, 3, 4])), expect: 13 },
    { name: 'a length-delimited field longer than the message', path: PUT, body: () => frame(Buffer.from([0x0a, 0x7f, 0x61])), expect: 13 },
    { name: 'a frame shorter than its declared length', path: RANGE, body: () => frame(fieldBytes(1, Buffer.from('k')), { declaredLength: 100 }), expect: 2 },
    { name: 'a compressed frame without grpc-encoding', path: RANGE, body: () => frame(fieldBytes(1, Buffer.from('k')), { compressed: true }), expect: 13 },
    { name: 'an unknown method', path: '/etcdserverpb.KV/Nope', body: () => frame(Buffer.alloc(0)), expect: 12 },
    { name: 'an unknown service', path: '/nope.Nope/Range', body: () => frame(Buffer.alloc(0)), expect: 12 },
    { name: 'a put with an empty key', path: PUT, body: () => frame(fieldBytes(2, Buffer.from('v'))), expect: 3 },
    { name: 'a range with an empty key', path: RANGE, body: () => frame(Buffer.alloc(0)), expect: 3 },
    {
      name: 'a put on an unknown lease',
      path: PUT,
      body: () => frame(Buffer.concat([fieldBytes(1, Buffer.from('/bad/lease')), fieldBytes(2, Buffer.from('v')), fieldInt(3, 0x1234567n)])),
      expect: 5,
    },
    { name: 'a revoke of an unknown lease', path: '/etcdserverpb.Lease/LeaseRevoke', body: () => frame(fieldInt(1, 0x7654321n)), expect: 5 },
    {
      name: 'a range at a future revision',
      path: RANGE,
      body: () => frame(Buffer.concat([fieldBytes(1, Buffer.from('/bad/k')), fieldInt(4, 1_000_000_000n)])),
      expect: 11,
    },
    {
      name: 'a 1.6 MiB value (over the 1.5 MiB request limit)',
      path: PUT,
      body: () => frame(Buffer.concat([fieldBytes(1, Buffer.from('/bad/big')), fieldBytes(2, Buffer.alloc(1.6 * 1024 * 1024, 0x61))])),
      expect: 3,
    },
    {
      name: 'a 3 MiB value (over the gRPC message limit)',
      path: PUT,
      body: () => frame(Buffer.concat([fieldBytes(1, Buffer.from('/bad/huge')), fieldBytes(2, Buffer.alloc(3 * 1024 * 1024, 0x61))])),
      expect: 8,
    },
  ];

  for (const c of rawCases) {
    test(`raw gRPC: ${c.name}`, async () => {
      const real = await rawCall(etcd.endpoint, c.path, c.body(), c.headers);
      assert.equal(real.status, c.expect, `real etcd answered ${real.status} (${real.message}); the case expects ${c.expect}`);
      const ours = await rawCall(embedded.endpoint, c.path, c.body(), c.headers);
      assert.equal(ours.status, real.status, `embedded answered ${ours.status} (${ours.message}); real etcd answered ${real.status} (${real.message})`);
      await stillServes();
    });
  }

  test('cancelling a watch stream leaves the HTTP/2 connection serving other calls', async () => {
    for (const store of [etcd, embedded]) {
      const session = connect(`http://${store.endpoint}`);
      let goaway = false;
      session.on('goaway', () => (goaway = true));
      session.on('error', () => undefined);
      try {
        const watch = session.request({ ':method': 'POST', ':path': '/etcdserverpb.Watch/Watch', 'content-type': 'application/grpc', te: 'trailers' });
        watch.on('error', () => undefined);
        // WatchRequest{create_request(1): WatchCreateRequest{key(1): "/bad/w"}}
        watch.write(frame(fieldBytes(1, fieldBytes(1, Buffer.from('/bad/w')))));
        await new Promise<void>((resolve) => watch.once('data', () => resolve()));
        watch.close(constants.NGHTTP2_CANCEL);
        await new Promise((r) => setTimeout(r, 200));
        const range = await new Promise<number>((resolve, reject) => {
          const req = session.request({ ':method': 'POST', ':path': RANGE, 'content-type': 'application/grpc', te: 'trailers' });
          let status = -1;
          req.on('response', (h) => h['grpc-status'] !== undefined && (status = Number(h['grpc-status'])));
          req.on('trailers', (h) => h['grpc-status'] !== undefined && (status = Number(h['grpc-status'])));
          req.on('data', () => undefined);
          req.on('error', reject);
          req.on('close', () => resolve(status));
          req.end(frame(fieldBytes(1, Buffer.from('/bad/w'))));
        });
        assert.equal(goaway, false, `${store.name} sent GOAWAY after a watch stream was cancelled`);
        assert.equal(range, 0, `${store.name}: a Range on the same connection after the cancel`);
      } finally {
        session.close();
      }
    }
  });

  test('etcd3 client: empty key, oversized value, unknown lease, compacted watch', async () => {
    for (const [name, coord] of [
      ['etcd', etcdCoord],
      ['embedded', ourCoord],
    ] as const) {
      const codeOf = async (p: Promise<unknown>): Promise<string> => {
        try {
          await p;
          return 'OK';
        } catch (err) {
          assert.ok(err instanceof FlotillaError, `${name}: ${String(err)}`);
          return err.code;
        }
      };
      assert.equal(await codeOf(coord.put('', 'v')), Code.INVALID_ARGUMENT, `${name}: empty key`);
      assert.equal(await codeOf(coord.put('/bad/big', Buffer.alloc(1.6 * 1024 * 1024))), Code.INVALID_ARGUMENT, `${name}: 1.6 MiB value`);
      assert.equal(await coord.get('/bad/big'), undefined, `${name}: nothing partial written`);
      assert.equal(await codeOf(coord.put('/bad/l', 'v', { lease: '98765' })), Code.COORD_LEASE_NOT_FOUND, `${name}: unknown lease`);
      assert.equal(await codeOf(coord.get('/bad/k', { revision: 1_000_000 })), Code.COORD_FUTURE_REV, `${name}: future revision`);
      const w1 = await coord.put('/bad/c', '1');
      const w2 = await coord.put('/bad/c', '2');
      await coord.compact(w2.revision);
      assert.equal(await codeOf(coord.compact(w1.revision)), Code.COORD_COMPACTED, `${name}: compact below the compacted revision`);
      const watch = coord.watch({ key: '/bad/c', fromRevision: w1.revision });
      const err = await new Promise<FlotillaError>((resolve) => watch.on('watch:error', resolve));
      assert.equal(err.code, Code.COORD_COMPACTED, `${name}: watch from a compacted revision`);
      assert.equal(err.details?.compactRevision, w2.revision);
    }
    await stillServes();
  });
});
