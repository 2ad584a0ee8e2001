/**
 * Hashing a body on a worker thread. The main thread of the access node moves every byte to the other
 * holders; digests it computes itself slow that down. Here the main thread only copies each chunk into a
 * ring of shared memory and the digests are computed on one worker thread of the process, beside the I/O.
 *
 * The copy is not free: V8 copies into shared memory word by word (~30 ms per 64 MiB here) and each
 * wake-up of the thread is a message (~10-25 ms more per 64 MiB), so the main thread saves only what the
 * digests cost beyond that. MD5 (~90 ms per 64 MiB) is worth it: S3's PutObject and UploadPart (their
 * ETag). SHA-256 is worth it only in software (~150 ms per 64 MiB): with the CPU's SHA-256 instructions
 * (x86 SHA-NI, Arm's SHA2, used by OpenSSL) SHA-256 + CRC32 cost ~50 ms, about what the copy and the
 * wake-ups cost, and offloading them only added the thread's ~60 ms of CPU: on two cores shared by the
 * client and three nodes a replicated 64 MiB PUT went 160-220 MiB/s inline against 75-205 offloaded.
 *
 * `createBodyDigester` hands out an OffloadedHasher when the digests are the costly kind (wantsThread) for
 * a body of at least OFFLOAD_MIN_BYTES (or of unknown size) while fewer than MAX_OFFLOADED_JOBS are
 * running, else an inline BodyHasher: small bodies cost less hashed where they are than a round trip to
 * the worker. Both have the same results and the same size checks (`update` throws INVALID_ARGUMENT past a
 * declared size; `result` when it was not reached). A worker that fails fails the bodies it was hashing
 * (UNAVAILABLE), and the next one starts a new worker.
 */
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { CRC32_NATIVE_MODULE } from '../../core/crc32.js';
import { Code, FlotillaError } from '../../core/errors.js';
import type { BodyDigests, WrittenBody } from './backend.js';
import { BodyHasher, checkDeclaredSize, checkNotOverDeclared, writtenBody } from './blob-format.js';

/** A body's digests, fed chunk by chunk. `update` answers a promise when the caller must wait before the next chunk (back-pressure). */
export interface BodyDigester {
  readonly size: number;
  update(chunk: Buffer): Promise<void> | undefined;
  /** Size and digests, once. */
  result(): Promise<WrittenBody>;
  /** Gives up (idempotent; nothing after it). */
  abort(): void;
}

/** Bodies smaller than this are hashed inline. */
export const OFFLOAD_MIN_BYTES = 4 * 1024 * 1024;
/** Shared memory per offloaded body. */
export const RING_BYTES = 2 * 1024 * 1024;
/** Bytes copied into the ring before the worker is told (fewer messages than chunks). */
const POST_BYTES = 256 * 1024;
/**
 * The thread stops after this long without a body (its ~7 MiB and the rings go back); the next large
 * body starts it again (~20 ms). The nodes' RSS stays bounded while they stream (XFER-1/2).
 */
export const IDLE_STOP_MS = 1000;
/** Bodies hashed on the worker at once; beyond that, inline (bounds the shared memory). */
export const MAX_OFFLOADED_JOBS = 8;

