/**
 * The write-ahead log: one segment file per time window (`wal/<windowStartMs>.wal`), so a window's
 * segment is deleted as soon as the window is written as a block, without rewriting anything.
 *
 * Appends are group-committed: entries go to an in-memory buffer per window, and one flush writes every
 * buffer as one record and fdatasyncs the files; every `commit()` waiting when a flush starts resolves
 * when it ends. A record is `[u32 length][u32 crc32][payload]` (little-endian); the payload is a sequence
 * of entries `[u8 1][u32 id][u16 n][n bytes of labels JSON]` (a series), `[u8 3][f64 t][u32 count]` then
 * `count` times `[u32 id][f64 v]` (samples sharing one time: those of one scrape, 12 bytes each), or
 * `[u8 2][u32 id][f64 t][f64 v]` (one sample; written by the first version, still read). A series entry
 * always precedes its samples in the same segment. A scrape's samples are written into their time's
 * entry in place (`openRun`, then `put` each); the entry's count is filled in when it ends (another
 * time, or the flush). The checksum is CRC-32 (IEEE 802.3, zlib's values; src/core/crc32.ts).
 * On replay, a record cut short or failing its checksum ends the segment (it was never acknowledged) and
 * the file is truncated there.
 */
import { mkdir, open, readdir, readFile, rm, truncate, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 as crc32Of } from '../../core/crc32.js';
import { Code, FlotillaError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { Labels } from './types.js';

/** CRC-32 (IEEE 802.3, as zlib and gzip) of buf[start, end): src/core/crc32.ts, the same values as zlib's. */
export function crc32(buf: Uint8Array, start = 0, end = buf.length): number {
  return crc32Of(buf.subarray(start, end));
}

const HEADER = 8;
const SERIES = 1;
const SAMPLE = 2;
const SAME_TIME = 3;
/** Bytes of a SAME_TIME entry's head ([u8 3][f64 t][u32 count]) and of each of its samples ([u32 id][f64 v]). */
const RUN_HEAD = 13;
const RUN_SAMPLE = 12;

/** A growable byte buffer with a reserved record header at the front. */
class EntryBuffer implements SampleRun {
  buf: Buffer;
  view: DataView;
  len: number;
  /** The open SAME_TIME entry: its offset (-1: none) and time; its count is written when it ends (endRun). */
  run = -1;
  runT = 0;

  /** `start` bytes reserved at the front (the record header). */
  constructor(readonly start: number) {
    this.buf = Buffer.allocUnsafe(start === 0 ? 4096 : 64 * 1024);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
    this.len = start;
  }

  ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.length);
  }

  /** Writes the open SAME_TIME entry's count (the samples after its head) and closes it. */
  endRun(): void {
    if (this.run < 0) return;
    this.view.setUint32(this.run + 9, (this.len - this.run - RUN_HEAD) / RUN_SAMPLE, true);
    this.run = -1;
  }

  put(id: number, v: number): void {
    const p = this.len;
    this.view.setUint32(p, id, true);
    this.view.setFloat64(p + 4, v, true);
    this.len = p + RUN_SAMPLE;
  }

  /** Empties the buffer for reuse (down to the reserved header). */
  reset(): void {
    this.len = this.start;
    this.run = -1;
  }
}

/**
 * The samples buffer of one window with a SAME_TIME entry open at one time and room for the samples
 * announced to `Wal.openRun`: `put` each, then `Wal.commit`. Used only within the call that opened it.
 */
export interface SampleRun {
  /** Logs one sample at the run's time (room for it was reserved by openRun). */
  put(id: number, v: number): void;
}

interface WindowBuffers {
  series: EntryBuffer;
  samples: EntryBuffer;
}

const SPARE_BUFFERS = 2;
/** A buffer grown past this is not kept for reuse (a burst should not pin its memory). */
const SPARE_MAX_BYTES = 16 * 1024 * 1024;

export interface WalReplayHandler {
  series(window: number, id: number, labels: Labels): void;
  sample(window: number, id: number, t: number, v: number): void;
}

