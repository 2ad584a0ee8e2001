/** Stream helpers of the store: fan-out to replicas with back-pressure, and checksum verification. */
import { createHash } from 'node:crypto';
import { PassThrough, Transform, type Readable, type TransformCallback } from 'node:stream';
import { crc32 } from '../../core/crc32.js';
import { Code, FlotillaError } from '../../core/errors.js';
import { crc32Hex } from '../backends/blob-format.js';
import type { BodyCheck } from '../backends/index.js';

export interface FanOutResult<T> {
  ok: T[];
  errors: { target: string; error: FlotillaError }[];
}

/** Buffered bytes per target of a fan-out before the source is paused. */
export const FAN_OUT_HIGH_WATER_BYTES = 1024 * 1024;

/**
 * Copies `source` to one PassThrough per target, each consumed by `consume(target, stream)`, at the pace
 * of the slowest live target (at most FAN_OUT_HIGH_WATER_BYTES buffered per target, plus a chunk). The
 * same Buffers go to every target (no copies); `onChunk` sees each chunk once, before the targets (the
 * caller hashes there; a throw fails the fan-out; a promise it answers is waited for with the targets).
 * A target that fails is dropped; when fewer than `minOk` remain the rest are aborted. A failing source aborts every target (none receives a whole body).
 * On failure the source is left undestroyed for the caller to drain or destroy.
 */
export async function fanOut<T>(source: Readable, targets: string[], minOk: number, consume: (target: string, body: Readable) => Promise<T>, onChunk?: (chunk: Buffer) => Promise<void> | undefined): Promise<FanOutResult<T>> {
  const sinks = targets.map((target) => {
    const stream = new PassThrough({ highWaterMark: FAN_OUT_HIGH_WATER_BYTES });
    const s = { target, stream, failed: false, result: undefined as T | undefined, error: undefined as FlotillaError | undefined };
    const done = consume(target, stream).then(
      (r) => void (s.result = r),
      (e: unknown) => {
        s.failed = true;
        s.error = FlotillaError.from(e, Code.UNAVAILABLE);
        stream.destroy();
      },
    );
    return Object.assign(s, { done });
  });
  const live = (): typeof sinks => sinks.filter((s) => !s.failed && !s.stream.destroyed);
  try {
    // A failure leaves the source as it is (not destroyed): the caller drains or destroys it (destroying
    // an HTTP request resets the connection before the client reads the error).
    for await (const chunk of source.iterator({ destroyOnReturn: false })) {
      const hashed = onChunk?.(chunk as Buffer);
      const waits: Promise<void>[] = hashed !== undefined ? [hashed] : [];
      for (const s of live()) {
        if (!s.stream.write(chunk)) {
          waits.push(
            new Promise<void>((res) => {
              const done = (): void => {
                s.stream.off('drain', done);
                s.stream.off('close', done);
                res();
              };
              s.stream.once('drain', done).once('close', done);
            }),
          );
        }
      }
      await Promise.all(waits);
      if (live().length < minOk) throw new FlotillaError(Code.UNAVAILABLE, `write quorum lost mid-stream: ${live().length} of ${minOk} replicas left`);
    }
    for (const s of live()) s.stream.end();
  } catch (err) {
    const e = FlotillaError.from(err, Code.CANCELLED);
    for (const s of sinks) s.stream.destroy(e);
    await Promise.all(sinks.map((s) => s.done));
    throw e;
  }
  await Promise.all(sinks.map((s) => s.done));
  return {
    ok: sinks.filter((s) => !s.failed).map((s) => s.result as T),
    errors: sinks.filter((s) => s.failed).map((s) => ({ target: s.target, error: s.error! })),
  };
}

/** The checksum a read is verified with: the replica's CRC32 when it has one (faster), else its SHA-256. */
export interface ReadCheck {
  update(chunk: Buffer): void;
  /** True when the bytes seen so far are the replica's. Call once, at the end. */
  matches(): boolean;
}

export function readCheckFor(meta: { sha256: string; crc32?: string }): ReadCheck {
  if (meta.crc32 !== undefined) {
    let v = 0;
    const want = meta.crc32;
    return { update: (c) => void (v = crc32(c, v)), matches: () => crc32Hex(v) === want };
  }
  const h = createHash('sha256');
  return { update: (c) => void h.update(c), matches: () => h.digest('hex') === meta.sha256 };
}

/** A replica's read check as a backend BodyCheck: `end` answers the mismatch error (after calling `onMismatch`). */
export function bodyCheckFor(meta: { sha256: string; crc32?: string }, onMismatch: () => void): BodyCheck {
  const check = readCheckFor(meta);
  return {
    update: (c) => check.update(c),
    end: () => {
      if (check.matches()) return undefined;
      onMismatch();
      return new FlotillaError(Code.INTERNAL, 'replica checksum mismatch: the stream was cut; the replica is marked damaged');
    },
  };
}

/**
 * Passes bytes through and fails at the end when they are not the replica's (readCheckFor; calling
 * `onMismatch`). The last chunk is held back until the check passed: a bad replica's reader never gets
 * the whole body.
 */
export class VerifyingStream extends Transform {
  private readonly check: BodyCheck;
  private held: Buffer | undefined;

  constructor(meta: { sha256: string; crc32?: string }, onMismatch: () => void) {
    super({ highWaterMark: FAN_OUT_HIGH_WATER_BYTES });
    this.check = bodyCheckFor(meta, onMismatch);
  }

  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.check.update(chunk);
    const prev = this.held;
    this.held = chunk;
    cb(null, prev);
  }

  override _flush(cb: TransformCallback): void {
    const e = this.check.end();
    if (e !== undefined) {
      cb(e);
      return;
    }
    cb(null, this.held);
  }
}

/** Reads a whole (small) stream into memory. */
export async function readAllBounded(r: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of r) {
    n += (c as Buffer).length;
    if (n > maxBytes) throw new FlotillaError(Code.INTERNAL, `stream larger than ${maxBytes} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks, n);
}