// The worker's program: plain JavaScript, no imports of the project (evaluated as a script).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
let crc32 = require('node:zlib').crc32;
if (workerData.crc32Module) crc32 = require(workerData.crc32Module).crc32;
const jobs = new Map();
parentPort.on('message', (m) => {
  if (m.t === 'open') {
    jobs.set(m.job, { ring: Buffer.from(m.ring), done: 0, sha: m.sha256 ? createHash('sha256') : undefined, md5: m.md5 ? createHash('md5') : undefined, crc: m.crc32 ? 0 : undefined });
    return;
  }
  const j = jobs.get(m.job);
  if (j === undefined) return;
  if (m.t === 'data') {
    const size = j.ring.length;
    while (j.done < m.upto) {
      const off = j.done % size;
      const b = j.ring.subarray(off, off + Math.min(m.upto - j.done, size - off));
      if (j.sha !== undefined) j.sha.update(b);
      if (j.md5 !== undefined) j.md5.update(b);
      if (j.crc !== undefined) j.crc = crc32(b, j.crc);
      j.done += b.length;
    }
    parentPort.postMessage({ job: m.job, consumed: j.done });
  } else if (m.t === 'end') {
    jobs.delete(m.job);
    parentPort.postMessage({ job: m.job, end: { sha256: j.sha && j.sha.digest('hex'), md5: j.md5 && j.md5.digest('hex'), crc32: j.crc } });
  } else if (m.t === 'drop') jobs.delete(m.job);
});
`;

interface WorkerReply {
  job: number;
  consumed?: number;
  end?: { sha256?: string; md5?: string; crc32?: number };
}

interface JobHooks {
  consumed(upto: number): void;
  ended(d: NonNullable<WorkerReply['end']>): void;
  failed(e: FlotillaError): void;
}

/** The process's hashing thread, started on first use; keeps the process alive only while it has work. */
class DigestWorker {
  private worker: Worker | undefined;
  private readonly jobs = new Map<number, JobHooks>();
  private nextJob = 1;
  /** Rings of finished jobs, reused (their pages are already mapped). */
  private readonly freeRings: SharedArrayBuffer[] = [];

  get active(): number {
    return this.jobs.size;
  }

  get running(): boolean {
    return this.worker !== undefined;
  }

  private idleTimer: NodeJS.Timeout | undefined;

  open(digests: BodyDigests, hooks: JobHooks): { job: number; ring: SharedArrayBuffer; post: (m: object) => void } {
    clearTimeout(this.idleTimer);
    const w = this.ensure();
    const job = this.nextJob++;
    const ring = this.freeRings.pop() ?? new SharedArrayBuffer(RING_BYTES);
    this.jobs.set(job, hooks);
    if (this.jobs.size === 1) w.ref();
    w.postMessage({ t: 'open', job, ring, sha256: digests.sha256, md5: digests.md5, crc32: digests.crc32 === true });
    return { job, ring, post: (m) => w.postMessage(m) };
  }

  close(job: number, ring: SharedArrayBuffer, drop: boolean): void {
    if (!this.jobs.delete(job)) return;
    if (drop) this.worker?.postMessage({ t: 'drop', job });
    // A dropped job's ring may still be read by the worker (messages in flight): not reused.
    if (!drop && this.freeRings.length < MAX_OFFLOADED_JOBS) this.freeRings.push(ring);
    if (this.jobs.size === 0 && this.worker !== undefined) {
      this.worker.unref();
      clearTimeout(this.idleTimer);
      this.idleTimer = setTimeout(() => {
        if (this.jobs.size === 0) void this.terminate();
      }, IDLE_STOP_MS);
      this.idleTimer.unref();
    }
  }

  /** Stops the thread (its jobs fail); the next job starts another. For tests and shutdown. */
  async terminate(): Promise<void> {
    const w = this.worker;
    if (w === undefined) return;
    clearTimeout(this.idleTimer);
    this.freeRings.length = 0;
    this.fail(w, new FlotillaError(Code.UNAVAILABLE, 'the hashing thread was stopped'));
    await w.terminate();
  }

  private ensure(): Worker {
    if (this.worker !== undefined) return this.worker;
    // Small heaps: the thread keeps a few hash objects per body, the bytes are in the shared rings.
    // The CRC-32 the main thread uses (src/core/crc32.ts): the native module it loaded, else zlib's.
    const w = new Worker(WORKER_SOURCE, { eval: true, name: 'flotilla-digests', workerData: { crc32Module: CRC32_NATIVE_MODULE }, resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 24 } });
    w.unref();
    w.on('message', (r: WorkerReply) => {
      const h = this.jobs.get(r.job);
      if (h === undefined) return;
      if (r.end !== undefined) h.ended(r.end);
      else if (r.consumed !== undefined) h.consumed(r.consumed);
    });
    w.on('error', (err) => this.fail(w, new FlotillaError(Code.UNAVAILABLE, `the hashing thread failed: ${err.message}`)));
    w.on('exit', (code) => this.fail(w, new FlotillaError(Code.UNAVAILABLE, `the hashing thread exited (code ${code})`)));
    this.worker = w;
    return w;
  }

  private fail(w: Worker, e: FlotillaError): void {
    if (this.worker !== w) return;
    this.worker = undefined;
    const jobs = [...this.jobs.values()];
    this.jobs.clear();
    for (const h of jobs) h.failed(e);
  }
}

const shared = new DigestWorker();

/** Stops the process's hashing thread (bodies being hashed there fail); the next large body starts a new one. */
export function stopDigestWorker(): Promise<void> {
  return shared.terminate();
}

/** Whether the hashing thread is running now (it stops after IDLE_STOP_MS without a body). */
export function digestThreadRunning(): boolean {
  return shared.running;
}

/** A BodyHasher behind the BodyDigester interface. */
class InlineDigester implements BodyDigester {
  private readonly h: BodyHasher;

  constructor(expectedSize: number | undefined, digests: BodyDigests) {
    this.h = new BodyHasher(expectedSize, digests);
  }

  get size(): number {
    return this.h.size;
  }

  update(chunk: Buffer): undefined {
    this.h.update(chunk);
    return undefined;
  }

  result(): Promise<WrittenBody> {
    return Promise.resolve().then(() => this.h.result());
  }

  abort(): void {}
}

/** Digests computed on the process's worker thread from a ring of shared memory (see the top of the file). */
export class OffloadedHasher implements BodyDigester {
  size = 0;
  private readonly job: number;
  private readonly ring: SharedArrayBuffer;
  private readonly view: Buffer;
  private readonly post: (m: object) => void;
  private posted = 0;
  private consumed = 0;
  private closed = false;
  private error: FlotillaError | undefined;
  private waiter: (() => void) | undefined;
  private final: { resolve: (d: NonNullable<WorkerReply['end']>) => void; reject: (e: Error) => void } | undefined;

  constructor(
    private readonly expectedSize: number | undefined,
    digests: BodyDigests,
  ) {
    const opened = shared.open(digests, {
      consumed: (upto) => {
        this.consumed = upto;
        this.wake();
      },
      ended: (d) => {
        this.final?.resolve(d);
        this.release(false);
      },
      failed: (e) => {
        this.error = e;
        this.closed = true;
        this.wake();
        this.final?.reject(e);
      },
    });
    this.job = opened.job;
    this.ring = opened.ring;
    this.view = Buffer.from(opened.ring);
    this.post = opened.post;
  }

  update(chunk: Buffer): Promise<void> | undefined {
    if (this.error !== undefined) throw this.error;
    if (this.closed) throw new FlotillaError(Code.FAILED_PRECONDITION, 'digests already taken');
    checkNotOverDeclared(this.expectedSize, this.size + chunk.length);
    const copied = this.copy(chunk, 0);
    if (copied === chunk.length) return undefined;
    return this.rest(chunk, copied);
  }

  private async rest(chunk: Buffer, from: number): Promise<void> {
    let at = from;
    while (at < chunk.length) {
      this.flush();
      await new Promise<void>((res) => (this.waiter = res));
      if (this.error !== undefined) throw this.error;
      at = this.copy(chunk, at);
    }
  }

  /** Copies what fits of `chunk` from `at`; answers where it stopped. */
  private copy(chunk: Buffer, at: number): number {
    const cap = this.view.length;
    let i = at;
    while (i < chunk.length) {
      const free = cap - (this.size - this.consumed);
      if (free === 0) break;
      const off = this.size % cap;
      const n = Math.min(free, chunk.length - i, cap - off);
      chunk.copy(this.view, off, i, i + n);
      i += n;
      this.size += n;
      if (this.size - this.posted >= POST_BYTES) this.flush();
    }
    return i;
  }

  private flush(): void {
    if (this.size === this.posted) return;
    this.posted = this.size;
    this.post({ t: 'data', job: this.job, upto: this.size });
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  async result(): Promise<WrittenBody> {
    if (this.error !== undefined) throw this.error;
    if (this.closed) throw new FlotillaError(Code.FAILED_PRECONDITION, 'digests already taken');
    try {
      checkDeclaredSize(this.expectedSize, this.size);
    } catch (err) {
      this.abort();
      throw err;
    }
    this.closed = true;
    this.flush();
    const d = await new Promise<NonNullable<WorkerReply['end']>>((resolve, reject) => {
      this.final = { resolve, reject };
      this.post({ t: 'end', job: this.job });
    });
    return writtenBody(this.size, d);
  }

  abort(): void {
    if (this.closed && this.final !== undefined) return;
    this.closed = true;
    // An update waiting for room in the ring would wait forever: it fails instead.
    this.error ??= new FlotillaError(Code.CANCELLED, 'hashing of the body was aborted');
    this.wake();
    this.release(true);
  }

  private release(drop: boolean): void {
    shared.close(this.job, this.ring, drop);
  }
}

/**
 * Whether OpenSSL's SHA-256 runs on the CPU's SHA-256 instructions: the `sha_ni` flag (x86) or `sha2`
 * feature (Arm) in /proc/cpuinfo. Read once; false when it cannot be read (SHA-256 then counts as costly).
 */
function cpuHasSha256(): boolean {
  try {
    return /^(flags|Features)\s*:.*\b(sha_ni|sha2)\b/m.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
}

let sha256InHardware: boolean | undefined;

/** Whether `digests` cost the main thread more than feeding them to the thread does (see the top). */
export function wantsThread(digests: BodyDigests): boolean {
  sha256InHardware ??= cpuHasSha256();
  return digests.md5 || (digests.sha256 && !sha256InHardware);
}

/** The digester for a body of `expectedSize` bytes (undefined: unknown): offloaded when large and costly to hash, else inline. */
export function createBodyDigester(expectedSize: number | undefined, digests: BodyDigests): BodyDigester {
  if (wantsThread(digests) && (expectedSize === undefined || expectedSize >= OFFLOAD_MIN_BYTES) && shared.active < MAX_OFFLOADED_JOBS) return new OffloadedHasher(expectedSize, digests);
  return new InlineDigester(expectedSize, digests);
}
