/**
 * ListObjectsV2 and ListObjects (V1; rclone and s3cmd use it): prefix, delimiter, max-keys, start-after,
 * continuation tokens (V2) and markers (V1), encoding-type=url. Pages come from the object service's
 * ordered per-bucket index; the continuation token is the service's `nextAfter`, base64url-encoded.
 */
import type { FastifyReply } from 'fastify';
import type { ListObjectsResult, ObjectMeta } from '../object-service.js';
import { S3Error, fromServiceError } from './s3-error.js';
import { intParam, quoteEtag, sendXml, type S3Request } from './s3-request.js';
import { uriEncode } from './sigv4.js';
import { toXml, type XmlNode } from './xml.js';

const MAX_KEYS = 1000;

function decodeToken(token: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(token)) throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect', { ArgumentName: 'continuation-token' });
  return Buffer.from(token, 'base64url').toString('utf8');
}

function encodeToken(after: string): string {
  return Buffer.from(after, 'utf8').toString('base64url');
}

interface Page {
  result: ListObjectsResult;
  maxKeys: number;
  encode: (s: string | undefined) => string | undefined;
}

async function listPage(r: S3Request, bucket: string, after: string | undefined): Promise<Page> {
  const encodingType = r.query.get('encoding-type');
  if (encodingType !== undefined && encodingType !== 'url') throw new S3Error('InvalidArgument', 'Invalid Encoding Method specified in Request', { ArgumentName: 'encoding-type' });
  const maxKeys = intParam(r, 'max-keys', 0, 2 ** 31 - 1) ?? MAX_KEYS;
  const prefix = r.query.get('prefix') ?? '';
  const delimiter = r.query.get('delimiter') ?? '';
  const encode = (s: string | undefined): string | undefined => (s === undefined || encodingType !== 'url' ? s : uriEncode(s, true));
  if (maxKeys === 0) {
    await r.ctx.service.headBucket(bucket).catch((e: unknown) => Promise.reject(fromServiceError(e, 'bucket')));
    return { result: { objects: [], commonPrefixes: [] }, maxKeys, encode };
  }
  const result = await r.ctx.service
    .listObjects({
      bucket,
      ...(prefix !== '' ? { prefix } : {}),
      ...(delimiter !== '' ? { delimiter } : {}),
      ...(after !== undefined && after !== '' ? { after } : {}),
      limit: Math.min(maxKeys, MAX_KEYS),
    })
    .catch((e: unknown) => Promise.reject(fromServiceError(e, 'bucket')));
  return { result, maxKeys, encode };
}

function contents(objects: ObjectMeta[], encode: Page['encode']): XmlNode[] {
  return objects.map((o) => ({
    Key: encode(o.key),
    LastModified: new Date(o.lastModifiedMs).toISOString(),
    ETag: quoteEtag(o.etag),
    Size: o.size,
    StorageClass: 'STANDARD',
  }));
}

export async function listObjectsV2(r: S3Request, bucket: string): Promise<FastifyReply> {
  const token = r.query.get('continuation-token');
  const startAfter = r.query.get('start-after');
  const after = token !== undefined ? decodeToken(token) : startAfter;
  const { result, maxKeys, encode } = await listPage(r, bucket, after);
  const truncated = result.nextAfter !== undefined;
  return sendXml(
    r.reply,
    200,
    toXml('ListBucketResult', {
      Name: bucket,
      Prefix: encode(r.query.get('prefix') ?? ''),
      Delimiter: encode(r.query.get('delimiter')),
      MaxKeys: maxKeys,
      KeyCount: result.objects.length + result.commonPrefixes.length,
      IsTruncated: truncated,
      EncodingType: r.query.get('encoding-type'),
      ContinuationToken: token,
      NextContinuationToken: truncated ? encodeToken(result.nextAfter!) : undefined,
      StartAfter: encode(startAfter),
      Contents: contents(result.objects, encode),
      CommonPrefixes: result.commonPrefixes.map((p) => ({ Prefix: encode(p) })),
    }),
  );
}

export async function listObjectsV1(r: S3Request, bucket: string): Promise<FastifyReply> {
  const marker = r.query.get('marker');
  const { result, maxKeys, encode } = await listPage(r, bucket, marker);
  const truncated = result.nextAfter !== undefined;
  return sendXml(
    r.reply,
    200,
    toXml('ListBucketResult', {
      Name: bucket,
      Prefix: encode(r.query.get('prefix') ?? ''),
      Marker: encode(marker ?? ''),
      // S3 sends NextMarker only with a delimiter; we always send it when truncated (clients accept it).
      NextMarker: truncated ? encode(result.nextAfter) : undefined,
      MaxKeys: maxKeys,
      Delimiter: encode(r.query.get('delimiter')),
      IsTruncated: truncated,
      EncodingType: r.query.get('encoding-type'),
      Contents: contents(result.objects, encode),
      CommonPrefixes: result.commonPrefixes.map((p) => ({ Prefix: encode(p) })),
    }),
  );
}
