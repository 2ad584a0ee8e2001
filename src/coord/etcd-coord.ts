/**
 * `Coord` over the etcd v3 API through the `etcd3` library (gRPC). The same client serves real etcd and
 * the embedded store. KV calls use the library's raw KV client (one request, one answer); watches and
 * lease keep-alives are driven here (etcd-watch.ts, etcd-lease.ts) so that reconnects are lossless.
 */
import { Etcd3 } from 'etcd3';
import type { IOptions, IRangeRequest } from 'etcd3';
import type { Logger } from 'pino';
import { Code, FlotillaError } from '../core/errors.js';
import { silentLogger } from '../core/log.js';
import { defaultToken } from '../core/grpc-client.js';
import { processTls } from '../core/tls.js';
import type {
  Bytes,
  Coord,
  DeleteOptions,
  DeleteResult,
  Election,
  GetOptions,
  KeyValue,
  Lease,
  LeaseOptions,
  PutOptions,
  PutResult,
  RangeOptions,
  RangeResult,
  TxnRequest,
  TxnResult,
  Watch,
  WatchOptions,
} from './coord.js';
import { fromResponseOp, leaseId, prefixEnd, toBuffer, toCompare, toFlotillaError, toKeyValue, toRequestOp } from './etcd-convert.js';
import { EtcdElection } from './etcd-election.js';
import { EtcdLease } from './etcd-lease.js';
import { EtcdWatch } from './etcd-watch.js';

export interface CoordOptions {
  /** Store addresses, `host:port` or `http://host:port`; requests go to any of them. Required, non-empty. */
  endpoints: string[];
  /**
   * How long createCoord() waits for the store to answer a first request before failing with
   * UNAVAILABLE. 0 skips the check (the client then connects on first use). Default: 5000.
   */
  dialTimeoutMs?: number;
  /** Deadline of each unary request (get, put, txn, lease grant, ...). Default: 10000. */
  requestTimeoutMs?: number;
  /** First delay before a broken watch stream is reopened; doubles on each failure. Default: 100. */
  watchMinBackoffMs?: number;
  /** Longest delay between watch reconnect attempts. Default: 5000. */
  watchMaxBackoffMs?: number;
  /** Largest message accepted from the store, in bytes. Default: 64 MiB. */
  maxReceiveMessageBytes?: number;
  /** Where the client logs reconnects and lost leases. Default: silent. */
  logger?: Logger;
  /**
   * API token sent as the `flotilla-token` metadata on every call, watches and lease keep-alives included:
   * the embedded store checks it when authentication is on. Not `authorization`, which real etcd reads as
   * one of its own auth tokens and refuses ("invalid auth token") even with its authentication off.
   * Default: the process's token (src/core/grpc-client.ts setDefaultCallToken), read at each call.
   */
  token?: string;
}

type Policy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;

/**
 * The library's default fault handling retries every "recoverable" error three times (a timed-out txn
 * could then apply twice) and opens a 5 s circuit breaker after three failures (a short outage would
 * become a 5 s blackout). Both are replaced by this pass-through; `EtcdCoord.call` retries reads only.
 */
function passThroughPolicy(): Policy {
  const noEvent = () => ({ dispose: () => undefined });
  const policy = {
    execute: async <T>(fn: (ctx: { signal: AbortSignal }) => PromiseLike<T> | T): Promise<T> => fn({ signal: new AbortController().signal }),
    onSuccess: noEvent,
    onFailure: noEvent,
  };
  return policy as unknown as Policy;
}

/** What a grpc-js interceptor sees of a call (typed here: grpc-js is etcd3's dependency, not ours). */
interface InterceptedCall {
  start(metadata: { set(key: string, value: string): void }, listener: unknown, ...rest: unknown[]): void;
}

/** A grpc-js client interceptor adding the `flotilla-token` metadata to every call. */
function bearerInterceptor(own: string | undefined) {
  return (options: unknown, nextCall: (options: unknown) => InterceptedCall): InterceptedCall => {
    const call = nextCall(options);
    const start = call.start.bind(call);
    call.start = (metadata, listener, ...rest) => {
      const token = own ?? defaultToken();
      if (token !== undefined) metadata.set('flotilla-token', token);
      start(metadata, listener, ...rest);
    };
    return call;
  };
}

const READ_ATTEMPTS = 3;
const READ_RETRY_DELAY_MS = 200;

function endpointUrl(endpoint: string): string {
  // With the process's TLS (core/tls.ts) a bare host:port is reached over mutual TLS.
  return /^https?:\/\//.test(endpoint) ? endpoint : `${processTls() !== undefined ? 'https' : 'http'}://${endpoint}`;
}

