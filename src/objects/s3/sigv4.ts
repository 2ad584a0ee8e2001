/**
 * AWS Signature Version 4 verification for S3: the Authorization header and presigned query strings.
 * The canonical request is rebuilt from the request as received (method, URI-encoded path, sorted query,
 * signed headers, payload hash), the signing key derived from the secret of the access key, and the
 * signature compared in constant time. A request more than 15 minutes off the server's clock is refused
 * (RequestTimeTooSkewed), a presigned URL after its expiry (AccessDenied). Any region in the credential
 * scope is accepted (it is signed, so it cannot be changed in flight); the service must be `s3`.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { S3Error } from './s3-error.js';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** What the verifier needs of an HTTP request. */
export interface SigV4Request {
  method: string;
  /** Path and query exactly as received (request-target). */
  url: string;
  /** Node's rawHeaders: name, value, name, value, ... */
  rawHeaders: string[];
}

/** The payload modes of x-amz-content-sha256. */
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
export const STREAMING_SIGNED = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
export const STREAMING_SIGNED_TRAILER = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER';
export const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
const streamingModes = new Set([STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER]);

/** A verified request: what the body decoder needs to check chunk signatures. */
export interface AuthContext {
  accessKeyId: string;
  /** The payload hash as signed: hex SHA-256, UNSIGNED-PAYLOAD or a STREAMING-* mode. */
  payloadHash: string;
  /** x-amz-date (ISO basic, e.g. 20130524T000000Z). */
  amzDate: string;
  /** date/region/s3/aws4_request */
  scope: string;
  signingKey: Buffer;
  /** The request's own signature: the seed of chunk signatures. */
  signature: string;
  presigned: boolean;
}

export interface VerifyOptions {
  /** The secret of an access key id, or undefined when unknown. */
  secretFor(accessKeyId: string): string | undefined;
  nowMs: number;
  /** Largest accepted clock difference. Default 15 minutes. */
  maxSkewMs?: number;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';
const MAX_PRESIGN_EXPIRES_S = 604_800;

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

const keyCache = new Map<string, Buffer>();
/** The SigV4 signing key for a secret and scope date/region/service (cached, bounded). */
export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  const id = `${sha256Hex(secret)}/${date}/${region}/${service}`;
  const hit = keyCache.get(id);
  if (hit !== undefined) return hit;
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
  if (keyCache.size >= 256) keyCache.delete(keyCache.keys().next().value!);
  keyCache.set(id, key);
  return key;
}

/** URI-encodes per SigV4: everything but A-Z a-z 0-9 - _ . ~ is %XX (upper-case hex) of its UTF-8 bytes. */
export function uriEncode(s: string, keepSlash = false): string {
  const out = encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return keepSlash ? out.replace(/%2F/g, '/') : out;
}

/** Percent-decodes one URI component; `plusIsSpace` for query strings. Throws S3Error InvalidURI on bad encoding. */
export function uriDecode(s: string, plusIsSpace = false): string {
  try {
    return decodeURIComponent(plusIsSpace ? s.replace(/\+/g, ' ') : s);
  } catch {
    throw new S3Error('InvalidURI', `Couldn't parse the specified URI: bad percent-encoding in ${JSON.stringify(s.slice(0, 100))}`);
  }
}

/** The query string's parameters in order of appearance, decoded. */
export function parseQuery(rawQuery: string): [string, string][] {
  if (rawQuery === '') return [];
  return rawQuery
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const eq = p.indexOf('=');
      return eq === -1 ? [uriDecode(p, true), ''] : [uriDecode(p.slice(0, eq), true), uriDecode(p.slice(eq + 1), true)];
    });
}

export function splitUrl(url: string): { path: string; rawQuery: string } {
  const q = url.indexOf('?');
  return q === -1 ? { path: url, rawQuery: '' } : { path: url.slice(0, q), rawQuery: url.slice(q + 1) };
}

/** The canonical URI of S3: each path segment decoded once and re-encoded (no dot-segment normalisation). */
export function canonicalUri(path: string): string {
  if (path === '' || path === '/') return '/';
  return path
    .split('/')
    .map((seg) => uriEncode(uriDecode(seg)))
    .join('/');
}

export function canonicalQuery(params: [string, string][]): string {
  return params
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

/** Header values by lower-case name, repeated headers joined with ',', each value trimmed and its inner whitespace runs collapsed. */
export function headerMap(rawHeaders: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const value = rawHeaders[i + 1]!.trim().replace(/\s+/g, ' ');
    const prev = m.get(name);
    m.set(name, prev === undefined ? value : `${prev},${value}`);
  }
  return m;
}

export function canonicalRequest(method: string, path: string, query: [string, string][], headers: Map<string, string>, signedHeaders: string[], payloadHash: string): string {
  const canonHeaders = signedHeaders.map((h) => `${h}:${headers.get(h) ?? ''}\n`).join('');
  return [method, canonicalUri(path), canonicalQuery(query), canonHeaders, signedHeaders.join(';'), payloadHash].join('\n');
}

