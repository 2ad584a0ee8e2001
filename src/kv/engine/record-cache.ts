/**
 * The engine's read cache: the committed record (or the committed absence) of recently used keys, so a
 * hot read or the read-before-write of a put costs no LevelDB call. Bounded by entries and bytes;
 * least recently used first out.
 *
 * It only ever holds what is on disk: the engine writes a record here once its batch is fsynced, and a
 * read from disk fills it only when no write or eviction happened meanwhile that it could overwrite
 * with older data (`fillIfUnchanged` with the `stamp()` taken before the read).
 */
import type { StoredRecord } from './record-codec.js';

export interface RecordCacheOptions {
  /** Default 100 000. */
  maxEntries?: number;
  /** Default 64 MiB (keys + values + a per-entry overhead). */
  maxBytes?: number;
}

const OVERHEAD = 96;

function sizeOf(id: string, rec: StoredRecord | null): number {
  return id.length + OVERHEAD + (rec === null ? 0 : rec.entry.value.length + rec.entry.version.node.length);
}

export class RecordCache {
  private readonly map = new Map<string, StoredRecord | null>();
  private bytes = 0;
  /** Counts writes and evictions: a disk read may fill the cache only if this did not move. */
  private changes = 0;
  private readonly maxEntries: number;
  private readonly maxBytes: number;

  constructor(options: RecordCacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? 100_000;
    this.maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
  }

  /** The cached record (null: known absent), or undefined when not cached. */
  get(id: string): StoredRecord | null | undefined {
    const v = this.map.get(id);
    if (v === undefined) return undefined;
    // Most recently used last.
    this.map.delete(id);
    this.map.set(id, v);
    return v;
  }

  /** Taken before a disk read; passed to fillIfUnchanged. */
  stamp(): number {
    return this.changes;
  }

  /** Stores what a disk read started at `stamp` found, unless the cache changed since. */
  fillIfUnchanged(id: string, rec: StoredRecord | null, stamp: number): void {
    if (stamp !== this.changes || this.map.has(id)) return;
    this.put(id, rec);
  }

  /** A committed write (or removal: null). */
  set(id: string, rec: StoredRecord | null): void {
    this.changes++;
    this.put(id, rec);
  }

  /** Forgets a key (e.g. after a failed write, when what is on disk is unknown). */
  delete(id: string): void {
    this.changes++;
    const old = this.map.get(id);
    if (old === undefined) return;
    this.map.delete(id);
    this.bytes -= sizeOf(id, old);
  }

  get size(): number {
    return this.map.size;
  }

  private put(id: string, rec: StoredRecord | null): void {
    const old = this.map.get(id);
    if (old !== undefined) {
      this.map.delete(id);
      this.bytes -= sizeOf(id, old);
    }
    const size = sizeOf(id, rec);
    if (size > this.maxBytes / 16) return;
    this.map.set(id, rec);
    this.bytes += size;
    while (this.map.size > this.maxEntries || this.bytes > this.maxBytes) {
      const first = this.map.keys().next();
      if (first.done === true) break;
      const victim = this.map.get(first.value) ?? null;
      this.map.delete(first.value);
      this.bytes -= sizeOf(first.value, victim);
      this.changes++;
    }
  }
}
