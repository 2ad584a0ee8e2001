/**
 * A node's registration: `/flotilla/nodes/<name>` under a lease kept alive, created atomically so two
 * live nodes never share a name, re-created with a new lease (backoff, no manual step) when the lease is
 * lost during a coordination outage, and ended by a clean leave (record marked left, then lease revoked).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelayMs, retry } from '../../core/backoff.js';
import { Code, FlotillaError, isRetryable } from '../../core/errors.js';
import { silentLogger, type Logger } from '../../core/log.js';
import type { Coord, KeyValue, Lease } from '../../coord/index.js';
import { encodeNodeRecord, memberKey, nodeKey, parseNodeRecord, type NodeRecord } from './node-record.js';

/** Asks the process at `address` who it is; undefined when it does not answer. */
export type IdentityProbe = (address: string) => Promise<{ name: string; incarnation: string } | undefined>;

export interface RegistrationOptions {
  coord: Coord;
  /** The record to publish; called on every (re-)registration and refresh. */
  describe: () => Promise<NodeRecord>;
  /** Lease TTL in seconds. Default: 5. */
  ttlSeconds?: number;
  /** Used to tell a dead holder of our name (a previous run of this node) from a live one. */
  probe: IdentityProbe;
  /** How often the record is re-published (free space changes). Default: 30 000 ms. */
  refreshIntervalMs?: number;
  /** Longest a clean leave waits for the store. Default: 3000 ms. */
  leaveTimeoutMs?: number;
  /**
   * How long start() keeps retrying a store that is slow or unreachable (a busy machine, a store still
   * starting) before it gives up. Default: 30 000 ms. A live node holding the name fails it at once.
   */
  startTimeoutMs?: number;
  logger?: Logger;
}

export interface Registration {
  /**
   * Registers, retrying with backoff while the store is slow or unreachable (up to startTimeoutMs);
   * ALREADY_EXISTS at once when a live node holds the name, the store's last error when it stays down.
   */
  start(): Promise<void>;
  /** Clean leave: marks the record left, then revokes the lease. */
  stop(): Promise<void>;
  /** The lease of the current registration, if registered. */
  lease(): Lease | undefined;
  readonly registered: boolean;
  /** Publishes describe() again now (e.g. after the ring versions changed); best effort. */
  refresh(): Promise<void>;
}

