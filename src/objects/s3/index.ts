/**
 * The S3-compatible API of a node: ListBuckets, CreateBucket, DeleteBucket, HeadBucket, GetBucketLocation,
 * PutObject, GetObject (ranges), HeadObject, DeleteObject(s), CopyObject, ListObjects V1/V2, multipart
 * upload (create, upload part, upload part copy, list parts, complete, abort); SigV4 (header and
 * presigned), aws-chunked streaming bodies with signed chunks or checksum trailers, Content-MD5 and
 * x-amz-checksum-* verification. See docs/objects.md, "S3 API".
 */
import type { FastifyInstance } from 'fastify';
import type { ObjectService } from '../object-service.js';
import { silentLogger } from '../../core/log.js';
import { s3Plugin, type S3RoutesOptions } from './routes.js';

export type { S3RoutesOptions } from './routes.js';
export type { S3Credentials } from './sigv4.js';
export { POLICY_HEADER } from './s3-request.js';

/**
 * Registers the S3 API on `app` in its own encapsulated context (its own content-type parser and error
 * handler; the app's other routes are untouched and keep precedence: a static route such as /healthz is
 * matched before the S3 catch-all). Call it before the server listens; the routes load with the app.
 */
export function registerS3Routes(app: FastifyInstance, service: ObjectService, options: S3RoutesOptions): void {
  void app.register(s3Plugin(service, { ...options, logger: options.logger ?? silentLogger() }));
}
