/**
 * Who may use the embedded coordination store (the etcd v3 API on --coord-listen): the cluster join token
 * (servers, nodes, agents) and admin tokens, for everything. Reader and operator tokens may do nothing
 * there: the store holds every capability's internal state and the token records themselves, and its
 * API has no notion of Flotilla's scopes, so a read-only role there would still read internals; people
 * reach that state through the HTTP API and the CLI instead. A token limited to scopes needs the
 * `cluster` scope. The server's own client uses a per-process secret (it reads the token list before any
 * token is loaded). See docs/security.md.
 */
import { timingSafeEqual } from 'node:crypto';
import { Code, FlotillaError } from '../core/errors.js';
import type { TokenVerifier } from './token-store.js';

export interface CoordStoreAuthorizerOptions {
  /** The tokens known (undefined until loaded: callers then get UNAVAILABLE). */
  verifier: () => TokenVerifier | undefined;
  /** A secret the server's own coordination client sends: accepted before the token list is loaded. */
  internalToken?: string;
}

const HOW = 'etcdctl --user flotilla:<token>, or the header Authorization: Bearer <token>';

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The `authorize` of the embedded store's `auth` option: the refusal for a call, or undefined. */
export function createCoordStoreAuthorizer(o: CoordStoreAuthorizerOptions): (credential: string | undefined, method: string) => FlotillaError | undefined {
  return (credential, method) => {
    const what = `the coordination store (${method})`;
    if (credential === undefined || credential === '') {
      return new FlotillaError(Code.UNAUTHENTICATED, `${what} needs the cluster join token or an admin token (${HOW})`);
    }
    if (o.internalToken !== undefined && sameSecret(credential, o.internalToken)) return undefined;
    const verifier = o.verifier();
    if (verifier === undefined) return new FlotillaError(Code.UNAVAILABLE, 'authentication is starting: the token list is not loaded yet');
    try {
      const p = verifier.verify(credential);
      if (p.role !== 'cluster' && p.role !== 'admin') {
        return new FlotillaError(Code.PERMISSION_DENIED, `${what} needs the cluster join token or an admin token; token ${p.tokenId} (${p.name}) has the ${p.role} role`);
      }
      if (p.scopes.length > 0 && !p.scopes.includes('cluster')) {
        return new FlotillaError(Code.PERMISSION_DENIED, `${what} needs the cluster scope; token ${p.tokenId} (${p.name}) is limited to ${p.scopes.join(', ')}`);
      }
      return undefined;
    } catch (err) {
      return FlotillaError.from(err);
    }
  };
}