/** Client credentials for a store reached over TLS: the cluster CA, and the process's certificate when it has one. */
function tlsCredentials(): Pick<IOptions, 'credentials'> {
  const t = processTls();
  if (t === undefined) return {};
  return { credentials: { rootCertificate: Buffer.from(t.ca), ...(t.cert !== undefined && t.key !== undefined ? { certChain: Buffer.from(t.cert), privateKey: Buffer.from(t.key) } : {}) } };
}

/**
 * Creates a Coord client and, unless `dialTimeoutMs` is 0, checks the store answers.
 * @throws FlotillaError INVALID_ARGUMENT for bad options, UNAVAILABLE when the store does not answer.
 */
export async function createCoord(options: CoordOptions): Promise<Coord> {
  if (!Array.isArray(options.endpoints) || options.endpoints.length === 0 || options.endpoints.some((e) => typeof e !== 'string' || e === '')) {
    throw new FlotillaError(Code.INVALID_ARGUMENT, 'coord: endpoints must be a non-empty list of host:port');
  }
  const coord = new EtcdCoord(options);
  const dialTimeoutMs = options.dialTimeoutMs ?? 5000;
  if (dialTimeoutMs > 0) {
    try {
      await coord.waitReady(dialTimeoutMs);
    } catch (err) {
      await coord.close();
      const e = toFlotillaError(err);
      throw new FlotillaError(Code.UNAVAILABLE, `coord: no answer from ${options.endpoints.join(',')} within ${dialTimeoutMs} ms: ${e.rawMessage}`, {
        cause: err,
      });
    }
  }
  return coord;
}

class EtcdCoord implements Coord {
  private readonly client: Etcd3;
  private readonly logger: Logger;
  private readonly requestTimeoutMs: number;
  private readonly watches = new Set<EtcdWatch>();
  private readonly leases = new Set<EtcdLease>();
  private closed = false;

