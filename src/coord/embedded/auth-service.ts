/**
 * Authentication of the embedded coordination store, in etcd's terms, over Flotilla API tokens
 * (docs/security.md, "The coordination store"):
 *
 * - every call carries a credential: `authorization: Bearer <Flotilla token>` or `flotilla-token: <token>` (Flotilla's own clients),
 *   or etcd's `token` metadata holding a token that `Auth.Authenticate(name, password)` issued for a
 *   Flotilla token given as the password (etcdctl --user NAME:TOKEN, every etcd client);
 * - which tokens may do what is the caller's policy (`EmbeddedCoordAuth.authorize`, given by the server);
 * - Authenticate and AuthStatus answer without a credential (they are how a client gets one);
 * - etcd users and roles are not kept: their methods answer FAILED_PRECONDITION saying what to do instead.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { ServiceImpl } from '@connectrpc/connect';
import { Code, FlotillaError } from '../../core/errors.js';
import type { Auth } from '../../gen/etcdserverpb/rpc_pb.js';
import { AuthSessions } from './auth-sessions.js';
import type { Clock } from './lease-manager.js';
import type { HeaderInit } from './proto-convert.js';
import { etcdError } from './types.js';

export interface EmbeddedCoordAuth {
  /**
   * Whether `credential` (the token of `authorization: Bearer`, or the one behind an etcd `token`;
   * undefined when the call carries none) may call `method` (`etcdserverpb.KV/Range`). Returns the
   * refusal (UNAUTHENTICATED, PERMISSION_DENIED, or UNAVAILABLE while tokens load), else undefined.
   */
  authorize(credential: string | undefined, method: string): FlotillaError | undefined;
  /** Most etcd tokens issued by Authenticate held at once (least recently used dropped first). Default 10 000. */
  maxSessions?: number;
  /** An etcd token unused this long expires (the client authenticates again). Default 300 000 (etcd's). */
  sessionIdleMs?: number;
}

/** Methods that answer without a credential. */
const PUBLIC_METHODS = new Set(['/etcdserverpb.Auth/Authenticate', '/etcdserverpb.Auth/AuthStatus']);

const NO_USERS =
  'etcd users and roles are not kept by the Flotilla coordination store: it takes a Flotilla API token (the cluster join token or an admin token) as the password, e.g. etcdctl --user flotilla:<token>; manage tokens with `flotilla auth token create|list|revoke`';

/** The credential checker for every request of the store, and the Auth service over the same sessions. */
export interface StoreAuth {
  /** The refusal for a request to `path` (`/etcdserverpb.KV/Range`) with these headers, or undefined. */
  check(path: string, headers: IncomingHttpHeaders): FlotillaError | undefined;
  sessions: AuthSessions | undefined;
}

function bearerOf(header: string | string[] | undefined): string | undefined | FlotillaError {
  const h = Array.isArray(header) ? header[0] : header;
  if (h === undefined || h === '') return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  if (m === null) return new FlotillaError(Code.UNAUTHENTICATED, 'the authorization header must be "Bearer <token>"');
  return m[1];
}

export function createStoreAuth(auth: EmbeddedCoordAuth | undefined, clock?: Clock): StoreAuth {
  if (auth === undefined) return { check: () => undefined, sessions: undefined };
  const sessions = new AuthSessions({
    ...(auth.maxSessions !== undefined ? { maxSessions: auth.maxSessions } : {}),
    ...(auth.sessionIdleMs !== undefined ? { idleMs: auth.sessionIdleMs } : {}),
    ...(clock !== undefined ? { clock } : {}),
  });
  return {
    sessions,
    check(path, headers) {
      if (PUBLIC_METHODS.has(path)) return undefined;
      const method = path.slice(1);
      const etcdToken = Array.isArray(headers.token) ? headers.token[0] : headers.token;
      if (etcdToken !== undefined && etcdToken !== '') {
        const credential = sessions.lookup(etcdToken);
        if (credential === undefined) return etcdError('invalidAuthToken');
        const refused = auth.authorize(credential, method);
        // A revoked or expired Flotilla token ends its etcd tokens too.
        if (refused !== undefined) sessions.drop(etcdToken);
        return refused;
      }
      // Flotilla's etcd client sends its token as `flotilla-token` (real etcd would take `authorization` for one of its own).
      const own = Array.isArray(headers['flotilla-token']) ? headers['flotilla-token'][0] : headers['flotilla-token'];
      if (own !== undefined && own !== '') return auth.authorize(own, method);
      const bearer = bearerOf(headers.authorization);
      if (bearer instanceof FlotillaError) return bearer;
      return auth.authorize(bearer, method);
    },
  };
}

export function createAuthServiceImpl(o: { auth: EmbeddedCoordAuth | undefined; sessions: AuthSessions | undefined; header: () => HeaderInit }): ServiceImpl<typeof Auth> {
  const { auth, sessions, header } = o;
  const noUsers = async (): Promise<never> => {
    throw new FlotillaError(Code.FAILED_PRECONDITION, NO_USERS);
  };
  return {
    authenticate: async (req) => {
      if (auth === undefined || sessions === undefined) throw etcdError('authNotEnabled');
      const refused = auth.authorize(req.password === '' ? undefined : req.password, 'etcdserverpb.Auth/Authenticate');
      if (refused !== undefined) throw refused;
      return { header: header(), token: sessions.issue(req.password) };
    },
    authStatus: async () => ({ header: header(), enabled: auth !== undefined, authRevision: 1n }),
    authEnable: async () => {
      if (auth !== undefined) return { header: header() };
      throw new FlotillaError(
        Code.FAILED_PRECONDITION,
        "authentication of the coordination store follows the server's: it is on when the server runs with authentication (--auth on, or any listener beyond loopback)",
      );
    },
    authDisable: async () => {
      throw new FlotillaError(Code.FAILED_PRECONDITION, "authentication of the coordination store follows the server's and cannot be turned off here");
    },
    userAdd: noUsers,
    userGet: noUsers,
    userList: noUsers,
    userDelete: noUsers,
    userChangePassword: noUsers,
    userGrantRole: noUsers,
    userRevokeRole: noUsers,
    roleAdd: noUsers,
    roleGet: noUsers,
    roleList: noUsers,
    roleDelete: noUsers,
    roleGrantPermission: noUsers,
    roleRevokePermission: noUsers,
  };
}