export function createRegistration(options: RegistrationOptions): Registration {
  const { coord } = options;
  const logger = options.logger ?? silentLogger();
  const ttl = options.ttlSeconds ?? 5;
  let current: Lease | undefined;
  let last: NodeRecord | undefined;
  let stopped = false;
  let loop: Promise<void> | undefined;
  let refreshTimer: NodeJS.Timeout | undefined;
  const abort = new AbortController();

  async function mayTakeOver(existing: KeyValue, mine: NodeRecord): Promise<boolean> {
    const parsed = parseNodeRecord(existing.value);
    if (parsed.error !== undefined) return false;
    const rec = parsed.value;
    if (rec.leftAt !== undefined) return true; // left cleanly; its lease is about to go
    if (rec.incarnation === mine.incarnation) return true; // our own registration from before an outage
    if (rec.nodeId !== mine.nodeId) return false;
    // The same node (same data dir) from an earlier run: ours only if that run no longer answers.
    const who = await options.probe(rec.peerAddress).catch(() => undefined);
    return who === undefined || who.incarnation !== rec.incarnation || who.name !== rec.name;
  }

  async function registerOnce(): Promise<void> {
    const record = await options.describe();
    const lease = await coord.grantLease(ttl);
    try {
      const value = encodeNodeRecord(record);
      const puts = [
        { type: 'put' as const, key: nodeKey(record.name), value, lease },
        { type: 'put' as const, key: memberKey(record.name), value },
      ];
      let res;
      let existing: KeyValue | undefined;
      // The earlier holder's record may go (its lease expiring) between reading it and taking it over:
      // then the key is free and the next round creates it.
      for (let round = 0; ; round++) {
        res = await coord.txn({
          compare: [{ key: nodeKey(record.name), target: 'version', op: '=', value: 0 }],
          then: puts,
          else: [{ type: 'get', key: nodeKey(record.name) }],
        });
        if (res.succeeded) break;
        const got = res.results[0];
        existing = got?.type === 'get' ? got.kvs[0] : undefined;
        if (existing === undefined && round < 3) continue;
        if (existing === undefined || !(await mayTakeOver(existing, record))) break;
        res = await coord.txn({ compare: [{ key: existing.key, target: 'modRevision', op: '=', value: existing.modRevision }], then: puts });
        if (res.succeeded || round >= 3) break;
      }
      if (!res.succeeded) {
        const holder = existing !== undefined ? parseNodeRecord(existing.value) : undefined;
        const where = holder?.error === undefined && holder !== undefined ? ` at ${holder.value.peerAddress} (started ${holder.value.startedAt})` : '';
        throw new FlotillaError(Code.ALREADY_EXISTS, `node name "${record.name}" is already registered by a running node${where}; choose another --name or stop that node`);
      }
      last = record;
      current = lease;
      lease.on('lease:lost', (err) => {
        if (current !== lease || stopped) return;
        current = undefined;
        logger.warn({ err: err.message }, 'registration lost; registering again');
        startLoop();
      });
      logger.debug({ lease: lease.id, ttl }, 'registered');
    } catch (err) {
      await lease.revoke().catch(() => undefined);
      throw err;
    }
  }

  /** Re-registers until it succeeds or the registration stops (coordination outage: no manual step). */
  function startLoop(): void {
    if (loop !== undefined || stopped) return;
    loop = (async () => {
      for (let attempt = 0; !stopped; attempt++) {
        try {
          await registerOnce();
          logger.info({ attempts: attempt + 1 }, 'registered again');
          return;
        } catch (err) {
          const e = FlotillaError.from(err);
          const delay = backoffDelayMs(attempt, { baseMs: 250, maxMs: 5000, jitter: 'equal' });
          logger.warn({ err: e.message, retryInMs: delay }, 'cannot register yet');
          await sleep(delay, undefined, { signal: abort.signal }).catch(() => undefined);
        }
      }
    })().finally(() => {
      loop = undefined;
    });
  }

  async function refresh(): Promise<void> {
    const lease = current;
    if (lease === undefined || stopped) return;
    const record = await options.describe();
    if (last !== undefined && encodeNodeRecord(record) === encodeNodeRecord(last)) return;
    const value = encodeNodeRecord(record);
    await coord.txn({
      compare: [{ key: nodeKey(record.name), target: 'lease', op: '=', value: lease.id }],
      then: [
        { type: 'put', key: nodeKey(record.name), value, lease },
        { type: 'put', key: memberKey(record.name), value },
      ],
    });
    last = record;
  }

  return {
    get registered() {
      return current !== undefined;
    },
    lease: () => current,
    refresh: () => refresh().catch((err: unknown) => logger.debug({ err: FlotillaError.from(err).message }, 'refresh failed')),
    async start() {
      const giveUpAt = Date.now() + (options.startTimeoutMs ?? 30_000);
      await retry(() => registerOnce(), {
        retries: Infinity,
        baseMs: 250,
        maxMs: 2000,
        jitter: 'equal',
        signal: abort.signal,
        shouldRetry: (err) => isRetryable(err) && Date.now() < giveUpAt,
        onRetry: (err, attempt, delayMs) => logger.warn({ err: FlotillaError.from(err).message, attempt: attempt + 1, retryInMs: delayMs }, 'cannot register yet; retrying'),
      });
      refreshTimer = setInterval(() => void refresh().catch(() => undefined), options.refreshIntervalMs ?? 30_000);
      refreshTimer.unref();
    },
    async stop() {
      stopped = true;
      abort.abort();
      if (refreshTimer !== undefined) clearInterval(refreshTimer);
      await loop;
      const lease = current;
      current = undefined;
      if (lease === undefined || last === undefined) return;
      const left: NodeRecord = { ...last, leftAt: new Date().toISOString() };
      const value = encodeNodeRecord(left);
      const leave = async (): Promise<void> => {
        await coord.txn({
          compare: [{ key: nodeKey(left.name), target: 'lease', op: '=', value: lease.id }],
          then: [
            { type: 'put', key: nodeKey(left.name), value, lease },
            { type: 'put', key: memberKey(left.name), value },
          ],
        });
        await lease.revoke();
      };
      const timeoutMs = options.leaveTimeoutMs ?? 3000;
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          leave(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new FlotillaError(Code.DEADLINE_EXCEEDED, `coordination store did not answer in ${timeoutMs} ms`)), timeoutMs);
          }),
        ]);
        logger.info('left the cluster');
      } catch (err) {
        lease.release();
        logger.warn({ err: FlotillaError.from(err).message }, 'clean leave failed; the registration ends when its lease expires');
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
