/**
 * The S3 front end as a Fastify plugin: one catch-all route, so the bucket and key come from the raw
 * request target (path-style `/bucket/key`, or virtual-host `bucket.<domain>` when a domain is set);
 * bodies stay streams (the plugin's only content-type parser hands the request over unread); every
 * request is SigV4-verified before anything else; errors are S3 XML documents.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Code, FlotillaError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { RESERVED_BUCKET_NAMES } from '../store/names.js';
import type { ObjectService } from '../object-service.js';
import { createBucket, deleteBucket, getBucketLocation, getBucketVersioning, headBucket, listBuckets } from './bucket-handlers.js';
import { listObjectsV1, listObjectsV2 } from './list-handlers.js';
import { abortMultipartUpload, completeMultipartUpload, createMultipartUpload, listParts, uploadPart } from './multipart-handlers.js';
import { copyObject, deleteObject, deleteObjects, getObject, headObject, putObject } from './object-handlers.js';
import { S3Error } from './s3-error.js';
import { header, type S3Context, type S3Request } from './s3-request.js';
import { parseQuery, splitUrl, uriDecode, verifySigV4, type S3Credentials } from './sigv4.js';
import { errorXml } from './xml.js';

export interface S3RoutesOptions {
  /** Access keys accepted (SigV4). A request signed with another key is refused (InvalidAccessKeyId). */
  credentials: S3Credentials[];
  /** The region reported by GetBucketLocation / HeadBucket. Default us-east-1. Requests signed for any region are accepted. */
  region?: string;
  /** Default: silent. */
  logger?: Logger;
  /** Enables virtual-host addressing: a Host of `<bucket>.<virtualHostDomain>` names the bucket. Default: path-style only. */
  virtualHostDomain?: string;
  /** Storage policy for CreateBucket without the x-flotilla-storage-policy header. Default: the service's default. */
  defaultPolicy?: string;
  /** Clock (ms since the epoch) for the skew check. Default Date.now. */
  nowMs?: () => number;
}

/** Bucket subresources S3 clients may ask for that this API does not implement. */
const unsupportedBucketSubresources = ['acl', 'policy', 'cors', 'lifecycle', 'tagging', 'website', 'logging', 'notification', 'replication', 'encryption', 'object-lock', 'ownershipControls', 'publicAccessBlock', 'accelerate', 'requestPayment', 'analytics', 'inventory', 'metrics', 'intelligent-tiering', 'versions', 'uploads'];
const unsupportedObjectSubresources = ['acl', 'tagging', 'retention', 'legal-hold', 'torrent', 'restore', 'select', 'attributes'];

type Handler = (r: S3Request) => Promise<FastifyReply>;

function route(r: S3Request): Handler {
  const method = r.request.method;
  const q = r.query;
  const unsupported = (list: string[]): string | undefined => list.find((s) => q.has(s));
  if (r.bucket === undefined) {
    if (method === 'GET' || method === 'HEAD') return listBuckets;
    throw new S3Error('MethodNotAllowed', `The specified method is not allowed against this resource: ${method} /`);
  }
  const bucket = r.bucket;
  if (r.key === undefined) {
    const sub = unsupported(unsupportedBucketSubresources);
    if (sub !== undefined && !(sub === 'uploads' && method === 'POST')) throw new S3Error('NotImplemented', `The bucket subresource ?${sub} is not implemented`);
    switch (method) {
      case 'GET':
        if (q.has('location')) return (x) => getBucketLocation(x, bucket);
        if (q.has('versioning')) return (x) => getBucketVersioning(x, bucket);
        if (q.get('list-type') === '2') return (x) => listObjectsV2(x, bucket);
        return (x) => listObjectsV1(x, bucket);
      case 'HEAD':
        return (x) => headBucket(x, bucket);
      case 'PUT':
        return (x) => createBucket(x, bucket);
      case 'DELETE':
        return (x) => deleteBucket(x, bucket);
      case 'POST':
        if (q.has('delete')) return (x) => deleteObjects(x, bucket);
        break;
    }
    throw new S3Error('MethodNotAllowed', `The specified method is not allowed against this resource: ${method} /${bucket}`);
  }
  const sub = unsupported(unsupportedObjectSubresources);
  if (sub !== undefined) throw new S3Error('NotImplemented', `The object subresource ?${sub} is not implemented`);
  switch (method) {
    case 'GET':
      return q.has('uploadId') ? listParts : getObject;
    case 'HEAD':
      return headObject;
    case 'PUT': {
      if (q.has('partNumber') || q.has('uploadId')) return uploadPart;
      const copySource = header(r.request, 'x-amz-copy-source');
      return copySource !== undefined ? (x) => copyObject(x, copySource) : putObject;
    }
    case 'DELETE':
      return q.has('uploadId') ? abortMultipartUpload : deleteObject;
    case 'POST':
      if (q.has('uploads')) return createMultipartUpload;
      if (q.has('uploadId')) return completeMultipartUpload;
      break;
  }
  throw new S3Error('MethodNotAllowed', `The specified method is not allowed against this resource: ${method}`);
}

