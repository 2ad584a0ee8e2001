/** Object operations: PutObject, GetObject (ranges, conditions), HeadObject, DeleteObject, DeleteObjects, CopyObject. */
import type { FastifyReply } from 'fastify';
import type { ObjectMeta } from '../object-service.js';
import { openRequestBody, readSmallBody, type RequestBody } from './request-body.js';
import { S3Error, fromServiceError } from './s3-error.js';
import { header, MAX_PUT_BYTES, quoteEtag, requireKey, sendXml, unquoteEtag, userMetadataOf, type S3Request } from './s3-request.js';
import { uriDecode } from './sigv4.js';
import { childrenNamed, childText, parseXml, toXml } from './xml.js';

/** Distinguishes a missing bucket from a missing key after the service said NOT_FOUND. */
export async function notFound(r: S3Request, bucket: string, err: unknown, subject: 'object' | 'upload'): Promise<S3Error> {
  const mapped = fromServiceError(err, subject);
  if (mapped.code !== 'NoSuchKey' && mapped.code !== 'NoSuchUpload') return mapped;
  try {
    await r.ctx.service.headBucket(bucket);
  } catch (e) {
    const b = fromServiceError(e, 'bucket');
    if (b.code === 'NoSuchBucket') return b;
  }
  return subject === 'object' ? new S3Error('NoSuchKey', 'The specified key does not exist.') : mapped;
}

/** Runs a service call that consumes `body`; when the body failed a check, that failure is the answer. */
export async function withBody<T>(r: S3Request, bucket: string, body: RequestBody, call: () => Promise<T>, subject: 'object' | 'upload'): Promise<T> {
  try {
    const out = await call();
    const f = body.failure();
    if (f !== undefined) throw f; // The service should have failed; never acknowledge a body that failed a check.
    return out;
  } catch (err) {
    throw body.failure() ?? (await notFound(r, bucket, err, subject));
  }
}

function setObjectHeaders(r: S3Request, meta: ObjectMeta): void {
  const reply = r.reply;
  reply.header('etag', quoteEtag(meta.etag));
  reply.header('last-modified', new Date(meta.lastModifiedMs).toUTCString());
  reply.header('accept-ranges', 'bytes');
  reply.header('content-type', meta.contentType !== '' ? meta.contentType : 'binary/octet-stream');
  for (const [k, v] of Object.entries(meta.userMetadata)) reply.header(`x-amz-meta-${k}`, v);
  const overrides: [string, string][] = [
    ['response-content-type', 'content-type'],
    ['response-content-disposition', 'content-disposition'],
    ['response-content-encoding', 'content-encoding'],
    ['response-content-language', 'content-language'],
    ['response-cache-control', 'cache-control'],
    ['response-expires', 'expires'],
  ];
  for (const [q, h] of overrides) {
    const v = r.query.get(q);
    if (v !== undefined) reply.header(h, v);
  }
}

export async function putObject(r: S3Request): Promise<FastifyReply> {
  const { bucket, key } = requireKey(r);
  const userMetadata = userMetadataOf(r.request);
  const body = openRequestBody(r.request.raw, r.auth, { maxBytes: MAX_PUT_BYTES });
  const contentType = header(r.request, 'content-type');
  const meta = await withBody(
    r,
    bucket,
    body,
    () =>
      r.ctx.service.putObject({
        bucket,
        key,
        body: body.stream,
        ...(body.size !== undefined ? { size: body.size } : {}),
        ...(contentType !== undefined ? { contentType } : {}),
        userMetadata,
      }),
    'object',
  );
  for (const [k, v] of Object.entries(body.checksums())) r.reply.header(k, v);
  return r.reply.status(200).header('etag', quoteEtag(meta.etag)).send();
}

interface ByteRange {
  start: number;
  end: number;
}

