/**
 * The on-disk tail of the sample buffer: when the in-memory bound is passed, the oldest batches move to
 * segment files under `<data-dir>/agent-spill/` (JSON lines, one batch a line, `segmentBytes` a file).
 * The store is bounded by `maxBytes`; past it the oldest segment is deleted and its samples counted as
 * dropped. A segment is deleted once every batch in it is acked. Every operation runs one at a time.
 */
import { appendFile, mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { BufferedBatch, BufferedSample } from './buffered-batch.js';

interface Segment {
  file: string;
  firstSeq: number;
  lastSeq: number;
  samples: number;
  bytes: number;
}

export interface SpillStoreOptions {
  dir: string;
  /** Largest total size of the segment files. */
  maxBytes: number;
  /** Size at which a segment is closed and a new one started. Default: min(4 MiB, maxBytes / 4). */
  segmentBytes?: number;
}

type Line = { seq: number; backlog: boolean; s: Array<[number, string, number, Record<string, string>]> };

function encode(b: BufferedBatch): string {
  const line: Line = { seq: b.seq, backlog: b.createdOffline, s: b.samples.map((x) => [x.timeMs, x.metric, x.value, x.labels]) };
  return JSON.stringify(line) + '\n';
}

function decode(text: string): BufferedBatch[] {
  const out: BufferedBatch[] = [];
  for (const raw of text.split('\n')) {
    if (raw === '') continue;
    try {
      const line = JSON.parse(raw) as Line;
      if (typeof line.seq !== 'number' || !Array.isArray(line.s)) continue;
      const samples: BufferedSample[] = line.s
        .filter((x) => Array.isArray(x) && typeof x[1] === 'string' && Number.isFinite(x[2]))
        .map(([timeMs, metric, value, labels]) => ({ timeMs, metric, value, labels: labels ?? {} }));
      out.push({ seq: line.seq, createdOffline: line.backlog === true, samples });
    } catch {
      // a torn last line after a crash: skip it
    }
  }
  return out;
}

export class SpillStore {
  private readonly segments: Segment[] = [];
  private open: Segment | undefined;
  private fileNo = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private cache: { file: string; batches: BufferedBatch[] } | undefined;
  private readonly segmentBytes: number;

  constructor(private readonly options: SpillStoreOptions) {
    this.segmentBytes = options.segmentBytes ?? Math.max(64 * 1024, Math.min(4 * 1024 * 1024, Math.floor(options.maxBytes / 4)));
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Creates the directory and takes out what a previous process left (returned oldest first, then deleted). */
  init(): Promise<BufferedBatch[]> {
    return this.serial(async () => {
      await mkdir(this.options.dir, { recursive: true });
      const names = (await readdir(this.options.dir)).filter((n) => /^segment-\d+\.jsonl$/.test(n)).sort();
      const out: BufferedBatch[] = [];
      for (const n of names) {
        const file = join(this.options.dir, n);
        out.push(...decode(await readFile(file, 'utf8').catch(() => '')));
        await rm(file, { force: true });
      }
      return out;
    });
  }

  get samples(): number {
    return this.segments.reduce((n, s) => n + s.samples, 0);
  }

  get bytes(): number {
    return this.segments.reduce((n, s) => n + s.bytes, 0);
  }

  get empty(): boolean {
    return this.segments.length === 0;
  }

  /** The highest seq on disk, or 0. */
  get lastSeq(): number {
    return this.segments.at(-1)?.lastSeq ?? 0;
  }

  /** Appends batches (in seq order); returns the number of samples dropped to stay within maxBytes. */
  append(batches: BufferedBatch[]): Promise<number> {
    return this.serial(async () => {
      for (const b of batches) {
        const text = encode(b);
        const bytes = Buffer.byteLength(text);
        if (this.open === undefined || this.open.bytes + bytes > this.segmentBytes) {
          this.open = { file: join(this.options.dir, `segment-${String(++this.fileNo).padStart(8, '0')}.jsonl`), firstSeq: b.seq, lastSeq: b.seq, samples: 0, bytes: 0 };
          this.segments.push(this.open);
        }
        await appendFile(this.open.file, text);
        this.open.lastSeq = b.seq;
        this.open.samples += b.samples.length;
        this.open.bytes += bytes;
      }
      let dropped = 0;
      while (this.bytes > this.options.maxBytes && this.segments.length > 0) {
        const s = this.segments.shift()!;
        dropped += s.samples;
        await this.remove(s);
      }
      return dropped;
    });
  }

  private async remove(s: Segment): Promise<void> {
    if (this.open === s) this.open = undefined;
    if (this.cache?.file === s.file) this.cache = undefined;
    await rm(s.file, { force: true });
  }

  /** Deletes segments whose batches all have seq <= `seq`. */
  ack(seq: number): Promise<void> {
    return this.serial(async () => {
      while (this.segments.length > 0 && this.segments[0]!.lastSeq <= seq) await this.remove(this.segments.shift()!);
    });
  }

  /** The first batch on disk with seq > `afterSeq`, or undefined. */
  next(afterSeq: number): Promise<BufferedBatch | undefined> {
    return this.serial(async () => {
      const s = this.segments.find((x) => x.lastSeq > afterSeq);
      if (s === undefined) return undefined;
      if (this.cache?.file !== s.file || (this.open === s && this.cache.batches.at(-1)?.seq !== s.lastSeq)) {
        this.cache = { file: s.file, batches: decode(await readFile(s.file, 'utf8')) };
      }
      return this.cache.batches.find((b) => b.seq > afterSeq);
    });
  }

  /** Deletes every segment (on a clean stop with nothing left to send). */
  clear(): Promise<void> {
    return this.serial(async () => {
      while (this.segments.length > 0) await this.remove(this.segments.shift()!);
    });
  }
}
