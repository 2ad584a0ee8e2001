/**
 * A cluster scan by prefix, one page at a time. Every node believed up is asked for its entries after
 * the page token (tombstones included); each partition must have had R of its primaries answer. The
 * merged page holds, in key order, the newest version of each key, without tombstones and expired
 * values, and only keys up to the smallest "last key" of any node that had more to give (beyond it that
 * node's entries are unknown). The next page token is the last key considered.
 */
import { Code, FlotillaError } from '../../core/errors.js';
import { compareHlc } from '../../core/hlc.js';
import { isLive } from '../engine/kv-engine.js';
import type { Entry, KvMembership, KvPlacement } from '../types.js';
import type { ReplicaAccess } from './replica-access.js';
import { quorumError } from './coordinator.js';
import { checkKey, resolveQuorum, type ConsistencyLevel } from './validate.js';

export interface ScanOptions {
  /** Entries per page, 1..1000. Default 100. */
  limit?: number;
  /** The previous page's nextPageToken. */
  pageToken?: Uint8Array;
  level?: ConsistencyLevel;
  replicas?: number;
}

export interface ScanPage {
  entries: Entry[];
  /** Undefined on the last page. */
  nextPageToken: Uint8Array | undefined;
}

export interface ScanContext {
  placement: KvPlacement;
  membership: KvMembership;
  replicas: ReplicaAccess;
  defaultR: number;
  now: number;
}

export const MAX_SCAN_LIMIT = 1000;

interface NodeAnswer {
  entries: Entry[];
  more: boolean;
}

export async function scanCluster(ctx: ScanContext, prefix: Uint8Array, options: ScanOptions): Promise<ScanPage> {
  const limit = options.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_SCAN_LIMIT) {
    throw new FlotillaError(Code.INVALID_ARGUMENT, `the scan limit must be 1..${MAX_SCAN_LIMIT}, got ${limit}`);
  }
  if (prefix.length > 0) checkKey(prefix);
  const token = options.pageToken ?? new Uint8Array(0);
  if (token.length > 0) {
    checkKey(token);
    if (!startsWith(token, prefix)) throw new FlotillaError(Code.INVALID_ARGUMENT, 'the page token does not belong to this prefix');
  }
  const { placement, membership, replicas } = ctx;
  const r = resolveQuorum(options.level ?? 'default', options.replicas ?? 0, placement.replicas, ctx.defaultR, 'R');
  const nodes = placement.nodes().filter((n) => membership.isUp(n));
  const failures: string[] = [];
  const answers = new Map<string, NodeAnswer>();
  await Promise.all(
    nodes.map(async (node) => {
      try {
        answers.set(node, await localScan(replicas, node, prefix, token, limit));
      } catch (err) {
        failures.push(FlotillaError.from(err).message);
      }
    }),
  );
  // Every partition needs R of its primaries among the nodes that answered.
  for (let p = 0; p < 2 ** placement.partPower; p++) {
    const got = placement.primaries(p).filter((n) => answers.has(n)).length;
    if (got < r) throw quorumError(`scan (partition ${p})`, r, got, failures);
  }
  let cut: Buffer | undefined;
  for (const a of answers.values()) {
    const last = a.entries[a.entries.length - 1];
    if (a.more && last !== undefined && (cut === undefined || Buffer.compare(Buffer.from(last.key), cut) < 0)) cut = Buffer.from(last.key);
  }
  const newest = new Map<string, Entry>();
  for (const a of answers.values()) {
    for (const e of a.entries) {
      if (cut !== undefined && Buffer.compare(Buffer.from(e.key), cut) > 0) continue;
      const id = Buffer.from(e.key).toString('latin1');
      const prev = newest.get(id);
      if (prev === undefined || compareHlc(e.version, prev.version) > 0) newest.set(id, e);
    }
  }
  const sorted = [...newest.values()].sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
  const page: Entry[] = [];
  let full: Uint8Array | undefined;
  for (const e of sorted) {
    if (page.length >= limit) break;
    if (isLive(e, ctx.now)) page.push(e);
    if (page.length >= limit) full = e.key;
  }
  // A full page continues after its last key; else after the cut, when some node had more.
  return { entries: page, nextPageToken: full ?? cut };
}

async function localScan(replicas: ReplicaAccess, node: string, prefix: Uint8Array, startAfter: Uint8Array, limit: number): Promise<NodeAnswer> {
  return replicas.scan(node, prefix, startAfter, limit);
}

function startsWith(key: Uint8Array, prefix: Uint8Array): boolean {
  if (key.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return false;
  return true;
}
