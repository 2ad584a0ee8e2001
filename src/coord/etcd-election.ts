/**
 * Leader election under a key prefix, with the same keys and the same algorithm as etcd's Go
 * concurrency.Election: each candidate writes `<prefix>/<lease id in hex>` on its lease; the candidate
 * whose key has the lowest create revision leads; the others wait for every older key to be deleted.
 */
import { EventEmitter } from 'node:events';
import { Code, FlotillaError } from '../core/errors.js';
import type {
  Bytes,
  CampaignOptions,
  Coord,
  Election,
  LeaderInfo,
  LeaderObserver,
  Leadership,
  LeadershipEventMap,
  Lease,
  RangeResult,
  Watch,
} from './coord.js';

/** What the election needs from the client: the Coord API plus a range sorted by create revision. */
export interface ElectionBackend {
  coord: Coord;
  /** The newest (desc) or oldest (asc) key under `prefix`, optionally with createRevision <= maxCreateRevision. */
  rangeByCreate(prefix: string, order: 'asc' | 'desc', maxCreateRevision?: number): Promise<RangeResult>;
}

function toLeader(kv: RangeResult['kvs'][number] | undefined): LeaderInfo | undefined {
  if (kv === undefined) return undefined;
  return { key: kv.key, value: kv.value, lease: kv.lease, createRevision: kv.createRevision };
}

export class EtcdElection implements Election {
  readonly prefix: string;

  constructor(
    prefix: string,
    private readonly backend: ElectionBackend,
  ) {
    this.prefix = prefix.endsWith('/') ? prefix : `${prefix}/`;
  }

  async leader(): Promise<LeaderInfo | undefined> {
    const res = await this.backend.rangeByCreate(this.prefix, 'asc');
    return toLeader(res.kvs[0]);
  }

  async campaign(value: Bytes, options: CampaignOptions = {}): Promise<Leadership> {
    const { coord } = this.backend;
    const ownLease = options.lease === undefined;
    const lease = options.lease ?? (await coord.grantLease(options.ttlSeconds ?? 10));
    const key = `${this.prefix}${BigInt(lease.id).toString(16)}`;
    try {
      const txn = await coord.txn({
        compare: [{ key, target: 'createRevision', op: '=', value: 0 }],
        then: [{ type: 'put', key, value, lease }],
        else: [{ type: 'get', key }],
      });
      let revision = txn.revision;
      if (!txn.succeeded) {
        const first = txn.results[0];
        const existing = first?.type === 'get' ? first.kvs[0] : undefined;
        if (existing === undefined) throw new FlotillaError(Code.INTERNAL, `election ${this.prefix}: candidate key vanished`);
        revision = existing.createRevision;
        if (!existing.value.equals(typeof value === 'string' ? Buffer.from(value) : value)) await coord.put(key, value, { lease });
      }
      await this.waitDeletes(revision - 1, lease, options.signal);
      // Our key may have gone while we waited (lease expired, someone deleted it).
      const mine = await coord.get(key);
      if (mine === undefined || mine.createRevision !== revision) {
        throw new FlotillaError(Code.COORD_NOT_LEADER, `election ${this.prefix}: candidate key ${key} was deleted while waiting`);
      }
      const leadership = new EtcdLeadership(key, lease, revision, ownLease, coord);
      await leadership.start();
      return leadership;
    } catch (err) {
      // Withdraw: a candidate that gives up must not be elected later.
      await coord.delete(key).catch(() => undefined);
      if (ownLease) await lease.revoke().catch(() => undefined);
      throw err;
    }
  }

  /** Waits until no key under the prefix has a create revision <= maxCreateRevision. */
  private async waitDeletes(maxCreateRevision: number, lease: Lease, signal: AbortSignal | undefined): Promise<void> {
    for (;;) {
      if (signal?.aborted) throw new FlotillaError(Code.CANCELLED, `election ${this.prefix}: campaign cancelled`);
      if (lease.closed) throw new FlotillaError(Code.COORD_NOT_LEADER, `election ${this.prefix}: the campaign's lease ended`);
      const res = await this.backend.rangeByCreate(this.prefix, 'desc', maxCreateRevision);
      const older = res.kvs[0];
      if (older === undefined) return;
      await this.waitDelete(older.key, res.revision + 1, lease, signal);
    }
  }

