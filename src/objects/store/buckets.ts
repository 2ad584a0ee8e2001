/**
 * Buckets in the coordination store: `/flotilla/objects/buckets/<name>` -> JSON BucketInfo, created
 * create-only (a transaction on version 0). Once started, the registry follows the prefix with a watch
 * (as Ceph RGW's bucket-info cache follows notifications): a bucket it knows is answered without a round
 * trip, so a PUT or GET costs the coordination store nothing; a name it does not know is read through
 * (a bucket created on another node a moment ago is found), and so is every name before the first full
 * read. A bucket deleted elsewhere is forgotten when its event arrives (milliseconds; a PUT racing a
 * delete could always land). The data path keeps working on the last known buckets while the
 * coordination store is unreachable.
 */
import { Code, FlotillaError } from '../../core/errors.js';
import { silentLogger, type Logger } from '../../core/log.js';
import { createPrefixWatch, type Coord, type KeyValue, type PrefixWatch } from '../../coord/index.js';
import type { BucketInfo } from '../object-service.js';
import { checkBucketName, checkNewBucketName, DEFAULT_POLICY, policyOf } from './names.js';

export const BUCKETS_PREFIX = '/flotilla/objects/buckets/';

export class BucketRegistry {
  private readonly cache = new Map<string, BucketInfo>();
  private watch: PrefixWatch | undefined;
  /** True once the watch read every bucket: from then on the cache follows the store. */
  private followed = false;

  constructor(private readonly coord: () => Coord) {}

  /** Follows the buckets (see the top); without it every look-up is a read. */
  start(logger: Logger = silentLogger()): void {
    if (this.watch !== undefined) return;
    const parse = (kv: KeyValue): BucketInfo | undefined => {
      try {
        return JSON.parse(kv.value.toString('utf8')) as BucketInfo;
      } catch {
        logger.warn({ key: kv.key }, 'a bucket record is not JSON; ignored');
        return undefined;
      }
    };
    this.watch = createPrefixWatch({
      coord: this.coord(),
      prefix: BUCKETS_PREFIX,
      logger,
      onReset: (kvs) => {
        this.cache.clear();
        for (const kv of kvs) {
          const info = parse(kv);
          if (info !== undefined) this.cache.set(kv.key.slice(BUCKETS_PREFIX.length), info);
        }
        this.followed = true;
      },
      onEvent: (ev) => {
        const name = ev.kv.key.slice(BUCKETS_PREFIX.length);
        if (ev.type === 'delete') this.cache.delete(name);
        else {
          const info = parse(ev.kv);
          if (info !== undefined) this.cache.set(name, info);
        }
      },
    });
    this.watch.start();
  }

  async stop(): Promise<void> {
    const w = this.watch;
    this.watch = undefined;
    this.followed = false;
    await w?.stop();
  }

  /** Resolves once the watch has read every bucket (tests; never rejects). */
  get synced(): Promise<void> {
    return this.watch?.synced ?? Promise.resolve();
  }

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
    if (this.followed) {
      const known = this.cache.get(name);
      if (known !== undefined) return known;
    }
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