export class Wal {
  /** Per window: series entries, and sample entries (written after them in the same record). */
  private readonly pending = new Map<number, WindowBuffers>();
  /** Buffers whose record is written, kept for the next flush's appends (at most SPARE_BUFFERS). */
  private spare: WindowBuffers[] = [];
  private readonly files = new Map<number, FileHandle>();
  private waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private flushing = false;
  private failed: FlotillaError | undefined;
  private closed = false;
  /** Bytes written since start (for stats). */
  bytesWritten = 0;
  fsyncs = 0;
  /** Bytes of each segment on disk. */
  private readonly segmentBytes = new Map<number, number>();

  constructor(
    private readonly dir: string,
    private readonly logger: Logger,
  ) {}

  private path(window: number): string {
    return join(this.dir, `${window}.wal`);
  }

  /** Reads every segment in window order, truncating torn tails; returns the windows found. */
  async replay(handler: WalReplayHandler): Promise<number[]> {
    await mkdir(this.dir, { recursive: true });
    const windows = (await readdir(this.dir))
      .map((f) => /^(-?\d+)\.wal$/.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    for (const w of windows) {
      const data = await readFile(this.path(w));
      let off = 0;
      while (off + HEADER <= data.length) {
        const len = data.readUInt32LE(off);
        const crc = data.readUInt32LE(off + 4);
        if (len === 0 || off + HEADER + len > data.length || crc32(data, off + HEADER, off + HEADER + len) !== crc) break;
        this.replayRecord(w, data, off + HEADER, off + HEADER + len, handler);
        off += HEADER + len;
      }
      this.segmentBytes.set(w, off);
      if (off !== data.length) {
        this.logger.warn({ segment: this.path(w), validBytes: off, fileBytes: data.length }, 'WAL segment ends with a torn record (never acknowledged): truncated');
        await truncate(this.path(w), off);
      }
    }
    return windows;
  }

  private replayRecord(window: number, data: Buffer, start: number, end: number, handler: WalReplayHandler): void {
    let p = start;
    while (p < end) {
      const type = data[p]!;
      if (type === SERIES) {
        const id = data.readUInt32LE(p + 1);
        const n = data.readUInt16LE(p + 5);
        const labels = JSON.parse(data.toString('utf8', p + 7, p + 7 + n)) as Labels;
        handler.series(window, id, labels);
        p += 7 + n;
      } else if (type === SAME_TIME) {
        const t = data.readDoubleLE(p + 1);
        const n = data.readUInt32LE(p + 9);
        p += 13;
        for (let i = 0; i < n; i++, p += 12) handler.sample(window, data.readUInt32LE(p), t, data.readDoubleLE(p + 4));
      } else if (type === SAMPLE) {
        handler.sample(window, data.readUInt32LE(p + 1), data.readDoubleLE(p + 5), data.readDoubleLE(p + 13));
        p += 21;
      } else {
        throw new FlotillaError(Code.INTERNAL, `WAL segment ${this.path(window)}: unknown entry type ${type} (the checksum matched: a bug or another format)`);
      }
    }
  }

  private buffers(window: number): WindowBuffers {
    let b = this.pending.get(window);
    if (b === undefined) this.pending.set(window, (b = this.spare.pop() ?? { series: new EntryBuffer(0), samples: new EntryBuffer(HEADER) }));
    return b;
  }

  /** Logs a series' labels in `window`'s segment (before its first sample there). */
  addSeries(window: number, id: number, labelsJson: string): void {
    const b = this.buffers(window).series;
    const n = Buffer.byteLength(labelsJson);
    if (n > 0xffff) throw new FlotillaError(Code.INVALID_ARGUMENT, 'series labels longer than 65535 bytes');
    b.ensure(7 + n);
    b.buf[b.len] = SERIES;
    b.view.setUint32(b.len + 1, id, true);
    b.view.setUint16(b.len + 5, n, true);
    b.buf.write(labelsJson, b.len + 7, 'utf8');
    b.len += 7 + n;
  }

  /**
   * Opens the samples entry of time `t` in `window`'s buffer with room for `n` samples (continuing the
   * open one when it has the same time: consecutive samples of one time share one entry).
   */
  openRun(window: number, t: number, n: number): SampleRun {
    const b = this.buffers(window).samples;
    if (b.run < 0 || b.runT !== t) {
      b.endRun();
      b.ensure(RUN_HEAD + n * RUN_SAMPLE);
      b.run = b.len;
      b.runT = t;
      b.buf[b.len] = SAME_TIME;
      b.view.setFloat64(b.len + 1, t, true);
      b.len += RUN_HEAD;
    } else b.ensure(n * RUN_SAMPLE);
    return b;
  }

  /** Logs a sample; consecutive samples with the same time share one entry. */
  addSample(window: number, id: number, t: number, v: number): void {
    this.openRun(window, t, 1).put(id, v);
  }

  /** Resolves once everything added so far is on disk (fdatasync), rejects when the log cannot be written. */
  commit(): Promise<void> {
    if (this.failed !== undefined) return Promise.reject(this.failed);
    if (this.closed) return Promise.reject(new FlotillaError(Code.UNAVAILABLE, 'the time-series store is closed'));
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        queueMicrotask(() => void this.flushLoop());
      }
    });
  }

  private async file(window: number): Promise<FileHandle> {
    let fh = this.files.get(window);
    if (fh === undefined) {
      fh = await open(this.path(window), 'a');
      this.files.set(window, fh);
    }
    return fh;
  }

  private async flushLoop(): Promise<void> {
    while (this.waiters.length > 0) {
      const waiters = this.waiters;
      this.waiters = [];
      const buffers = [...this.pending.entries()];
      this.pending.clear();
      try {
        const written: number[] = [];
        for (const [window, { series, samples }] of buffers) {
          if (series.len === 0 && samples.len === HEADER) continue;
          samples.endRun();
          // One record: the series entries first (a series precedes its samples), then the samples.
          let rec = samples.buf.subarray(0, samples.len);
          if (series.len > 0) rec = Buffer.concat([samples.buf.subarray(0, HEADER), series.buf.subarray(0, series.len), samples.buf.subarray(HEADER, samples.len)]);
          rec.writeUInt32LE(rec.length - HEADER, 0);
          rec.writeUInt32LE(crc32(rec, HEADER, rec.length), 4);
          const fh = await this.file(window);
          let off = 0;
          while (off < rec.length) off += (await fh.write(rec, off, rec.length - off)).bytesWritten;
          this.bytesWritten += rec.length;
          this.segmentBytes.set(window, (this.segmentBytes.get(window) ?? 0) + rec.length);
          written.push(window);
        }
        // Sync after every write, so one sync per file per flush.
        for (const window of written) {
          await this.files.get(window)!.datasync();
          this.fsyncs += 1;
        }
        for (const [, b] of buffers) {
          if (this.spare.length >= SPARE_BUFFERS || b.samples.buf.length > SPARE_MAX_BYTES || b.series.buf.length > SPARE_MAX_BYTES) continue;
          b.series.reset();
          b.samples.reset();
          this.spare.push(b);
        }
        for (const w of waiters) w.resolve();
      } catch (err) {
        this.failed = new FlotillaError(Code.UNAVAILABLE, `the write-ahead log cannot be written (${(err as Error).message}); the store refuses appends until restarted`, { cause: err });
        this.logger.error({ err: (err as Error).message }, 'WAL write failed: appends refused from now on');
        for (const w of [...waiters, ...this.waiters]) w.reject(this.failed);
        this.waiters = [];
      }
    }
    this.flushing = false;
  }

  /** Bytes of the log on disk (every segment). */
  get sizeBytes(): number {
    let n = 0;
    for (const b of this.segmentBytes.values()) n += b;
    return n;
  }

  /** Segments on disk. */
  get segments(): number {
    return this.segmentBytes.size;
  }

  /** Deletes the segment of a window (its samples are now in a block). */
  async dropWindow(window: number): Promise<void> {
    const fh = this.files.get(window);
    this.files.delete(window);
    this.pending.delete(window);
    this.segmentBytes.delete(window);
    await fh?.close();
    await rm(this.path(window), { force: true });
  }

  /** Waits for the pending flush, then closes the files. */
  async close(): Promise<void> {
    if (this.waiters.length > 0 || this.flushing) await this.commit().catch(() => undefined);
    this.closed = true;
    for (const fh of this.files.values()) await fh.close().catch(() => undefined);
    this.files.clear();
  }
}
