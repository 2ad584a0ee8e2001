/**
 * The membership view every process holds: the nodes' records (a watch on `/flotilla/nodes/`,
 * `/flotilla/members/` and `/flotilla/distances/`, resumed after a reconnect) combined with this process's
 * own health checks of each node. Statuses, as seen from here:
 *
 * - ACTIVE: its lease is alive and it answers health checks from here.
 * - DISCONNECTED: its lease is alive but it has not answered for `failureTimeoutMs`; or its lease ended
 *   without a clean leave (it is then no longer `registered`: capabilities drop it).
 * - SHUTOFF: it left cleanly (marked its record left, then revoked its lease).
 *
 * While the coordination store is unreachable the view keeps its last records and keeps checking health:
 * nothing here waits on the store.
 */
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelayMs } from '../../core/backoff.js';
import { FlotillaError } from '../../core/errors.js';
import { silentLogger, type Logger } from '../../core/log.js';
import type { Coord, Watch, WatchEvent } from '../../coord/index.js';
import type { PeerClients } from '../peer/peer-client.js';
import { DISTANCES_PREFIX, MEMBERS_PREFIX, NODES_PREFIX, parseDistances, parseNodeRecord, type NodeRecord } from './node-record.js';
import { PeerHealth } from './peer-health.js';

export type MemberStatus = 'ACTIVE' | 'DISCONNECTED' | 'SHUTOFF';

/** One node as this process sees it. */
export interface MemberState {
  record: NodeRecord;
  status: MemberStatus;
  /** True while its lease (registration) is alive. */
  registered: boolean;
  /** Smoothed RTT from this process, ms; undefined for itself or before the first answer. */
  rttMs: number | undefined;
  /** RTT from that node to each peer, as it published it. */
  distances: Record<string, number>;
  /** When the status last changed here (ms since the epoch). */
  statusSinceMs: number;
}

export interface MembershipEventMap {
  'node:status:changed': [name: string, status: MemberStatus, previous: MemberStatus | undefined, member: MemberState];
  /** Any change of the view (records, statuses, distances). */
  'view:changed': [];
}

export interface MembershipViewOptions {
  coord: Coord;
  peers: PeerClients;
  /** Name of this process: a node name (never checked, always ACTIVE while registered) or 'server'. */
  self: string;
  /** Health check interval. Default: 1000 ms. */
  healthIntervalMs?: number;
  /** Failure detection time. Default: 3000 ms. */
  failureTimeoutMs?: number;
  logger?: Logger;
}

const PREFIXES = [NODES_PREFIX, MEMBERS_PREFIX, DISTANCES_PREFIX] as const;

export class MembershipView extends EventEmitter<MembershipEventMap> {
  private readonly live = new Map<string, NodeRecord>();
  private readonly known = new Map<string, NodeRecord>();
  private readonly distanceMaps = new Map<string, Record<string, number>>();
  private readonly statuses = new Map<string, { status: MemberStatus; sinceMs: number }>();
  private readonly health: PeerHealth;
  private readonly logger: Logger;
  private watches: Watch[] = [];
  private stopped = false;
  private connected = true;
  private resync: Promise<void> | undefined;

  constructor(private readonly options: MembershipViewOptions) {
    super();
    this.logger = options.logger ?? silentLogger();
    this.health = new PeerHealth({
      peers: options.peers,
      self: options.self,
      ...(options.healthIntervalMs !== undefined ? { intervalMs: options.healthIntervalMs } : {}),
      ...(options.failureTimeoutMs !== undefined ? { failureTimeoutMs: options.failureTimeoutMs } : {}),
      onChange: (name) => this.update(name),
    });
  }

  /** Loads the current records and starts watching; fails (UNAVAILABLE) if the store does not answer. */
  async start(): Promise<void> {
    this.health.start();
    await this.load();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.health.stop();
    const ws = this.watches;
    this.watches = [];
    await Promise.all(ws.map((w) => w.close().catch(() => undefined)));
    await this.resync;
  }

  /** Whether the watch on the coordination store is connected right now. */
  get coordinationReachable(): boolean {
    return this.connected;
  }

  members(): MemberState[] {
    const names = new Set([...this.live.keys(), ...this.known.keys()]);
    return [...names].sort().flatMap((n) => {
      const m = this.member(n);
      return m === undefined ? [] : [m];
    });
  }

  member(name: string): MemberState | undefined {
    const record = this.live.get(name) ?? this.known.get(name);
    const st = this.statuses.get(name);
    if (record === undefined || st === undefined) return undefined;
    return {
      record,
      status: st.status,
      registered: this.live.has(name) && this.live.get(name)?.leftAt === undefined,
      rttMs: name === this.options.self ? undefined : this.health.state(name)?.rttMs,
      distances: this.distanceMaps.get(name) ?? {},
      statusSinceMs: st.sinceMs,
    };
  }

  /** Smoothed RTT from this process to every node that answered, ms (what a node publishes). */
  distances(): Record<string, number> {
    return this.health.distances();
  }