/** Parses a Range header against a size: a range, undefined (serve it all), or throws InvalidRange. */
export function parseRange(value: string | undefined, size: number): ByteRange | undefined {
  if (value === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(value.trim());
  if (m === null) return undefined; // Multiple or malformed ranges: S3 serves the whole object.
  const [, a, b] = m as unknown as [string, string, string];
  if (a === '' && b === '') return undefined;
  let start: number;
  let end: number;
  if (a === '') {
    const suffix = Number(b);
    if (suffix === 0) throw new S3Error('InvalidRange', 'The requested range is not satisfiable', { RangeRequested: value, ActualObjectSize: String(size) });
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(a);
    end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
    if (b !== '' && Number(b) < start) return undefined;
  }
  if (start >= size) throw new S3Error('InvalidRange', 'The requested range is not satisfiable', { RangeRequested: value, ActualObjectSize: String(size) });
  return { start, end };
}

/** If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, as S3 evaluates them. */
function checkConditions(r: S3Request, meta: ObjectMeta): void {
  const etag = unquoteEtag(meta.etag);
  const ifMatch = header(r.request, 'if-match');
  const ifNoneMatch = header(r.request, 'if-none-match');
  const since = header(r.request, 'if-modified-since');
  const unmodifiedSince = header(r.request, 'if-unmodified-since');
  const modifiedS = Math.floor(meta.lastModifiedMs / 1000);
  const matches = (list: string): boolean => list.split(',').some((t) => t.trim() === '*' || unquoteEtag(t) === etag);
  if (ifMatch !== undefined) {
    if (!matches(ifMatch)) throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-Match' });
  } else if (unmodifiedSince !== undefined && !Number.isNaN(Date.parse(unmodifiedSince)) && modifiedS > Date.parse(unmodifiedSince) / 1000) {
    throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-Unmodified-Since' });
  }
  if (ifNoneMatch !== undefined) {
    if (matches(ifNoneMatch)) throw new S3Error('NotModified', 'Not Modified');
  } else if (since !== undefined && !Number.isNaN(Date.parse(since)) && modifiedS <= Date.parse(since) / 1000) {
    throw new S3Error('NotModified', 'Not Modified');
  }
}

export async function getObject(r: S3Request): Promise<FastifyReply> {
  const { bucket, key } = requireKey(r);
  if (r.query.has('partNumber')) throw new S3Error('NotImplemented', 'GetObject with partNumber is not implemented');
  // One look-up: the conditions and the range are decided on the version that is then read.
  let range: ReturnType<typeof parseRange>;
  const rangeFor = (m: ObjectMeta): ReturnType<typeof parseRange> => {
    checkConditions(r, m);
    range = parseRange(header(r.request, 'range'), m.size);
    return range;
  };
  const { meta, body } = await r.ctx.service.getObject({ bucket, key, rangeFor }).catch(async (e: unknown) => Promise.reject(await notFound(r, bucket, e, 'object')));
  setObjectHeaders(r, meta);
  if (range !== undefined) {
    const end = Math.min(range.end, meta.size - 1);
    r.reply.status(206).header('content-range', `bytes ${range.start}-${end}/${meta.size}`).header('content-length', end - range.start + 1);
  } else {
    r.reply.status(200).header('content-length', meta.size);
  }
  return r.reply.send(body);
}

export async function headObject(r: S3Request): Promise<FastifyReply> {
  const { bucket, key } = requireKey(r);
  const meta = await r.ctx.service.headObject(bucket, key).catch(async (e: unknown) => Promise.reject(await notFound(r, bucket, e, 'object')));
  checkConditions(r, meta);
  setObjectHeaders(r, meta);
  const range = parseRange(header(r.request, 'range'), meta.size);
  if (range !== undefined) {
    return r.reply.status(206).header('content-range', `bytes ${range.start}-${range.end}/${meta.size}`).header('content-length', range.end - range.start + 1).send();
  }
  return r.reply.status(200).header('content-length', meta.size).send();
}

export async function deleteObject(r: S3Request): Promise<FastifyReply> {
  const { bucket, key } = requireKey(r);
  await r.ctx.service.deleteObject(bucket, key).catch(async (e: unknown) => Promise.reject(await notFound(r, bucket, e, 'object')));
  return r.reply.status(204).send();
}

const MAX_DELETE_KEYS = 1000;

export async function deleteObjects(r: S3Request, bucket: string): Promise<FastifyReply> {
  const body = openRequestBody(r.request.raw, r.auth, { maxBytes: 2 * 1024 * 1024 });
  const doc = parseXml((await readSmallBody(body)).toString('utf8'));
  if (doc.name !== 'Delete') throw new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate: the root element must be Delete');
  const quiet = childText(doc, 'Quiet') === 'true';
  const objects = childrenNamed(doc, 'Object');
  if (objects.length === 0 || objects.length > MAX_DELETE_KEYS) throw new S3Error('MalformedXML', `The XML you provided was not well-formed or did not validate: between 1 and ${MAX_DELETE_KEYS} Object elements are allowed`);
  await r.ctx.service.headBucket(bucket).catch((e: unknown) => Promise.reject(fromServiceError(e, 'bucket')));
  const deleted: { Key: string }[] = [];
  const errors: { Key: string; Code: string; Message: string }[] = [];
  for (const o of objects) {
    const keyEl = o.children.find((c) => c.name === 'Key');
    if (keyEl === undefined) throw new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate: an Object has no Key');
    const key = keyEl.text;
    try {
      await r.ctx.service.deleteObject(bucket, key);
      if (!quiet) deleted.push({ Key: key });
    } catch (err) {
      const e = fromServiceError(err, 'object');
      errors.push({ Key: key, Code: e.code, Message: e.message });
    }
  }
  return sendXml(r.reply, 200, toXml('DeleteResult', { Deleted: deleted, Error: errors }));
}

/** Parses x-amz-copy-source: `bucket/key` or `/bucket/key`, URL-encoded, optionally `?versionId=...`. */
export function parseCopySource(value: string): { bucket: string; key: string } {
  const [path = ''] = value.split('?');
  const decoded = uriDecode(path.startsWith('/') ? path.slice(1) : path);
  const slash = decoded.indexOf('/');
  if (slash <= 0 || slash === decoded.length - 1) throw new S3Error('InvalidArgument', 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey', { ArgumentName: 'x-amz-copy-source' });
  return { bucket: decoded.slice(0, slash), key: decoded.slice(slash + 1) };
}

export async function copyObject(r: S3Request, copySource: string): Promise<FastifyReply> {
  const to = requireKey(r);
  const from = parseCopySource(copySource);
  const directive = (header(r.request, 'x-amz-metadata-directive') ?? 'COPY').toUpperCase();
  if (directive !== 'COPY' && directive !== 'REPLACE') throw new S3Error('InvalidArgument', 'Unknown metadata directive.', { ArgumentName: 'x-amz-metadata-directive' });
  if (directive === 'COPY' && from.bucket === to.bucket && from.key === to.key) {
    throw new S3Error('InvalidRequest', 'This copy request is illegal because it is trying to copy an object to itself without changing the object\'s metadata, storage class, website redirect location or encryption attributes.');
  }
  const contentType = header(r.request, 'content-type');
  const options =
    directive === 'REPLACE' ? { metadata: { ...(contentType !== undefined ? { contentType } : {}), userMetadata: userMetadataOf(r.request) } } : {};
  const source = await r.ctx.service.headObject(from.bucket, from.key).catch(async (e: unknown) => Promise.reject(await notFound(r, from.bucket, e, 'object')));
  const ifMatch = header(r.request, 'x-amz-copy-source-if-match');
  if (ifMatch !== undefined && unquoteEtag(ifMatch) !== unquoteEtag(source.etag)) throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'x-amz-copy-source-If-Match' });
  const ifNoneMatch = header(r.request, 'x-amz-copy-source-if-none-match');
  if (ifNoneMatch !== undefined && unquoteEtag(ifNoneMatch) === unquoteEtag(source.etag)) throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'x-amz-copy-source-If-None-Match' });
  const meta = await r.ctx.service.copyObject(from, to, options).catch(async (e: unknown) => Promise.reject(await notFound(r, to.bucket, e, 'object')));
  return sendXml(r.reply, 200, toXml('CopyObjectResult', { LastModified: new Date(meta.lastModifiedMs).toISOString(), ETag: quoteEtag(meta.etag) }));
}
