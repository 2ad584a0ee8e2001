/**
 * Rings in the coordination store: one key per ring, `/flotilla/rings/<name>`, holding the ring as stored
 * by ring-codec.ts. A ring is immutable once written; a change writes a new version (`version + 1`) with
 * a compare-and-swap on the key's mod revision as it was read, so of two admins changing the same
 * version, one wins and the other gets a version conflict: never a lost update. A new ring is written
 * only if the key does not exist (several processes racing to build it produce exactly one ring).
 */
import { Code, FlotillaError } from '../../core/errors.js';
import type { Coord, KeyValue } from '../../coord/index.js';
import type { RebalanceResult, Ring } from '../ring/index.js';
import { ringNameSchema } from '../ring/ring-device.js';
import { decodeRing, encodeRing, type RingEncoding } from './ring-codec.js';

export const RINGS_PREFIX = '/flotilla/rings/';

/** The key of a ring. */
export const ringKey = (name: string): string => RINGS_PREFIX + name;

/** A ring as read from (or written to) the store. */
export interface StoredRing {
  ring: Ring;
  /** The key's mod revision: what a later update compares against. */
  modRevision: number;
  /** The stored value's size in bytes, and its form. */
  storedBytes: number;
  encoding: RingEncoding;
}

/** A stored key that is not a readable ring (reported by `list`, never thrown there). */
export interface BadRing {
  name: string;
  key: string;
  error: FlotillaError;
}

/** The ring name of a key under RINGS_PREFIX, or undefined for a key that is not a ring (e.g. `a/b`). */
export function ringNameOfKey(key: string): string | undefined {
  if (!key.startsWith(RINGS_PREFIX)) return undefined;
  const name = key.slice(RINGS_PREFIX.length);
  return ringNameSchema.safeParse(name).success ? name : undefined;
}

/** Validates a ring name given by a caller (INVALID_ARGUMENT). */
export function checkRingName(name: unknown): string {
  if (typeof name !== 'string' || !ringNameSchema.safeParse(name).success) {
    throw new FlotillaError(Code.INVALID_ARGUMENT, `a ring name is 1..253 characters of A-Z a-z 0-9 . _ : -, got ${JSON.stringify(name)}`);
  }
  return name;
}

/** Decodes a stored key-value (FAILED_PRECONDITION when corrupt). */
export function storedRingFromKv(name: string, kv: KeyValue): StoredRing {
  const { ring, encoding } = decodeRing(kv.key, name, kv.value);
  return { ring, modRevision: kv.modRevision, storedBytes: kv.value.length, encoding };
}

function conflict(name: string, expectedVersion: number, current: KeyValue | undefined): FlotillaError {
  let now = 'the ring no longer exists';
  if (current !== undefined) {
    try {
      now = `the store now has version ${storedRingFromKv(name, current).ring.version}`;
    } catch {
      now = 'the store now holds an unreadable value';
    }
  }
  return new FlotillaError(
    Code.FAILED_PRECONDITION,
    `version conflict on ring ${name}: it changed since version ${expectedVersion} was read (${now}); read it again and redo the change`,
    { retryable: true, details: { reason: 'ring_version_conflict', ring: name, expectedVersion } },
  );
}

export class RingStore {
  constructor(private readonly coord: Coord) {}

  /** The ring `name`, or undefined when it does not exist. FAILED_PRECONDITION when it is corrupt. */
  async get(name: string): Promise<StoredRing | undefined> {
    checkRingName(name);
    const kv = await this.coord.get(ringKey(name));
    return kv === undefined ? undefined : storedRingFromKv(name, kv);
  }

  /** Like get, but NOT_FOUND when the ring does not exist. */
  async require(name: string): Promise<StoredRing> {
    const stored = await this.get(name);
    if (stored === undefined) throw new FlotillaError(Code.NOT_FOUND, `ring ${name} does not exist (build it with: flotilla ring build ${name} ...)`);
    return stored;
  }

