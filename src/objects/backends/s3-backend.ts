/**
 * The S3 backend: blob `NAME` is the object `<prefix>NAME` of one bucket of an S3-compatible service,
 * stored in the blob format (body + metadata + footer, blob-format.ts). A put buffers at most one part
 * (8 MiB): a body that fits is one PutObject, a longer one a multipart upload, completed only once the
 * whole body arrived (S3 makes an object visible at PutObject / CompleteMultipartUpload, never in part)
 * and aborted on any failure. Reads of the footer and metadata are ranged GETs.
 *
 * The SDK (~20 MiB of a process's memory) is loaded by `start`: a node without an S3 backend never loads it.
 */
import type * as Sdk from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { Code, FlotillaError } from '../../core/errors.js';
import { checkBlobName, checkRange, type BlobHead, type BlobListing, type ObjectBackend, type PutBlobOptions, type WrittenBody } from './backend.js';
import { ALL_DIGESTS, encodeTrailer, headFromTail, HashingCounter } from './blob-format.js';

export interface S3BackendOptions {
  /** http(s)://HOST:PORT of the service. */
  endpoint: string;
  bucket: string;
  /** Key prefix inside the bucket ('' or ending in '/'). Default ''. */
  prefix?: string;
  /** Default us-east-1. */
  region?: string;
  /** Default: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. */
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Size of one uploaded part (and the most a put buffers). Default 8 MiB (S3's minimum is 5 MiB). */
  partBytes?: number;
}

const isNotFound = (err: unknown): boolean => {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
};

function backendError(err: unknown, what: string): FlotillaError {
  if (err instanceof FlotillaError) return err;
  return new FlotillaError(Code.UNAVAILABLE, `S3 backend: ${what} failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

export function createS3Backend(options: S3BackendOptions): ObjectBackend {
  const prefix = options.prefix ?? '';
  const partBytes = options.partBytes ?? 8 * 1024 * 1024;
  const accessKeyId = options.accessKeyId ?? process.env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = options.secretAccessKey ?? process.env.AWS_SECRET_ACCESS_KEY;
  const clientConfig = {
    endpoint: options.endpoint,
    region: options.region ?? 'us-east-1',
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED' as const,
    responseChecksumValidation: 'WHEN_REQUIRED' as const,
    ...(accessKeyId !== undefined && secretAccessKey !== undefined ? { credentials: { accessKeyId, secretAccessKey } } : {}),
  };
  // Set by start() (see the top); every other method runs after it.
  let api!: typeof Sdk;
  let client!: Sdk.S3Client;
  const Bucket = options.bucket;
  const keyOf = (name: string): string => {
    checkBlobName(name);
    return prefix + name;
  };
  const endpointHost = options.endpoint.replace(/^https?:\/\//, '');

  /**
   * Where the bytes of a ranged GET's answer start, when they hold more than `start`..`end`: a server may
   * ignore a Range and answer the whole object (HTTP allows it), or answer a wider one (s3rver answers
   * `bytes=0-0` with the whole object as 206 "bytes 0-N/size"). Undefined when the answer is the range.
   */
  function widerRange(r: { ContentRange?: string; ContentLength?: number }, Key: string, start: number, end: number): number | undefined {
    const m = r.ContentRange !== undefined ? /^bytes (\d+)-(\d+)\//.exec(r.ContentRange) : null;
    const [from, to] = m !== null ? [Number(m[1]), Number(m[2])] : [0, (r.ContentLength ?? 0) - 1];
    if (from === start && to === end) return undefined;
    if (from <= start && to >= end) return from;
    throw new FlotillaError(Code.UNAVAILABLE, `the S3 backend answered bytes ${from}-${to} for bytes ${start}-${end} of ${Key}`);
  }

  /** Bytes `start`..`end` (inclusive) of an object (cut from a wider answer: widerRange). */
  async function readRange(Key: string, start: number, end: number): Promise<Buffer> {
    const r = await client.send(new api.GetObjectCommand({ Bucket, Key, Range: `bytes=${start}-${end}` }));
    const from = widerRange(r, Key, start, end);
    const b = Buffer.from(await r.Body!.transformToByteArray());
    const at = from === undefined ? 0 : start - from;
    if (b.length < at + end - start + 1) throw new FlotillaError(Code.UNAVAILABLE, `the S3 backend answered ${b.length} bytes for bytes ${start}-${end} of ${Key}`);
    return b.subarray(at, at + end - start + 1);
  }

  async function head(Key: string): Promise<BlobHead | undefined> {
    let stored: number;
    try {
      const h = await client.send(new api.HeadObjectCommand({ Bucket, Key }));
      stored = h.ContentLength ?? 0;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw backendError(err, `head ${Key}`);
    }
    return headFromTail(stored, (start, length) => readRange(Key, start, start + length - 1));
  }

  /** Bytes `start`..`start + length - 1` of `source` (destroyed once they have passed, or on failure). */
  async function* sliceOf(source: Readable, start: number, length: number): AsyncIterable<Buffer> {
    let skip = start;
    let left = length;
    try {
      for await (const c of source) {
        let b = c as Buffer;
        if (skip >= b.length) {
          skip -= b.length;
          continue;
        }
        b = b.subarray(skip, skip + left);
        skip = 0;
        left -= b.length;
        yield b;
        if (left === 0) return;
      }
      throw new FlotillaError(Code.UNAVAILABLE, `the S3 backend's answer ended ${left} bytes before the range did`);
    } finally {
      source.destroy();
    }
  }

