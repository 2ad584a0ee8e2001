/**
 * The directory backend: blob `a/b/c` is the file `<root>/blobs/a/b/c~` (the `~` cannot occur in a
 * name, so a file never collides with a directory). A put streams into `<root>/tmp/<random>`, fsyncs
 * it, renames it into place and fsyncs the directory: a reader sees the old blob or the new one, never a
 * part. Temporary files left by a crash are removed at start.
 */
import { mkdir, open, opendir, rename, rm, stat, statfs, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { Code, FlotillaError } from '../../core/errors.js';
import { checkBlobName, checkRange, type BlobHead, type BodyCheck, type BlobListing, type ObjectBackend, type PutBlobOptions, type WrittenBody } from './backend.js';
import { ALL_DIGESTS, BodyHasher, encodeTrailer, headFromTail } from './blob-format.js';

export interface DirBackendOptions {
  /** The directory (created when missing). */
  path: string;
}

/** Writes `bytes` bytes of `bufs` at the file's position, again after a short write. */
async function writevAll(fh: FileHandle, bufs: Buffer[], bytes: number): Promise<void> {
  let left = bytes;
  let rest = bufs;
  for (;;) {
    const { bytesWritten } = await fh.writev(rest);
    left -= bytesWritten;
    if (left <= 0) return;
    // A short write (rare on a regular file): continue from where it stopped.
    let skip = bytesWritten;
    const next: Buffer[] = [];
    for (const b of rest) {
      if (skip >= b.length) skip -= b.length;
      else {
        next.push(skip > 0 ? b.subarray(skip) : b);
        skip = 0;
      }
    }
    rest = next;
  }
}

/** Bytes per read of a blob's body: few reads and stream turns per object, one read ahead of the consumer. */
export const READ_BYTES = 2 * 1024 * 1024;

/**
 * A blob's body as one stream stage: reads of READ_BYTES from the open file (positional, so the handle's
 * offset does not matter), each checked by `check` in the same turn (after it is handed on). The last chunk is held back until
 * the check passed: a consumer of a bad replica never sees the whole body, the stream errors instead.
 * Closes the file when it ends or is destroyed.
 */
class FileBody extends Readable {
  private pos: number;

  constructor(
    private readonly fh: FileHandle,
    start: number,
    private readonly end: number,
    private readonly check: BodyCheck | undefined,
  ) {
    // Room for two reads: the next one is in flight while the consumer (a socket) takes the last.
    super({ highWaterMark: 2 * READ_BYTES });
    this.pos = start;
  }

  override _read(): void {
    const n = Math.min(READ_BYTES, this.end - this.pos);
    if (n <= 0) {
      this.finish();
      return;
    }
    const buf = Buffer.allocUnsafeSlow(n);
    this.fh.read(buf, 0, n, this.pos).then(
      ({ bytesRead }) => {
        if (this.destroyed) return;
        if (bytesRead === 0) {
          this.destroy(new FlotillaError(Code.INTERNAL, `blob file ended ${this.end - this.pos} bytes early`));
          return;
        }
        const chunk = bytesRead < n ? buf.subarray(0, bytesRead) : buf;
        this.pos += bytesRead;
        if (this.pos >= this.end) {
          this.check?.update(chunk);
          const e = this.check?.end();
          if (e !== undefined) {
            this.destroy(e);
            return;
          }
          this.push(chunk);
          this.push(null);
          return;
        }
        // Handed on first (a socket sends it while the check runs), checked in the same turn.
        this.push(chunk);
        this.check?.update(chunk);
      },
      (err: unknown) => this.destroy(err as Error),
    );
  }

  private finish(): void {
    const e = this.check?.end();
    if (e !== undefined) this.destroy(e);
    else this.push(null);
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    this.fh.close().then(
      () => cb(err),
      () => cb(err),
    );
  }
}

export function createDirBackend(options: DirBackendOptions): ObjectBackend {
  const root = resolve(options.path);
  /** Bytes written between two early fdatasyncs of a blob being written. */
  const FLUSH_BYTES = 8 * 1024 * 1024;
  /** Write batch size: large writes, few system calls per object (reads: READ_BYTES). */
  const IO_BYTES = 1024 * 1024;
  const blobs = join(root, 'blobs');
  const tmp = join(root, 'tmp');
  const fileOf = (name: string): string => {
    checkBlobName(name);
    const p = resolve(blobs, ...name.split('/')) + '~';
    if (!p.startsWith(blobs + sep)) throw new FlotillaError(Code.INVALID_ARGUMENT, 'blob name leaves the backend');
    return p;
  };

  /** The head of an open blob file (headFromTail: stat, then one read nearly always). */
  async function headOf(fh: FileHandle): Promise<BlobHead & { stored: number }> {
    const { size: stored } = await fh.stat();
    const head = await headFromTail(stored, async (start, length) => {
      const buf = Buffer.allocUnsafe(length);
      const { bytesRead } = await fh.read(buf, 0, length, start);
      if (bytesRead < length) throw new FlotillaError(Code.INTERNAL, 'blob file is shorter than its size');
      return buf;
    });
    return { ...head, stored };
  }

  /** Opens a blob file for reading; undefined when it does not exist. */
  async function openBlob(file: string): Promise<FileHandle | undefined> {
    try {
      return await open(file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async function readHead(file: string): Promise<(BlobHead & { stored: number }) | undefined> {
    const fh = await openBlob(file);
    if (fh === undefined) return undefined;
    try {
      return await headOf(fh);
    } finally {
      await fh.close();
    }
  }

  return {
    kind: 'dir',
    location: root,
    capabilities: { rangedReads: true, serverSideCopy: false, atomicPut: true },
    async start() {
      await mkdir(blobs, { recursive: true });
      await rm(tmp, { recursive: true, force: true });
      await mkdir(tmp, { recursive: true });
    },
    async stop() {},

    async put(name: string, body: Readable, opts: PutBlobOptions): Promise<WrittenBody> {
      const file = fileOf(name);
      const temp = join(tmp, `${Date.now()}-${randomBytes(8).toString('hex')}`);
      const hasher = new BodyHasher(opts.expectedSize, opts.digests ?? ALL_DIGESTS);
      let flushing: Promise<void> | undefined;
      let writing: Promise<void> | undefined;
      // The body is read by `for await` below, after the file is open: an error it emits meanwhile
      // would have no listener (an uncaught exception); the loop still sees it (the stream is errored).
      const quiet = (): void => undefined;
      body.on('error', quiet);
      let fh: FileHandle;
      try {
        fh = await open(temp, 'wx');
      } catch (err) {
        body.off('error', quiet);
        body.destroy();
        throw err;
      }
      let closed = false;
      try {
        // No stream machinery per chunk: the body's chunks (64 KiB socket reads) are gathered into
        // IO_BYTES batches, each written with one writev while the next batch gathers (one write in
        // flight; awaiting it pauses the body, which is the back-pressure).
        // Every FLUSH_BYTES the written part is handed to the disk (fdatasync, at most one in flight, not
        // awaited): the disk works while the body arrives instead of taking all of it at the final fsync.
        let batch: Buffer[] = [];
        let batchBytes = 0;
        let unflushed = 0;
        const flushBatch = async (): Promise<void> => {
          await writing;
          if (batchBytes === 0) return;
          const b = batch;
          const n = batchBytes;
          batch = [];
          batchBytes = 0;
          writing = writevAll(fh, b, n);
          // Handled here (a failure surfaces at the next await of `writing`), not an unhandled rejection.
          writing.catch(() => undefined);
          unflushed += n;
          if (unflushed >= FLUSH_BYTES && flushing === undefined) {
            unflushed = 0;
            const w = writing;
            flushing = w.then(() => fh.datasync()).then(
              () => void (flushing = undefined),
              () => void (flushing = undefined),
            );
          }
        };
        for await (const chunk of body) {
          const c = chunk as Buffer;
          hasher.update(c);
          batch.push(c);
          batchBytes += c.length;
          // Small chunks (a client trickling bytes) are capped in number per writev too.
          if (batchBytes >= IO_BYTES || batch.length >= 256) await flushBatch();
        }
        await flushBatch();
        await writing;
        const written = hasher.result();
        // The body is in the temporary file, unpublished; `finish` may wait (a two-phase write's quorum).
        const trailer = encodeTrailer(await opts.finish(written));
        await flushing;
        await writevAll(fh, [trailer], trailer.length);
        await fh.sync();
        closed = true;
        await fh.close();
        await mkdir(dirname(file), { recursive: true });
        await rename(temp, file);
        const dh = await open(dirname(file), 'r');
        try {
          await dh.sync();
        } finally {
          await dh.close();
        }
        return written;
      } catch (err) {
        await writing?.catch(() => undefined);
        await flushing;
        if (!closed) await fh.close().catch(() => undefined);
        await rm(temp, { force: true });
        throw err;
      } finally {
        body.off('error', quiet);
      }
    },

    async get(name, range, options) {
      const file = fileOf(name);
      // One open for the head and the body: the body read is the version whose head was read, even when
      // a newer one is renamed into place meanwhile.
      const fh = await openBlob(file);
      if (fh === undefined) throw new FlotillaError(Code.NOT_FOUND, `blob ${name} not found`);
      let head: BlobHead;
      let check: BodyCheck | undefined;
      try {
        head = await headOf(fh);
        checkRange(range, head.size);
        check = options?.check?.(head);
      } catch (err) {
        await fh.close();
        throw err;
      }
      const start = range?.start ?? 0;
      const end = range?.end ?? head.size - 1;
      const body = new FileBody(fh, start, end + 1, check);
      return { head: { size: head.size, meta: head.meta }, body, checked: true };
    },

    async head(name) {
      const h = await readHead(fileOf(name));
      return h === undefined ? undefined : { size: h.size, meta: h.meta };
    },

    async delete(name) {
      await rm(fileOf(name), { force: true });
    },

    async *list(prefix: string): AsyncIterable<BlobListing> {
      // Walk only the directories the prefix can lie in.
      const slash = prefix.lastIndexOf('/');
      const dirPart = slash >= 0 ? prefix.slice(0, slash) : '';
      if (dirPart !== '') checkBlobName(dirPart);
      const start = dirPart === '' ? blobs : join(blobs, ...dirPart.split('/'));
      const walk = async function* (dir: string, rel: string): AsyncIterable<BlobListing> {
        let d;
        try {
          d = await opendir(dir);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
          throw err;
        }
        for await (const e of d) {
          const r = rel === '' ? e.name : `${rel}/${e.name}`;
          if (e.isDirectory()) {
            if (r.startsWith(prefix) || prefix.startsWith(r + '/')) yield* walk(join(dir, e.name), r);
          } else if (e.isFile() && e.name.endsWith('~')) {
            const name = r.slice(0, -1);
            if (!name.startsWith(prefix)) continue;
            const s = await stat(join(dir, e.name)).catch(() => undefined);
            if (s !== undefined) yield { name, storedBytes: s.size };
          }
        }
      };
      yield* walk(start, dirPart);
    },

    async space() {
      const s = await statfs(root);
      return { capacityBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize };
    },
  };
}
