/**
 * A cancelled watch leaves the connection serving: the etcd3 client (grpc-js) closes its channels when a
 * watch stream is cancelled, which sends GOAWAY while the next call's HEADERS are queued behind it. Real
 * etcd (grpc-go) serves that call; the store must too, and must still close the connection afterwards.
 * The etcd3 client runs without its retry and circuit-breaker policies, so a refused call shows.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Etcd3, type IOptions, type IWatchResponse } from 'etcd3';
import { createEmbeddedCoordServer, type EmbeddedCoordServer } from '../../../src/coord/embedded/index.js';

type Policy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;

/** A cockatiel policy that runs the call once: no retry, no circuit breaker. */
function runOnce(): Policy {
  const noEvent = () => ({ dispose: () => undefined });
  const policy = {
    execute: async <T>(fn: (ctx: { signal: AbortSignal }) => PromiseLike<T> | T): Promise<T> => fn({ signal: new AbortController().signal }),
    onSuccess: noEvent,
    onFailure: noEvent,
  };
  return policy as unknown as Policy;
}

interface WatchStream {
  on(event: 'data', fn: (res: IWatchResponse) => void): WatchStream;
  on(event: 'error', fn: (err: Error) => void): WatchStream;
  write(req: object): boolean;
  cancel(): void;
}

let server: EmbeddedCoordServer;
let dataDir: string;
let client: Etcd3;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flotilla-coord-watch-cancel-'));
  server = createEmbeddedCoordServer({ listen: '127.0.0.1:0', dataDir });
  await server.start();
  client = new Etcd3({ hosts: `http://${server.address}`, faultHandling: { global: runOnce(), host: () => runOnce() } });
});

after(async () => {
  client?.close();
  await server?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

/** Opens a raw Watch stream with one create request and resolves once `done` accepts a response. */
async function watchUntil(create: object, done: (res: IWatchResponse) => boolean): Promise<WatchStream> {
  const stream = (await client.watchClient.watch()) as unknown as WatchStream;
  stream.on('error', () => undefined);
  const seen = new Promise<void>((resolve) => stream.on('data', (res) => done(res) && resolve()));
  stream.write({ create_request: create });
  await seen;
  return stream;
}

void describe('a cancelled watch leaves the connection serving unary calls', () => {
  void it('a put right after the etcd3 library cancels its watcher succeeds', async () => {
    for (let i = 0; i < 3; i++) {
      const watcher = await client.watch().key('/wc/a').create();
      await watcher.cancel();
      const res = await client.put('/wc/a').value(String(i)).exec();
      assert.ok(Number(res.header.revision) > 1);
    }
  });

  void it('a put right after a raw watch stream is cancelled succeeds', async () => {
    for (let i = 0; i < 3; i++) {
      const stream = await watchUntil({ key: Buffer.from('/wc/b') }, (res) => res.created);
      stream.cancel();
      await client.kv.put({ key: Buffer.from('/wc/b'), value: Buffer.from(String(i)) });
    }
  });

  void it('a put right after a watch that ended compacted is cancelled succeeds', async () => {
    const first = await client.put('/wc/c').value('1').exec();
    const second = await client.put('/wc/c').value('2').exec();
    await client.kv.compact({ revision: second.header.revision });
    for (let i = 0; i < 3; i++) {
      const stream = await watchUntil({ key: Buffer.from('/wc/c'), start_revision: first.header.revision }, (res) => res.canceled);
      stream.cancel();
      await client.kv.put({ key: Buffer.from('/wc/c'), value: Buffer.from(String(i)) });
    }
  });

  void it('a call whose HEADERS follow the client GOAWAY is served, and the connection then closes', async () => {
    const session = http2.connect(`http://${server.address}`);
    session.on('error', () => undefined);
    try {
      await new Promise<void>((resolve, reject) => {
        session.once('connect', () => resolve());
        session.once('error', reject);
      });
      const req = session.request({ ':method': 'POST', ':path': '/etcdserverpb.KV/Range', 'content-type': 'application/grpc', te: 'trailers' });
      // Queued in the same write as the request's HEADERS, nghttp2 sends the GOAWAY first.
      session.close();
      const answer = await new Promise<{ status: string | undefined; rstCode: number | undefined }>((resolve) => {
        let status: string | undefined;
        req.on('trailers', (t) => (status = t['grpc-status'] as string | undefined));
        req.on('data', () => undefined);
        req.on('error', () => undefined);
        req.on('close', () => resolve({ status, rstCode: req.rstCode }));
        // RangeRequest{key(1): "/wc/a"}
        req.end(Buffer.from([0, 0, 0, 0, 7, 0x0a, 5, ...Buffer.from('/wc/a')]));
      });
      assert.deepEqual(answer, { status: '0', rstCode: http2.constants.NGHTTP2_NO_ERROR });
      // The client's 'close' needs the server to close its side too (no session left behind).
      await new Promise<void>((resolve) => (session.closed && session.destroyed ? resolve() : session.once('close', () => resolve())));
    } finally {
      session.destroy();
    }
  });
});
