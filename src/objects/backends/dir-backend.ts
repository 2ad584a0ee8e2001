/**
 * The directory backend: blob `a/b/c` is the file `<root>/blobs/a/b/c~` (the `~` cannot occur in a
 * name, so a file never collides with a directory). A put streams into `<root>/tmp/<random>`, fsyncs
 * it, renames it into place and fsyncs the directory: a reader sees the old blob or the new one, never a
 * part. Temporary files left by a crash are removed at start.
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, opendir, rename, rm, stat, statfs, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { Code, FlotillaError } from '../../core/errors.js';
import { checkBlobName, checkRange, type BlobHead, type BlobListing, type ObjectBackend, type PutBlobOptions, type WrittenBody } from './backend.js';
import { ALL_DIGESTS, BodyHasher, decodeFooter, encodeTrailer, FOOTER_BYTES } from './blob-format.js';

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

export function createDirBackend(options: DirBackendOptions): ObjectBackend {
  const root = resolve(options.path);
  /** Bytes written between two early fdatasyncs of a blob being written. */
  const FLUSH_BYTES = 8 * 1024 * 1024;
  /** Read and write buffer size: large reads and writes, few system calls and stream turns per object. */
  const IO_BYTES = 1024 * 1024;
  const blobs = join(root, 'blobs');
  const tmp = join(root, 'tmp');
  const fileOf = (name: string): string => {
    checkBlobName(name);
    const p = resolve(blobs, ...name.split('/')) + '~';
    if (!p.startsWith(blobs + sep)) throw new FlotillaError(Code.INVALID_ARGUMENT, 'blob name leaves the backend');
    return p;
  };

  async function readHead(file: string): Promise<(BlobHead & { stored: number }) | undefined> {
    let fh;
    try {
      fh = await open(file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const { size: stored } = await fh.stat();
      if (stored < FOOTER_BYTES) throw new FlotillaError(Code.INTERNAL, 'blob is shorter than its footer');
      const footer = Buffer.alloc(FOOTER_BYTES);
      await fh.read(footer, 0, FOOTER_BYTES, stored - FOOTER_BYTES);
      const metaLen = decodeFooter(footer, stored);
      const meta = Buffer.alloc(metaLen);
      await fh.read(meta, 0, metaLen, stored - FOOTER_BYTES - metaLen);
      return { size: stored - FOOTER_BYTES - metaLen, meta: meta.toString('utf8'), stored };
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

    async get(name, range) {
      const file = fileOf(name);
      const head = await readHead(file);
      if (head === undefined) throw new FlotillaError(Code.NOT_FOUND, `blob ${name} not found`);
      checkRange(range, head.size);
      if (head.size === 0) {
        const { Readable: R } = await import('node:stream');
        return { head: { size: 0, meta: head.meta }, body: R.from([]) };
      }
      const start = range?.start ?? 0;
      const end = range?.end ?? head.size - 1;
      return { head: { size: head.size, meta: head.meta }, body: createReadStream(file, { start, end, highWaterMark: IO_BYTES }) };
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
