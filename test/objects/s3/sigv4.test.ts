// SigV4 verification against the examples AWS publishes in the S3 API reference ("Signature calculations
// for the Authorization header: transferring payload in a single chunk", "... in multiple chunks",
// "Authenticating requests: using query parameters"): access key AKIAIOSFODNN7EXAMPLE, 2013-05-24,
// us-east-1. Each request is written out from the documented example; the expected signatures are the
// documented ones.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { S3Error } from '../../../src/objects/s3/s3-error.js';
import { canonicalUri, uriEncode, verifySigV4, type SigV4Request } from '../../../src/objects/s3/sigv4.js';

const AK = 'AKIAIOSFODNN7EXAMPLE';
const SK = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const NOW = Date.UTC(2013, 4, 24, 0, 5, 0);
const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const verify = (req: SigV4Request, nowMs = NOW) => verifySigV4(req, { secretFor: (id) => (id === AK ? SK : undefined), nowMs });

function auth(signedHeaders: string, signature: string, scopeDate = '20130524'): string {
  return `AWS4-HMAC-SHA256 Credential=${AK}/${scopeDate}/us-east-1/s3/aws4_request,SignedHeaders=${signedHeaders},Signature=${signature}`;
}

function headers(h: Record<string, string>): string[] {
  return Object.entries(h).flat();
}

const getObject: SigV4Request = {
  method: 'GET',
  url: '/test.txt',
  rawHeaders: headers({
    Host: 'examplebucket.s3.amazonaws.com',
    Authorization: auth('host;range;x-amz-content-sha256;x-amz-date', 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41'),
    Range: 'bytes=0-9',
    'x-amz-content-sha256': EMPTY,
    'x-amz-date': '20130524T000000Z',
  }),
};

const putObject: SigV4Request = {
  method: 'PUT',
  url: '/test%24file.text',
  rawHeaders: headers({
    Host: 'examplebucket.s3.amazonaws.com',
    Date: 'Fri, 24 May 2013 00:00:00 GMT',
    Authorization: auth('date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class', '98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd'),
    'x-amz-date': '20130524T000000Z',
    'x-amz-storage-class': 'REDUCED_REDUNDANCY',
    'x-amz-content-sha256': '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072',
  }),
};

const getLifecycle: SigV4Request = {
  method: 'GET',
  url: '/?lifecycle',
  rawHeaders: headers({
    Host: 'examplebucket.s3.amazonaws.com',
    Authorization: auth('host;x-amz-content-sha256;x-amz-date', 'fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543'),
    'x-amz-date': '20130524T000000Z',
    'x-amz-content-sha256': EMPTY,
  }),
};

const listObjects: SigV4Request = {
  method: 'GET',
  url: '/?max-keys=2&prefix=J',
  rawHeaders: headers({
    Host: 'examplebucket.s3.amazonaws.com',
    Authorization: auth('host;x-amz-content-sha256;x-amz-date', '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7'),
    'x-amz-date': '20130524T000000Z',
    'x-amz-content-sha256': EMPTY,
  }),
};

/** The seed request of the chunked-upload example (STREAMING-AWS4-HMAC-SHA256-PAYLOAD). */
export const chunkedPut: SigV4Request = {
  method: 'PUT',
  url: '/examplebucket/chunkObject.txt',
  rawHeaders: headers({
    Host: 's3.amazonaws.com',
    'x-amz-date': '20130524T000000Z',
    'x-amz-storage-class': 'REDUCED_REDUNDANCY',
    Authorization: auth('content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class', '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9'),
    'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
    'Content-Encoding': 'aws-chunked',
    'x-amz-decoded-content-length': '66560',
    'Content-Length': '66824',
  }),
};

const presigned: SigV4Request = {
  method: 'GET',
  url:
    '/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404',
  rawHeaders: headers({ Host: 'examplebucket.s3.amazonaws.com' }),
};

function expectS3Error(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => e instanceof S3Error && e.code === code, `expected ${code}`);
}

