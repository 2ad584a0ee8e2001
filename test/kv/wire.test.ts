/**
 * The lean unary gRPC path of the KV services (src/kv/wire): the client against a node's peer server
 * (fast path in front of ConnectRPC), and the client's answers for deadlines, unreachable peers, ports
 * that are not gRPC, and methods the fast path does not serve (ConnectRPC behind it answers).
 */
import assert from 'node:assert/strict';
import { connect, createServer, type ServerHttp2Session } from 'node:http2';
import { describe, it } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import { Code as ConnectCode, ConnectError } from '@connectrpc/connect';
import { callError } from '../../src/core/grpc-client.js';
import { Code, FlotillaError } from '../../src/core/errors.js';
import { createUnaryGrpcHandler } from '../../src/core/grpc-unary-server.js';
import { listenH2c } from '../../src/core/h2c-server.js';
import { silentLogger } from '../../src/core/log.js';
import { GetRequestSchema, GetResponseSchema, GetTreeNodesRequestSchema, KvService, PutRequestSchema } from '../../src/gen/flotilla/v1/kv_pb.js';
import { createKvClients } from '../../src/kv/index.js';
import { UnaryChannel } from '../../src/kv/wire/unary-client.js';
import { freePort } from '../testkit/index.js';
import { startHarness } from './kv-harness.js';