  private async load(): Promise<void> {
    const revision = await this.options.coord.revision();
    const [nodes, members, distances] = await Promise.all(PREFIXES.map((p) => this.options.coord.range(p, { revision })));
    for (const kv of members!.kvs) this.setRecord(this.known, kv.key.slice(MEMBERS_PREFIX.length), kv.value);
    for (const kv of nodes!.kvs) this.setRecord(this.live, kv.key.slice(NODES_PREFIX.length), kv.value);
    for (const kv of distances!.kvs) this.distanceMaps.set(kv.key.slice(DISTANCES_PREFIX.length), parseDistances(kv.value));
    for (const name of new Set([...this.live.keys(), ...this.known.keys()])) this.update(name);
    this.emit('view:changed');
    this.watches = PREFIXES.map((prefix) => {
      const w = this.options.coord.watch({ key: prefix, prefix: true, fromRevision: revision + 1 });
      w.on('watch:event', (ev) => this.onEvent(prefix, ev));
      w.on('watch:connected', () => {
        if (!this.connected) this.logger.info('coordination store reachable again');
        this.connected = true;
      });
      w.on('watch:disconnected', (err) => {
        if (this.connected) this.logger.warn({ err: err.message }, 'coordination store unreachable; keeping the last known membership');
        this.connected = false;
      });
      w.on('watch:error', (err) => this.restartWatches(err));
      return w;
    });
  }

  /** A terminal watch error (e.g. compacted history): load everything again, with backoff. */
  private restartWatches(err: FlotillaError): void {
    if (this.stopped || this.resync !== undefined) return;
    this.logger.warn({ err: err.message }, 'membership watch ended; reloading');
    this.resync = (async () => {
      const ws = this.watches;
      this.watches = [];
      await Promise.all(ws.map((w) => w.close().catch(() => undefined)));
      for (let attempt = 0; !this.stopped; attempt++) {
        try {
          await this.load();
          return;
        } catch (e) {
          this.logger.debug({ err: FlotillaError.from(e).message }, 'membership reload failed');
          await sleep(backoffDelayMs(attempt, { baseMs: 200, maxMs: 5000, jitter: 'equal' }));
        }
      }
    })().finally(() => {
      this.resync = undefined;
    });
  }

  private setRecord(map: Map<string, NodeRecord>, name: string, value: Buffer): boolean {
    const parsed = parseNodeRecord(value);
    if (parsed.error !== undefined || parsed.value.name !== name) {
      this.logger.warn({ node: name, err: parsed.error ?? 'name mismatch' }, 'ignoring a malformed node record');
      return false;
    }
    map.set(name, parsed.value);
    return true;
  }

  private onEvent(prefix: string, ev: WatchEvent): void {
    const name = ev.kv.key.slice(prefix.length);
    if (prefix === DISTANCES_PREFIX) {
      if (ev.type === 'put') this.distanceMaps.set(name, parseDistances(ev.kv.value));
      else this.distanceMaps.delete(name);
      this.emit('view:changed');
      return;
    }
    const map = prefix === NODES_PREFIX ? this.live : this.known;
    if (ev.type === 'put') {
      const before = map.get(name);
      if (!this.setRecord(map, name, ev.kv.value)) return;
      // A restarted node (new incarnation) gets a fresh failure-detection window.
      if (prefix === NODES_PREFIX && before !== undefined && before.incarnation !== map.get(name)!.incarnation) this.health.untrack(name);
    } else {
      // A record that was live remains known (its last state) until the members key says otherwise.
      const last = map.get(name);
      map.delete(name);
      if (prefix === NODES_PREFIX && last !== undefined && !this.known.has(name)) this.known.set(name, last);
      if (prefix === NODES_PREFIX && last !== undefined && last.leftAt === undefined && name !== this.options.self) {
        this.logger.warn({ node: name }, `node ${name} dropped: its lease expired without a clean leave`);
      }
    }
    this.update(name);
    this.emit('view:changed');
  }

  /** Recomputes the status of one node and announces a change. */
  private update(name: string): void {
    const live = this.live.get(name);
    const known = this.known.get(name);
    if (live === undefined && known === undefined) {
      this.statuses.delete(name);
      this.health.untrack(name);
      return;
    }
    let status: MemberStatus;
    if (live !== undefined && live.leftAt === undefined) {
      if (name === this.options.self) status = 'ACTIVE';
      else {
        this.health.track(name, live.peerAddress);
        status = this.health.state(name)?.reachable === false ? 'DISCONNECTED' : 'ACTIVE';
      }
    } else {
      this.health.untrack(name);
      status = (live ?? known)!.leftAt !== undefined ? 'SHUTOFF' : 'DISCONNECTED';
    }
    const prev = this.statuses.get(name);
    if (prev?.status === status) return;
    this.statuses.set(name, { status, sinceMs: Date.now() });
    const member = this.member(name)!;
    if (prev !== undefined || status === 'ACTIVE') {
      const addr = member.record.peerAddress;
      if (status === 'ACTIVE') this.logger.info({ node: name, address: addr }, `[+] node ${name} alive`);
      else if (status === 'SHUTOFF') this.logger.info({ node: name, address: addr }, `[-] node ${name} left (shutoff)`);
      else this.logger.warn({ node: name, address: addr, reason: live ? 'not answering health checks' : 'lease expired' }, `[-] node ${name} dead`);
    }
    this.emit('node:status:changed', name, status, prev?.status, member);
    if (prev !== undefined) this.emit('view:changed');
  }
}
