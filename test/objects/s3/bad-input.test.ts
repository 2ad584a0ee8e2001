// Hostile and broken requests against the S3 API: each gets a clear S3 XML error, nothing partial is
// ever visible, an existing object is never replaced by a failed upload, and the server keeps serving.
// Requests are signed here with the SigV4 primitives that the AWS vectors (sigv4.test.ts) check.
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { createChecksummer } from '../../../src/objects/s3/checksums.js';
import { encodeAwsChunkedUnsigned } from '../../../src/objects/s3/aws-chunked.js';
import { canonicalRequest, headerMap, sha256Hex, signatureHex, signingKey, stringToSign } from '../../../src/objects/s3/sigv4.js';
import { ACCESS_KEY, SECRET_KEY, startS3Server, type S3TestServer } from './s3-test-server.js';
import { MemoryObjectService } from './memory-object-service.js';

function amzNow(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/** Headers of a SigV4-signed request (header auth), `payloadHash` as x-amz-content-sha256. */
function sign(port: number, method: string, path: string, payloadHash: string, extra: Record<string, string> = {}): Record<string, string> {
  const amzDate = amzNow();
  const date = amzDate.slice(0, 8);
  const h: Record<string, string> = { host: `127.0.0.1:${port}`, 'x-amz-date': amzDate, 'x-amz-content-sha256': payloadHash, ...extra };
  const names = Object.keys(h).map((k) => k.toLowerCase()).sort();
  const [p, q = ''] = path.split('?');
  const query = q === '' ? [] : q.split('&').map((kv) => kv.split('=').map(decodeURIComponent) as [string, string]).map(([k, v]) => [k, v ?? ''] as [string, string]);
  const canon = canonicalRequest(method, p!, query, headerMap(Object.entries(h).flat()), names, payloadHash);
  const scope = `${date}/us-east-1/s3/aws4_request`;
  const sig = signatureHex(signingKey(SECRET_KEY, date, 'us-east-1', 's3'), stringToSign(amzDate, scope, canon));
  const { host: _host, ...rest } = h;
  return { ...rest, authorization: `AWS4-HMAC-SHA256 Credential=${ACCESS_KEY}/${scope}, SignedHeaders=${names.join(';')}, Signature=${sig}` };
}

async function send(s: S3TestServer, method: string, path: string, body: Buffer | undefined, headers: Record<string, string>): Promise<{ status: number; code: string | undefined; text: string }> {
  const res = await fetch(`${s.url}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  return { status: res.status, code: /<Code>([^<]+)<\/Code>/.exec(text)?.[1], text };
}

async function exists(s: S3TestServer, key: string): Promise<boolean> {
  try {
    await s.client().send(new HeadObjectCommand({ Bucket: 'bad', Key: key }));
    return true;
  } catch {
    return false;
  }
}

async function setup(t: TestContext): Promise<{ s: S3TestServer; service: MemoryObjectService }> {
  const service = new MemoryObjectService();
  const s = await startS3Server(t, service);
  await s.client().send(new CreateBucketCommand({ Bucket: 'bad' }));
  await s.client().send(new PutObjectCommand({ Bucket: 'bad', Key: 'keep', Body: 'original' }));
  return { s, service };
}

const b64 = (alg: 'crc32' | 'crc32c', data: Buffer): string => {
  const c = createChecksummer(alg);
  c.update(data);
  return c.digest().toString('base64');
};

describe('S3 API bad input', () => {
  it('refuses unsigned, forged and wrongly dated requests with S3 XML errors', async (t) => {
    const { s } = await setup(t);
    const anon = await send(s, 'GET', '/bad/keep', undefined, {});
    assert.deepEqual([anon.status, anon.code], [403, 'AccessDenied']);
    assert.match(anon.text, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<Error><Code>AccessDenied<\/Code><Message>.+<\/Message>.*<Resource>\/bad\/keep<\/Resource><RequestId>[0-9A-F]+<\/RequestId><\/Error>$/);
    const headers = sign(s.port, 'GET', '/bad/keep', 'UNSIGNED-PAYLOAD');
    assert.equal((await send(s, 'GET', '/bad/keep', undefined, headers)).text, 'original');
    const forged = { ...headers, authorization: headers.authorization!.replace(/Signature=(.)/, (_m, c: string) => `Signature=${c === 'a' ? 'b' : 'a'}`) };
    const bad = await send(s, 'GET', '/bad/keep', undefined, forged);
    assert.deepEqual([bad.status, bad.code], [403, 'SignatureDoesNotMatch']);
    assert.match(bad.text, /<StringToSign>AWS4-HMAC-SHA256\n/);
    const otherPath = await send(s, 'GET', '/bad/keep2', undefined, headers);
    assert.equal(otherPath.code, 'SignatureDoesNotMatch');
    const old = { ...headers, 'x-amz-date': '20200101T000000Z' };
    assert.equal((await send(s, 'GET', '/bad/keep', undefined, old)).code, 'AuthorizationHeaderMalformed');
    const v2 = await send(s, 'GET', '/bad/keep', undefined, { authorization: 'AWS AKID:c2lnbmF0dXJl', date: new Date().toUTCString() });
    assert.deepEqual([v2.status, v2.code], [400, 'InvalidRequest']);
    const head = await fetch(`${s.url}/bad/keep`, { method: 'HEAD', headers: forged });
    assert.deepEqual([head.status, head.headers.get('x-amz-error-code')], [403, 'SignatureDoesNotMatch']);
    // Other routes of the app are untouched by the S3 catch-all.
    assert.equal((await fetch(`${s.url}/healthz`)).status, 200);
  });

  it('refuses bodies that do not match their digests or checksums, storing nothing and keeping the old object', async (t) => {
    const { s, service } = await setup(t);
    const data = Buffer.from('new bytes that must never be visible');
    const cases: [string, Record<string, string>, Buffer, string][] = [
      ['Content-MD5 of other bytes', { 'content-md5': Buffer.alloc(16, 1).toString('base64') }, data, 'BadDigest'],
      ['Content-MD5 not base64 of 16 bytes', { 'content-md5': 'abc' }, data, 'InvalidDigest'],
      ['x-amz-checksum-crc32 of other bytes', { 'x-amz-checksum-crc32': b64('crc32', Buffer.from('x')) }, data, 'BadDigest'],
      ['x-amz-checksum-crc32c malformed', { 'x-amz-checksum-crc32c': '!!' }, data, 'InvalidRequest'],
    ];
    for (const [what, extra, body, code] of cases) {
      const r = await send(s, 'PUT', '/bad/keep', body, sign(s.port, 'PUT', '/bad/keep', 'UNSIGNED-PAYLOAD', extra));
      assert.equal(r.code, code, what);
    }
    const sha = await send(s, 'PUT', '/bad/keep', data, sign(s.port, 'PUT', '/bad/keep', sha256Hex('other')));
    assert.equal(sha.code, 'XAmzContentSHA256Mismatch');
    // aws-chunked with a wrong CRC trailer, with a short body, with a missing trailer.
    const chunked = (body: Buffer, extra: Record<string, string>): Record<string, string> =>
      sign(s.port, 'PUT', '/bad/keep', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', { 'content-encoding': 'aws-chunked', 'x-amz-trailer': 'x-amz-checksum-crc32c', ...extra });
    const wrongCrc = encodeAwsChunkedUnsigned(data, 8, { 'x-amz-checksum-crc32c': b64('crc32c', Buffer.from('x')) });
    assert.equal((await send(s, 'PUT', '/bad/keep', wrongCrc, chunked(wrongCrc, { 'x-amz-decoded-content-length': String(data.length) }))).code, 'BadDigest');
    const rightCrc = encodeAwsChunkedUnsigned(data, 8, { 'x-amz-checksum-crc32c': b64('crc32c', data) });
    const short = await send(s, 'PUT', '/bad/keep', rightCrc, chunked(rightCrc, { 'x-amz-decoded-content-length': String(data.length + 10) }));
    assert.deepEqual([short.status, short.code], [400, 'IncompleteBody']);
    const noTrailer = encodeAwsChunkedUnsigned(data, 8);
    assert.equal((await send(s, 'PUT', '/bad/keep', noTrailer, chunked(noTrailer, { 'x-amz-decoded-content-length': String(data.length) }))).code, 'InvalidRequest');
    const noLength = await send(s, 'PUT', '/bad/keep', rightCrc, chunked(rightCrc, {}));
    assert.equal(noLength.code, 'MissingContentLength');
    // Signed chunks with a forged chunk signature.
    const forgedChunks = Buffer.from(`5;chunk-signature=${'0'.repeat(64)}\r\nhello\r\n0;chunk-signature=${'0'.repeat(64)}\r\n\r\n`);
    const signedHeaders = sign(s.port, 'PUT', '/bad/keep', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': '5' });
    assert.equal((await send(s, 'PUT', '/bad/keep', forgedChunks, signedHeaders)).code, 'SignatureDoesNotMatch');

    const got = await s.client().send(new GetObjectCommand({ Bucket: 'bad', Key: 'keep' }));
    assert.equal(await got.Body!.transformToString(), 'original');
    assert.ok(service.bodyFailures >= 5);
    // The same valid aws-chunked body goes through.
    const ok = await send(s, 'PUT', '/bad/fresh', rightCrc, sign(s.port, 'PUT', '/bad/fresh', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', { 'content-encoding': 'aws-chunked', 'x-amz-trailer': 'x-amz-checksum-crc32c', 'x-amz-decoded-content-length': String(data.length) }));
    assert.equal(ok.status, 200, ok.text);
  });

  it('a client that disconnects mid-body leaves no object, partial or whole', async (t) => {
    const { s, service } = await setup(t);
    const total = 4 * 1024 * 1024;
    for (const [key, mode] of [['cut-plain', 'UNSIGNED-PAYLOAD'], ['cut-chunked', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER']] as const) {
      const chunkedMode = mode !== 'UNSIGNED-PAYLOAD';
      const data = Buffer.alloc(total, 7);
      const body = chunkedMode ? encodeAwsChunkedUnsigned(data, 65536, { 'x-amz-checksum-crc32': b64('crc32', data) }) : data;
      const extra: Record<string, string> = chunkedMode ? { 'content-encoding': 'aws-chunked', 'x-amz-trailer': 'x-amz-checksum-crc32', 'x-amz-decoded-content-length': String(total) } : {};
      const headers = { ...sign(s.port, 'PUT', `/bad/${key}`, mode, extra), 'content-length': String(body.length) };
      const before = service.bodyFailures;
      const sock = connect(s.port, '127.0.0.1');
      await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
      sock.on('error', () => undefined);
      const head = [`PUT /bad/${key} HTTP/1.1`, `host: 127.0.0.1:${s.port}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n');
      sock.write(head);
      sock.write(body.subarray(0, Math.floor(body.length / 3)));
      await sleep(50);
      sock.destroy();
      for (let i = 0; i < 200 && service.bodyFailures === before; i++) await sleep(25);
      assert.equal(service.bodyFailures, before + 1, `${key}: the service saw the body fail`);
      assert.equal(await exists(s, key), false, key);
    }
    const list = await s.client().send(new ListObjectsV2Command({ Bucket: 'bad' }));
    assert.deepEqual(list.Contents?.map((o) => o.Key), ['keep']);
  });

  it('answers malformed requests with their S3 codes', async (t) => {
    const { s } = await setup(t);
    const post = (path: string, body: string): Promise<{ status: number; code: string | undefined }> => send(s, 'POST', path, Buffer.from(body), sign(s.port, 'POST', path, sha256Hex(body)));
    const mpu = await send(s, 'POST', '/bad/mpu?uploads', undefined, sign(s.port, 'POST', '/bad/mpu?uploads', sha256Hex('')));
    const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(mpu.text)![1]!;
    for (const xml of ['<CompleteMultipartUpload><Part>', '<!DOCTYPE x [<!ENTITY a "b">]><CompleteMultipartUpload/>', '<Other/>', '<CompleteMultipartUpload></CompleteMultipartUpload>', '<CompleteMultipartUpload><Part><PartNumber>0</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>']) {
      assert.equal((await post(`/bad/mpu?uploadId=${uploadId}`, xml)).code, 'MalformedXML', xml);
    }
    assert.equal((await post('/bad?delete', '<Delete></Delete>')).code, 'MalformedXML');
    const badPart = await send(s, 'PUT', `/bad/mpu?partNumber=10001&uploadId=${uploadId}`, Buffer.from('x'), sign(s.port, 'PUT', `/bad/mpu?partNumber=10001&uploadId=${uploadId}`, 'UNSIGNED-PAYLOAD'));
    assert.equal(badPart.code, 'InvalidArgument');
    const longKey = `/bad/${'k'.repeat(1100)}`;
    assert.equal((await send(s, 'PUT', longKey, Buffer.from('x'), sign(s.port, 'PUT', longKey, 'UNSIGNED-PAYLOAD'))).code, 'KeyTooLongError');
    const tooBig = await send(s, 'GET', '/bad?list-type=2&max-keys=abc', undefined, sign(s.port, 'GET', '/bad?list-type=2&max-keys=abc', sha256Hex('')));
    assert.equal(tooBig.code, 'InvalidArgument');
    const badToken = await send(s, 'GET', '/bad?list-type=2&continuation-token=%25%25', undefined, sign(s.port, 'GET', '/bad?list-type=2&continuation-token=%25%25', sha256Hex('')));
    assert.equal(badToken.code, 'InvalidArgument');
    assert.equal((await send(s, 'GET', '/bad?acl', undefined, sign(s.port, 'GET', '/bad?acl', sha256Hex('')))).code, 'NotImplemented');
    assert.equal((await send(s, 'POST', '/', undefined, sign(s.port, 'POST', '/', sha256Hex('')))).code, 'MethodNotAllowed');
    assert.equal((await send(s, 'GET', '/bad/keep', undefined, sign(s.port, 'GET', '/bad/keep', 'not-a-hash'))).code, 'InvalidArgument');
  });
});
