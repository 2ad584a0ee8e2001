/**
 * One S3 request after routing and authentication: bucket and key (path-style or virtual-host), the
 * decoded query, the verified auth context, and helpers the operation handlers share.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../../core/log.js';
import type { ObjectService } from '../object-service.js';
import { S3Error } from './s3-error.js';
import type { AuthContext } from './sigv4.js';

export interface S3Context {
  service: ObjectService;
  region: string;
  logger: Logger;
  /** The storage policy of buckets created without the policy header (undefined: the service's default). */
  defaultPolicy: string | undefined;
}

export interface S3Request {
  ctx: S3Context;
  request: FastifyRequest;
  reply: FastifyReply;
  auth: AuthContext;
  bucket: string | undefined;
  key: string | undefined;
  /** The query's parameters (first value of each name). */
  query: Map<string, string>;
  /** `/bucket/key` for error documents. */
  resource: string;
}

/** Header name of the storage policy on CreateBucket (replicated-3, replicated-2, single, ...). */
export const POLICY_HEADER = 'x-flotilla-storage-policy';

/** Largest object of a single PUT and largest part (S3's limits). */
export const MAX_PUT_BYTES = 5 * 1024 ** 3;
/** Smallest part but the last of a multipart upload (S3's limit). */
export const MIN_PART_BYTES = 5 * 1024 ** 2;
/** Longest key in UTF-8 bytes (S3's limit). */
export const MAX_KEY_BYTES = 1024;
/** Largest total of user metadata (S3's limit: 2 KB of names and values). */
export const MAX_METADATA_BYTES = 2048;

export function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** x-amz-meta-* headers as user metadata (lower-case names without the prefix). */
export function userMetadataOf(req: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
  let total = 0;
  for (const [name, value] of Object.entries(req.headers)) {
    if (!name.startsWith('x-amz-meta-') || value === undefined) continue;
    const k = name.slice('x-amz-meta-'.length);
    const v = Array.isArray(value) ? value.join(',') : value;
    total += k.length + Buffer.byteLength(v);
    out[k] = v;
  }
  if (total > MAX_METADATA_BYTES) throw new S3Error('MetadataTooLarge', `Your metadata headers exceed the maximum allowed metadata size of ${MAX_METADATA_BYTES} bytes`);
  return out;
}

export function requireKey(r: S3Request): { bucket: string; key: string } {
  if (r.bucket === undefined || r.key === undefined) throw new S3Error('InvalidRequest', 'this operation needs a bucket and a key');
  if (Buffer.byteLength(r.key) > MAX_KEY_BYTES) throw new S3Error('KeyTooLongError', `Your key is too long (the limit is ${MAX_KEY_BYTES} bytes of UTF-8)`);
  return { bucket: r.bucket, key: r.key };
}

export function quoteEtag(etag: string): string {
  return etag.startsWith('"') ? etag : `"${etag}"`;
}

export function unquoteEtag(etag: string): string {
  return etag.trim().replace(/^"(.*)"$/, '$1');
}

/** Parses a positive integer query parameter within [min, max]; undefined when absent. */
export function intParam(r: S3Request, name: string, min: number, max: number): number | undefined {
  const v = r.query.get(name);
  if (v === undefined) return undefined;
  if (!/^\d{1,10}$/.test(v) || Number(v) < min || Number(v) > max) throw new S3Error('InvalidArgument', `${name} must be an integer between ${min} and ${max}`, { ArgumentName: name, ArgumentValue: v.slice(0, 100) });
  return Number(v);
}

export function sendXml(reply: FastifyReply, status: number, xml: string): FastifyReply {
  return reply.status(status).header('content-type', 'application/xml').send(xml);
}