describe('SigV4 verification (AWS published examples)', () => {
  it('accepts each documented request with its documented signature', () => {
    for (const req of [getObject, putObject, getLifecycle, listObjects, chunkedPut, presigned]) {
      const ctx = verify(req);
      assert.equal(ctx.accessKeyId, AK);
      assert.equal(ctx.scope, '20130524/us-east-1/s3/aws4_request');
    }
    assert.equal(verify(chunkedPut).signature, '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9');
    assert.equal(verify(presigned).payloadHash, 'UNSIGNED-PAYLOAD');
  });

  it('refuses any change to a signed part of the request', () => {
    const tamper = (req: SigV4Request, f: (r: SigV4Request) => SigV4Request): void => expectS3Error(() => verify(f(req)), 'SignatureDoesNotMatch');
    tamper(getObject, (r) => ({ ...r, method: 'HEAD' }));
    tamper(getObject, (r) => ({ ...r, url: '/test.txu' }));
    tamper(getObject, (r) => ({ ...r, rawHeaders: r.rawHeaders.map((v) => (v === 'bytes=0-9' ? 'bytes=0-10' : v)) }));
    tamper(listObjects, (r) => ({ ...r, url: '/?max-keys=3&prefix=J' }));
    tamper(presigned, (r) => ({ ...r, url: r.url.replace('test.txt', 'test.txT') }));
    tamper(putObject, (r) => ({ ...r, rawHeaders: r.rawHeaders.map((v) => (v === 'REDUCED_REDUNDANCY' ? 'STANDARD' : v)) }));
  });

  it('answers unknown keys, skewed clocks, expired URLs and malformed headers with their S3 codes', () => {
    expectS3Error(() => verifySigV4(getObject, { secretFor: () => undefined, nowMs: NOW }), 'InvalidAccessKeyId');
    const signedAt = Date.UTC(2013, 4, 24);
    expectS3Error(() => verify(getObject, signedAt + 16 * 60_000), 'RequestTimeTooSkewed');
    expectS3Error(() => verify(getObject, signedAt - 16 * 60_000), 'RequestTimeTooSkewed');
    assert.equal(verify(getObject, signedAt + 14 * 60_000).accessKeyId, AK);
    assert.equal(verify(getObject, signedAt - 14 * 60_000).accessKeyId, AK);
    assert.equal(verify(presigned, NOW + 86_000_000).accessKeyId, AK);
    expectS3Error(() => verify(presigned, NOW + 86_401_000), 'AccessDenied');
    expectS3Error(() => verify({ ...getObject, rawHeaders: headers({ Host: 'h' }) }), 'AccessDenied');
    const withAuth = (value: string): SigV4Request => ({ ...getObject, rawHeaders: headers({ Host: 'h', Authorization: value, 'x-amz-date': '20130524T000000Z', 'x-amz-content-sha256': EMPTY }) });
    expectS3Error(() => verify(withAuth('AWS AKIAIOSFODNN7EXAMPLE:abc')), 'InvalidRequest');
    expectS3Error(() => verify(withAuth('AWS4-HMAC-SHA256 Credential=x')), 'AuthorizationHeaderMalformed');
    expectS3Error(() => verify(withAuth(auth('host', 'zz'))), 'AuthorizationHeaderMalformed');
    expectS3Error(() => verify(withAuth(auth('x-amz-date', EMPTY))), 'AuthorizationHeaderMalformed');
    expectS3Error(() => verify(withAuth(auth('host', EMPTY, '20130525'))), 'AuthorizationHeaderMalformed');
    expectS3Error(() => verify({ ...getObject, url: '/%ZZ' }), 'InvalidURI');
  });

  it('encodes canonical URIs as S3 does (each segment once, reserved characters as %XX)', () => {
    assert.equal(canonicalUri('/a%20b/c+d/%E2%82%AC/'), '/a%20b/c%2Bd/%E2%82%AC/');
    assert.equal(canonicalUri('/x/(1)*!'), '/x/%281%29%2A%21');
    assert.equal(uriEncode('a/b ~'), 'a%2Fb%20~');
    assert.equal(uriEncode('a/b', true), 'a/b');
  });
});