const ctx = { what: 'test call', api: 'the Flotilla peer API', hint: 'is it a node peer port?' };

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ address: string; close: () => Promise<void> }> {
  const server = createServer(handler);
  const sessions = new Set<ServerHttp2Session>();
  server.on('session', (s) => sessions.add(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    address: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('KV lean unary gRPC path', () => {
  it('serves puts and gets through the fast path, with errors as ConnectRPC would give them', async (t) => {
    const h = await startHarness(t);
    const clients = createKvClients({ timeoutMs: 5000 });
    t.after(() => clients.close());
    const kv = clients.kv(h.address('node-a'));
    await kv.put(create(PutRequestSchema, { key: Buffer.from('wire/k'), value: Buffer.from('v1') }));
    const got = await kv.get(create(GetRequestSchema, { key: Buffer.from('wire/k') }));
    assert.equal(got.found, true);
    assert.equal(Buffer.from(got.value).toString(), 'v1');
    assert.equal(got.answered, 2);
    // A FlotillaError crosses the wire with its code in the message.
    const err = await kv.put(create(PutRequestSchema, { key: new Uint8Array(0), value: Buffer.from('x') })).catch((e: unknown) => e);
    assert.ok(err instanceof ConnectError);
    assert.equal(err.code, ConnectCode.InvalidArgument);
    assert.equal(callError(err, { address: h.address('node-a'), ...ctx }).code, 'INVALID_ARGUMENT');
    // A replica method with a bad argument, through the same path.
    const depth = await clients
      .replica(h.address('node-b'))
      .getTreeNodes(create(GetTreeNodesRequestSchema, { ids: [1], depth: 3 }))
      .catch((e: unknown) => e);
    assert.ok(depth instanceof ConnectError && depth.code === ConnectCode.FailedPrecondition, String(depth));
    // A path no KV service has: the fast path passes it on and ConnectRPC answers UNIMPLEMENTED.
    const channel = new UnaryChannel(h.address('node-a'));
    t.after(() => channel.close());
    const unknown = await channel.call('/flotilla.v1.NoSuchService/Nope', new Uint8Array(0)).catch((e: unknown) => e);
    assert.ok(unknown instanceof ConnectError && unknown.code === ConnectCode.Unimplemented, String(unknown));
  });

  it('a peer that does not answer fails the call at its deadline', async (t) => {
    const silent = await listen(() => undefined);
    t.after(() => silent.close());
    const channel = new UnaryChannel(silent.address, { pingTimeoutMs: 500 });
    t.after(() => channel.close());
    const bytes = toBinary(GetRequestSchema, create(GetRequestSchema, { key: Buffer.from('k') }));
    const err = await channel.call('/flotilla.v1.KvService/Get', bytes, { timeoutMs: 300 }).catch((e: unknown) => e);
    assert.ok(err instanceof ConnectError && err.code === ConnectCode.DeadlineExceeded, String(err));
    assert.equal(callError(err, { address: silent.address, ...ctx }).code, 'DEADLINE_EXCEEDED');
    // A cancelled call fails at once.
    const abort = new AbortController();
    const pending = channel.call('/flotilla.v1.KvService/Get', bytes, { timeoutMs: 10_000, signal: abort.signal }).catch((e: unknown) => e);
    abort.abort();
    const cancelled = await pending;
    assert.ok(cancelled instanceof ConnectError && cancelled.code === ConnectCode.Canceled, String(cancelled));
  });

  it('an unreachable address is UNAVAILABLE, an HTTP/2 port that is not gRPC is named as such', async (t) => {
    const port = await freePort();
    const channel = new UnaryChannel(`127.0.0.1:${port}`);
    t.after(() => channel.close());
    const err = await channel.call('/flotilla.v1.KvService/Get', new Uint8Array(0), { timeoutMs: 3000 }).catch((e: unknown) => e);
    assert.ok(err instanceof ConnectError && err.code === ConnectCode.Unavailable, String(err));
    assert.equal(callError(err, { address: `127.0.0.1:${port}`, ...ctx }).code, 'UNAVAILABLE');

    const web = await listen((_req, res) => {
      res.writeHead(404, { 'content-type': 'text/html' });
      res.end('<h1>not here</h1>');
    });
    t.after(() => web.close());
    const other = new UnaryChannel(web.address);
    t.after(() => other.close());
    const notGrpc = await other.call('/flotilla.v1.KvService/Get', new Uint8Array(0)).catch((e: unknown) => e);
    const fe = callError(notGrpc, { address: web.address, ...ctx });
    assert.equal(fe.code, 'FAILED_PRECONDITION', fe.message);
    assert.match(fe.message, /does not serve the Flotilla peer API/);
  });

  it('the raw-stream hook serves KV after authorize (once per stream); refusals and passed-on streams are answered as before', async (t) => {
    const seen: string[] = [];
    let compat = 0;
    const gets: string[] = [];
    const handler = createUnaryGrpcHandler({
      services: [
        {
          service: KvService,
          impl: {
            get: (req: { key: Uint8Array }) => {
              gets.push(Buffer.from(req.key).toString());
              if (req.key.length === 0) return Promise.reject(new ConnectError('[invalid_argument] empty key', ConnectCode.InvalidArgument));
              return Promise.resolve(create(GetResponseSchema, { found: true, value: req.key, answered: 2 }));
            },
          },
        },
      ],
      readMaxBytes: 1024,
      logger: silentLogger(),
      what: 'kv',
    });
    const srv = await listenH2c({
      host: '127.0.0.1',
      port: 0,
      logger: silentLogger(),
      what: 'test gRPC',
      authorize: (req) => {
        seen.push(req.url);
        return req.headers.authorization === 'Bearer no' ? new FlotillaError(Code.PERMISSION_DENIED, 'not you') : undefined;
      },
      stream: (stream, headers) => handler.stream(stream, headers),
      handler: (req, res) => {
        // Only what the hook passed on reaches the compatibility path.
        compat++;
        if (!handler(req, res)) {
          req.resume();
          res.writeHead(404).end();
        }
      },
    });
    t.after(() => srv.close());
    const address = `127.0.0.1:${srv.bound.port}`;
    const clients = createKvClients({ timeoutMs: 5000 });
    t.after(() => clients.close());
    const kv = clients.kv(address);
    const got = await kv.get(create(GetRequestSchema, { key: Buffer.from('raw') }));
    assert.equal(Buffer.from(got.value).toString(), 'raw');
    assert.equal(got.answered, 2);
    // An error from the implementation: trailers-only, its code and message.
    const bad = await kv.get(create(GetRequestSchema, { key: new Uint8Array(0) })).catch((e: unknown) => e);
    assert.ok(bad instanceof ConnectError && bad.code === ConnectCode.InvalidArgument && bad.rawMessage === '[invalid_argument] empty key', String(bad));
    // A malformed request (a truncated message) gets the handler's clear answer on the raw path too.
    const channel = new UnaryChannel(address);
    t.after(() => channel.close());
    const truncated = await channel.call('/flotilla.v1.KvService/Get', Uint8Array.of(0x0a, 5, 1)).catch((e: unknown) => e);
    assert.ok(truncated instanceof ConnectError && truncated.code === ConnectCode.InvalidArgument, String(truncated));
    assert.equal(compat, 0, 'the KV calls were served from the raw stream');
    assert.deepEqual(seen, ['/flotilla.v1.KvService/Get', '/flotilla.v1.KvService/Get', '/flotilla.v1.KvService/Get']);
    // A path the hook does not serve goes on to the compatibility handler, authorized once only.
    const other = await channel.call('/flotilla.v1.KvService/Scan', new Uint8Array(0)).catch((e: unknown) => e);
    assert.ok(other instanceof ConnectError && other.code === ConnectCode.Unimplemented, String(other));
    assert.equal(compat, 1);
    assert.equal(seen.length, 4);
    // A refused call never reaches the hook or the handler.
    const session = connect(`http://${address}`);
    t.after(() => session.destroy());
    const refused = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': '/flotilla.v1.KvService/Get', 'content-type': 'application/grpc', authorization: 'Bearer no' });
      req.on('response', (h) => resolve(h));
      req.on('error', reject);
      req.end(Buffer.from([0, 0, 0, 0, 0]));
    });
    assert.equal(refused['grpc-status'], '7');
    assert.equal(refused['grpc-message'], '[permission_denied] not you');
    assert.deepEqual(gets, ['raw', '']);
    assert.equal(compat, 1);
  });
});
