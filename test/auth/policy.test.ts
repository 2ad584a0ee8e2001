import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Code, type FlotillaError } from '../../src/core/errors.js';
import { authorize, bearerOf, grpcRequirement, httpRequirement, newToken, parseToken, secretMatches, type Principal, type Requirement } from '../../src/auth/index.js';

const who = (role: Principal['role'], scopes: Principal['scopes'] = []): Principal => ({ tokenId: '0123456789ab', name: 't', role, scopes });

function outcome(p: Principal | undefined, req: Requirement): string {
  try {
    authorize(p, req, 'X');
    return 'ok';
  } catch (err) {
    return (err as FlotillaError).code;
  }
}

describe('API tokens', () => {
  it('are flt_<12 hex>_<43 base64url>, stored as a SHA-256 of the secret only', () => {
    const t = newToken({ name: 'n', role: 'reader', scopes: ['kv', 'kv', 'flows'], ttlMs: 60_000, createdBy: 'bootstrap', nowMs: 0 });
    assert.match(t.token, /^flt_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    const { id, secret } = parseToken(t.token);
    assert.equal(id, t.record.id);
    assert.ok(!JSON.stringify(t.record).includes(secret), 'the record never holds the secret');
    assert.match(t.record.hash, /^[0-9a-f]{64}$/);
    assert.ok(secretMatches(t.record, secret));
    assert.ok(!secretMatches(t.record, secret.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))));
    assert.deepEqual(t.record.scopes, ['flows', 'kv']);
    assert.equal(t.record.expiresAt, '1970-01-01T00:01:00.000Z');
  });

  it('a malformed token or Authorization header is UNAUTHENTICATED', () => {
    for (const bad of ['', 'flt_', 'flt_0123456789ab_short', 'xyz_0123456789ab_' + 'a'.repeat(43), 'flt_0123456789AB_' + 'a'.repeat(43)]) {
      assert.throws(() => parseToken(bad), (e: FlotillaError) => e.code === Code.UNAUTHENTICATED, bad);
    }
    assert.equal(bearerOf(undefined), undefined);
    assert.equal(bearerOf('Bearer abc'), 'abc');
    assert.equal(bearerOf('bearer  abc '), 'abc');
    assert.throws(() => bearerOf('Basic dXNlcjpwYXNz'), (e: FlotillaError) => e.code === Code.UNAUTHENTICATED);
  });
});

describe('the policy', () => {
  it('derives the HTTP requirement from the method and the path', () => {
    const cases: [string, string | undefined, string, string][] = [
      ['GET', '/healthz', '/healthz', 'public'],
      ['GET', '/readyz', '/readyz', 'public'],
      ['GET', '/*', '/index.html', 'public'],
      ['PUT', '/*', '/bucket/key', 'public'],
      ['GET', '/ws', '/ws', 'public'],
      ['GET', '/sse', '/sse?channel=a', 'public'],
      ['GET', '/api/v1/members', '/api/v1/members', 'reader/cluster'],
      ['GET', '/api/v1/kv/:key', '/api/v1/kv/a?r=2', 'reader/kv'],
      ['PUT', '/api/v1/kv/:key', '/api/v1/kv/a', 'operator/kv'],
      ['DELETE', '/api/v1/kv/:key', '/api/v1/kv/a', 'operator/kv'],
      ['POST', '/api/v1/query', '/api/v1/query', 'reader/monitor'],
      ['GET', '/api/v1/query_range', '/api/v1/query_range', 'reader/monitor'],
      ['POST', '/api/v1/flows/validate', '/api/v1/flows/validate', 'reader/flows'],
      ['POST', '/api/v1/flows', '/api/v1/flows', 'operator/flows'],
      ['POST', '/api/v1/publish', '/api/v1/publish', 'operator/messages'],
      ['GET', '/metrics', '/metrics', 'reader/monitor'],
      ['GET', '/api/v1/auth/tokens', '/api/v1/auth/tokens', 'admin/-'],
      ['POST', '/api/v1/auth/tokens', '/api/v1/auth/tokens', 'admin/-'],
      ['GET', '/api/v1/new-thing', '/api/v1/new-thing', 'reader/-'],
      ['PATCH', '/api/v2/anything', '/api/v2/anything', 'operator/-'],
      ['GET', undefined, '/no/route', 'reader/-'],
      ['GET', '/api/v1/objectsx', '/api/v1/objectsx', 'reader/-'],
    ];
    for (const [method, route, url, want] of cases) {
      const r = httpRequirement(method, route, url);
      const got = r.public === true ? 'public' : `${r.role}/${r.scope ?? '-'}`;
      assert.equal(got, want, `${method} ${url}`);
    }
  });

  it('gRPC: user methods by role and scope; internal and unknown methods need the cluster token', () => {
    assert.deepEqual(grpcRequirement('/flotilla.v1.KvService/Put'), { role: 'operator', scope: 'kv' });
    assert.deepEqual(grpcRequirement('/flotilla.v1.ClusterService/ListMembers'), { role: 'reader', scope: 'cluster' });
    assert.deepEqual(grpcRequirement('/flotilla.v1.KvReplicaService/Replicate'), { role: 'cluster' });
    assert.deepEqual(grpcRequirement('/flotilla.v1.MonitorService/CommandStream'), { role: 'cluster' });
    assert.deepEqual(grpcRequirement('/flotilla.v1.NewService/Anything'), { role: 'cluster' });
  });

  it('roles are ordered, the cluster role is for internal calls, scopes limit a token', () => {
    const reader = { role: 'reader' } as const;
    const operatorKv = { role: 'operator', scope: 'kv' } as const;
    const admin = { role: 'admin' } as const;
    const cluster = { role: 'cluster' } as const;
    assert.equal(outcome(undefined, reader), Code.UNAUTHENTICATED);
    assert.equal(outcome(undefined, { public: true, why: '' }), 'ok');
    assert.equal(outcome(who('reader'), reader), 'ok');
    assert.equal(outcome(who('reader'), operatorKv), Code.PERMISSION_DENIED);
    assert.equal(outcome(who('operator'), operatorKv), 'ok');
    assert.equal(outcome(who('operator'), admin), Code.PERMISSION_DENIED);
    assert.equal(outcome(who('operator'), cluster), Code.PERMISSION_DENIED);
    assert.equal(outcome(who('cluster'), operatorKv), 'ok');
    assert.equal(outcome(who('cluster'), cluster), 'ok');
    assert.equal(outcome(who('cluster'), admin), Code.PERMISSION_DENIED);
    assert.equal(outcome(who('admin'), cluster), 'ok');
    assert.equal(outcome(who('operator', ['kv']), operatorKv), 'ok');
    assert.equal(outcome(who('operator', ['flows']), operatorKv), Code.PERMISSION_DENIED);
    assert.equal(outcome(who('operator', ['kv']), { role: 'reader' }), Code.PERMISSION_DENIED, 'a scoped token cannot use unscoped routes');
  });
});
