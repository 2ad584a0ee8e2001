/**
 * A request body as the object service should see it: aws-chunked framing removed, and every integrity
 * claim of the request checked while it streams (declared length, x-amz-content-sha256, Content-MD5,
 * x-amz-checksum-* in a header or a trailer). A failed check fails the stream before it ends, so the
 * service discards what it received; `failure()` then says which S3 error to answer.
 */
import { createHash, type Hash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';
import { AwsChunkedDecoder } from './aws-chunked.js';
import { checksumAlgorithms, checksumLength, createChecksummer, type ChecksumAlgorithm, type Checksummer } from './checksums.js';
import { S3Error } from './s3-error.js';
import { STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER, UNSIGNED_PAYLOAD, type AuthContext } from './sigv4.js';

export interface RequestBody {
  /** The decoded body. */
  stream: Readable;
  /** The decoded length when the request declares it. */
  size: number | undefined;
  /** The first integrity or framing error seen on the body, if any. */
  failure(): S3Error | undefined;
  /** Base64 checksums verified (x-amz-checksum-<algorithm> -> value), once the stream ended cleanly. */
  checksums(): Record<string, string>;
}

export interface OpenBodyOptions {
  /** Largest accepted decoded body (EntityTooLarge beyond). */
  maxBytes: number;
  /** A human name for messages. */
  what?: string;
}

function isBase64(s: string, bytes: number): boolean {
  return /^[A-Za-z0-9+/]*={0,2}$/.test(s) && Buffer.from(s, 'base64').length === bytes && s.length === Math.ceil(bytes / 3) * 4;
}

/** Opens the body of `req` (already SigV4-verified as `auth`). Throws S3Error for headers that are wrong before any byte is read. */
export function openRequestBody(req: IncomingMessage, auth: AuthContext, options: OpenBodyOptions): RequestBody {
  const h = req.headers;
  const mode = auth.payloadHash;
  const streaming = mode === STREAMING_SIGNED || mode === STREAMING_SIGNED_TRAILER || mode === STREAMING_UNSIGNED_TRAILER;
  const lengthHeader = streaming ? h['x-amz-decoded-content-length'] : h['content-length'];
  let size: number | undefined;
  if (lengthHeader !== undefined) {
    if (!/^\d{1,16}$/.test(String(lengthHeader))) throw new S3Error('InvalidArgument', `${streaming ? 'x-amz-decoded-content-length' : 'Content-Length'} must be a non-negative integer`);
    size = Number(lengthHeader);
  } else if (streaming) {
    throw new S3Error('MissingContentLength', 'You must provide the x-amz-decoded-content-length header with an aws-chunked upload.');
  }
  if (size !== undefined && size > options.maxBytes) {
    throw new S3Error('EntityTooLarge', `Your proposed upload exceeds the maximum allowed size of ${options.maxBytes} bytes`, { ProposedSize: String(size), MaxSizeAllowed: String(options.maxBytes) });
  }

  // Checksums to verify: x-amz-checksum-* headers now, and the ones x-amz-trailer announces at the end.
  const expected = new Map<ChecksumAlgorithm, string | undefined>();
  for (const alg of checksumAlgorithms) {
    const v = h[`x-amz-checksum-${alg}`];
    if (typeof v === 'string') {
      if (!isBase64(v, checksumLength[alg])) throw new S3Error('InvalidRequest', `Value for x-amz-checksum-${alg} header is invalid.`);
      expected.set(alg, v);
    }
  }
  const trailerNames = typeof h['x-amz-trailer'] === 'string' ? h['x-amz-trailer'].split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '') : [];
  if (trailerNames.length > 0 && mode !== STREAMING_SIGNED_TRAILER && mode !== STREAMING_UNSIGNED_TRAILER) {
    throw new S3Error('InvalidRequest', 'x-amz-trailer is only allowed with a STREAMING-*-TRAILER x-amz-content-sha256');
  }
  for (const name of trailerNames) {
    const alg = name.replace(/^x-amz-checksum-/, '') as ChecksumAlgorithm;
    if (!name.startsWith('x-amz-checksum-') || !checksumAlgorithms.includes(alg)) throw new S3Error('InvalidRequest', `Unsupported trailer ${name}; supported: x-amz-checksum-{${checksumAlgorithms.join(',')}}`);
    if (expected.has(alg)) throw new S3Error('InvalidRequest', `x-amz-checksum-${alg} given both as a header and as a trailer`);
    expected.set(alg, undefined);
  }
  let md5Expected: string | undefined;
  const contentMd5 = h['content-md5'];
  if (typeof contentMd5 === 'string') {
    if (!isBase64(contentMd5, 16)) throw new S3Error('InvalidDigest', 'The Content-MD5 you specified is not valid.');
    md5Expected = Buffer.from(contentMd5, 'base64').toString('hex');
  }
  const sha256Expected = /^[0-9a-f]{64}$/.test(mode) ? mode : undefined;
  if (mode !== UNSIGNED_PAYLOAD && !streaming && sha256Expected === undefined) throw new S3Error('InvalidArgument', 'unsupported x-amz-content-sha256');

  let failure: S3Error | undefined;
  const fail = (e: unknown): Error => {
    if (failure === undefined && e instanceof S3Error) failure = e;
    return e as Error;
  };
  const decoder = streaming
    ? new AwsChunkedDecoder({
        trailer: mode !== STREAMING_SIGNED,
        ...(mode !== STREAMING_UNSIGNED_TRAILER ? { signing: { signingKey: auth.signingKey, amzDate: auth.amzDate, scope: auth.scope, seedSignature: auth.signature } } : {}),
      })
    : undefined;

  const hashers = new Map<ChecksumAlgorithm, Checksummer>([...expected.keys()].map((a) => [a, createChecksummer(a)]));
  // Only what the client asked to be checked is hashed here: the store computes the object's own
  // SHA-256 and MD5 (ETag) once, on the access node.
  const md5: Hash | undefined = md5Expected !== undefined ? createHash('md5') : undefined;
  const sha256 = sha256Expected !== undefined ? createHash('sha256') : undefined;
  const verified: Record<string, string> = {};
  let count = 0;
  const verifier = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      count += chunk.length;
      if (count > options.maxBytes) return cb(fail(new S3Error('EntityTooLarge', `Your upload exceeds the maximum allowed size of ${options.maxBytes} bytes`)));
      if (size !== undefined && count > size) return cb(fail(new S3Error('IncompleteBody', `The request body is longer than the ${size} bytes declared`)));
      md5?.update(chunk);
      sha256?.update(chunk);
      for (const c of hashers.values()) c.update(chunk);
      cb(null, chunk);
    },
    flush(cb: TransformCallback) {
      if (size !== undefined && count !== size) return cb(fail(new S3Error('IncompleteBody', `You did not provide the number of bytes specified by the ${streaming ? 'x-amz-decoded-content-length' : 'Content-Length'} HTTP header (${count} of ${size})`)));
      if (md5 !== undefined && md5.digest('hex') !== md5Expected) return cb(fail(new S3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.')));
      if (sha256 !== undefined && sha256.digest('hex') !== sha256Expected) {
        return cb(fail(new S3Error('XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.")));
      }
      for (const [alg, c] of hashers) {
        const want = expected.get(alg) ?? decoder?.trailers.get(`x-amz-checksum-${alg}`);
        if (want === undefined) return cb(fail(new S3Error('InvalidRequest', `The announced trailer x-amz-checksum-${alg} was not sent`)));
        const got = c.digest().toString('base64');
        if (got !== want) return cb(fail(new S3Error('BadDigest', `The ${alg.toUpperCase()} you specified did not match the calculated checksum.`)));
        verified[`x-amz-checksum-${alg}`] = got;
      }
      cb();
    },
  });
  const stages: (NodeJS.ReadableStream | NodeJS.ReadWriteStream)[] = [req];
  if (decoder !== undefined) {
    decoder.on('error', fail);
    stages.push(decoder);
  }
  stages.push(verifier);
  // pipeline destroys every stage on error, so the service sees the verifier fail and the request is torn down.
  pipeline(stages as [NodeJS.ReadableStream, ...NodeJS.ReadWriteStream[]], (err) => {
    if (err !== undefined && err !== null) fail(err);
  });
  return {
    stream: verifier,
    size,
    failure: () => failure,
    checksums: () => verified,
  };
}

/** Reads a whole (small) body into memory, for XML request documents; refuses more than maxBytes. */
export async function readSmallBody(body: RequestBody): Promise<Buffer> {
  const parts: Buffer[] = [];
  try {
    for await (const chunk of body.stream) parts.push(chunk as Buffer);
  } catch (err) {
    throw body.failure() ?? err;
  }
  const f = body.failure();
  if (f !== undefined) throw f;
  return Buffer.concat(parts);
}