  constructor(private readonly options: CoordOptions) {
    this.logger = options.logger ?? silentLogger();
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    const timeoutMs = this.requestTimeoutMs;
    this.client = new Etcd3({
      hosts: options.endpoints.map(endpointUrl),
      ...tlsCredentials(),
      grpcOptions: {
        'grpc.max_receive_message_length': options.maxReceiveMessageBytes ?? 64 * 1024 * 1024,
        // grpc-js takes client interceptors from the client options etcd3 passes through.
        interceptors: [bearerInterceptor(options.token)],
      },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeoutMs }),
      faultHandling: { global: passThroughPolicy(), host: () => passThroughPolicy() },
    });
  }

  private check(): void {
    if (this.closed) throw new FlotillaError(Code.CANCELLED, 'coord: client is closed');
  }

  /** Runs one request; a read (`idempotent`), or a write that was never sent, is retried when the store is unreachable. */
  private async call<T>(what: string, fn: () => Promise<T>, idempotent = false): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      this.check();
      try {
        return await fn();
      } catch (err) {
        const e = toFlotillaError(err, what);
        // A write is retried only when gRPC says it never left this process.
        const unsent = e.message.includes('before call started');
        if ((!idempotent && !unsent) || e.code !== Code.UNAVAILABLE || attempt >= READ_ATTEMPTS || this.closed) throw e;
        await new Promise((r) => setTimeout(r, READ_RETRY_DELAY_MS * attempt));
      }
    }
  }

  async get(key: string, options: GetOptions = {}): Promise<KeyValue | undefined> {
    const req: IRangeRequest = { key: toBuffer(key) };
    if (options.revision !== undefined) req.revision = options.revision;
    const res = await this.call(`get ${key}`, () => this.client.kv.range(req), true);
    const kv = res.kvs[0];
    return kv === undefined ? undefined : toKeyValue(kv);
  }

  async range(prefix: string, options: RangeOptions = {}): Promise<RangeResult> {
    const p = toBuffer(prefix);
    const req: IRangeRequest = { key: options.startKey !== undefined ? toBuffer(options.startKey) : p, range_end: prefixEnd(p) };
    if (options.limit !== undefined) req.limit = options.limit;
    if (options.revision !== undefined) req.revision = options.revision;
    if (options.keysOnly === true) req.keys_only = true;
    const res = await this.call(`range ${prefix}`, () => this.client.kv.range(req), true);
    return { kvs: res.kvs.map(toKeyValue), more: res.more, count: Number(res.count), revision: Number(res.header.revision) };
  }

  /** The oldest or newest key under `prefix` by create revision (used by elections). */
  async rangeByCreate(prefix: string, order: 'asc' | 'desc', maxCreateRevision?: number): Promise<RangeResult> {
    const p = toBuffer(prefix);
    const req: IRangeRequest = { key: p, range_end: prefixEnd(p), limit: 1, sort_target: 'Create', sort_order: order === 'asc' ? 'Ascend' : 'Descend' };
    if (maxCreateRevision !== undefined) req.max_create_revision = maxCreateRevision;
    const res = await this.call(`range ${prefix}`, () => this.client.kv.range(req), true);
    return { kvs: res.kvs.map(toKeyValue), more: res.more, count: Number(res.count), revision: Number(res.header.revision) };
  }

  async put(key: string, value: Bytes, options: PutOptions = {}): Promise<PutResult> {
    const lease = leaseId(options.lease);
    const res = await this.call(`put ${key}`, () =>
      this.client.kv.put({
        key: toBuffer(key),
        value: toBuffer(value),
        ...(lease !== undefined ? { lease } : {}),
        ...(options.prevKv === true ? { prev_kv: true } : {}),
      }),
    );
    const out: PutResult = { revision: Number(res.header.revision) };
    if (res.prev_kv) out.prev = toKeyValue(res.prev_kv);
    return out;
  }

  async delete(key: string, options: DeleteOptions = {}): Promise<DeleteResult> {
    const k = toBuffer(key);
    const res = await this.call(`delete ${key}`, () =>
      this.client.kv.deleteRange({
        key: k,
        ...(options.prefix === true ? { range_end: prefixEnd(k) } : {}),
        ...(options.prevKv === true ? { prev_kv: true } : {}),
      }),
    );
    return { revision: Number(res.header.revision), deleted: Number(res.deleted), prev: (res.prev_kvs ?? []).map(toKeyValue) };
  }

  async txn(request: TxnRequest): Promise<TxnResult> {
    const then = request.then ?? [];
    const otherwise = request.else ?? [];
    const res = await this.call('txn', () =>
      this.client.kv.txn({
        compare: (request.compare ?? []).map(toCompare),
        success: then.map(toRequestOp),
        failure: otherwise.map(toRequestOp),
      }),
    );
    const ops = res.succeeded ? then : otherwise;
    return {
      succeeded: res.succeeded,
      revision: Number(res.header.revision),
      results: ops.map((op, i) => fromResponseOp(op, res.responses?.[i])),
    };
  }

  async compareAndSwap(
    key: string,
    expectedModRevision: number,
    value: Bytes,
    options: { lease?: Lease | string } = {},
  ): Promise<{ revision: number | undefined; current?: KeyValue }> {
    const res = await this.txn({
      compare: [{ key, target: 'modRevision', op: '=', value: expectedModRevision }],
      then: [{ type: 'put', key, value, ...(options.lease !== undefined ? { lease: options.lease } : {}) }],
      else: [{ type: 'get', key }],
    });
    if (res.succeeded) return { revision: res.revision };
    const got = res.results[0];
    const current = got?.type === 'get' ? got.kvs[0] : undefined;
    return current === undefined ? { revision: undefined } : { revision: undefined, current };
  }

  watch(options: WatchOptions): Watch {
    this.check();
    const w = new EtcdWatch(options, {
      watchClient: this.client.watchClient,
      logger: this.logger,
      minBackoffMs: this.options.watchMinBackoffMs ?? 100,
      maxBackoffMs: this.options.watchMaxBackoffMs ?? 5000,
      onClose: (x) => this.watches.delete(x),
    });
    this.watches.add(w);
    return w;
  }

  async grantLease(ttlSeconds: number, options: LeaseOptions = {}): Promise<Lease> {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) {
      throw new FlotillaError(Code.INVALID_ARGUMENT, `lease TTL must be a whole number of seconds >= 1, got ${ttlSeconds}`);
    }
    const res = await this.call('lease grant', () => this.client.leaseClient.leaseGrant({ TTL: ttlSeconds }));
    if (res.error) throw new FlotillaError(Code.UNAVAILABLE, `lease grant: ${res.error}`);
    const lease = new EtcdLease(String(res.ID), Number(res.TTL), options.keepAlive ?? true, {
      leaseClient: this.client.leaseClient,
      logger: this.logger,
      requestTimeoutMs: this.requestTimeoutMs,
      onClose: (l) => this.leases.delete(l),
    });
    this.leases.add(lease);
    return lease;
  }

  election(prefix: string): Election {
    return new EtcdElection(prefix, { coord: this, rangeByCreate: (p, o, m) => this.rangeByCreate(p, o, m) });
  }

  async revision(): Promise<number> {
    const res = await this.call('revision', () => this.client.kv.range({ key: Buffer.from([0]), limit: 1, keys_only: true }), true);
    return Number(res.header.revision);
  }

  /** Polls the store until it answers or `timeoutMs` passes (then throws its last error). */
  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.call('ping', () => this.client.kv.range({ key: Buffer.from([0]), limit: 1, keys_only: true }, { deadline }));
        return;
      } catch (err) {
        if (Date.now() + 100 >= deadline || this.closed) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async compact(revision: number, options: { physical?: boolean } = {}): Promise<void> {
    await this.call(`compact ${revision}`, () => this.client.kv.compact({ revision, physical: options.physical ?? false }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.watches].map((w) => w.close()));
    for (const l of [...this.leases]) l.release();
    this.client.close();
  }
}
