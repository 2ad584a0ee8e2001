/**
 * Domain types of the embedded coordination store, free of the wire format. Keys are handled as latin1
 * strings inside the store: one character per byte, so that JavaScript string order is etcd's byte order.
 */
import { Code, FlotillaError } from '../../core/errors.js';

/** One key at one revision, as etcd's mvccpb.KeyValue. */
export interface KeyValue {
  key: Uint8Array;
  createRevision: number;
  modRevision: number;
  version: number;
  value: Uint8Array;
  /** Attached lease ID, 0n for none. */
  lease: bigint;
}

export interface WatchEvent {
  type: 'put' | 'delete';
  kv: KeyValue;
  prevKv?: KeyValue;
}

/** Which keys an operation covers. `end` undefined: the single key; '' (from "\0"): every key >= key. */
export interface KeySpan {
  key: string;
  end?: string;
}

export type SortOrder = 'none' | 'ascend' | 'descend';
export type SortTarget = 'key' | 'version' | 'create' | 'mod' | 'value';

export interface RangeRequest extends KeySpan {
  limit?: number;
  /** 0 or less: the newest revision. */
  revision?: number;
  sortOrder?: SortOrder;
  sortTarget?: SortTarget;
  keysOnly?: boolean;
  countOnly?: boolean;
  minModRevision?: number;
  maxModRevision?: number;
  minCreateRevision?: number;
  maxCreateRevision?: number;
}

export interface RangeResult {
  kvs: KeyValue[];
  more: boolean;
  count: number;
}

export interface PutRequest {
  key: string;
  value: Uint8Array;
  lease?: bigint;
  prevKv?: boolean;
  ignoreValue?: boolean;
  ignoreLease?: boolean;
}

export interface DeleteRequest extends KeySpan {
  prevKv?: boolean;
}

export type CompareTarget = 'version' | 'create' | 'mod' | 'value' | 'lease';
export type CompareResult = 'equal' | 'greater' | 'less' | 'not_equal';

export interface Compare extends KeySpan {
  target: CompareTarget;
  result: CompareResult;
  /** The operand: a number/bigint for version, create, mod and lease; bytes for value. */
  operand: bigint | Uint8Array;
}

export type TxnOp =
  | { type: 'range'; request: RangeRequest }
  | { type: 'put'; request: PutRequest }
  | { type: 'delete'; request: DeleteRequest }
  | { type: 'txn'; request: TxnRequest };

export interface TxnRequest {
  compare: Compare[];
  success: TxnOp[];
  failure: TxnOp[];
}

/**
 * One operation's result inside a transaction. `revision` is what etcd puts in that response's header:
 * the revision the operation read at or wrote, so 1 + the store's revision once the transaction has
 * changed something, the store's revision before that. A nested transaction's header stays empty.
 */
export type TxnOpResult =
  | { type: 'range'; revision: number; result: RangeResult }
  | { type: 'put'; revision: number; prevKv?: KeyValue }
  | { type: 'delete'; revision: number; deleted: number; prevKvs: KeyValue[] }
  | { type: 'txn'; result: TxnResult };

export interface TxnResult {
  succeeded: boolean;
  responses: TxnOpResult[];
}

/** gRPC status codes used by etcd's errors (numbers as on the wire). */
export const EtcdGrpcCode = {
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  FAILED_PRECONDITION: 9,
  RESOURCE_EXHAUSTED: 8,
  OUT_OF_RANGE: 11,
  UNAVAILABLE: 14,
  INTERNAL: 13,
  UNAUTHENTICATED: 16,
} as const;