  private async waitDelete(key: string, fromRevision: number, lease: Lease, signal: AbortSignal | undefined): Promise<void> {
    const watch = this.backend.coord.watch({ key, fromRevision, only: 'delete' });
    const stop = (): void => void watch.close();
    const onLost = (): void => void watch.close();
    signal?.addEventListener('abort', stop, { once: true });
    lease.on('lease:lost', onLost);
    try {
      for await (const ev of watch) {
        if (ev.type === 'delete') return;
      }
    } finally {
      signal?.removeEventListener('abort', stop);
      lease.off('lease:lost', onLost);
      await watch.close();
    }
  }

  observe(): LeaderObserver {
    return new EtcdLeaderObserver(this.prefix, this.backend, () => this.leader());
  }
}

class EtcdLeadership extends EventEmitter implements Leadership {
  private isLost = false;
  private watch: Watch | undefined;
  private readonly onLeaseLost = (err: FlotillaError): void => this.markLost(err);

  constructor(
    readonly key: string,
    readonly lease: Lease,
    readonly revision: number,
    private readonly ownLease: boolean,
    private readonly coord: Coord,
  ) {
    super();
  }

  get lost(): boolean {
    return this.isLost;
  }

  override on<E extends keyof LeadershipEventMap>(event: E, listener: (...args: LeadershipEventMap[E]) => void): this {
    return super.on(event, listener as (...args: unknown[]) => void);
  }

  override off<E extends keyof LeadershipEventMap>(event: E, listener: (...args: LeadershipEventMap[E]) => void): this {
    return super.off(event, listener as (...args: unknown[]) => void);
  }

  async start(): Promise<void> {
    this.lease.on('lease:lost', this.onLeaseLost);
    const watch = this.coord.watch({ key: this.key, fromRevision: this.revision + 1, only: 'delete' });
    this.watch = watch;
    watch.on('watch:event', () => this.markLost(new FlotillaError(Code.COORD_NOT_LEADER, `leader key ${this.key} was deleted`)));
    watch.on('watch:error', (err) => this.markLost(new FlotillaError(Code.COORD_NOT_LEADER, `watch of leader key ${this.key} failed`, { cause: err })));
    await watch.ready;
  }

  private markLost(err: FlotillaError): void {
    if (this.isLost) return;
    this.isLost = true;
    this.cleanup();
    this.emit('leadership:lost', err);
  }

  private cleanup(): void {
    this.lease.off('lease:lost', this.onLeaseLost);
    const w = this.watch;
    this.watch = undefined;
    if (w) void w.close();
  }

  async proclaim(value: Bytes): Promise<void> {
    if (this.isLost) throw new FlotillaError(Code.COORD_NOT_LEADER, `leadership of ${this.key} was lost`);
    const res = await this.coord.txn({
      compare: [{ key: this.key, target: 'createRevision', op: '=', value: this.revision }],
      then: [{ type: 'put', key: this.key, value, lease: this.lease }],
    });
    if (!res.succeeded) {
      this.markLost(new FlotillaError(Code.COORD_NOT_LEADER, `leader key ${this.key} is gone`));
      throw new FlotillaError(Code.COORD_NOT_LEADER, `leadership of ${this.key} was lost`);
    }
  }

  async resign(): Promise<void> {
    const wasLost = this.isLost;
    this.isLost = true;
    this.cleanup();
    if (!wasLost) {
      await this.coord.txn({
        compare: [{ key: this.key, target: 'createRevision', op: '=', value: this.revision }],
        then: [{ type: 'delete', key: this.key }],
      });
    }
    if (this.ownLease) await this.lease.revoke();
  }
}

class EtcdLeaderObserver implements LeaderObserver {
  private watch: Watch | undefined;
  private closed = false;

  constructor(
    private readonly prefix: string,
    private readonly backend: ElectionBackend,
    private readonly readLeader: () => Promise<LeaderInfo | undefined>,
  ) {}

  async close(): Promise<void> {
    this.closed = true;
    await this.watch?.close();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<LeaderInfo | undefined> {
    const current = await this.backend.rangeByCreate(this.prefix, 'asc');
    let leader = toLeader(current.kvs[0]);
    if (this.closed) return;
    const watch = this.backend.coord.watch({ key: this.prefix, prefix: true, fromRevision: current.revision + 1 });
    this.watch = watch;
    try {
      yield leader;
      for await (const _ev of watch) {
        void _ev;
        const next = await this.readLeader();
        const changed =
          next?.key !== leader?.key || next?.createRevision !== leader?.createRevision || !(next?.value ?? Buffer.alloc(0)).equals(leader?.value ?? Buffer.alloc(0));
        if (changed) {
          leader = next;
          yield leader;
        }
        if (this.closed) return;
      }
    } finally {
      await watch.close();
    }
  }
}
