// Authentication of the embedded coordination store, in process: the store checks API tokens (the real
// TokenRegistry, fed from the store itself) on every call, unary fast path, watches and lease keep-alives
// included; the Coord client sends its token on all of them; etcd's simple tokens are bounded and expire.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createCoordStoreAuthorizer, createToken, revokeToken, TokenRegistry } from '../../src/auth/index.js';
import { Code, FlotillaError } from '../../src/core/errors.js';
import { setDefaultCallToken } from '../../src/core/grpc-client.js';
import type { Coord } from '../../src/coord/coord.js';
import { createCoord } from '../../src/coord/etcd-coord.js';
import { AuthSessions } from '../../src/coord/embedded/auth-sessions.js';
import { createEmbeddedCoordServer, type EmbeddedCoordServer } from '../../src/coord/embedded/index.js';
import { tempDir, type Cleanup } from '../testkit/index.js';

async function refusal(p: Promise<unknown>): Promise<FlotillaError> {
  try {
    await p;
  } catch (err) {
    return FlotillaError.from(err);
  }
  assert.fail('the call was not refused');
}

describe('embedded coordination store: authentication', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  const owner: Cleanup = { after: (fn) => void cleanups.push(async () => fn()), passed: true };
  const secret = 'flti_test-secret-of-this-process';
  let store: EmbeddedCoordServer;
  let admin: Coord;
  let registry: TokenRegistry;
  const tokens = { join: '', reader: '', admin: '', scopedKv: '' };
  const clients: Coord[] = [];
  const client = async (token?: string): Promise<Coord> => {
    const c = await createCoord({ endpoints: [store.address], dialTimeoutMs: 0, requestTimeoutMs: 3000, ...(token !== undefined ? { token } : {}) });
    clients.push(c);
    return c;
  };

  before(async () => {
    const dir = await tempDir(owner);
    store = createEmbeddedCoordServer({
      listen: '127.0.0.1:0',
      dataDir: dir,
      auth: { authorize: createCoordStoreAuthorizer({ verifier: () => (registry?.ready === true ? registry : undefined), internalToken: secret }) },
    });
    await store.start();
    admin = await createCoord({ endpoints: [store.address], token: secret });
    tokens.join = (await createToken(admin, { name: 'join', role: 'cluster', createdBy: 'test' })).token;
    tokens.reader = (await createToken(admin, { name: 'reader', role: 'reader', createdBy: 'test' })).token;
    tokens.admin = (await createToken(admin, { name: 'admin', role: 'admin', createdBy: 'test' })).token;
    tokens.scopedKv = (await createToken(admin, { name: 'kv-only', role: 'admin', scopes: ['kv'], createdBy: 'test' })).token;
    registry = new TokenRegistry({ coord: () => admin });
    await registry.start();
  });
  after(async () => {
    setDefaultCallToken(undefined);
    for (const c of clients) await c.close();
    await registry?.stop();
    await admin?.close();
    await store?.stop();
    for (const fn of cleanups.reverse()) await fn();
  });

  test('a call without a token, with a reader token or a token without the cluster scope is refused', async () => {
    const none = await client();
    const e1 = await refusal(none.get('/flotilla/auth/tokens/x'));
    assert.equal(e1.code, Code.UNAUTHENTICATED, e1.message);
    assert.match(e1.message, /needs the cluster join token or an admin token/);
    const e2 = await refusal(none.put('/a', 'x'));
    assert.equal(e2.code, Code.UNAUTHENTICATED);
    const reader = await client(tokens.reader);
    const e3 = await refusal(reader.range('/'));
    assert.equal(e3.code, Code.PERMISSION_DENIED, e3.message);
    assert.match(e3.message, /has the reader role/);
    const scoped = await client(tokens.scopedKv);
    const e4 = await refusal(scoped.get('/a'));
    assert.equal(e4.code, Code.PERMISSION_DENIED);
    const bogus = await client('flt_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    assert.equal((await refusal(bogus.get('/a'))).code, Code.UNAUTHENTICATED);
  });

  test('a watch and a lease grant without a token are refused (a watch refused for its token fails instead of retrying)', async () => {
    const none = await client();
    const w = none.watch({ key: '/w/', prefix: true });
    const err = await refusal(w.ready);
    assert.equal(err.code, Code.UNAUTHENTICATED, err.message);
    await w.close();
    assert.equal((await refusal(none.grantLease(5))).code, Code.UNAUTHENTICATED);
  });

  test('the join token (sent by default, as nodes and agents send it) may put, get, watch and keep a lease alive', async () => {
    setDefaultCallToken(tokens.join);
    const c = await client();
    const w = c.watch({ key: '/w/', prefix: true });
    await w.ready;
    const seen = (async () => {
      for await (const ev of w) return ev;
      return undefined;
    })();
    const lease = await c.grantLease(5, { keepAlive: false });
    assert.ok((await lease.keepAliveOnce()) > 0, 'a keep-alive over the stream is answered');
    await c.put('/w/one', 'x', { lease: lease.id });
    const ev = await seen;
    assert.equal(ev?.kv.key, '/w/one');
    assert.equal((await c.get('/w/one'))?.value.toString(), 'x');
    await lease.revoke();
    await w.close();
    setDefaultCallToken(undefined);
  });

  test('an admin token may read the token records; revoking a token refuses it at once after the watch', async () => {
    const a = await client(tokens.admin);
    assert.ok((await a.range('/flotilla/auth/tokens/')).kvs.length >= 4);
    const t = await createToken(admin, { name: 'short', role: 'cluster', createdBy: 'test' });
    const c = await client(t.token);
    for (let i = 0; i < 50 && (await c.get('/a').then(() => false, () => true)); i++) await sleep(100);
    await c.put('/by-short', 'ok');
    await revokeToken(admin, t.record.id);
    let err: FlotillaError | undefined;
    for (let i = 0; i < 50 && err === undefined; i++) {
      err = await c.get('/by-short').then(
        () => undefined,
        (e: unknown) => FlotillaError.from(e),
      );
      if (err === undefined) await sleep(100);
    }
    assert.equal(err?.code, Code.UNAUTHENTICATED);
    assert.match(err?.message ?? '', /revoked/);
  });
});

describe('etcd simple tokens (AuthSessions)', () => {
  test('expire after the idle time, are renewed by use, and the table is bounded (least recently used goes)', () => {
    let now = 0;
    const s = new AuthSessions({ maxSessions: 3, idleMs: 1000, clock: { now: () => now } });
    const a = s.issue('A');
    const b = s.issue('B');
    const c = s.issue('C');
    assert.notEqual(a, b);
    now = 900;
    assert.equal(s.lookup(a), 'A'); // renews a; b is now the least recently used
    const d = s.issue('D');
    assert.equal(s.size, 3);
    assert.equal(s.lookup(b), undefined, 'the least recently used token was dropped');
    assert.equal(s.lookup(c), 'C');
    now = 1850;
    assert.equal(s.lookup(a), 'A', 'used at 900: still alive at 1850');
    now = 3000;
    assert.equal(s.lookup(d), undefined, 'idle for more than 1000 ms: expired');
    for (let i = 0; i < 100; i++) s.issue(`x${i}`);
    assert.equal(s.size, 3);
  });
});