const etcdErrors = {
  emptyKey: [Code.INVALID_ARGUMENT, EtcdGrpcCode.INVALID_ARGUMENT, 'etcdserver: key is not provided'],
  keyNotFound: [Code.INVALID_ARGUMENT, EtcdGrpcCode.INVALID_ARGUMENT, 'etcdserver: key not found'],
  valueProvided: [Code.INVALID_ARGUMENT, EtcdGrpcCode.INVALID_ARGUMENT, 'etcdserver: value is provided'],
  leaseProvided: [Code.INVALID_ARGUMENT, EtcdGrpcCode.INVALID_ARGUMENT, 'etcdserver: lease is provided'],
  tooManyOps: [Code.INVALID_ARGUMENT, EtcdGrpcCode.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request'],
  duplicateKey: [Code.INVALID_ARGUMENT, EtcdGrpcCode.INVALID_ARGUMENT, 'etcdserver: duplicate key given in txn request'],
  invalidSortOption: [Code.INVALID_ARGUMENT, EtcdGrpcCode.INVALID_ARGUMENT, 'etcdserver: invalid sort option'],
  invalidCompare: [Code.INVALID_ARGUMENT, EtcdGrpcCode.INVALID_ARGUMENT, 'etcdserver: invalid compare'],
  requestTooLarge: [Code.INVALID_ARGUMENT, EtcdGrpcCode.INVALID_ARGUMENT, 'etcdserver: request is too large'],
  compacted: [Code.COORD_COMPACTED, EtcdGrpcCode.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted'],
  futureRev: [Code.COORD_FUTURE_REV, EtcdGrpcCode.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision'],
  leaseNotFound: [Code.COORD_LEASE_NOT_FOUND, EtcdGrpcCode.NOT_FOUND, 'etcdserver: requested lease not found'],
  leaseExists: [Code.FAILED_PRECONDITION, EtcdGrpcCode.FAILED_PRECONDITION, 'etcdserver: lease already exists'],
  leaseTtlTooLarge: [Code.INVALID_ARGUMENT, EtcdGrpcCode.OUT_OF_RANGE, 'etcdserver: too large lease TTL'],
  stopped: [Code.UNAVAILABLE, EtcdGrpcCode.UNAVAILABLE, 'etcdserver: server stopped'],
  storageFailed: [Code.INTERNAL, EtcdGrpcCode.INTERNAL, 'etcdserver: storage failure'],
  authNotEnabled: [Code.FAILED_PRECONDITION, EtcdGrpcCode.FAILED_PRECONDITION, 'etcdserver: authentication is not enabled'],
  // etcd clients match this text: they authenticate again and retry.
  invalidAuthToken: [Code.UNAUTHENTICATED, EtcdGrpcCode.UNAUTHENTICATED, 'etcdserver: invalid auth token'],
} as const;

export type EtcdErrorKind = keyof typeof etcdErrors;

/**
 * An etcd error as a FlotillaError: the message is etcd's own text (clients match on it) and
 * `details.grpcCode` is the gRPC status etcd answers with.
 */
export function etcdError(kind: EtcdErrorKind, cause?: unknown): FlotillaError {
  const [code, grpcCode, message] = etcdErrors[kind];
  return new FlotillaError(code, message, { cause, details: { grpcCode, etcdError: kind } });
}

/** The gRPC status code etcd would answer with for this error. */
export function grpcCodeOf(err: FlotillaError): number {
  const fromDetails = err.details?.grpcCode;
  return typeof fromDetails === 'number' ? fromDetails : err.grpcStatus;
}

/** Bytes <-> the store's latin1 key strings. */
export function keyToString(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

export function keyToBytes(key: string): Uint8Array {
  return Buffer.from(key, 'latin1');
}

/** Turns a wire range_end into a span end: empty -> single key, "\0" -> every key >= key. */
export function spanEnd(rangeEnd: Uint8Array): string | undefined {
  if (rangeEnd.length === 0) return undefined;
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return '';
  return keyToString(rangeEnd);
}

/** True when `key` falls in the span. */
export function spanContains(span: KeySpan, key: string): boolean {
  if (span.end === undefined) return key === span.key;
  if (key < span.key) return false;
  return span.end === '' || key < span.end;
}