  /** Splits a stream into parts of exactly `partBytes` (the last shorter), buffering one part at most. */
  async function* parts(source: AsyncIterable<Buffer>, trailer: () => Promise<Buffer>): AsyncIterable<Buffer> {
    let buf: Buffer[] = [];
    let len = 0;
    const take = function* (): Iterable<Buffer> {
      while (len >= partBytes) {
        const all = Buffer.concat(buf, len);
        yield all.subarray(0, partBytes);
        buf = [all.subarray(partBytes)];
        len -= partBytes;
      }
    };
    for await (const chunk of source) {
      buf.push(chunk);
      len += chunk.length;
      yield* take();
    }
    const t = await trailer();
    buf.push(t);
    len += t.length;
    yield* take();
    if (len > 0) yield Buffer.concat(buf, len);
  }

  return {
    kind: 's3',
    location: `s3://${endpointHost}/${Bucket}${prefix === '' ? '' : `/${prefix.slice(0, -1)}`}`,
    capabilities: { rangedReads: true, serverSideCopy: false, atomicPut: true },
    async start() {
      api = await import('@aws-sdk/client-s3');
      client = new api.S3Client(clientConfig);
      try {
        await client.send(new api.HeadBucketCommand({ Bucket }));
      } catch (err) {
        throw new FlotillaError(Code.CONFIG_INVALID, `S3 backend: bucket ${Bucket} at ${options.endpoint} is not reachable: ${(err as Error).name ?? ''} ${(err as Error).message ?? ''}`.trim(), { cause: err });
      }
    },
    async stop() {
      (client as Sdk.S3Client | undefined)?.destroy();
    },

    async put(name: string, body: Readable, opts: PutBlobOptions): Promise<WrittenBody> {
      const Key = keyOf(name);
      const counter = new HashingCounter(opts.expectedSize, opts.digests ?? ALL_DIGESTS);
      body.once('error', (e) => counter.destroy(e));
      body.pipe(counter);
      let written: WrittenBody | undefined;
      // The last part (or the only PutObject) waits for `finish`: nothing is visible before it settles.
      const trailer = async (): Promise<Buffer> => {
        written = counter.result();
        return encodeTrailer(await opts.finish(written));
      };
      const it = parts(counter, trailer)[Symbol.asyncIterator]();
      const first = await it.next();
      const second = first.done === true ? first : await it.next();
      if (second.done === true) {
        // One part: a single PutObject.
        const data = first.done === true ? await trailer() : first.value;
        try {
          await client.send(new api.PutObjectCommand({ Bucket, Key, Body: data, ContentLength: data.length }));
        } catch (err) {
          throw backendError(err, `put ${Key}`);
        }
        return written!;
      }
      let UploadId: string | undefined;
      try {
        UploadId = (await client.send(new api.CreateMultipartUploadCommand({ Bucket, Key }))).UploadId;
        const done: { ETag: string; PartNumber: number }[] = [];
        const send = async (data: Buffer): Promise<void> => {
          const PartNumber = done.length + 1;
          const r = await client.send(new api.UploadPartCommand({ Bucket, Key, UploadId, PartNumber, Body: data, ContentLength: data.length }));
          done.push({ ETag: r.ETag ?? '', PartNumber });
        };
        await send(first.value as Buffer);
        await send(second.value);
        for (let n = await it.next(); n.done !== true; n = await it.next()) await send(n.value);
        await client.send(new api.CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: done } }));
        return written!;
      } catch (err) {
        if (UploadId !== undefined) await client.send(new api.AbortMultipartUploadCommand({ Bucket, Key, UploadId })).catch(() => undefined);
        throw backendError(err, `put ${Key}`);
      }
    },

    async get(name, range) {
      const Key = keyOf(name);
      const h = await head(Key);
      if (h === undefined) throw new FlotillaError(Code.NOT_FOUND, `blob ${name} not found`);
      checkRange(range, h.size);
      if (h.size === 0) return { head: h, body: Readable.from([]) };
      const start = range?.start ?? 0;
      const end = range?.end ?? h.size - 1;
      try {
        const r = await client.send(new api.GetObjectCommand({ Bucket, Key, Range: `bytes=${start}-${end}` }));
        const body = r.Body as Readable;
        const from = widerRange(r, Key, start, end);
        return { head: h, body: from === undefined ? body : Readable.from(sliceOf(body, start - from, end - start + 1)) };
      } catch (err) {
        if (isNotFound(err)) throw new FlotillaError(Code.NOT_FOUND, `blob ${name} not found`);
        throw backendError(err, `get ${Key}`);
      }
    },

    head: (name) => head(keyOf(name)),

    async delete(name) {
      const Key = keyOf(name);
      try {
        await client.send(new api.DeleteObjectCommand({ Bucket, Key }));
      } catch (err) {
        if (!isNotFound(err)) throw backendError(err, `delete ${Key}`);
      }
    },

    async *list(namePrefix: string): AsyncIterable<BlobListing> {
      let ContinuationToken: string | undefined;
      for (let page = 0; page < 1_000_000; page++) {
        const r = await client.send(new api.ListObjectsV2Command({ Bucket, Prefix: prefix + namePrefix, ...(ContinuationToken !== undefined ? { ContinuationToken } : {}) }));
        for (const o of r.Contents ?? []) {
          if (o.Key !== undefined) yield { name: o.Key.slice(prefix.length), storedBytes: o.Size ?? 0 };
        }
        if (r.IsTruncated !== true || r.NextContinuationToken === undefined) return;
        ContinuationToken = r.NextContinuationToken;
      }
    },

    async space() {
      // S3 does not say; report "unknown" as 0 (the ring weights such devices by the admin's weight).
      return { capacityBytes: 0, freeBytes: 0 };
    },
  };
}
