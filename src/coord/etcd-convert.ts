/**
 * Conversions between the etcd3 library's wire shapes and the Coord types, and the mapping of its errors
 * to FlotillaError codes.
 */
import type { IKeyValue, ICompare, IRequestOp, IResponseOp } from 'etcd3';
import { Code, FlotillaError } from '../core/errors.js';
import type { Bytes, Compare, KeyValue, Lease, TxnOp, TxnOpResult } from './coord.js';

export function toBuffer(value: Bytes): Buffer {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
}

/** The smallest key greater than every key starting with `prefix` (etcd's range_end for a prefix). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  // All 0xff (or empty): the range runs to the end of the key space.
  return Buffer.from([0]);
}

export function toKeyValue(kv: IKeyValue): KeyValue {
  return {
    key: Buffer.from(kv.key).toString('utf8'),
    value: Buffer.from(kv.value ?? Buffer.alloc(0)),
    createRevision: Number(kv.create_revision ?? 0),
    modRevision: Number(kv.mod_revision ?? 0),
    version: Number(kv.version ?? 0),
    lease: String(kv.lease ?? '0'),
  };
}

export function leaseId(lease: Lease | string | undefined): string | undefined {
  if (lease === undefined) return undefined;
  return typeof lease === 'string' ? lease : lease.id;
}

const compareOps = { '=': 'Equal', '!=': 'NotEqual', '<': 'Less', '>': 'Greater' } as const;

export function toCompare(c: Compare): ICompare {
  const key = toBuffer(c.key);
  const base: ICompare = { key, result: compareOps[c.op] };
  if (c.prefix === true) base.range_end = prefixEnd(key);
  switch (c.target) {
    case 'version':
      return { ...base, target: 'Version', version: c.value };
    case 'createRevision':
      return { ...base, target: 'Create', create_revision: c.value };
    case 'modRevision':
      return { ...base, target: 'Mod', mod_revision: c.value };
    case 'value':
      return { ...base, target: 'Value', value: toBuffer(c.value) };
    case 'lease':
      return { ...base, target: 'Lease', lease: c.value };
  }
}

export function toRequestOp(op: TxnOp): IRequestOp {
  const key = toBuffer(op.key);
  switch (op.type) {
    case 'get':
      return {
        request_range: { key, ...(op.prefix === true ? { range_end: prefixEnd(key) } : {}), ...(op.limit !== undefined ? { limit: op.limit } : {}) },
      };
    case 'put': {
      const lease = leaseId(op.lease);
      return {
        request_put: { key, value: toBuffer(op.value), ...(lease !== undefined ? { lease } : {}), ...(op.prevKv === true ? { prev_kv: true } : {}) },
      };
    }
    case 'delete':
      return {
        request_delete_range: { key, ...(op.prefix === true ? { range_end: prefixEnd(key) } : {}), ...(op.prevKv === true ? { prev_kv: true } : {}) },
      };
  }
}

export function fromResponseOp(op: TxnOp, res: IResponseOp | undefined): TxnOpResult {
  switch (op.type) {
    case 'get': {
      const r = res?.response_range;
      return { type: 'get', kvs: (r?.kvs ?? []).map(toKeyValue), more: r?.more ?? false, count: Number(r?.count ?? 0) };
    }
    case 'put': {
      const prev = res?.response_put?.prev_kv;
      return prev ? { type: 'put', prev: toKeyValue(prev) } : { type: 'put' };
    }
    case 'delete': {
      const r = res?.response_delete_range;
      return { type: 'delete', deleted: Number(r?.deleted ?? 0), prev: (r?.prev_kvs ?? []).map(toKeyValue) };
    }
  }
}

/** Maps an etcd3 / gRPC error (or an etcd cancel reason) to a FlotillaError; the original stays as cause. */
export function toFlotillaError(err: unknown, context?: string): FlotillaError {
  if (err instanceof FlotillaError) return err;
  const e = err instanceof Error ? err : new Error(String(err));
  const msg = e.message;
  const name = e.constructor.name;
  const prefix = context === undefined ? '' : `${context}: `;
  const make = (code: Code, retryable?: boolean): FlotillaError =>
    new FlotillaError(code, `${prefix}${msg}`, { cause: err, ...(retryable !== undefined ? { retryable } : {}) });
  if (msg.includes('required revision has been compacted')) return make(Code.COORD_COMPACTED);
  if (msg.includes('required revision is a future revision')) return make(Code.COORD_FUTURE_REV);
  if (name === 'EtcdLeaseInvalidError' || msg.includes('requested lease not found') || msg.includes('lease not found')) {
    return make(Code.COORD_LEASE_NOT_FOUND);
  }
  if (name === 'ClientClosedError') return make(Code.CANCELLED);
  if (name === 'BrokenCircuitError' || name === 'GRPCUnavailableError' || name === 'EtcdWatchStreamEnded') return make(Code.UNAVAILABLE);
  if (name === 'GRPCDeadlineExceededError') return make(Code.DEADLINE_EXCEEDED, true);
  if (name === 'GRPCInvalidArgumentError') return make(Code.INVALID_ARGUMENT);
  if (name === 'GRPCResourceExhastedError') return make(Code.RESOURCE_EXHAUSTED);
  if (name === 'GRPCNotFoundError') return make(Code.NOT_FOUND);
  if (name === 'GRPCFailedPreconditionError') return make(Code.FAILED_PRECONDITION);
  if (name === 'GRPCCancelledError') return make(Code.CANCELLED);
  if (name === 'EtcdPermissionDeniedError') return make(Code.PERMISSION_DENIED);
  if (name === 'GRPCUnauthenticatedError' || name === 'EtcdInvalidAuthTokenError' || name === 'EtcdAuthenticationFailedError') {
    return make(Code.UNAUTHENTICATED);
  }
  if (name === 'GRPCInternalError' || name === 'GRPCUnknownError' || name === 'GRPCGenericError') return make(Code.UNAVAILABLE);
  // Stream errors come from grpc-js untyped, with the numeric status in `code`.
  const grpcCode = (e as { code?: unknown }).code;
  if (typeof grpcCode === 'number') {
    const byStatus: Record<number, Code> = {
      1: Code.CANCELLED,
      3: Code.INVALID_ARGUMENT,
      4: Code.DEADLINE_EXCEEDED,
      5: Code.NOT_FOUND,
      7: Code.PERMISSION_DENIED,
      8: Code.RESOURCE_EXHAUSTED,
      9: Code.FAILED_PRECONDITION,
      13: Code.UNAVAILABLE,
      14: Code.UNAVAILABLE,
      16: Code.UNAUTHENTICATED,
    };
    const code = byStatus[grpcCode];
    if (code !== undefined) return make(code);
  }
  return FlotillaError.from(err);
}
