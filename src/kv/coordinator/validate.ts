/** Checks of client and peer input: keys, values, TTLs, consistency levels. Errors say what is wrong. */
import { Code, FlotillaError } from '../../core/errors.js';
import { MAX_KEY_BYTES, MAX_VALUE_BYTES, type Entry } from '../types.js';

export function checkKey(key: Uint8Array): void {
  if (key.length === 0) throw new FlotillaError(Code.INVALID_ARGUMENT, 'the key is empty: a key is 1 to 1024 bytes');
  if (key.length > MAX_KEY_BYTES) throw new FlotillaError(Code.INVALID_ARGUMENT, `the key is ${key.length} bytes; the limit is ${MAX_KEY_BYTES} bytes`);
}

export function checkValue(value: Uint8Array): void {
  if (value.length > MAX_VALUE_BYTES) {
    throw new FlotillaError(Code.INVALID_ARGUMENT, `the value is ${value.length} bytes; the limit is ${MAX_VALUE_BYTES} bytes (1 MiB)`, {
      details: { limitBytes: MAX_VALUE_BYTES, sizeBytes: value.length },
    });
  }
}

/** Largest TTL: 10 years. */
export const MAX_TTL_MS = 10 * 365 * 86_400_000;

export function checkTtl(ttlMs: number): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 0 || ttlMs > MAX_TTL_MS) {
    throw new FlotillaError(Code.INVALID_ARGUMENT, `the TTL must be 0 (none) to ${MAX_TTL_MS} ms, got ${ttlMs}`);
  }
}

/** An entry coming from a peer: well-formed key, value, version. */
export function checkEntry(e: Entry): void {
  checkKey(e.key);
  checkValue(e.value);
  const v = e.version;
  if (!Number.isSafeInteger(v.wallMs) || v.wallMs <= 0 || !Number.isInteger(v.logical) || v.logical < 0 || v.node === '' || Buffer.byteLength(v.node) > 255) {
    throw new FlotillaError(Code.INVALID_ARGUMENT, 'an entry has a malformed version');
  }
  if (!Number.isSafeInteger(e.expiresAtMs) || e.expiresAtMs < 0) throw new FlotillaError(Code.INVALID_ARGUMENT, 'an entry has a malformed expiry');
}

/** Consistency levels a request may name. */
export type ConsistencyLevel = 'default' | 'one' | 'quorum' | 'all';

export const CONSISTENCY_LEVELS: readonly ConsistencyLevel[] = ['one', 'quorum', 'all'];

/** Parses a level as people type it (`one`, `quorum`, `all`, or a number of replicas). */
export function parseConsistency(text: string): { value: { level: ConsistencyLevel; replicas: number }; error?: undefined } | { error: string } {
  const t = text.trim().toLowerCase();
  if (t === 'one' || t === 'quorum' || t === 'all') return { value: { level: t, replicas: 0 } };
  if (/^\d+$/.test(t) && Number(t) >= 1) return { value: { level: 'default', replicas: Number(t) } };
  return { error: `unknown consistency level ${JSON.stringify(text)}: use one, quorum, all or a number of replicas` };
}

/**
 * The number of replicas a request waits for. `replicas` > 0 overrides the level; the level 'default'
 * uses the cluster's setting. Errors (INVALID_ARGUMENT) when the result is not in 1..n.
 */
export function resolveQuorum(level: ConsistencyLevel, replicas: number, n: number, clusterDefault: number, what: 'W' | 'R'): number {
  let q: number;
  if (replicas > 0) q = replicas;
  else if (level === 'one') q = 1;
  else if (level === 'quorum') q = Math.floor(n / 2) + 1;
  else if (level === 'all') q = n;
  else q = Math.min(clusterDefault, n);
  if (!Number.isInteger(q) || q < 1 || q > n) {
    throw new FlotillaError(Code.INVALID_ARGUMENT, `${what}=${q} is impossible with N=${n} replicas: ${what} must be 1..${n}`);
  }
  return q;
}
