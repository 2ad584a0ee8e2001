/** Multipart upload: CreateMultipartUpload, UploadPart, UploadPartCopy, ListParts, CompleteMultipartUpload, AbortMultipartUpload. */
import type { FastifyReply } from 'fastify';
import { notFound, parseCopySource, parseRange, withBody } from './object-handlers.js';
import { openRequestBody, readSmallBody } from './request-body.js';
import { S3Error } from './s3-error.js';
import { header, intParam, MAX_PUT_BYTES, MIN_PART_BYTES, quoteEtag, requireKey, sendXml, unquoteEtag, userMetadataOf, type S3Request } from './s3-request.js';
import { childrenNamed, childText, parseXml, toXml } from './xml.js';

const MAX_PARTS = 10_000;

function uploadIdOf(r: S3Request): string {
  const id = r.query.get('uploadId');
  if (id === undefined || id === '') throw new S3Error('InvalidArgument', 'uploadId must not be empty', { ArgumentName: 'uploadId' });
  return id;
}

export async function createMultipartUpload(r: S3Request): Promise<FastifyReply> {
  const { bucket, key } = requireKey(r);
  const contentType = header(r.request, 'content-type');
  const { uploadId } = await r.ctx.service
    .createMultipartUpload(bucket, key, { ...(contentType !== undefined ? { contentType } : {}), userMetadata: userMetadataOf(r.request) })
    .catch(async (e: unknown) => Promise.reject(await notFound(r, bucket, e, 'object')));
  return sendXml(r.reply, 200, toXml('InitiateMultipartUploadResult', { Bucket: bucket, Key: key, UploadId: uploadId }));
}

export async function uploadPart(r: S3Request): Promise<FastifyReply> {
  const { bucket, key } = requireKey(r);
  const uploadId = uploadIdOf(r);
  const partNumber = intParam(r, 'partNumber', 1, MAX_PARTS)!;
  const copySource = header(r.request, 'x-amz-copy-source');
  if (copySource !== undefined) return uploadPartCopy(r, bucket, key, uploadId, partNumber, copySource);
  const body = openRequestBody(r.request.raw, r.auth, { maxBytes: MAX_PUT_BYTES });
  const part = await withBody(r, bucket, body, () => r.ctx.service.uploadPart(bucket, key, uploadId, partNumber, body.stream, body.size), 'upload');
  for (const [k, v] of Object.entries(body.checksums())) r.reply.header(k, v);
  return r.reply.status(200).header('etag', quoteEtag(part.etag)).send();
}

async function uploadPartCopy(r: S3Request, bucket: string, key: string, uploadId: string, partNumber: number, copySource: string): Promise<FastifyReply> {
  const from = parseCopySource(copySource);
  const source = await r.ctx.service.headObject(from.bucket, from.key).catch(async (e: unknown) => Promise.reject(await notFound(r, from.bucket, e, 'object')));
  const rangeHeader = header(r.request, 'x-amz-copy-source-range');
  const range = parseRange(rangeHeader, source.size);
  if (rangeHeader !== undefined && range === undefined) throw new S3Error('InvalidArgument', 'The x-amz-copy-source-range value must be of the form bytes=first-last', { ArgumentName: 'x-amz-copy-source-range' });
  const { body } = await r.ctx.service.getObject({ ...from, ...(range !== undefined ? { range } : {}) }).catch(async (e: unknown) => Promise.reject(await notFound(r, from.bucket, e, 'object')));
  const size = range !== undefined ? range.end - range.start + 1 : source.size;
  const part = await r.ctx.service.uploadPart(bucket, key, uploadId, partNumber, body, size).catch(async (e: unknown) => {
    body.destroy();
    return Promise.reject(await notFound(r, bucket, e, 'upload'));
  });
  return sendXml(r.reply, 200, toXml('CopyPartResult', { ETag: quoteEtag(part.etag), LastModified: new Date().toISOString() }));
}

