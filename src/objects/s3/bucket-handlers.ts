/** Bucket operations: ListBuckets, CreateBucket, DeleteBucket, HeadBucket, GetBucketLocation, GetBucketVersioning. */
import type { FastifyReply } from 'fastify';
import { readSmallBody, openRequestBody } from './request-body.js';
import { fromServiceError } from './s3-error.js';
import { header, POLICY_HEADER, sendXml, type S3Request } from './s3-request.js';
import { escapeXml, parseXml, toXml } from './xml.js';

const OWNER = { ID: 'flotilla', DisplayName: 'flotilla' };

export async function listBuckets(r: S3Request): Promise<FastifyReply> {
  const buckets = await r.ctx.service.listBuckets().catch((e: unknown) => Promise.reject(fromServiceError(e, 'bucket')));
  const sorted = [...buckets].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return sendXml(
    r.reply,
    200,
    toXml('ListAllMyBucketsResult', {
      Owner: OWNER,
      Buckets: { Bucket: sorted.map((b) => ({ Name: b.name, CreationDate: new Date(b.createdAtMs).toISOString() })) },
    }),
  );
}

export async function createBucket(r: S3Request, bucket: string): Promise<FastifyReply> {
  // The body, when any, is a CreateBucketConfiguration; its LocationConstraint is accepted and ignored.
  if (r.request.headers['content-length'] !== undefined && r.request.headers['content-length'] !== '0') {
    const body = await readSmallBody(openRequestBody(r.request.raw, r.auth, { maxBytes: 64 * 1024 }));
    if (body.length > 0) parseXml(body.toString('utf8'));
  }
  const policy = header(r.request, POLICY_HEADER) ?? r.ctx.defaultPolicy;
  await r.ctx.service.createBucket(bucket, policy !== undefined ? { policy } : {}).catch((e: unknown) => Promise.reject(fromServiceError(e, 'bucket')));
  return r.reply.status(200).header('location', `/${bucket}`).send();
}

export async function deleteBucket(r: S3Request, bucket: string): Promise<FastifyReply> {
  await r.ctx.service.deleteBucket(bucket).catch((e: unknown) => Promise.reject(fromServiceError(e, 'bucket')));
  return r.reply.status(204).send();
}

export async function headBucket(r: S3Request, bucket: string): Promise<FastifyReply> {
  const info = await r.ctx.service.headBucket(bucket).catch((e: unknown) => Promise.reject(fromServiceError(e, 'bucket')));
  return r.reply.status(200).header('x-amz-bucket-region', r.ctx.region).header(POLICY_HEADER, info.policy).send();
}

export async function getBucketLocation(r: S3Request, bucket: string): Promise<FastifyReply> {
  await r.ctx.service.headBucket(bucket).catch((e: unknown) => Promise.reject(fromServiceError(e, 'bucket')));
  // us-east-1 is the empty LocationConstraint in S3's answer.
  const xml = toXml('LocationConstraint', {}).replace('></LocationConstraint>', `>${r.ctx.region === 'us-east-1' ? '' : escapeXml(r.ctx.region)}</LocationConstraint>`);
  return sendXml(r.reply, 200, xml);
}

export async function getBucketVersioning(r: S3Request, bucket: string): Promise<FastifyReply> {
  await r.ctx.service.headBucket(bucket).catch((e: unknown) => Promise.reject(fromServiceError(e, 'bucket')));
  return sendXml(r.reply, 200, toXml('VersioningConfiguration', {}));
}

