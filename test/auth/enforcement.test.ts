/**
 * Every HTTP route and every gRPC method of a real server and a real node (in this test process, on
 * loopback, authentication on) is called without a token, with a revoked token and with a token whose
 * role or scope is too low, and must be refused with the right status. The routes are ENUMERATED from
 * the servers themselves (Fastify's onRoute) and the gRPC methods from the generated service
 * descriptors, so a route or method added later without protection fails this suite.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { GenService } from '@bufbuild/protobuf/codegenv2';
import { silentLogger } from '../../src/core/log.js';
import { setDefaultCallToken } from '../../src/core/grpc-client.js';
import { createServerProcess, serverConfigSchema, type ServerProcess } from '../../src/server/index.js';
import { createNodeProcess, nodeConfigSchema, resolveNodeConfig, type NodeProcess } from '../../src/node/index.js';
import { GRPC_POLICY, httpRequirement, SCOPES, TokenRegistry, type Scope } from '../../src/auth/index.js';
import { createXferServer, XFER_ROUTES } from '../../src/objects/xfer/xfer-server.js';
import { Code, FlotillaError } from '../../src/core/errors.js';
import { ClusterService } from '../../src/gen/flotilla/v1/cluster_pb.js';
import { KvReplicaService, KvService } from '../../src/gen/flotilla/v1/kv_pb.js';
import { MonitorService } from '../../src/gen/flotilla/v1/monitor_pb.js';
import { tempDir } from '../testkit/index.js';
import { suiteOwner } from '../testkit/cluster.js';

/** Every Flotilla gRPC service (src/gen/flotilla). A new service must be added here and to the policy. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const SERVICES: GenService<any>[] = [ClusterService, KvService, KvReplicaService, MonitorService];

/** Routes that answer without an API token, on purpose (mirrors PUBLIC_HTTP_ROUTES: a change to either fails the test). */
const EXPECTED_PUBLIC = new Set(['/healthz', '/readyz', '/ws', '/sse', '/', '/*', '/auth/oidc', '/auth/oidc/login', '/auth/oidc/callback']);

interface Tokens {
  admin: string;
  join: string;
  revoked: string;
  reader: string;
  operator: string;
  /** A reader token per scope. */
  scoped: Record<Scope, string>;
}

