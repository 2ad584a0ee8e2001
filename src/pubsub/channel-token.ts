/**
 * Channel tokens: compact JWTs signed with HMAC-SHA256 (HS256) carrying the channel a subscriber may
 * read and an expiry, as Centrifugo's subscription tokens do. Verification is strict: the header must
 * say HS256 (no `none`, no other algorithm), the signature must match in constant time, `exp` must be
 * in the future and `channel` must be the channel asked for.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Code, FlotillaError } from '../core/errors.js';

export interface ChannelClaims {
  channel: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
  /** Optional subject (the user the application issued the token to). */
  sub?: string;
  iat?: number;
}

const b64url = (buf: Buffer): string => buf.toString('base64url');

function sign(input: string, secret: string): Buffer {
  return createHmac('sha256', secret).update(input).digest();
}

/** Signs a token for `channel` valid for `ttlMs` from `nowMs`. */
export function signChannelToken(options: { channel: string; secret: string; ttlMs: number; nowMs?: number; sub?: string }): string {
  const now = options.nowMs ?? Date.now();
  const header = b64url(Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })));
  const claims: ChannelClaims = { channel: options.channel, exp: Math.floor((now + options.ttlMs) / 1000), iat: Math.floor(now / 1000) };
  if (options.sub !== undefined) claims.sub = options.sub;
  const payload = b64url(Buffer.from(JSON.stringify(claims)));
  return `${header}.${payload}.${b64url(sign(`${header}.${payload}`, options.secret))}`;
}

function bad(why: string): FlotillaError {
  return new FlotillaError(Code.UNAUTHENTICATED, `invalid channel token: ${why}`);
}

function decodeJson(part: string, what: string): Record<string, unknown> {
  if (!/^[A-Za-z0-9_-]+$/.test(part)) throw bad(`${what} is not base64url`);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw bad(`${what} is not JSON`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw bad(`${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

/** Verifies `token` for `channel`; returns its claims or throws UNAUTHENTICATED / PERMISSION_DENIED. */
export function verifyChannelToken(token: string, options: { channel: string; secret: string; nowMs?: number }): ChannelClaims {
  if (typeof token !== 'string' || token.length > 4096) throw bad('not a token');
  const parts = token.split('.');
  if (parts.length !== 3) throw bad('expected three dot-separated parts');
  const [h, p, s] = parts as [string, string, string];
  const header = decodeJson(h, 'header');
  if (header.alg !== 'HS256') throw bad(`algorithm ${JSON.stringify(header.alg)} is not accepted (HS256 only)`);
  if (header.typ !== undefined && header.typ !== 'JWT') throw bad('typ must be JWT');
  if (!/^[A-Za-z0-9_-]+$/.test(s)) throw bad('signature is not base64url');
  const given = Buffer.from(s, 'base64url');
  const expected = sign(`${h}.${p}`, options.secret);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw bad('signature does not match');
  const claims = decodeJson(p, 'payload');
  if (typeof claims.exp !== 'number' || !Number.isFinite(claims.exp)) throw bad('exp (expiry, seconds) is missing');
  const now = options.nowMs ?? Date.now();
  if (claims.exp * 1000 <= now) throw new FlotillaError(Code.UNAUTHENTICATED, `channel token expired at ${new Date(claims.exp * 1000).toISOString()}`);
  if (typeof claims.channel !== 'string') throw bad('channel claim is missing');
  if (claims.channel !== options.channel) {
    throw new FlotillaError(Code.PERMISSION_DENIED, `channel token is for channel ${JSON.stringify(claims.channel)}, not ${JSON.stringify(options.channel)}`);
  }
  const out: ChannelClaims = { channel: claims.channel, exp: claims.exp };
  if (typeof claims.sub === 'string') out.sub = claims.sub;
  if (typeof claims.iat === 'number') out.iat = claims.iat;
  return out;
}
