/**
 * A small in-memory ObjectService for the S3 front-end tests: a faithful implementation of the contract
 * in src/objects/object-service.ts (errors as FlotillaError with the documented codes, nothing stored
 * when the body stream fails or has the wrong length, ordered listing with prefix/delimiter/after), not
 * a mock of the code under test. The real store (src/objects/store/) is exercised through a node.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { Code, FlotillaError } from '../../../src/core/errors.js';
import type {
  BucketInfo,
  GetObjectInput,
  ListObjectsInput,
  ListObjectsResult,
  MultipartPart,
  ObjectMeta,
  ObjectService,
  PutObjectInput,
} from '../../../src/objects/object-service.js';

interface Stored {
  meta: ObjectMeta;
  data: Buffer;
}

interface Upload {
  bucket: string;
  key: string;
  contentType: string;
  userMetadata: Record<string, string>;
  parts: Map<number, { part: MultipartPart; data: Buffer }>;
}

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

async function readAll(body: Readable, size: number | undefined): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    chunks.push(c as Buffer);
    n += (c as Buffer).length;
    if (size !== undefined && n > size) throw new FlotillaError(Code.INVALID_ARGUMENT, `body longer than the declared ${size} bytes`);
  }
  if (size !== undefined && n !== size) throw new FlotillaError(Code.INVALID_ARGUMENT, `body of ${n} bytes, ${size} declared`);
  return Buffer.concat(chunks);
}

export class MemoryObjectService implements ObjectService {
  private readonly buckets = new Map<string, { info: BucketInfo; objects: Map<string, Stored> }>();
  private readonly uploads = new Map<string, Upload>();
  /** How many putObject / uploadPart calls failed because of their body (for assertions). */
  bodyFailures = 0;

  private bucket(name: string): { info: BucketInfo; objects: Map<string, Stored> } {
    const b = this.buckets.get(name);
    if (b === undefined) throw new FlotillaError(Code.NOT_FOUND, `bucket ${name} does not exist`);
    return b;
  }

  private checkKey(key: string): void {
    if (key === '' || Buffer.byteLength(key) > 1024) throw new FlotillaError(Code.INVALID_ARGUMENT, 'object names are 1 to 1024 bytes');
  }

  async listBuckets(): Promise<BucketInfo[]> {
    return [...this.buckets.values()].map((b) => b.info);
  }

  async createBucket(name: string, options: { policy?: string } = {}): Promise<BucketInfo> {
    if (!BUCKET_NAME.test(name)) throw new FlotillaError(Code.INVALID_ARGUMENT, `bad bucket name ${name}`);
    const policy = options.policy ?? 'replicated-3';
    if (!['replicated-3', 'replicated-2', 'single'].includes(policy)) throw new FlotillaError(Code.INVALID_ARGUMENT, `unknown policy ${policy}`);
    if (this.buckets.has(name)) throw new FlotillaError(Code.ALREADY_EXISTS, `bucket ${name} exists`);
    const info = { name, policy, createdAtMs: Date.now() };
    this.buckets.set(name, { info, objects: new Map() });
    return info;
  }

  async deleteBucket(name: string): Promise<void> {
    if (this.bucket(name).objects.size > 0) throw new FlotillaError(Code.FAILED_PRECONDITION, `bucket ${name} is not empty`);
    this.buckets.delete(name);
  }

  async headBucket(name: string): Promise<BucketInfo> {
    return this.bucket(name).info;
  }

  private store(bucket: string, key: string, data: Buffer, etag: string, contentType: string, userMetadata: Record<string, string>): ObjectMeta {
    const meta: ObjectMeta = {
      bucket,
      key,
      size: data.length,
      sha256: createHash('sha256').update(data).digest('hex'),
      etag,
      contentType,
      userMetadata: { ...userMetadata },
      lastModifiedMs: Date.now(),
    };
    this.bucket(bucket).objects.set(key, { meta, data });
    return meta;
  }

  async putObject(input: PutObjectInput): Promise<ObjectMeta> {
    this.bucket(input.bucket);
    this.checkKey(input.key);
    let data: Buffer;
    try {
      data = await readAll(input.body, input.size);
    } catch (err) {
      this.bodyFailures++;
      throw FlotillaError.from(err, Code.INVALID_ARGUMENT);
    }
    const md5 = createHash('md5').update(data).digest('hex');
    if (input.expectedMd5 !== undefined && input.expectedMd5 !== md5) throw new FlotillaError(Code.INVALID_ARGUMENT, 'MD5 mismatch');
    if (input.expectedSha256 !== undefined && input.expectedSha256 !== createHash('sha256').update(data).digest('hex')) throw new FlotillaError(Code.INVALID_ARGUMENT, 'SHA-256 mismatch');
    return this.store(input.bucket, input.key, data, md5, input.contentType ?? 'application/octet-stream', input.userMetadata ?? {});
  }

  private object(bucket: string, key: string): Stored {
    const o = this.bucket(bucket).objects.get(key);
    if (o === undefined) throw new FlotillaError(Code.NOT_FOUND, `no object ${key} in ${bucket}`);
    return o;
  }

  async getObject(input: GetObjectInput): Promise<{ meta: ObjectMeta; body: Readable }> {
    const o = this.object(input.bucket, input.key);
    const r = input.rangeFor !== undefined ? input.rangeFor(o.meta) : input.range;
    if (r !== undefined && (r.start < 0 || r.start > r.end || r.start >= o.data.length)) throw new FlotillaError(Code.INVALID_ARGUMENT, 'range not satisfiable');
    const data = r === undefined ? o.data : o.data.subarray(r.start, r.end + 1);
    return { meta: o.meta, body: Readable.from([data]) };
  }

  async headObject(bucket: string, key: string): Promise<ObjectMeta> {
    return this.object(bucket, key).meta;
  }

  async deleteObject(bucket: string, key: string): Promise<void> {
    this.bucket(bucket).objects.delete(key);
  }

  async copyObject(
    from: { bucket: string; key: string },
    to: { bucket: string; key: string },
    options: { metadata?: { contentType?: string; userMetadata?: Record<string, string> } } = {},
  ): Promise<ObjectMeta> {
    const src = this.object(from.bucket, from.key);
    this.bucket(to.bucket);
    this.checkKey(to.key);
    const m = options.metadata;
    return this.store(to.bucket, to.key, src.data, src.meta.etag, m?.contentType ?? src.meta.contentType, m !== undefined ? (m.userMetadata ?? {}) : src.meta.userMetadata);
  }

  async listObjects(input: ListObjectsInput): Promise<ListObjectsResult> {
    const b = this.bucket(input.bucket);
    const prefix = input.prefix ?? '';
    const delimiter = input.delimiter ?? '';
    const limit = input.limit ?? 1000;
    const after = input.after;
    const keys = [...b.objects.keys()].filter((k) => k.startsWith(prefix) && (after === undefined || k > after)).sort();
    const objects: ObjectMeta[] = [];
    const commonPrefixes: string[] = [];
    let last: string | undefined;
    for (const k of keys) {
      let entry: string = k;
      if (delimiter !== '') {
        const i = k.indexOf(delimiter, prefix.length);
        if (i !== -1) entry = k.slice(0, i + delimiter.length);
      }
      // `after` naming a common prefix skips every key under it.
      if (entry !== k && after !== undefined && entry <= after) continue;
      if (entry === commonPrefixes[commonPrefixes.length - 1]) continue;
      if (objects.length + commonPrefixes.length >= limit) return { objects, commonPrefixes, nextAfter: last! };
      if (entry === k) objects.push(b.objects.get(k)!.meta);
      else commonPrefixes.push(entry);
      last = entry;
    }
    return { objects, commonPrefixes };
  }

  private upload(bucket: string, key: string, uploadId: string): Upload {
    const u = this.uploads.get(uploadId);
    if (u === undefined || u.bucket !== bucket || u.key !== key) throw new FlotillaError(Code.NOT_FOUND, `no upload ${uploadId}`);
    return u;
  }

  async createMultipartUpload(bucket: string, key: string, options: { contentType?: string; userMetadata?: Record<string, string> } = {}): Promise<{ uploadId: string }> {
    this.bucket(bucket);
    this.checkKey(key);
    const uploadId = randomUUID();
    this.uploads.set(uploadId, { bucket, key, contentType: options.contentType ?? 'application/octet-stream', userMetadata: options.userMetadata ?? {}, parts: new Map() });
    return { uploadId };
  }

  async uploadPart(bucket: string, key: string, uploadId: string, partNumber: number, body: Readable, size?: number): Promise<MultipartPart> {
    const u = this.upload(bucket, key, uploadId);
    let data: Buffer;
    try {
      data = await readAll(body, size);
    } catch (err) {
      this.bodyFailures++;
      throw FlotillaError.from(err, Code.INVALID_ARGUMENT);
    }
    const part = { partNumber, etag: createHash('md5').update(data).digest('hex'), size: data.length };
    u.parts.set(partNumber, { part, data });
    return part;
  }

  async listParts(bucket: string, key: string, uploadId: string): Promise<MultipartPart[]> {
    return [...this.upload(bucket, key, uploadId).parts.values()].map((p) => p.part).sort((a, b) => a.partNumber - b.partNumber);
  }

  async completeMultipartUpload(bucket: string, key: string, uploadId: string, parts: { partNumber: number; etag: string }[]): Promise<ObjectMeta> {
    const u = this.upload(bucket, key, uploadId);
    const chosen = parts.map((p) => {
      const have = u.parts.get(p.partNumber);
      if (have === undefined || have.part.etag !== p.etag) throw new FlotillaError(Code.INVALID_ARGUMENT, `part ${p.partNumber} missing or with another etag`);
      return have;
    });
    const md5s = Buffer.concat(chosen.map((c) => Buffer.from(c.part.etag, 'hex')));
    const etag = `${createHash('md5').update(md5s).digest('hex')}-${chosen.length}`;
    const meta = this.store(bucket, key, Buffer.concat(chosen.map((c) => c.data)), etag, u.contentType, u.userMetadata);
    this.uploads.delete(uploadId);
    return meta;
  }

  async abortMultipartUpload(bucket: string, key: string, uploadId: string): Promise<void> {
    this.upload(bucket, key, uploadId);
    this.uploads.delete(uploadId);
  }

  /** Open multipart uploads (for assertions). */
  openUploads(): number {
    return this.uploads.size;
  }
}