async function api(base: string, token: string, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

async function createToken(base: string, admin: string, body: Record<string, unknown>): Promise<{ token: string; id: string }> {
  const res = await api(base, admin, 'POST', '/api/v1/auth/tokens', body);
  assert.equal(res.status, 201, await res.clone().text());
  return (await res.json()) as { token: string; id: string };
}

/** A concrete URL for a route pattern (:param and * filled in). */
function concrete(url: string): string {
  return url.replace(/:[A-Za-z_]+/g, 'x').replace(/\*/g, 'x');
}

/** The gRPC status a raw call to `path` gets (a single empty message; trailers-only refusals included). */
async function grpcStatus(address: string, path: string, token: string | undefined): Promise<{ status: number; message: string }> {
  const session = http2.connect(`http://${address}`);
  session.on('error', () => undefined);
  try {
    return await new Promise((resolve, reject) => {
      const req = session.request({
        ':method': 'POST',
        ':path': path,
        'content-type': 'application/grpc',
        te: 'trailers',
        ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
      });
      let status: string | undefined;
      let message = '';
      const take = (h: http2.IncomingHttpHeaders): void => {
        if (h['grpc-status'] !== undefined) {
          status = String(h['grpc-status']);
          message = decodeURIComponent(String(h['grpc-message'] ?? ''));
        }
      };
      req.on('response', take);
      req.on('trailers', take);
      req.on('data', () => undefined);
      req.on('error', reject);
      req.on('close', () => (status === undefined ? reject(new Error(`no grpc-status for ${path}`)) : resolve({ status: Number(status), message })));
      req.setTimeout(5000, () => req.close(8 /* CANCEL */));
      req.end(Buffer.from([0, 0, 0, 0, 0]));
    });
  } finally {
    session.close();
  }
}

/** A token that passes authentication but not this requirement (a lower role, or another scope). */
function tooLow(tokens: Tokens, req: { role: string; scope?: Scope }): string {
  if (req.role === 'admin') return tokens.operator;
  if (req.role === 'operator') return tokens.reader;
  if (req.role === 'cluster') return tokens.operator;
  const other = SCOPES.find((s) => s !== req.scope)!;
  return tokens.scoped[other];
}

describe('authentication and authorization on every API', () => {
  const owner = suiteOwner();
  let server: ServerProcess;
  let node: NodeProcess;
  let tokens: Tokens;
  let serverBase = '';
  let nodeBase = '';

  before(async () => {
    const dir = await tempDir(owner, 'flotilla-auth-');
    const logger = silentLogger();
    server = createServerProcess(
      serverConfigSchema.parse({ listen: '127.0.0.1:0', http: '127.0.0.1:0', coordListen: '127.0.0.1:0', dataDir: `${dir}/server`, auth: 'on' }),
      logger,
    );
    owner.after(() => server.lifecycle.stop());
    await server.lifecycle.start();
    const boot = server.auth.bootstrap()!;
    assert.ok(boot.createdAdminToken !== undefined, 'the first start creates an admin token');
    serverBase = server.http.url;
    node = createNodeProcess(
      resolveNodeConfig(
        nodeConfigSchema.parse({
          name: 'node-a',
          join: server.grpc.address,
          listen: '127.0.0.1:0',
          http: '127.0.0.1:0',
          xfer: 'off',
          dataDir: `${dir}/node-a`,
          joinToken: boot.joinToken,
          leaseTtl: 3,
        }),
      ),
      logger,
    );
    owner.after(() => node.lifecycle.stop());
    await node.lifecycle.start();
    nodeBase = node.http.url;

    const admin = boot.createdAdminToken;
    const scoped = {} as Record<Scope, string>;
    for (const s of SCOPES) scoped[s] = (await createToken(serverBase, admin, { role: 'admin', scopes: [s], name: `scoped ${s}` })).token;
    const revoked = await createToken(serverBase, admin, { role: 'admin', name: 'to revoke' });
    tokens = {
      admin,
      join: boot.joinToken,
      revoked: revoked.token,
      reader: (await createToken(serverBase, admin, { role: 'reader' })).token,
      operator: (await createToken(serverBase, admin, { role: 'operator' })).token,
      scoped,
    };
    // Usable everywhere first, then revoked: each process learns of it through its watch.
    assert.equal((await api(nodeBase, tokens.revoked, 'GET', '/api/v1/rings')).status, 200);
    assert.equal((await api(serverBase, tokens.admin, 'DELETE', `/api/v1/auth/tokens/${revoked.id}`)).status, 200);
    for (const base of [serverBase, nodeBase]) {
      for (let i = 0; ; i++) {
        const res = await api(base, tokens.revoked, 'GET', '/api/v1/rings');
        if (res.status === 401) break;
        assert.ok(i < 100, `${base} still accepts the revoked token`);
        await sleep(50);
      }
    }
  });

  after(() => setDefaultCallToken(undefined));

  it('the right tokens work: an admin lists tokens, a reader reads, a scoped token reads its capability', async () => {
    assert.equal((await api(serverBase, tokens.admin, 'GET', '/api/v1/auth/tokens')).status, 200);
    assert.equal((await api(serverBase, tokens.reader, 'GET', '/api/v1/members')).status, 200);
    assert.equal((await api(serverBase, tokens.scoped.cluster, 'GET', '/api/v1/members')).status, 200);
    assert.equal((await api(nodeBase, tokens.join, 'GET', '/api/v1/rings')).status, 200, 'the join token works on a node');
    assert.equal((await grpcStatus(server.grpc.address, '/flotilla.v1.ClusterService/ListMembers', tokens.reader)).status, 0);
    assert.equal((await grpcStatus(node.peerAddress(), '/flotilla.v1.ClusterService/CheckHealth', tokens.reader)).status, 0);
    const listed = (await (await api(serverBase, tokens.admin, 'GET', '/api/v1/auth/tokens')).json()) as { tokens: Record<string, unknown>[] };
    assert.ok(listed.tokens.every((t) => t.hash === undefined && t.token === undefined), 'a list never shows hashes or secrets');
  });

  it('every route of the file transfer port (/upload, /download) is refused without a token, with a revoked one and with too low a role', async () => {
    const registry = new TokenRegistry({ coord: () => server.coord(), logger: silentLogger() });
    await registry.start();
    // Refusals come before the object service: reaching it here would be a failure of the check.
    const xfer = createXferServer({
      listen: '127.0.0.1:0',
      tls: null,
      tokens: () => registry,
      service: () => {
        throw new FlotillaError(Code.INTERNAL, 'the object service must not be reached by a refused request');
      },
    });
    await xfer.start();
    try {
      const base = `http://127.0.0.1:${xfer.port}`;
      assert.ok(XFER_ROUTES.length >= 2);
      for (const route of [...XFER_ROUTES, { method: 'POST', path: '/unknown', need: { role: 'reader', scope: 'objects' } } as const]) {
        const label = `${route.method} ${route.path}`;
        const call = (token: string | undefined): Promise<Response> =>
          fetch(`${base}${route.path}`, { method: route.method, headers: { 'content-type': 'application/x-www-form-urlencoded', ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}) }, body: 'name=x' });
        const none = await call(undefined);
        assert.equal(none.status, 401, `${label} without a token`);
        assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="flotilla"', label);
        assert.match(await none.text(), /needs an API token/);
        const revoked = await call(tokens.revoked);
        await revoked.body?.cancel();
        assert.equal(revoked.status, 401, `${label} with a revoked token`);
        const low = await call(tooLow(tokens, route.need));
        assert.equal(low.status, 403, `${label} with too low a role or another scope: ${await low.text()}`);
      }
    } finally {
      await xfer.stop();
      await registry.stop();
    }
  });

  for (const which of ['server', 'node'] as const) {
    it(`every HTTP route of the ${which} is refused without a token, with a revoked one and with too low a role`, async () => {
      const proc = which === 'server' ? server : node;
      const base = which === 'server' ? serverBase : nodeBase;
      const routes = proc.http.routes();
      assert.ok(routes.length >= (which === 'server' ? 30 : 10), `enumerated ${routes.length} routes`);
      const checked: string[] = [];
      for (const route of routes) {
        const url = concrete(route.url);
        const need = httpRequirement(route.method, route.url, url);
        if (need.public === true) {
          assert.ok(EXPECTED_PUBLIC.has(route.url), `${route.method} ${route.url} is public but not in the expected public list`);
          continue;
        }
        const label = `${route.method} ${route.url}`;
        const none = await fetch(`${base}${url}`, { method: route.method });
        assert.equal(none.status, 401, `${label} without a token`);
        if (route.method !== 'HEAD') {
          const problem = (await none.json()) as { code: string };
          assert.equal(problem.code, 'UNAUTHENTICATED', label);
        }
        assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="flotilla"', label);
        const revoked = await api(base, tokens.revoked, route.method, url);
        await revoked.body?.cancel();
        assert.equal(revoked.status, 401, `${label} with a revoked token`);
        const low = await api(base, tooLow(tokens, need), route.method, url);
        assert.equal(low.status, 403, `${label} with too low a role or another scope`);
        if (route.method !== 'HEAD') assert.equal(((await low.json()) as { code: string }).code, 'PERMISSION_DENIED', label);
        checked.push(label);
      }
      assert.ok(checked.length > 0);
      const bad = await fetch(`${base}/api/v1/rings`, { headers: { authorization: 'Bearer not-a-token' } });
      assert.equal(bad.status, 401, 'a malformed token');
    });

    it(`every gRPC method on the ${which}'s port is refused without a token, with a revoked one and with too low a role`, async () => {
      const address = which === 'server' ? server.grpc.address : node.peerAddress();
      for (const service of SERVICES) {
        for (const method of service.methods) {
          const path = `/${service.typeName}/${method.name}`;
          const key = path.slice(1);
          assert.ok(GRPC_POLICY[key] !== undefined || ['KvReplicaService'].includes(service.name), `${key} has no explicit policy entry (it falls back to the cluster token)`);
          const none = await grpcStatus(address, path, undefined);
          assert.equal(none.status, 16, `${key} without a token: ${none.message}`);
          assert.match(none.message, /\[unauthenticated\]/);
          assert.equal((await grpcStatus(address, path, tokens.revoked)).status, 16, `${key} with a revoked token`);
          const need = GRPC_POLICY[key] ?? { role: 'cluster' as const };
          const low = await grpcStatus(address, path, tooLow(tokens, need as { role: string; scope?: Scope }));
          assert.equal(low.status, 7, `${key} with too low a role: ${low.message}`);
          assert.match(low.message, /\[permission_denied\]/);
        }
      }
    });
  }
});
