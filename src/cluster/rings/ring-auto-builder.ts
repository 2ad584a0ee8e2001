/**
 * The automatic ring build (OBJ-9): once at least `expectedNodes` members are ACTIVE and the ring does
 * not exist yet, build it from every ACTIVE member and store it create-only. Several processes may run
 * this at once (several servers, or a restart in the middle): the store's create-only transaction lets
 * exactly one ring in, the others get ALREADY_EXISTS, stop, and use the winner's ring through their
 * RingWatcher. After the first build the builder does nothing more: later changes are an admin's
 * (`flotilla ring add-device|remove-device|rebalance`).
 */
import { EventEmitter } from 'node:events';
import { Code, FlotillaError } from '../../core/errors.js';
import { silentLogger, type Logger } from '../../core/log.js';
import { buildRing } from '../ring/index.js';
import { memberToDevice, type RingMember, type RingMemberSource } from './ring-members.js';
import type { RingStore } from './ring-store.js';

/** The part power of a ring built without one given: 2^10 = 1024 partitions (~100 per device up to ~30 nodes with 3 replicas). */
export const DEFAULT_PART_POWER = 10;
/** The replica count of a ring built without one given: min(3, number of nodes). */
export const defaultReplicas = (nodes: number): number => Math.max(1, Math.min(3, nodes));

export interface RingAutoBuilderOptions {
  store: RingStore;
  members: RingMemberSource;
  /** Build once at least this many members are ACTIVE (`--expect-nodes N`); an integer >= 1. */
  expectedNodes: number;
  /** Default 'kv'. */
  ringName?: string;
  /** Default DEFAULT_PART_POWER (10). */
  partPower?: number;
  /** Default min(3, expectedNodes). */
  replicas?: number;
  /** Passed to the builder. Default: the builder's (1 hour). */
  minPartMoveIntervalMs?: number;
  /** True when the ring is already known to exist (e.g. `watcher.ready`); then nothing is built. */
  exists?: (name: string) => boolean;
  /** Delay before trying again after the store failed. Default 1000 ms. */
  retryDelayMs?: number;
  logger?: Logger;
  /** Clock for the ring's timestamps. Default Date.now. */
  now?: () => number;
}

export interface RingAutoBuilderEventMap {
  /** This process stored the ring. */
  'ring:build:success': [name: string, version: number, devices: string[]];
  /** Another process stored it first (or it existed already). */
  'ring:build:skipped': [name: string];
  /** Building or storing failed; retried after a store failure, otherwise at the next membership change. */
  'ring:build:failed': [name: string, error: FlotillaError];
}

export type RingAutoBuilderState = 'waiting' | 'building' | 'done' | 'stopped';

export class RingAutoBuilder extends EventEmitter<RingAutoBuilderEventMap> {
  readonly name = 'ring-auto-builder';
  private readonly ringName: string;
  private readonly logger: Logger;
  private unsubscribe: (() => void) | undefined;
  private current: RingAutoBuilderState = 'waiting';
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly options: RingAutoBuilderOptions) {
    super();
    const n = options.expectedNodes;
    if (!Number.isInteger(n) || n < 1) throw new FlotillaError(Code.INVALID_ARGUMENT, `expected nodes must be an integer >= 1, got ${String(n)}`);
    this.ringName = options.ringName ?? 'kv';
    this.logger = options.logger ?? silentLogger();
  }

  get state(): RingAutoBuilderState {
    return this.current;
  }

  async start(): Promise<void> {
    if (this.unsubscribe !== undefined || this.current === 'stopped') return;
    this.unsubscribe = this.options.members.subscribe(() => this.check());
    this.logger.info({ ring: this.ringName, expectedNodes: this.options.expectedNodes }, `ring ${this.ringName} will be built when ${this.options.expectedNodes} nodes are ACTIVE`);
    this.check();
  }

  async stop(): Promise<void> {
    this.current = 'stopped';
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Looks at the members now; builds when the time has come. Safe to call at any time. */
  check(): void {
    if (this.current === 'done' || this.current === 'stopped') return;
    if (this.running !== undefined) {
      this.again = true;
      return;
    }
    this.running = this.attempt()
      .catch((err: unknown) => this.logger.error({ err: FlotillaError.from(err).message }, 'ring auto-build failed unexpectedly'))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.check();
        }
      });
  }

  private async attempt(): Promise<void> {
    const name = this.ringName;
    if (this.options.exists?.(name) === true) return this.finish('skipped');
    const active: RingMember[] = this.options.members.activeMembers();
    if (active.length < this.options.expectedNodes) {
      this.logger.debug({ ring: name, active: active.length, expected: this.options.expectedNodes }, 'waiting for more ACTIVE nodes before building the ring');
      return;
    }
    this.current = 'building';
    try {
      const ring = buildRing({
        name,
        partPower: this.options.partPower ?? DEFAULT_PART_POWER,
        replicas: this.options.replicas ?? defaultReplicas(this.options.expectedNodes),
        devices: active.map(memberToDevice),
        ...(this.options.minPartMoveIntervalMs !== undefined ? { minPartMoveIntervalMs: this.options.minPartMoveIntervalMs } : {}),
        ...(this.options.now !== undefined ? { now: this.options.now } : {}),
      });
      await this.options.store.create(ring);
      const ids = ring.devices.map((d) => d.id);
      this.logger.info(
        { ring: name, version: ring.version, partitions: ring.partitionCount, replicas: ring.replicas, devices: ids },
        `ring ${name} built: ${ids.length} devices, ${ring.partitionCount} partitions, ${ring.replicas} replicas`,
      );
      this.finish('built');
      this.emit('ring:build:success', name, ring.version, ids);
    } catch (err) {
      const e = FlotillaError.from(err);
      if ((this.current as RingAutoBuilderState) === 'stopped') return;
      if (e.code === Code.ALREADY_EXISTS) return this.finish('skipped');
      this.current = 'waiting';
      this.logger.warn({ ring: name, err: e.message }, e.retryable ? `ring ${name}: build not stored yet; retrying` : `ring ${name}: cannot build it from the ACTIVE nodes`);
      this.emit('ring:build:failed', name, e);
      if (e.retryable) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.check();
        }, this.options.retryDelayMs ?? 1000);
      }
    }
  }

  private finish(how: 'built' | 'skipped'): void {
    if (this.current === 'stopped') return;
    this.current = 'done';
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (how === 'skipped') {
      this.logger.info({ ring: this.ringName }, `ring ${this.ringName} exists; not building it here`);
      this.emit('ring:build:skipped', this.ringName);
    }
  }
}
