/**
 * etcd's "simple tokens" for the embedded store: `Auth.Authenticate(name, password)` trades a credential
 * (a Flotilla API token, checked by the caller) for a random token that the client sends as `token`
 * metadata on later calls, as etcdctl --user and every etcd client do. Like etcd's, a token expires after
 * `idleMs` without use (etcd: 5 minutes); the client then gets `etcdserver: invalid auth token` and
 * authenticates again. The table is bounded: when full, expired tokens go first, then the least recently
 * used one. Tokens live in memory only (a restart makes clients authenticate again, as in etcd).
 */
import { randomBytes } from 'node:crypto';
import { systemClock, type Clock } from './lease-manager.js';

export interface AuthSessionsOptions {
  /** Most tokens held at once. Default 10 000. */
  maxSessions?: number;
  /** A token unused this long expires. Default 300 000 (etcd's --auth-token simple TTL). */
  idleMs?: number;
  clock?: Clock;
}

interface Session {
  credential: string;
  lastUsedMs: number;
}

export class AuthSessions {
  private readonly sessions = new Map<string, Session>();
  private readonly maxSessions: number;
  private readonly idleMs: number;
  private readonly clock: Clock;
  private counter = 0;

  constructor(o: AuthSessionsOptions = {}) {
    this.maxSessions = Math.max(1, o.maxSessions ?? 10_000);
    this.idleMs = o.idleMs ?? 300_000;
    this.clock = o.clock ?? systemClock;
  }

  get size(): number {
    return this.sessions.size;
  }

  /** A new token standing for `credential`. */
  issue(credential: string): string {
    const now = this.clock.now();
    if (this.sessions.size >= this.maxSessions) this.evict(now);
    // etcd's simple tokens read `<16 random letters>.<index>`; ours carry 128 random bits.
    const token = `${randomBytes(16).toString('base64url')}.${++this.counter}`;
    this.sessions.set(token, { credential, lastUsedMs: now });
    return token;
  }

  /** The credential behind `token`, or undefined when unknown or expired; a use renews it. */
  lookup(token: string): string | undefined {
    const s = this.sessions.get(token);
    if (s === undefined) return undefined;
    const now = this.clock.now();
    this.sessions.delete(token);
    if (now - s.lastUsedMs > this.idleMs) return undefined;
    s.lastUsedMs = now;
    // Re-inserted: the map's order is least recently used first.
    this.sessions.set(token, s);
    return s.credential;
  }

  /** Forgets a token (e.g. its credential was revoked). */
  drop(token: string): void {
    this.sessions.delete(token);
  }

  private evict(now: number): void {
    for (const [token, s] of this.sessions) {
      if (now - s.lastUsedMs > this.idleMs) this.sessions.delete(token);
      else break; // ordered by last use: the rest are younger
    }
    while (this.sessions.size >= this.maxSessions) {
      const oldest = this.sessions.keys().next();
      if (oldest.done === true) break;
      this.sessions.delete(oldest.value);
    }
  }
}
