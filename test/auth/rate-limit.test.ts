/**
 * Rate limits per API token on the public APIs: the token bucket itself (fake clock), then a real
 * `flotilla server --auth on --rate-limit 1 --rate-limit-burst 3`: a burst beyond the limit gets 429 with
 * Retry-After (HTTP) or RESOURCE_EXHAUSTED (gRPC), another token is unaffected, the join token is exempt,
 * and requests without a token are limited per client address.
 */
import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import { RateLimiter } from '../../src/auth/index.js';
import { fetchMembers } from '../../src/cluster/index.js';
import { Code, FlotillaError } from '../../src/core/errors.js';
import { setDefaultCallToken } from '../../src/core/grpc-client.js';
import { startFlotilla, type ProcessHandle } from '../testkit/index.js';
import { peerClients, runFlotilla, suiteOwner } from '../testkit/cluster.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

test('the token bucket: burst, refill at the rate, Retry-After, one bucket per key, a bounded table', () => {
  let now = 0;
  const l = new RateLimiter({ ratePerSecond: 2, burst: 3, maxKeys: 2, nowMs: () => now });
  assert.equal(l.take('a'), undefined);
  assert.equal(l.take('a'), undefined);
  assert.equal(l.take('a'), undefined);
  assert.equal(l.take('a'), 1, 'the fourth request within the burst waits (0.5 s rounds up to 1 s)');
  assert.equal(l.take('b'), undefined, 'another key has its own bucket');
  now = 500;
  assert.equal(l.take('a'), undefined, 'half a second at 2/s refills one');
  assert.equal(l.take('a'), 1);
  assert.throws(
    () => l.check('a', 'token x'),
    (e: unknown) => e instanceof FlotillaError && e.code === Code.RESOURCE_EXHAUSTED && e.details?.retryAfterSeconds === 1 && /token x/.test(e.message),
  );
  l.take('c');
  assert.equal(l.size, 2, 'the table keeps at most maxKeys buckets');
  for (let i = 0; i < 1000; i++) l.take(`k${i}`);
  assert.equal(l.size, 2);
  const slow = new RateLimiter({ ratePerSecond: 0.1, burst: 1, nowMs: () => now });
  slow.take('x');
  assert.equal(slow.take('x'), 10, 'Retry-After is the time until one request is available');
});

describe('rate limits on a real server', () => {
  const owner = suiteOwner();
  let server: ProcessHandle;
  let http = '';
  let grpc = '';
  let admin = '';
  let joinToken = '';

  const get = (path: string, token?: string): Promise<Response> =>
    fetch(`http://${http}${path}`, { headers: token !== undefined ? { authorization: `Bearer ${token}` } : {} });
  const newToken = async (role: string): Promise<string> => {
    const r = await runFlotilla(['auth', 'token', 'create', '--role', role, '--json'], {
      env: { FLOTILLA_TOKEN: admin, FLOTILLA_TOKEN_FILE: '', FLOTILLA_HTTP: http, FLOTILLA_LOG_PRETTY: '0' },
    });
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { token: string }).token;
  };
  /** Sends `n` requests one after another; returns the statuses and the first 429's response. */
  const burst = async (n: number, token?: string): Promise<{ statuses: number[]; limited?: Response }> => {
    const statuses: number[] = [];
    let limited: Response | undefined;
    for (let i = 0; i < n; i++) {
      const res = await get('/api/v1/members', token);
      statuses.push(res.status);
      if (res.status === 429 && limited === undefined) limited = res;
      else await res.arrayBuffer();
    }
    return { statuses, ...(limited !== undefined ? { limited } : {}) };
  };

  it('starts with --rate-limit 1 --rate-limit-burst 3', async () => {
    server = await startFlotilla(
      ({ port, dataDir }) => [
        'server', '--listen', `127.0.0.1:${port('grpc')}`, '--http', `127.0.0.1:${port('http')}`, '--coord-listen', `127.0.0.1:${port('coord')}`,
        '--data-dir', dataDir, '--auth', 'on', '--rate-limit', '1', '--rate-limit-burst', '3',
      ],
      { t: owner, ports: ['grpc', 'http', 'coord'], ready: async (h) => h.output().includes('ready') },
    );
    http = `127.0.0.1:${server.port('http')}`;
    grpc = `127.0.0.1:${server.port('grpc')}`;
    admin = readFileSync(join(server.dataDir, 'admin-token'), 'utf8').trim();
    joinToken = readFileSync(join(server.dataDir, 'join-token'), 'utf8').trim();
  });

  it('a burst beyond the limit gets 429 with Retry-After; another token is unaffected', async () => {
    const a = await newToken('reader');
    const b = await newToken('reader');
    const r = await burst(12, a);
    assert.equal(r.statuses[0], 200);
    assert.ok(r.limited !== undefined, `no 429 in ${r.statuses.join(',')}`);
    assert.match(r.limited.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
    assert.match(r.limited.headers.get('content-type') ?? '', /^application\/problem\+json/);
    const problem = (await r.limited.json()) as { status: number; code: string; detail: string };
    assert.equal(problem.status, 429);
    assert.match(problem.detail, /rate limit: API token [0-9a-f]{12} .* made more than 1 requests\/s/);
    const other = await get('/api/v1/members', b);
    assert.equal(other.status, 200, 'another token has its own budget');
    await other.arrayBuffer();
  });

  it('the join token is exempt (internal traffic)', async () => {
    const r = await burst(30, joinToken);
    assert.deepEqual([...new Set(r.statuses)], [200]);
  });

  it('gRPC calls share the limit and are refused with RESOURCE_EXHAUSTED', async () => {
    const c = await newToken('reader');
    const peers = peerClients(owner);
    setDefaultCallToken(c);
    try {
      let refused: FlotillaError | undefined;
      for (let i = 0; i < 12 && refused === undefined; i++) {
        refused = await fetchMembers(grpc, peers, { timeoutMs: 5000 }).then(
          () => undefined,
          (e: unknown) => FlotillaError.from(e),
        );
      }
      assert.equal(refused?.code, Code.RESOURCE_EXHAUSTED, refused?.message);
      assert.match(refused?.message ?? '', /rate limit/);
    } finally {
      setDefaultCallToken(undefined);
    }
  });

  it('requests without a token are limited per client address', async () => {
    const r = await burst(12);
    assert.equal(r.statuses[0], 401);
    assert.ok(r.limited !== undefined, `no 429 in ${r.statuses.join(',')}`);
    assert.ok(r.limited.headers.get('retry-after') !== null);
    await r.limited.arrayBuffer();
  });
});
