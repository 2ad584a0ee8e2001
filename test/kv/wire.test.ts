/**
 * The lean unary gRPC path of the KV services (src/kv/wire): the client against a node's peer server
 * (fast path in front of ConnectRPC), and the client's answers for deadlines, unreachable peers, ports
 * that are not gRPC, and methods the fast path does not serve (ConnectRPC behind it answers).
 */
import assert from 'node:assert/strict';
import { createServer, type ServerHttp2Session } from 'node:http2';
import { describe, it } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import { Code as ConnectCode, ConnectError } from '@connectrpc/connect';
import { callError } from '../../src/core/grpc-client.js';
import { GetRequestSchema, PutRequestSchema, GetTreeNodesRequestSchema } from '../../src/gen/flotilla/v1/kv_pb.js';
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
});
