/**
 * Tokens in the coordination store (`/flotilla/auth/tokens/<id>`, JSON TokenRecord without the secret),
 * so that every process (server and nodes) verifies the same tokens. Each process keeps a local copy
 * (TokenRegistry: a range read, then a watch from the next revision): verifying a token never waits on
 * the store, and a revocation takes effect everywhere within one watch round-trip.
 */
import { Code, FlotillaError } from '../core/errors.js';
import type { Component } from '../core/lifecycle.js';
import { silentLogger, type Logger } from '../core/log.js';
import type { Coord, Watch, WatchEvent } from '../coord/index.js';
import { newToken, parseToken, secretMatches, tokenInfo, tokenRecordSchema, type NewToken, type Principal, type Role, type Scope, type TokenInfo, type TokenRecord } from './tokens.js';

export const TOKENS_PREFIX = '/flotilla/auth/tokens/';

function parseRecord(value: Buffer): TokenRecord | undefined {
  try {
    const r = tokenRecordSchema.safeParse(JSON.parse(value.toString('utf8')));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

export interface CreateTokenOptions {
  name: string;
  role: Role;
  scopes?: Scope[];
  ttlMs?: number;
  /** The creating token's id, or `bootstrap`. */
  createdBy: string;
}

/** Stores a new token and returns it (the only time its secret exists outside the client). */
export async function createToken(coord: Coord, options: CreateTokenOptions): Promise<NewToken> {
  const t = newToken(options);
  await coord.put(TOKENS_PREFIX + t.record.id, JSON.stringify(t.record));
  return t;
}

export async function listTokens(coord: Coord): Promise<TokenRecord[]> {
  const res = await coord.range(TOKENS_PREFIX);
  return res.kvs.map((kv) => parseRecord(kv.value)).filter((r): r is TokenRecord => r !== undefined);
}

/** Marks a token revoked (the record stays so that refusals can say so). NOT_FOUND for an unknown id. */
export async function revokeToken(coord: Coord, id: string, nowMs = Date.now()): Promise<TokenInfo> {
  if (!/^[0-9a-f]{12}$/.test(id)) throw new FlotillaError(Code.INVALID_ARGUMENT, `invalid token id ${JSON.stringify(id)}: expected 12 hex digits`);
  const kv = await coord.get(TOKENS_PREFIX + id);
  const record = kv === undefined ? undefined : parseRecord(kv.value);
  if (record === undefined) throw new FlotillaError(Code.NOT_FOUND, `no token ${id}`);
  if (record.revokedAt !== undefined) return tokenInfo(record);
  const revoked: TokenRecord = { ...record, revokedAt: new Date(nowMs).toISOString() };
  await coord.put(TOKENS_PREFIX + id, JSON.stringify(revoked));
  return tokenInfo(revoked);
}

/** Whether a record is usable now (not revoked, not expired). */
export function isLive(record: TokenRecord, nowMs = Date.now()): boolean {
  return record.revokedAt === undefined && (record.expiresAt === undefined || Date.parse(record.expiresAt) > nowMs);
}

export interface TokenRegistryOptions {
  coord: () => Coord;
  logger?: Logger;
  /** Clock for expiry. Default Date.now. */
  nowMs?: () => number;
}

export interface TokenVerifier {
  /** The principal of a token's text; UNAUTHENTICATED for a malformed, unknown, revoked or expired one. */
  verify(text: string): Principal;
}

/** The local copy of the token records, kept current by a watch. */
export class TokenRegistry implements Component, TokenVerifier {
  readonly name = 'auth-tokens';
  private readonly records = new Map<string, TokenRecord>();
  private readonly logger: Logger;
  private readonly nowMs: () => number;
  private watch: Watch | undefined;
  private loaded = false;
  private stopped = false;
  private reloading: Promise<void> | undefined;

  constructor(private readonly options: TokenRegistryOptions) {
    this.logger = options.logger ?? silentLogger();
    this.nowMs = options.nowMs ?? Date.now;
  }

  /** True once the first read of the store has been applied. */
  get ready(): boolean {
    return this.loaded;
  }

  async start(): Promise<void> {
    await this.load();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const w = this.watch;
    this.watch = undefined;
    await w?.close();
    await this.reloading;
  }

  /** Every record known, for lists. */
  all(): TokenRecord[] {
    return [...this.records.values()];
  }

  private async load(): Promise<void> {
    const coord = this.options.coord();
    const res = await coord.range(TOKENS_PREFIX);
    this.records.clear();
    for (const kv of res.kvs) {
      const r = parseRecord(kv.value);
      if (r !== undefined) this.records.set(r.id, r);
    }
    this.loaded = true;
    const w = coord.watch({ key: TOKENS_PREFIX, prefix: true, fromRevision: res.revision + 1 });
    w.on('watch:event', (e) => this.apply(e));
    w.on('watch:error', (err) => {
      // Terminal (e.g. compacted): read everything again and watch from there.
      this.logger.warn({ err: err.message }, 'auth: token watch ended; reloading the token list');
      if (this.stopped || this.watch !== w) return;
      this.watch = undefined;
      this.reloading = this.reload();
    });
    this.watch = w;
    await w.ready;
  }

  private async reload(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        await this.load();
        return;
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, 'auth: cannot reload the token list; retrying');
        await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** attempt)));
      }
    }
  }

  private apply(e: WatchEvent): void {
    const id = e.kv.key.slice(TOKENS_PREFIX.length);
    if (e.type === 'delete') {
      this.records.delete(id);
      return;
    }
    const r = parseRecord(e.kv.value);
    if (r === undefined || r.id !== id) {
      this.logger.warn({ key: e.kv.key }, 'auth: ignoring a malformed token record');
      return;
    }
    this.records.set(id, r);
  }

  verify(text: string): Principal {
    if (!this.loaded) throw new FlotillaError(Code.UNAVAILABLE, 'authentication is starting: the token list is not loaded yet');
    const { id, secret } = parseToken(text);
    const r = this.records.get(id);
    if (r === undefined || !secretMatches(r, secret)) throw new FlotillaError(Code.UNAUTHENTICATED, `unknown API token ${id}`);
    if (r.revokedAt !== undefined) throw new FlotillaError(Code.UNAUTHENTICATED, `API token ${id} (${r.name}) was revoked at ${r.revokedAt}`);
    if (r.expiresAt !== undefined && Date.parse(r.expiresAt) <= this.nowMs()) {
      throw new FlotillaError(Code.UNAUTHENTICATED, `API token ${id} (${r.name}) expired at ${r.expiresAt}`);
    }
    return { tokenId: r.id, name: r.name, role: r.role, scopes: r.scopes };
  }
}
