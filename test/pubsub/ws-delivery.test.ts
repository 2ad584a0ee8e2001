/**
 * Scheduled delivery over real WebSocket/SSE connections to an in-process HTTP server with the broker on
 * a real SQLite store. The tests of this file share one server and run concurrently, so the bad-input
 * and reconnect tests also show that the load test's subscribers are unaffected.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/core/log.js';
import { openSqlStore, type SqlStore } from '../../src/core/sql/index.js';
import { createHttpServer, type HttpServer } from '../../src/http/index.js';
import { createPubsubClient, createPubsubService, signChannelToken, type ClientPublication, type PubsubService, type WebSocketConstructor } from '../../src/pubsub/index.js';
import { freePort, tempDir } from '../testkit/index.js';
import { ClientWebSocket, httpJson, percentile, RawSubscriber, waitUntil } from './helpers.js';

const secret = 'test-secret-'.padEnd(40, 'x');
let sql: SqlStore;
let http: HttpServer;
let service: PubsubService;
let base: string;
let wsUrl: string;
const cleanups: (() => Promise<void> | void)[] = [];
/** What the service and the HTTP server logged (JSON lines, parsed). */
const logged: { level: number; msg: string }[] = [];
const logger = createLogger({ name: 'test', level: 'debug', destination: new Writable({ write: (c: Buffer, _e, cb) => (logged.push(JSON.parse(c.toString('utf8')) as { level: number; msg: string }), cb()) }) });

before(async () => {
  const dir = await tempDir();
  cleanups.push(async () => (await import('node:fs/promises')).rm(dir, { recursive: true, force: true }));
  sql = await openSqlStore(`sqlite:${join(dir, 'db.sqlite')}`);
  service = createPubsubService({ sql, logger, dataDir: dir, tokenSecret: secret, ackTimeoutMs: 2000 });
  http = createHttpServer({ listen: `127.0.0.1:${await freePort()}`, logger, processName: 'test', version: 'test' });
  service.registerHttp(http.app);
  await service.start();
  await http.start();
  base = http.url;
  wsUrl = base.replace('http', 'ws') + '/ws';
});

after(async () => {
  await service.stop();
  await http.stop();
  await sql.close();
  for (const c of cleanups.reverse()) await c();
});

