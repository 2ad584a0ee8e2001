/**
 * API tokens: their text form, roles, scopes and the stored (hashed) record.
 *
 * A token reads `flt_<id>_<secret>`: `id` is 12 hex digits (public: it names the token in lists, logs
 * and `revoke`), `secret` is 32 random bytes in base64url (256 bits). Only SHA-256(secret) is stored.
 * A fast hash is the right one here: a slow KDF (scrypt, argon2) protects low-entropy passwords against
 * guessing, but a 256-bit random secret cannot be guessed whatever the hash costs, and every request
 * verifies a token, so verification must take microseconds, not the tens of milliseconds scrypt takes.
 * Hashes are compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { Code, FlotillaError } from '../core/errors.js';

/** Roles, weakest first. `cluster` is the join token's role: internal RPC between cluster processes. */
export const ROLES = ['reader', 'operator', 'admin'] as const;
export type UserRole = (typeof ROLES)[number];
export type Role = UserRole | 'cluster';

/** Per-capability scopes: a token with scopes may use only the APIs of those capabilities. */
export const SCOPES = ['monitor', 'kv', 'objects', 'flows', 'messages', 'cluster'] as const;
export type Scope = (typeof SCOPES)[number];

/** The token as stored in the coordination store (never the secret). */
export const tokenRecordSchema = z.object({
  id: z.string().regex(/^[0-9a-f]{12}$/),
  name: z.string(),
  role: z.enum(['reader', 'operator', 'admin', 'cluster']),
  /** Empty: every capability. */
  scopes: z.array(z.enum(SCOPES)),
  /** Hex SHA-256 of the secret. */
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  createdAt: z.string(),
  /** ISO time after which the token is refused; absent: never expires. */
  expiresAt: z.string().optional(),
  /** Set when revoked: the record is kept so that the refusal can say so. */
  revokedAt: z.string().optional(),
  /** Token id (or `bootstrap`) that created it. */
  createdBy: z.string(),
});
export type TokenRecord = z.infer<typeof tokenRecordSchema>;

/** What a list shows of a token. */
export type TokenInfo = Omit<TokenRecord, 'hash'>;

export const TOKEN_RE = /^flt_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

export interface NewToken {
  /** The whole token text: shown once, never stored. */
  token: string;
  record: TokenRecord;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** A fresh token and the record to store for it. */
export function newToken(options: { name: string; role: Role; scopes?: Scope[]; ttlMs?: number; createdBy: string; nowMs?: number }): NewToken {
  const nowMs = options.nowMs ?? Date.now();
  const id = randomBytes(6).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const record: TokenRecord = {
    id,
    name: options.name,
    role: options.role,
    scopes: [...new Set(options.scopes ?? [])].sort(),
    hash: hashSecret(secret),
    createdAt: new Date(nowMs).toISOString(),
    ...(options.ttlMs !== undefined ? { expiresAt: new Date(nowMs + options.ttlMs).toISOString() } : {}),
    createdBy: options.createdBy,
  };
  return { token: `flt_${id}_${secret}`, record };
}

/** Splits a token's text; a malformed one is UNAUTHENTICATED (it is what a client sent). */
export function parseToken(text: string): { id: string; secret: string } {
  const m = TOKEN_RE.exec(text.trim());
  if (m === null) throw new FlotillaError(Code.UNAUTHENTICATED, 'malformed API token (expected flt_<id>_<secret>)');
  return { id: m[1]!, secret: m[2]! };
}

/** True when `secret` hashes to the record's hash (constant time). */
export function secretMatches(record: TokenRecord, secret: string): boolean {
  const want = Buffer.from(record.hash, 'hex');
  const got = Buffer.from(hashSecret(secret), 'hex');
  return want.length === got.length && timingSafeEqual(want, got);
}

/** The record without its hash. */
export function tokenInfo(record: TokenRecord): TokenInfo {
  const { hash: _hash, ...info } = record;
  return info;
}

/** The role and scopes a verified token grants. */
export interface Principal {
  tokenId: string;
  name: string;
  role: Role;
  /** Empty: every capability. */
  scopes: readonly Scope[];
}