  /** Every ring, by name, read at one revision; unreadable ones are listed apart in `bad`. */
  async list(): Promise<{ rings: StoredRing[]; bad: BadRing[]; revision: number }> {
    const res = await this.coord.range(RINGS_PREFIX);
    const rings: StoredRing[] = [];
    const bad: BadRing[] = [];
    for (const kv of res.kvs) {
      const name = ringNameOfKey(kv.key);
      if (name === undefined) continue;
      try {
        rings.push(storedRingFromKv(name, kv));
      } catch (err) {
        bad.push({ name, key: kv.key, error: FlotillaError.from(err) });
      }
    }
    return { rings, bad, revision: res.revision };
  }

  /**
   * Stores a new ring (version 1) only if no ring of that name exists. ALREADY_EXISTS otherwise (the
   * existing ring is returned in the error's details as `version`). RESOURCE_EXHAUSTED when too large.
   */
  async create(ring: Ring): Promise<StoredRing> {
    checkRingName(ring.name);
    if (ring.version !== 1) throw new FlotillaError(Code.INVALID_ARGUMENT, `a new ring has version 1, ring ${ring.name} has version ${ring.version}`);
    const encoded = encodeRing(ring);
    const key = ringKey(ring.name);
    const res = await this.coord.txn({
      compare: [{ key, target: 'createRevision', op: '=', value: 0 }],
      then: [{ type: 'put', key, value: encoded.value }],
      else: [{ type: 'get', key }],
    });
    if (!res.succeeded) {
      const first = res.results[0];
      const current = first?.type === 'get' ? first.kvs[0] : undefined;
      let version: number | undefined;
      try {
        version = current === undefined ? undefined : storedRingFromKv(ring.name, current).ring.version;
      } catch {
        version = undefined;
      }
      throw new FlotillaError(
        Code.ALREADY_EXISTS,
        `ring ${ring.name} already exists${version !== undefined ? ` (version ${version})` : ''}; change it with rebalance, add-device or remove-device`,
        { details: { ring: ring.name, ...(version !== undefined ? { version } : {}) } },
      );
    }
    return { ring, modRevision: res.revision, storedBytes: encoded.value.length, encoding: encoded.encoding };
  }

  /**
   * Stores `next` (version previous + 1, same name) only if the key still holds `previous` (same mod
   * revision). FAILED_PRECONDITION with details.reason 'ring_version_conflict' (retryable) otherwise.
   */
  async update(previous: StoredRing, next: Ring): Promise<StoredRing> {
    const name = previous.ring.name;
    if (next.name !== name) throw new FlotillaError(Code.INVALID_ARGUMENT, `cannot store ring ${next.name} in place of ring ${name}`);
    if (next.version !== previous.ring.version + 1) {
      throw new FlotillaError(Code.INVALID_ARGUMENT, `ring ${name}: the next version of ${previous.ring.version} is ${previous.ring.version + 1}, got ${next.version}`);
    }
    const encoded = encodeRing(next);
    const res = await this.coord.compareAndSwap(ringKey(name), previous.modRevision, encoded.value);
    if (res.revision === undefined) throw conflict(name, previous.ring.version, res.current);
    return { ring: next, modRevision: res.revision, storedBytes: encoded.value.length, encoding: encoded.encoding };
  }

  /**
   * Reads ring `name` (NOT_FOUND if missing), applies `change` (a builder call: rebalanceRing, addDevice,
   * removeDevice, setWeight) and stores the result with update(). Nothing is written when the change
   * leaves the ring as it was (`stored` is then undefined). A concurrent change gives a version conflict.
   */
  async change(name: string, change: (ring: Ring) => RebalanceResult): Promise<{ previous: StoredRing; result: RebalanceResult; stored: StoredRing | undefined }> {
    const previous = await this.require(name);
    const result = change(previous.ring);
    if (!result.changed) return { previous, result, stored: undefined };
    return { previous, result, stored: await this.update(previous, result.ring) };
  }
}
