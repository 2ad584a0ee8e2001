/**
 * Buckets in the coordination store: `/flotilla/objects/buckets/<name>` -> JSON BucketInfo, created
 * create-only (a transaction on version 0). Reads are cached: the data path keeps working on the last
 * known buckets while the coordination store is unreachable.
 */
import { Code, FlotillaError } from '../../core/errors.js';
import type { Coord } from '../../coord/index.js';
import type { BucketInfo } from '../object-service.js';
import { checkBucketName, checkNewBucketName, DEFAULT_POLICY, policyOf } from './names.js';

export const BUCKETS_PREFIX = '/flotilla/objects/buckets/';

export class BucketRegistry {
  private readonly cache = new Map<string, BucketInfo>();

  constructor(private readonly coord: () => Coord) {}

  async create(name: string, policy: string = DEFAULT_POLICY, nowMs = Date.now()): Promise<BucketInfo> {
    checkNewBucketName(name);
    policyOf(policy);
    const info: BucketInfo = { name, policy, createdAtMs: nowMs };
    const key = BUCKETS_PREFIX + name;
    const r = await this.coord().txn({ compare: [{ key, target: 'version', op: '=', value: 0 }], then: [{ type: 'put', key, value: JSON.stringify(info) }] });
    if (!r.succeeded) throw new FlotillaError(Code.ALREADY_EXISTS, `bucket ${name} already exists`);
    this.cache.set(name, info);
    return info;
  }

  /** The last value get() or create() saw (no look-up; undefined when none). */
  cached(name: string): BucketInfo | undefined {
    return this.cache.get(name);
  }

  /** NOT_FOUND when missing. Falls back on the cached value when the store cannot be reached. */
  async get(name: string): Promise<BucketInfo> {
    checkBucketName(name);
    let kv;
    try {
      kv = await this.coord().get(BUCKETS_PREFIX + name);
    } catch (err) {
      const cached = this.cache.get(name);
      if (cached !== undefined) return cached;
      throw FlotillaError.from(err, Code.UNAVAILABLE);
    }
    if (kv === undefined) {
      this.cache.delete(name);
      throw new FlotillaError(Code.NOT_FOUND, `bucket ${name} does not exist`);
    }
    const info = JSON.parse(kv.value.toString('utf8')) as BucketInfo;
    this.cache.set(name, info);
    return info;
  }

  async list(): Promise<BucketInfo[]> {
    const r = await this.coord().range(BUCKETS_PREFIX);
    return r.kvs.map((kv) => JSON.parse(kv.value.toString('utf8')) as BucketInfo);
  }

  async delete(name: string): Promise<void> {
    const r = await this.coord().delete(BUCKETS_PREFIX + name);
    this.cache.delete(name);
    if (r.deleted === 0) throw new FlotillaError(Code.NOT_FOUND, `bucket ${name} does not exist`);
  }
}
