/**
 * Converters between etcd's wire messages (src/gen, protobuf-es) and the store's domain types. Generated
 * types stop here: the engine never sees them.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import {
  Compare_CompareResult,
  Compare_CompareTarget,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  WatchCreateRequest_FilterType,
  type Compare as PbCompare,
  type DeleteRangeRequest as PbDeleteRangeRequest,
  type PutRequest as PbPutRequest,
  type RangeRequest as PbRangeRequest,
  type RangeResponseSchema,
  type RequestOp,
  type ResponseHeaderSchema,
  type ResponseOpSchema,
  type TxnRequest as PbTxnRequest,
  type TxnResponseSchema,
  type WatchCreateRequest,
  type WatchResponseSchema,
} from '../../gen/etcdserverpb/rpc_pb.js';
import { Event_EventType, type KeyValueSchema } from '../../gen/mvccpb/kv_pb.js';
import type { WatchMessage, WatchOptions } from './watch-hub.js';
import {
  etcdError,
  keyToString,
  spanEnd,
  type Compare,
  type CompareResult,
  type CompareTarget,
  type DeleteRequest,
  type KeyValue,
  type PutRequest,
  type RangeRequest,
  type RangeResult,
  type SortOrder,
  type SortTarget,
  type TxnOp,
  type TxnOpResult,
  type TxnRequest,
  type TxnResult,
} from './types.js';

export type KeyValueInit = MessageInitShape<typeof KeyValueSchema>;
export type HeaderInit = MessageInitShape<typeof ResponseHeaderSchema>;

const sortOrders: Record<number, SortOrder> = {
  [RangeRequest_SortOrder.NONE]: 'none',
  [RangeRequest_SortOrder.ASCEND]: 'ascend',
  [RangeRequest_SortOrder.DESCEND]: 'descend',
};
const sortTargets: Record<number, SortTarget> = {
  [RangeRequest_SortTarget.KEY]: 'key',
  [RangeRequest_SortTarget.VERSION]: 'version',
  [RangeRequest_SortTarget.CREATE]: 'create',
  [RangeRequest_SortTarget.MOD]: 'mod',
  [RangeRequest_SortTarget.VALUE]: 'value',
};
const compareTargets: Record<number, CompareTarget> = {
  [Compare_CompareTarget.VERSION]: 'version',
  [Compare_CompareTarget.CREATE]: 'create',
  [Compare_CompareTarget.MOD]: 'mod',
  [Compare_CompareTarget.VALUE]: 'value',
  [Compare_CompareTarget.LEASE]: 'lease',
};
const compareResults: Record<number, CompareResult> = {
  [Compare_CompareResult.EQUAL]: 'equal',
  [Compare_CompareResult.GREATER]: 'greater',
  [Compare_CompareResult.LESS]: 'less',
  [Compare_CompareResult.NOT_EQUAL]: 'not_equal',
};

export function fromRangeRequest(r: PbRangeRequest): RangeRequest {
  const sortOrder = sortOrders[r.sortOrder];
  const sortTarget = sortTargets[r.sortTarget];
  if (sortOrder === undefined || sortTarget === undefined) throw etcdError('invalidSortOption');
  return {
    key: keyToString(r.key),
    end: spanEnd(r.rangeEnd),
    limit: Number(r.limit),
    revision: Number(r.revision),
    sortOrder,
    sortTarget,
    keysOnly: r.keysOnly,
    countOnly: r.countOnly,
    minModRevision: Number(r.minModRevision),
    maxModRevision: Number(r.maxModRevision),
    minCreateRevision: Number(r.minCreateRevision),
    maxCreateRevision: Number(r.maxCreateRevision),
  };
}

export function fromPutRequest(r: PbPutRequest): PutRequest {
  return {
    key: keyToString(r.key),
    value: r.value,
    lease: r.lease,
    prevKv: r.prevKv,
    ignoreValue: r.ignoreValue,
    ignoreLease: r.ignoreLease,
  };
}

export function fromDeleteRequest(r: PbDeleteRangeRequest): DeleteRequest {
  return { key: keyToString(r.key), end: spanEnd(r.rangeEnd), prevKv: r.prevKv };
}

function fromCompare(c: PbCompare): Compare {
  const target = compareTargets[c.target];
  const result = compareResults[c.result];
  if (target === undefined || result === undefined) throw etcdError('invalidCompare');
  const u = c.targetUnion;
  let operand: bigint | Uint8Array;
  if (target === 'value') operand = u.case === 'value' ? u.value : new Uint8Array(0);
  else {
    const wanted = { version: 'version', create: 'createRevision', mod: 'modRevision', lease: 'lease' }[target];
    operand = u.case === wanted && typeof u.value === 'bigint' ? u.value : 0n;
  }
  return { key: keyToString(c.key), end: spanEnd(c.rangeEnd), target, result, operand };
}

function fromRequestOp(op: RequestOp): TxnOp {
  const r = op.request;
  switch (r.case) {
    case 'requestRange':
      return { type: 'range', request: fromRangeRequest(r.value) };
    case 'requestPut':
      return { type: 'put', request: fromPutRequest(r.value) };
    case 'requestDeleteRange':
      return { type: 'delete', request: fromDeleteRequest(r.value) };
    case 'requestTxn':
      return { type: 'txn', request: fromTxnRequest(r.value) };
    default:
      // etcd treats an empty RequestOp as an empty range request, which fails the key check.
      throw etcdError('emptyKey');
  }
}

export function fromTxnRequest(r: PbTxnRequest): TxnRequest {
  return {
    compare: r.compare.map(fromCompare),
    success: r.success.map(fromRequestOp),
    failure: r.failure.map(fromRequestOp),
  };
}

export function fromWatchCreate(r: WatchCreateRequest): WatchOptions {
  // etcd: an empty key watches from "\0", the smallest key.
  const key = r.key.length === 0 ? '\0' : keyToString(r.key);
  return {
    span: { key, end: spanEnd(r.rangeEnd) },
    startRevision: Number(r.startRevision),
    prevKv: r.prevKv,
    noPut: r.filters.includes(WatchCreateRequest_FilterType.NOPUT),
    noDelete: r.filters.includes(WatchCreateRequest_FilterType.NODELETE),
    progressNotify: r.progressNotify,
  };
}

export function toKeyValue(kv: KeyValue): KeyValueInit {
  return {
    key: kv.key,
    createRevision: BigInt(kv.createRevision),
    modRevision: BigInt(kv.modRevision),
    version: BigInt(kv.version),
    value: kv.value,
    lease: kv.lease,
  };
}

export function toRangeResponse(r: RangeResult, header: HeaderInit): MessageInitShape<typeof RangeResponseSchema> {
  return { header, kvs: r.kvs.map(toKeyValue), more: r.more, count: BigInt(r.count) };
}

/** Inside a transaction etcd's sub-responses carry only the revision in their headers (nested: none). */
function toResponseOp(r: TxnOpResult): MessageInitShape<typeof ResponseOpSchema> {
  switch (r.type) {
    case 'range':
      return { response: { case: 'responseRange', value: toRangeResponse(r.result, { revision: BigInt(r.revision) }) } };
    case 'put':
      return { response: { case: 'responsePut', value: { header: { revision: BigInt(r.revision) }, prevKv: r.prevKv && toKeyValue(r.prevKv) } } };
    case 'delete':
      return {
        response: {
          case: 'responseDeleteRange',
          value: { header: { revision: BigInt(r.revision) }, deleted: BigInt(r.deleted), prevKvs: r.prevKvs.map(toKeyValue) },
        },
      };
    case 'txn':
      return { response: { case: 'responseTxn', value: toTxnResponse(r.result, {}) } };
  }
}

export function toTxnResponse(r: TxnResult, header: HeaderInit): MessageInitShape<typeof TxnResponseSchema> {
  return { header, succeeded: r.succeeded, responses: r.responses.map(toResponseOp) };
}

export function toWatchResponse(m: WatchMessage, header: HeaderInit): MessageInitShape<typeof WatchResponseSchema> {
  return {
    header,
    watchId: m.watchId,
    created: m.created ?? false,
    canceled: m.canceled ?? false,
    compactRevision: BigInt(m.compactRevision ?? 0),
    cancelReason: m.cancelReason ?? '',
    events: m.events.map((e) => ({
      type: e.type === 'put' ? Event_EventType.PUT : Event_EventType.DELETE,
      kv: toKeyValue(e.kv),
      prevKv: e.prevKv && toKeyValue(e.prevKv),
    })),
  };
}