describe('scheduled delivery over WebSocket and SSE', { concurrency: true }, () => {
  it('1,000 messages at random times within 20 s reach each of 50 subscribers exactly once in content, none early', async (t) => {
    const subs = await Promise.all(Array.from({ length: 50 }, () => RawSubscriber.open(wsUrl)));
    t.after(() => subs.forEach((s) => s.close()));
    for (const s of subs) assert.ok((await s.request({ subscribe: { channel: 'public:load' } })).result);
    const t0 = Date.now();
    const due = new Map<string, number>();
    await Promise.all(
      Array.from({ length: 10 }, async (_, w) => {
        for (let i = w; i < 1000; i += 10) {
          const res = await httpJson(base, 'POST', '/api/v1/publish', { channel: 'public:load', data: { i }, deliverAt: t0 + 1000 + Math.floor(Math.random() * 19_000) });
          assert.equal(res.status, 202, JSON.stringify(res.body));
          due.set(res.body.id as string, res.body.deliverAtMs as number);
        }
      }),
    );
    await waitUntil(() => subs.every((s) => new Set(s.pubs('public:load').map((p) => p.id)).size >= 1000), 40_000, 'every subscriber to get 1,000 messages');
    const lateness: number[] = [];
    for (const s of subs) {
      const pubs = s.pubs('public:load');
      const firsts = pubs.filter((p) => p.duplicate !== true);
      assert.equal(new Set(firsts.map((p) => p.id)).size, firsts.length, 'an unmarked copy appears once');
      assert.deepEqual(new Set(pubs.map((p) => p.id)), new Set(due.keys()), 'every message, in content');
      for (let i = 1; i < firsts.length; i++) assert.ok(firsts[i]!.offset > firsts[i - 1]!.offset, 'in offset order');
      for (const r of s.frames) {
        const p = r.frame.pub;
        if (p === undefined) continue;
        assert.ok(r.atMs >= due.get(p.id)!, `message ${p.id} arrived ${due.get(p.id)! - r.atMs} ms early`);
        if (p.duplicate !== true) lateness.push(r.atMs - due.get(p.id)!);
      }
    }
    t.diagnostic(`lateness over ${lateness.length} deliveries: p50 ${percentile(lateness, 50)} ms, p99 ${percentile(lateness, 99)} ms, max ${Math.max(...lateness)} ms`);
  });

  it('a subscriber away for 5 s reconnects with its offset and receives what it missed, in order', async (t) => {
    const pubAll = async (n: number, spreadMs: number): Promise<void> => {
      const now = Date.now();
      for (let i = 0; i < n; i++) {
        const r = await httpJson(base, 'POST', '/api/v1/publish', { channel: 'rec', data: { n: i }, deliverAt: now + Math.floor((i * spreadMs) / n) });
        assert.equal(r.status, 202);
      }
    };
    const token = signChannelToken({ channel: 'rec', secret, ttlMs: 60_000 });
    const a = await RawSubscriber.open(wsUrl);
    t.after(() => a.close());
    const sub = await a.request({ subscribe: { channel: 'rec', token } });
    assert.equal(sub.result?.recovered, undefined);
    await pubAll(20, 1000);
    await waitUntil(() => a.pubs('rec').length >= 20, 10_000, 'the first 20');
    const last = a.pubs('rec').at(-1)!;
    a.close();
    await pubAll(30, 4000); // delivered while it is away
    await sleep(5000);
    const b = await RawSubscriber.open(wsUrl);
    t.after(() => b.close());
    const again = await b.request({ subscribe: { channel: 'rec', token, since: { offset: last.offset, epoch: last.epoch } } });
    assert.equal(again.result?.recovered, true);
    await pubAll(5, 100);
    await waitUntil(() => b.pubs('rec').length >= 35, 10_000, '30 missed + 5 new');
    const got = b.pubs('rec');
    assert.deepEqual(
      got.map((p) => p.offset),
      Array.from({ length: 35 }, (_, i) => last.offset + 1 + i),
    );
    assert.deepEqual(
      got.map((p) => (p.data as { n: number }).n),
      [...Array.from({ length: 30 }, (_, i) => i), 0, 1, 2, 3, 4],
    );
  });

  it('bad input gets clear errors and leaves other subscribers unaffected', async (t) => {
    const watcher = await RawSubscriber.open(wsUrl);
    t.after(() => watcher.close());
    await watcher.request({ subscribe: { channel: 'public:watch' } });
    const bad = await RawSubscriber.open(wsUrl);
    t.after(() => bad.close());
    const err = async (frame: unknown, code: string, re: RegExp): Promise<void> => {
      const before = bad.frames.length;
      bad.send(frame);
      const reply = await bad.waitFor((f) => f.error !== undefined, 5000, before);
      assert.equal(reply.error!.code, code, JSON.stringify(reply));
      assert.match(reply.error!.message, re);
    };
    await err('not json', 'INVALID_ARGUMENT', /not valid JSON/);
    await err('[1,2]', 'INVALID_ARGUMENT', /JSON object/);
    await err({ id: 'x', ping: {} }, 'INVALID_ARGUMENT', /frame id/);
    await err({ id: 1 }, 'INVALID_ARGUMENT', /exactly one/);
    await err({ id: 2, launch: {} }, 'INVALID_ARGUMENT', /unknown command/);
    await err({ id: 3, subscribe: { channel: 'has space' } }, 'INVALID_ARGUMENT', /invalid channel/);
    await err({ id: 4, subscribe: { channel: 'private' } }, 'UNAUTHENTICATED', /needs a channel token/);
    await err({ id: 5, subscribe: { channel: 'private', token: 'garbage' } }, 'UNAUTHENTICATED', /three/);
    await err({ id: 6, subscribe: { channel: 'private', token: signChannelToken({ channel: 'private', secret: 'another-secret'.padEnd(40, 'y'), ttlMs: 60_000 }) } }, 'UNAUTHENTICATED', /signature/);
    await err({ id: 7, subscribe: { channel: 'private', token: signChannelToken({ channel: 'private', secret, ttlMs: -1000 }) } }, 'UNAUTHENTICATED', /expired/);
    await err({ id: 8, subscribe: { channel: 'private', token: signChannelToken({ channel: 'other', secret, ttlMs: 60_000 }) } }, 'PERMISSION_DENIED', /not "private"/);
    await err({ id: 9, subscribe: { channel: 'public:x', since: { offset: -1, epoch: 'e' } } }, 'INVALID_ARGUMENT', /offset/);
    await err({ id: 10, ack: { channel: 'public:nope', offset: 1 } }, 'NOT_FOUND', /not subscribed/);
    bad.ws.send(Buffer.from([1, 2, 3]));
    await bad.waitFor((f) => f.error?.message.includes('binary') === true);
    // The bad connection still works.
    assert.ok((await bad.request({ ping: {} })).pong);
    // An oversized frame closes only that connection (1009).
    const huge = await RawSubscriber.open(wsUrl);
    huge.send(JSON.stringify({ id: 1, ping: {}, pad: 'x'.repeat(200_000) }));
    await waitUntil(() => huge.closeCode !== undefined, 5000, 'the oversized connection to close');
    assert.equal(huge.closeCode, 1009);
    // A client's fault: a warning saying so, no error-level line (the websocket plugin's default logged one).
    await waitUntil(() => logged.some((l) => l.msg === 'pubsub: websocket closed on a client error'), 5000, 'the warning');
    assert.deepEqual(logged.filter((l) => l.level >= 50), []);
    // HTTP: oversized, absurdly far, malformed.
    const big = await httpJson(base, 'POST', '/api/v1/publish', { channel: 'public:watch', data: 'x'.repeat(70_000) });
    assert.equal(big.status, 429);
    assert.match(big.body.detail as string, /limit is 65536/);
    const far = await httpJson(base, 'POST', '/api/v1/publish', { channel: 'public:watch', data: 1, deliverAt: '2999-01-01T00:00:00Z' });
    assert.equal(far.status, 400);
    assert.match(far.body.detail as string, /too far away/);
    const junk = await httpJson(base, 'POST', '/api/v1/publish', '{"channel": ');
    assert.equal(junk.status, 400);
    assert.equal((await httpJson(base, 'DELETE', '/api/v1/messages/not-a-uuid')).status, 400);
    assert.equal((await httpJson(base, 'GET', '/api/v1/messages?state=lost')).status, 400);
    // A deliverAt in the past is delivered at once, and the watcher got it despite all of the above.
    const past = await httpJson(base, 'POST', '/api/v1/publish', { channel: 'public:watch', data: 'past', deliverAt: '2001-01-01T00:00:00Z' });
    assert.equal(past.status, 202);
    await watcher.waitFor((f) => f.pub?.data === 'past');
    assert.equal(watcher.closeCode, undefined);
    // Too many malformed frames end that connection (1008), and only that one.
    for (let i = 0; i < 25; i++) bad.send('{');
    await waitUntil(() => bad.closeCode !== undefined, 5000, 'the abusive connection to close');
    assert.equal(bad.closeCode, 1008);
    assert.ok((await watcher.request({ ping: {} })).pong);
  });

  it('SSE: publications as events, recovery with Last-Event-ID, and errors as problem+json', async () => {
    const denied = await fetch(`${base}/sse?channel=secret`);
    assert.equal(denied.status, 401);
    assert.match(((await denied.json()) as { detail: string }).detail, /needs a channel token/);
    const ac = new AbortController();
    const res = await fetch(`${base}/sse?channel=public:sse`, { signal: ac.signal });
    assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const reader = res.body!.getReader();
    let text = '';
    const readUntil = async (pred: () => boolean): Promise<void> => {
      const deadline = Date.now() + 10_000;
      while (!pred() && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString('utf8');
      }
    };
    await readUntil(() => text.includes('event: subscribed'));
    for (const n of [1, 2, 3]) await httpJson(base, 'POST', '/api/v1/publish', { channel: 'public:sse', data: { n } });
    await readUntil(() => (text.match(/event: pub/g) ?? []).length >= 3);
    ac.abort();
    const ids = [...text.matchAll(/^id: (.+)$/gm)].map((m) => m[1]!);
    assert.equal(ids.length, 3);
    await httpJson(base, 'POST', '/api/v1/publish', { channel: 'public:sse', data: { n: 4 } });
    const ac2 = new AbortController();
    const res2 = await fetch(`${base}/sse?channel=public:sse`, { headers: { 'last-event-id': ids[0]! }, signal: ac2.signal });
    const r2 = res2.body!.getReader();
    let text2 = '';
    const deadline = Date.now() + 10_000;
    while ((text2.match(/event: pub/g) ?? []).length < 3 && Date.now() < deadline) {
      const { value, done } = await r2.read();
      if (done) break;
      text2 += Buffer.from(value).toString('utf8');
    }
    ac2.abort();
    assert.match(text2, /"recovered":true/);
    assert.deepEqual(
      [...text2.matchAll(/"data":\{"n":(\d)\}/g)].map((m) => Number(m[1])),
      [2, 3, 4],
    );
  });

  it('the client module reconnects after the server drops it and recovers from its last offset', async (t) => {
    const got: ClientPublication[] = [];
    const states: string[] = [];
    // Records the sockets the client opens, so the test can cut its connection (and only its own).
    const sockets: { terminate(): void }[] = [];
    const Recording = function (url: string) {
      const ws = new ClientWebSocket(url);
      sockets.push(ws as unknown as { terminate(): void });
      return ws;
    } as unknown as WebSocketConstructor;
    const client = createPubsubClient({
      url: wsUrl,
      WebSocket: Recording,
      minReconnectMs: 50,
      getToken: async (channel) => ((await httpJson(base, 'POST', '/api/v1/channel-tokens', { channel, ttl: '1m' })).body.token as string),
      onState: (s) => states.push(s),
    });
    t.after(() => client.close());
    const infos: unknown[] = [];
    client.subscribe('client-test', { onPublication: (p) => got.push(p), onSubscribed: (i) => infos.push(i), onError: (e) => assert.fail(e.message) });
    await waitUntil(() => infos.length === 1, 5000, 'subscribed');
    for (let i = 0; i < 5; i++) await httpJson(base, 'POST', '/api/v1/publish', { channel: 'client-test', data: i });
    await waitUntil(() => got.length === 5, 5000, '5 publications');
    // Cut the connection (as a network failure would), publish meanwhile.
    sockets.at(-1)!.terminate();
    for (let i = 5; i < 10; i++) await httpJson(base, 'POST', '/api/v1/publish', { channel: 'client-test', data: i });
    await waitUntil(() => got.length === 10, 10_000, '10 publications after the reconnect');
    assert.deepEqual(
      got.map((p) => p.data),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    assert.ok(states.includes('disconnected'));
    assert.deepEqual((infos[1] as { recovered?: boolean }).recovered, true);
  });
});
