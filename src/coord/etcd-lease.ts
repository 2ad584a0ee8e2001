/**
 * A lease kept alive over etcd's LeaseKeepAlive stream: one keep-alive every TTL/3 (as etcd's Go client
 * does), the stream reopened when it breaks, and 'lease:lost' once the store says the lease is gone or no
 * keep-alive has succeeded for a whole TTL (by then the store has expired it).
 */
import { EventEmitter } from 'node:events';
import type { IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse, LeaseClient } from 'etcd3';
import type { Logger } from 'pino';
import { Code, FlotillaError } from '../core/errors.js';
import type { Lease, LeaseEventMap } from './coord.js';
import { toFlotillaError } from './etcd-convert.js';

export interface EtcdLeaseDeps {
  leaseClient: LeaseClient;
  logger: Logger;
  requestTimeoutMs: number;
  onClose: (l: EtcdLease) => void;
}

type KeepAliveStream = IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;

export class EtcdLease extends EventEmitter implements Lease {
  private done = false;
  private lastOkMs = Date.now();
  private stream: KeepAliveStream | undefined;
  private opening = false;
  private tickTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly id: string,
    readonly ttlSeconds: number,
    keepAlive: boolean,
    private readonly deps: EtcdLeaseDeps,
  ) {
    super();
    if (keepAlive) {
      const intervalMs = Math.max(100, (ttlSeconds * 1000) / 3);
      this.tickTimer = setInterval(() => this.tick(), intervalMs);
      this.tickTimer.unref();
    }
  }

  get closed(): boolean {
    return this.done;
  }

  override on<E extends keyof LeaseEventMap>(event: E, listener: (...args: LeaseEventMap[E]) => void): this {
    return super.on(event, listener as (...args: unknown[]) => void);
  }

  override off<E extends keyof LeaseEventMap>(event: E, listener: (...args: LeaseEventMap[E]) => void): this {
    return super.off(event, listener as (...args: unknown[]) => void);
  }

  private tick(): void {
    if (this.done) return;
    if (Date.now() - this.lastOkMs > this.ttlSeconds * 1000) {
      this.lose(new FlotillaError(Code.UNAVAILABLE, `lease ${this.id}: no keep-alive succeeded for its whole TTL (${this.ttlSeconds} s)`));
      return;
    }
    if (this.stream) {
      this.stream.write({ ID: this.id });
      return;
    }
    if (this.opening) return;
    this.opening = true;
    this.deps.leaseClient
      .leaseKeepAlive()
      .then((stream) => {
        this.opening = false;
        if (this.done) {
          stream.end();
          return;
        }
        this.stream = stream;
        stream.on('data', (res) => this.onResponse(res));
        const broken = (err: unknown): void => {
          if (this.stream !== stream) return;
          this.stream = undefined;
          stream.cancel();
          this.deps.logger.debug({ lease: this.id, err: err instanceof Error ? err.message : String(err) }, 'lease keep-alive stream broke');
        };
        stream.on('error', broken);
        stream.on('end', () => broken(new Error('keep-alive stream ended')));
        stream.write({ ID: this.id });
      })
      .catch((err: unknown) => {
        this.opening = false;
        this.deps.logger.debug({ lease: this.id, err: toFlotillaError(err).message }, 'lease keep-alive stream failed to open');
      });
  }

  private onResponse(res: ILeaseKeepAliveResponse): void {
    if (this.done) return;
    const ttl = Number(res.TTL);
    if (ttl <= 0) {
      this.lose(new FlotillaError(Code.COORD_LEASE_NOT_FOUND, `lease ${this.id} has expired or was revoked`));
      return;
    }
    this.lastOkMs = Date.now();
    this.emit('lease:keepalive:success', ttl);
  }

  private lose(err: FlotillaError): void {
    if (this.done) return;
    this.stop();
    this.deps.logger.warn({ lease: this.id, err: err.message }, 'lease lost');
    this.emit('lease:lost', err);
  }

  private stop(): void {
    this.done = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.tickTimer = undefined;
    const s = this.stream;
    this.stream = undefined;
    if (s) {
      s.end();
      s.cancel();
    }
    this.deps.onClose(this);
  }

  async keepAliveOnce(): Promise<number> {
    let stream: KeepAliveStream;
    try {
      stream = await this.deps.leaseClient.leaseKeepAlive();
    } catch (err) {
      throw toFlotillaError(err, `lease ${this.id} keep-alive`);
    }
    const res = await new Promise<ILeaseKeepAliveResponse>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new FlotillaError(Code.DEADLINE_EXCEEDED, `lease ${this.id}: no keep-alive answer in ${this.deps.requestTimeoutMs} ms`)),
        this.deps.requestTimeoutMs,
      );
      stream.on('data', (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      stream.on('error', (err) => {
        clearTimeout(timer);
        reject(toFlotillaError(err, `lease ${this.id} keep-alive`));
      });
      stream.write({ ID: this.id });
    }).finally(() => {
      stream.end();
      stream.cancel();
    });
    const ttl = Number(res.TTL);
    if (ttl <= 0) {
      const err = new FlotillaError(Code.COORD_LEASE_NOT_FOUND, `lease ${this.id} has expired or was revoked`);
      if (!this.done) this.lose(err);
      throw err;
    }
    this.lastOkMs = Date.now();
    return ttl;
  }

  async timeToLive(): Promise<number> {
    try {
      const res = await this.deps.leaseClient.leaseTimeToLive({ ID: this.id });
      return Number(res.TTL);
    } catch (err) {
      const e = toFlotillaError(err, `lease ${this.id} time-to-live`);
      if (e.code === Code.COORD_LEASE_NOT_FOUND) return -1;
      throw e;
    }
  }

  async revoke(): Promise<void> {
    if (!this.done) this.stop();
    try {
      await this.deps.leaseClient.leaseRevoke({ ID: this.id });
    } catch (err) {
      const e = toFlotillaError(err, `lease ${this.id} revoke`);
      if (e.code !== Code.COORD_LEASE_NOT_FOUND) throw e;
    }
  }

  release(): void {
    if (!this.done) this.stop();
  }
}
