/**
 * Leases: TTLs measured against an injected wall clock, the keys attached to each lease, and which leases
 * have expired. Revoking a lease's keys is the engine's job (one write revision for all of them).
 */
import { randomBytes } from 'node:crypto';
import { etcdError } from './types.js';

/** Wall-clock milliseconds; injected so tests can move time. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** etcd's MaxLeaseTTL (seconds). */
export const MAX_LEASE_TTL_SECONDS = 9_000_000_000;
/**
 * etcd's minimum TTL: ceil(1.5 * election timeout) with the default 1 s election timeout, so 2 s. A grant
 * below it is raised to it.
 */
export const MIN_LEASE_TTL_SECONDS = 2;

export interface Lease {
  id: bigint;
  /** TTL in seconds as granted (after the minimum was applied). */
  ttlSeconds: number;
  /** Wall-clock ms at which the lease expires unless kept alive. */
  expiresAtMs: number;
  /** Keys (store key strings) currently attached. */
  keys: Set<string>;
}

export class LeaseManager {
  private readonly leases = new Map<bigint, Lease>();

  constructor(
    private readonly clock: Clock = systemClock,
    private readonly minTtlSeconds = MIN_LEASE_TTL_SECONDS,
  ) {}

  get size(): number {
    return this.leases.size;
  }

  /** Creates a lease; id 0 picks a random positive 63-bit id. Throws etcd's errors. */
  grant(requestedId: bigint, ttlSeconds: number): Lease {
    if (ttlSeconds > MAX_LEASE_TTL_SECONDS) throw etcdError('leaseTtlTooLarge');
    let id = requestedId;
    if (id === 0n) {
      do id = randomBytes(8).readBigUInt64BE() & 0x7fff_ffff_ffff_ffffn;
      while (id === 0n || this.leases.has(id));
    } else if (this.leases.has(id)) {
      throw etcdError('leaseExists');
    }
    const ttl = Math.max(ttlSeconds, this.minTtlSeconds);
    const lease: Lease = { id, ttlSeconds: ttl, expiresAtMs: this.clock.now() + ttl * 1000, keys: new Set() };
    this.leases.set(id, lease);
    return lease;
  }

  /** Puts back a lease read from storage (its keys are attached as records load). */
  restore(id: bigint, ttlSeconds: number, expiresAtMs: number): Lease {
    const lease: Lease = { id, ttlSeconds, expiresAtMs, keys: new Set() };
    this.leases.set(id, lease);
    return lease;
  }

  /** A live (granted, not expired) lease. */
  get(id: bigint): Lease | undefined {
    const lease = this.leases.get(id);
    return lease !== undefined && lease.expiresAtMs > this.clock.now() ? lease : undefined;
  }

  /** Whether the lease exists, expired or not (expired ones are revoked shortly). */
  has(id: bigint): boolean {
    return this.leases.has(id);
  }

  /** Extends a live lease by its TTL from now; undefined when it does not exist or has expired. */
  renew(id: bigint): Lease | undefined {
    const lease = this.get(id);
    if (lease === undefined) return undefined;
    lease.expiresAtMs = this.clock.now() + lease.ttlSeconds * 1000;
    return lease;
  }

  /** Whole seconds left, truncated as etcd does; -1 when not found. */
  remainingSeconds(id: bigint): number {
    const lease = this.get(id);
    if (lease === undefined) return -1;
    return Math.max(0, Math.floor((lease.expiresAtMs - this.clock.now()) / 1000));
  }

  /** Forgets a lease; returns it so its keys can be deleted. */
  remove(id: bigint): Lease | undefined {
    const lease = this.leases.get(id);
    this.leases.delete(id);
    return lease;
  }

  attach(id: bigint, key: string): void {
    this.leases.get(id)?.keys.add(key);
  }

  detach(id: bigint, key: string): void {
    this.leases.get(id)?.keys.delete(key);
  }

  /** Leases whose expiry has passed, soonest first. */
  expired(): Lease[] {
    const now = this.clock.now();
    const out: Lease[] = [];
    for (const lease of this.leases.values()) if (lease.expiresAtMs <= now) out.push(lease);
    return out.sort((a, b) => a.expiresAtMs - b.expiresAtMs);
  }

  list(): Lease[] {
    return [...this.leases.values()];
  }
}