/** Bucket and key of a request target; `hostBucket` when virtual-host addressing named the bucket. */
export function locate(path: string, hostBucket: string | undefined): { bucket: string | undefined; key: string | undefined } {
  const rest = path.startsWith('/') ? path.slice(1) : path;
  if (hostBucket !== undefined) return { bucket: hostBucket, key: rest === '' ? undefined : uriDecode(rest) };
  if (rest === '') return { bucket: undefined, key: undefined };
  const slash = rest.indexOf('/');
  if (slash === -1) return { bucket: uriDecode(rest), key: undefined };
  const key = rest.slice(slash + 1);
  return { bucket: uriDecode(rest.slice(0, slash)), key: key === '' ? undefined : uriDecode(key) };
}

function hostBucketOf(req: FastifyRequest, domain: string | undefined): string | undefined {
  if (domain === undefined) return undefined;
  const host = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
  const suffix = `.${domain.toLowerCase()}`;
  return host.endsWith(suffix) && host.length > suffix.length ? host.slice(0, -suffix.length) : undefined;
}

export function s3Plugin(service: ObjectService, options: S3RoutesOptions & { logger: Logger }) {
  const secrets = new Map(options.credentials.map((c) => [c.accessKeyId, c.secretAccessKey]));
  const ctx: S3Context = { service, region: options.region ?? 'us-east-1', logger: options.logger, defaultPolicy: options.defaultPolicy };
  const nowMs = options.nowMs ?? Date.now;

  const sendError = (request: FastifyRequest, reply: FastifyReply, err: S3Error, resource: string): FastifyReply => {
    const requestId = reply.getHeader('x-amz-request-id');
    if (err.status >= 500) options.logger.error({ err, url: request.url, method: request.method }, 's3 request failed');
    else options.logger.debug({ code: err.code, url: request.url, method: request.method }, 's3 request refused');
    // A body not read (refused before reading, or half read) cannot be left on a keep-alive connection.
    if (!request.raw.readableEnded && (request.headers['content-length'] ?? '0') !== '0') reply.header('connection', 'close');
    if (err.code === 'NotModified') return reply.status(304).send();
    if (request.method === 'HEAD') return reply.status(err.status).header('x-amz-error-code', err.code).send();
    return reply.status(err.status).header('content-type', 'application/xml').send(errorXml(err, resource, String(requestId)));
  };

  return async function s3Routes(app: FastifyInstance): Promise<void> {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));

    app.setErrorHandler((error: FastifyError | S3Error, request, reply) => {
      if (reply.sent) return;
      const resource = splitUrl(request.url).path;
      if (error instanceof S3Error) return sendError(request, reply, error, resource);
      const status = error.statusCode ?? 500;
      const mapped = status < 500 ? new S3Error(status === 413 ? 'EntityTooLarge' : 'InvalidRequest', error.message) : new S3Error('InternalError', 'We encountered an internal error. Please try again.');
      if (status >= 500) options.logger.error({ err: error }, 's3 request failed');
      return sendError(request, reply, mapped, resource);
    });

    const handle = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
      const requestId = randomBytes(8).toString('hex').toUpperCase();
      reply.header('x-amz-request-id', requestId).header('x-amz-id-2', requestId).header('server', 'Flotilla');
      const url = request.raw.url ?? '/';
      const { path, rawQuery } = splitUrl(url);
      const hostBucket = hostBucketOf(request, options.virtualHostDomain);
      // A path under the node's own routes (/api/..., /internal/...) that none of them serves is a wrong
      // API call, not an S3 request: no bucket may take those names (RESERVED_BUCKET_NAMES; asking to
      // create one, `PUT /api`, still gets S3's InvalidBucketName).
      const segments = path.split('/');
      if (hostBucket === undefined && segments.slice(2).join('/') !== '' && RESERVED_BUCKET_NAMES.includes(segments[1] ?? '')) {
        const problem = new FlotillaError(Code.NOT_FOUND, `no route for ${request.method} ${path}`).toProblem(path);
        return reply.status(404).type('application/problem+json').send(problem);
      }
      const auth = verifySigV4({ method: request.method, url, rawHeaders: request.raw.rawHeaders }, { secretFor: (id) => secrets.get(id), nowMs: nowMs() });
      const { bucket, key } = locate(path, hostBucket);
      const query = new Map<string, string>();
      for (const [k, v] of parseQuery(rawQuery)) if (!query.has(k)) query.set(k, v);
      const r: S3Request = { ctx, request, reply, auth, bucket, key, query, resource: path };
      return route(r)(r);
    };

    const methods = ['GET', 'HEAD', 'PUT', 'POST', 'DELETE'] as const;
    app.route({ method: [...methods], url: '/', exposeHeadRoute: false, handler: handle });
    app.route({ method: [...methods], url: '/*', exposeHeadRoute: false, handler: handle });
  };
}
