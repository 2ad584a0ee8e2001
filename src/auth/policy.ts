/**
 * The one authorization policy of Flotilla: which role and scope a request needs, and whether a
 * principal has them. HTTP requirements derive from the method and the path (so a route added later is
 * protected without anyone listing it); gRPC requirements come from a table per method, and a method the
 * table does not know needs the cluster (join) token.
 *
 * Roles: reader < operator < admin. The join token's role, `cluster`, passes every requirement up to
 * operator and the internal (`cluster`) ones; admin passes everything.
 */
import { Code, FlotillaError } from '../core/errors.js';
import type { Principal, Role, Scope } from './tokens.js';

export type Requirement = { public: true; why: string } | { public?: false; role: Role; scope?: Scope };

/**
 * HTTP routes (by their Fastify route pattern) that answer without an API token, and why. Anything not
 * listed needs a token. The test in test/auth enumerates every route and fails on a public one not here.
 */
export const PUBLIC_HTTP_ROUTES: Readonly<Record<string, string>> = {
  '/healthz': 'liveness probe (process name and version only)',
  '/readyz': 'readiness probe',
  '/ws': 'scheduled messages over WebSocket: each subscription carries a channel token',
  '/sse': 'scheduled messages over server-sent events: each subscription carries a channel token',
  '/auth/oidc': 'dashboard login: whether OpenID Connect login is configured',
  '/auth/oidc/login': 'dashboard login: redirect to the OpenID provider',
  '/auth/oidc/callback': 'dashboard login: the provider redirects back here (state, nonce and PKCE checked)',
  '/': "catch-all: the node's S3 API (every request SigV4-verified) or the dashboard's static files",
  '/*': "catch-all: the node's S3 API (every request SigV4-verified) or the dashboard's static files",
};

/** Path prefixes and the capability scope they belong to. */
const HTTP_SCOPES: [prefix: string, scope: Scope][] = [
  ['/api/v1/agents', 'monitor'],
  ['/api/v1/query', 'monitor'],
  ['/api/v1/series', 'monitor'],
  ['/api/v1/labels', 'monitor'],
  ['/api/v1/label/', 'monitor'],
  ['/api/v1/rules', 'monitor'],
  ['/api/v1/alerts', 'monitor'],
  ['/api/v1/metrics', 'monitor'],
  ['/metrics', 'monitor'],
  ['/api/v1/kv', 'kv'],
  ['/api/v1/objects', 'objects'],
  ['/api/v1/flows', 'flows'],
  ['/api/v1/publish', 'messages'],
  ['/api/v1/channel-tokens', 'messages'],
  ['/api/v1/messages', 'messages'],
  ['/api/v1/members', 'cluster'],
  ['/api/v1/rings', 'cluster'],
  ['/api/v1/cluster', 'cluster'],
];