export async function listParts(r: S3Request): Promise<FastifyReply> {
  const { bucket, key } = requireKey(r);
  const uploadId = uploadIdOf(r);
  const maxParts = intParam(r, 'max-parts', 0, MAX_PARTS) ?? 1000;
  const marker = intParam(r, 'part-number-marker', 0, MAX_PARTS) ?? 0;
  const all = await r.ctx.service.listParts(bucket, key, uploadId).catch(async (e: unknown) => Promise.reject(await notFound(r, bucket, e, 'upload')));
  const after = [...all].sort((a, b) => a.partNumber - b.partNumber).filter((p) => p.partNumber > marker);
  const page = after.slice(0, maxParts);
  const truncated = after.length > page.length;
  return sendXml(
    r.reply,
    200,
    toXml('ListPartsResult', {
      Bucket: bucket,
      Key: key,
      UploadId: uploadId,
      PartNumberMarker: marker,
      NextPartNumberMarker: page.length > 0 ? page[page.length - 1]!.partNumber : marker,
      MaxParts: maxParts,
      IsTruncated: truncated,
      StorageClass: 'STANDARD',
      Part: page.map((p) => ({ PartNumber: p.partNumber, LastModified: new Date().toISOString(), ETag: quoteEtag(p.etag), Size: p.size })),
    }),
  );
}

export async function completeMultipartUpload(r: S3Request): Promise<FastifyReply> {
  const { bucket, key } = requireKey(r);
  const uploadId = uploadIdOf(r);
  const body = openRequestBody(r.request.raw, r.auth, { maxBytes: 4 * 1024 * 1024 });
  const doc = parseXml((await readSmallBody(body)).toString('utf8'));
  const malformed = (why: string): S3Error => new S3Error('MalformedXML', `The XML you provided was not well-formed or did not validate against our published schema: ${why}`);
  if (doc.name !== 'CompleteMultipartUpload') throw malformed('the root element must be CompleteMultipartUpload');
  const requested = childrenNamed(doc, 'Part').map((p) => {
    const n = childText(p, 'PartNumber');
    const etag = childText(p, 'ETag');
    if (n === undefined || !/^\d{1,5}$/.test(n) || Number(n) < 1 || Number(n) > MAX_PARTS || etag === undefined) throw malformed('each Part needs a PartNumber (1-10000) and an ETag');
    return { partNumber: Number(n), etag: unquoteEtag(etag) };
  });
  if (requested.length === 0) throw malformed('at least one Part is required');
  for (let i = 1; i < requested.length; i++) {
    if (requested[i]!.partNumber <= requested[i - 1]!.partNumber) throw new S3Error('InvalidPartOrder', 'The list of parts was not in ascending order. Parts must be ordered by part number.', { UploadId: uploadId });
  }
  const uploaded = new Map((await r.ctx.service.listParts(bucket, key, uploadId).catch(async (e: unknown) => Promise.reject(await notFound(r, bucket, e, 'upload')))).map((p) => [p.partNumber, p]));
  const chosen = requested.map((want) => {
    const have = uploaded.get(want.partNumber);
    if (have === undefined || unquoteEtag(have.etag) !== want.etag) {
      throw new S3Error('InvalidPart', "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.", {
        UploadId: uploadId,
        PartNumber: String(want.partNumber),
        ETag: want.etag,
      });
    }
    return have;
  });
  chosen.forEach((have, i) => {
    if (i < chosen.length - 1 && have.size < MIN_PART_BYTES) {
      throw new S3Error('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.', { PartNumber: String(have.partNumber), ProposedSize: String(have.size), MinSizeAllowed: String(MIN_PART_BYTES) });
    }
  });
  const meta = await r.ctx.service.completeMultipartUpload(bucket, key, uploadId, requested).catch(async (e: unknown) => Promise.reject(await notFound(r, bucket, e, 'upload')));
  return sendXml(
    r.reply,
    200,
    toXml('CompleteMultipartUploadResult', { Location: `/${bucket}/${key}`, Bucket: bucket, Key: key, ETag: quoteEtag(meta.etag) }),
  );
}

export async function abortMultipartUpload(r: S3Request): Promise<FastifyReply> {
  const { bucket, key } = requireKey(r);
  const uploadId = uploadIdOf(r);
  await r.ctx.service.abortMultipartUpload(bucket, key, uploadId).catch(async (e: unknown) => Promise.reject(await notFound(r, bucket, e, 'upload')));
  return r.reply.status(204).send();
}