export function stringToSign(amzDate: string, scope: string, canonicalRequestText: string): string {
  return `${ALGORITHM}\n${amzDate}\n${scope}\n${sha256Hex(canonicalRequestText)}`;
}

export function signatureHex(key: Buffer, toSign: string): string {
  return createHmac('sha256', key).update(toSign, 'utf8').digest('hex');
}

/** Constant-time comparison of two hex signatures. */
export function signaturesEqual(a: string, b: string): boolean {
  const ba = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  return ba.length === bb.length && timingSafeEqual(ba, bb);
}

/** 20130524T000000Z -> ms since the epoch, or undefined. */
export function parseAmzDate(s: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (m === null) return undefined;
  const ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  return Number.isNaN(ms) ? undefined : ms;
}

function toAmzDate(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

interface ParsedAuth {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

function parseCredential(credential: string, malformed: (why: string) => S3Error): Omit<ParsedAuth, 'signedHeaders' | 'signature'> {
  const parts = credential.split('/');
  if (parts.length !== 5 || parts[4] !== 'aws4_request' || !/^\d{8}$/.test(parts[1]!) || parts[0] === '') {
    throw malformed(`the Credential must be ACCESSKEY/YYYYMMDD/REGION/s3/aws4_request, got ${JSON.stringify(credential.slice(0, 200))}`);
  }
  if (parts[3] !== 's3') throw malformed(`the credential scope names service ${JSON.stringify(parts[3])}, expected s3`);
  return { accessKeyId: parts[0]!, date: parts[1]!, region: parts[2]!, service: parts[3] };
}

function parseSignedHeaders(s: string, malformed: (why: string) => S3Error): string[] {
  const list = s.split(';');
  if (list.some((h) => !/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(h))) throw malformed('SignedHeaders must be lower-case header names separated by ;');
  if (!list.includes('host')) throw malformed('SignedHeaders must include host');
  return list;
}

function parseAuthorizationHeader(value: string): ParsedAuth {
  const malformed = (why: string): S3Error => new S3Error('AuthorizationHeaderMalformed', `The authorization header is malformed; ${why}`);
  if (value.startsWith('AWS ')) throw new S3Error('InvalidRequest', 'Signature Version 2 is not supported; sign requests with AWS4-HMAC-SHA256 (Signature Version 4)');
  if (!value.startsWith(`${ALGORITHM} `)) throw malformed(`the algorithm must be ${ALGORITHM}`);
  const fields = new Map<string, string>();
  for (const part of value.slice(ALGORITHM.length + 1).split(',')) {
    const p = part.trim();
    const eq = p.indexOf('=');
    if (eq <= 0) throw malformed(`cannot parse ${JSON.stringify(p.slice(0, 100))}`);
    fields.set(p.slice(0, eq), p.slice(eq + 1));
  }
  const credential = fields.get('Credential');
  const signed = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (credential === undefined || signed === undefined || signature === undefined) throw malformed('Credential, SignedHeaders and Signature are required');
  if (!/^[0-9a-f]{64}$/.test(signature)) throw malformed('the Signature must be 64 lower-case hex digits');
  return { ...parseCredential(credential, malformed), signedHeaders: parseSignedHeaders(signed, malformed), signature };
}

/**
 * Verifies a request's SigV4 signature. Returns the auth context, or throws S3Error (AccessDenied when the
 * request is not signed at all, InvalidAccessKeyId, SignatureDoesNotMatch, RequestTimeTooSkewed, ...).
 */
export function verifySigV4(req: SigV4Request, options: VerifyOptions): AuthContext {
  const headers = headerMap(req.rawHeaders);
  const { path, rawQuery } = splitUrl(req.url);
  const query = parseQuery(rawQuery);
  const maxSkewMs = options.maxSkewMs ?? 15 * 60_000;
  const authorization = headers.get('authorization');
  const presigned = query.some(([k]) => k === 'X-Amz-Signature');
  let parsed: ParsedAuth;
  let amzDate: string;
  let payloadHash: string;
  let signedQuery = query;
  if (authorization !== undefined) {
    if (presigned) throw new S3Error('InvalidArgument', 'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified');
    parsed = parseAuthorizationHeader(authorization);
    const xAmzDate = headers.get('x-amz-date');
    const httpDate = headers.get('date');
    if (xAmzDate !== undefined) amzDate = xAmzDate;
    else if (httpDate !== undefined && !Number.isNaN(Date.parse(httpDate))) amzDate = toAmzDate(Date.parse(httpDate));
    else throw new S3Error('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
    const sha = headers.get('x-amz-content-sha256');
    if (sha === undefined) throw new S3Error('InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
    if (sha !== UNSIGNED_PAYLOAD && !streamingModes.has(sha) && !/^[0-9a-f]{64}$/.test(sha)) {
      throw new S3Error('InvalidArgument', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER) or a valid sha256 value.');
    }
    payloadHash = sha;
  } else if (presigned) {
    const q = new Map(query);
    const malformed = (why: string): S3Error => new S3Error('AuthorizationQueryParametersError', `Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters; ${why}`);
    if (q.get('X-Amz-Algorithm') !== ALGORITHM) throw malformed(`X-Amz-Algorithm must be ${ALGORITHM}`);
    const credential = q.get('X-Amz-Credential');
    const signed = q.get('X-Amz-SignedHeaders');
    const signature = q.get('X-Amz-Signature') ?? '';
    const date = q.get('X-Amz-Date');
    const expires = q.get('X-Amz-Expires');
    if (credential === undefined || signed === undefined || date === undefined || expires === undefined) throw malformed('a parameter is missing');
    if (!/^[0-9a-f]{64}$/.test(signature)) throw malformed('X-Amz-Signature must be 64 lower-case hex digits');
    const expiresS = /^\d{1,7}$/.test(expires) ? Number(expires) : NaN;
    if (!(expiresS >= 1 && expiresS <= MAX_PRESIGN_EXPIRES_S)) throw malformed(`X-Amz-Expires must be between 1 and ${MAX_PRESIGN_EXPIRES_S} seconds`);
    parsed = { ...parseCredential(credential, malformed), signedHeaders: parseSignedHeaders(signed, malformed), signature };
    amzDate = date;
    const signedAt = parseAmzDate(date);
    if (signedAt !== undefined && options.nowMs > signedAt + expiresS * 1000) throw new S3Error('AccessDenied', 'Request has expired');
    payloadHash = headers.get('x-amz-content-sha256') ?? UNSIGNED_PAYLOAD;
    signedQuery = query.filter(([k]) => k !== 'X-Amz-Signature');
  } else {
    throw new S3Error('AccessDenied', 'Access Denied: the request is not signed (anonymous access is not allowed)');
  }

  const signedAt = parseAmzDate(amzDate);
  if (signedAt === undefined) throw new S3Error('AccessDenied', `the request date ${JSON.stringify(amzDate.slice(0, 40))} is not in the ISO 8601 basic format YYYYMMDD'T'HHMMSS'Z'`);
  if (amzDate.slice(0, 8) !== parsed.date) {
    throw new S3Error(presigned ? 'AuthorizationQueryParametersError' : 'AuthorizationHeaderMalformed', `the credential date ${parsed.date} does not match the request date ${amzDate.slice(0, 8)}`);
  }
  if (Math.abs(options.nowMs - signedAt) > maxSkewMs && !(presigned && signedAt < options.nowMs)) {
    throw new S3Error('RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.', {
      RequestTime: amzDate,
      ServerTime: new Date(options.nowMs).toISOString(),
      MaxAllowedSkewMilliseconds: String(maxSkewMs),
    });
  }
  for (const h of parsed.signedHeaders) {
    if (!headers.has(h)) throw new S3Error('AccessDenied', `There were headers present in the SignedHeaders list which were not in the request: ${h}`);
  }
  const secret = options.secretFor(parsed.accessKeyId);
  if (secret === undefined) throw new S3Error('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', { AWSAccessKeyId: parsed.accessKeyId });

  const scope = `${parsed.date}/${parsed.region}/${parsed.service}/aws4_request`;
  const canonical = canonicalRequest(req.method, path, signedQuery, headers, parsed.signedHeaders, payloadHash);
  const toSign = stringToSign(amzDate, scope, canonical);
  const key = signingKey(secret, parsed.date, parsed.region, parsed.service);
  const expected = signatureHex(key, toSign);
  if (!signaturesEqual(expected, parsed.signature)) {
    throw new S3Error('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.', {
      AWSAccessKeyId: parsed.accessKeyId,
      StringToSign: toSign,
      SignatureProvided: parsed.signature,
      CanonicalRequest: canonical,
    });
  }
  return { accessKeyId: parsed.accessKeyId, payloadHash, amzDate, scope, signingKey: key, signature: parsed.signature, presigned };
}

/** The string a chunk signature signs (STREAMING-AWS4-HMAC-SHA256-PAYLOAD). */
export function chunkStringToSign(amzDate: string, scope: string, previousSignature: string, chunkSha256Hex: string): string {
  return `AWS4-HMAC-SHA256-PAYLOAD\n${amzDate}\n${scope}\n${previousSignature}\n${EMPTY_SHA256}\n${chunkSha256Hex}`;
}

/** The string the trailer signature signs (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER). */
export function trailerStringToSign(amzDate: string, scope: string, previousSignature: string, trailerText: string): string {
  return `AWS4-HMAC-SHA256-TRAILER\n${amzDate}\n${scope}\n${previousSignature}\n${sha256Hex(trailerText)}`;
}

export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