/** POST routes that only read (query APIs, validation): reader is enough. */
const READ_ONLY_POSTS = new Set(['/api/v1/query', '/api/v1/query_range', '/api/v1/series', '/api/v1/labels', '/api/v1/flows/validate']);

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function underPrefix(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`) || (prefix.endsWith('/') && path.startsWith(prefix));
}

export function scopeOfPath(path: string): Scope | undefined {
  for (const [prefix, scope] of HTTP_SCOPES) {
    if (underPrefix(path, prefix) || (prefix === '/api/v1/query' && path === '/api/v1/query_range')) return scope;
  }
  return undefined;
}

/**
 * What an HTTP request needs. `routeUrl` is the matched route's pattern (undefined when no route
 * matched: such requests need a token too, so that route probing without one learns nothing).
 */
export function httpRequirement(method: string, routeUrl: string | undefined, url: string): Requirement {
  if (routeUrl !== undefined) {
    const why = PUBLIC_HTTP_ROUTES[routeUrl];
    if (why !== undefined) return { public: true, why };
  }
  const q = url.indexOf('?');
  const path = q >= 0 ? url.slice(0, q) : url;
  if (underPrefix(path, '/api/v1/auth')) return { role: 'admin' };
  // Node-to-node APIs (the object store's replica API): the join token's role only.
  if (underPrefix(path, '/internal')) return { role: 'cluster' };
  const scope = scopeOfPath(path);
  const reads = READ_METHODS.has(method.toUpperCase()) || (method.toUpperCase() === 'POST' && READ_ONLY_POSTS.has(path));
  return { role: reads ? 'reader' : 'operator', ...(scope !== undefined ? { scope } : {}) };
}

/** gRPC methods (`package.Service/Method`) and what they need. Unlisted methods need the cluster token. */
export const GRPC_POLICY: Readonly<Record<string, Requirement>> = {
  'flotilla.v1.ClusterService/CheckHealth': { role: 'reader', scope: 'cluster' },
  'flotilla.v1.ClusterService/ListMembers': { role: 'reader', scope: 'cluster' },
  'flotilla.v1.ClusterService/GetJoinInfo': { role: 'cluster' },
  'flotilla.v1.KvService/Get': { role: 'reader', scope: 'kv' },
  'flotilla.v1.KvService/Scan': { role: 'reader', scope: 'kv' },
  'flotilla.v1.KvService/CheckHealth': { role: 'reader', scope: 'kv' },
  'flotilla.v1.KvService/Put': { role: 'operator', scope: 'kv' },
  'flotilla.v1.KvService/Delete': { role: 'operator', scope: 'kv' },
  'flotilla.v1.MonitorService/ListAgents': { role: 'reader', scope: 'monitor' },
  'flotilla.v1.MonitorService/SendCommand': { role: 'operator', scope: 'monitor' },
  'flotilla.v1.MonitorService/CommandStream': { role: 'cluster' },
};

/** What the gRPC method at `path` (`/package.Service/Method`) needs. */
export function grpcRequirement(path: string): Requirement {
  const method = path.startsWith('/') ? path.slice(1) : path;
  return GRPC_POLICY[method] ?? { role: 'cluster' };
}

const RANK: Record<Role, number> = { reader: 1, operator: 2, cluster: 3, admin: 4 };

function roleSatisfies(have: Role, need: Role): boolean {
  if (have === 'admin') return true;
  if (need === 'admin') return false;
  if (need === 'cluster') return have === 'cluster';
  return RANK[have] >= RANK[need];
}

function describe(req: Exclude<Requirement, { public: true }>): string {
  return `the ${req.role} role${req.scope !== undefined ? ` and the ${req.scope} scope` : ''}`;
}

/**
 * Throws UNAUTHENTICATED when there is no principal, PERMISSION_DENIED when its role or scopes fall
 * short. `what` names the request in the message (e.g. `POST /api/v1/kv/x`).
 */
export function authorize(principal: Principal | undefined, req: Requirement, what: string): void {
  if (req.public === true) return;
  if (principal === undefined) {
    throw new FlotillaError(Code.UNAUTHENTICATED, `${what} needs an API token (Authorization: Bearer flt_...; the CLI takes --token or FLOTILLA_TOKEN)`);
  }
  if (!roleSatisfies(principal.role, req.role)) {
    throw new FlotillaError(Code.PERMISSION_DENIED, `${what} needs ${describe(req)}; token ${principal.tokenId} (${principal.name}) has the ${principal.role} role`);
  }
  if (principal.scopes.length > 0 && (req.scope === undefined || !principal.scopes.includes(req.scope))) {
    throw new FlotillaError(
      Code.PERMISSION_DENIED,
      `${what} needs ${req.scope !== undefined ? `the ${req.scope} scope` : 'an unscoped token'}; token ${principal.tokenId} (${principal.name}) is limited to ${principal.scopes.join(', ')}`,
    );
  }
}

/** The token text of an `Authorization: Bearer <token>` header, or undefined when absent. */
export function bearerOf(header: string | string[] | undefined): string | undefined {
  const h = Array.isArray(header) ? header[0] : header;
  if (h === undefined || h === '') return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  if (m === null) throw new FlotillaError(Code.UNAUTHENTICATED, 'the Authorization header must be "Bearer <token>"');
  return m[1];
}
