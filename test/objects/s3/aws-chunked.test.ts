// aws-chunked decoding: AWS's published chunked-upload example (signed chunks), and properties over
// random bodies, chunk sizes and split points (fast-check): the decoded bytes are the original ones
// wherever the network cuts the stream; a changed byte, a bad signature or a cut body fails the stream.
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AwsChunkedDecoder, encodeAwsChunkedUnsigned, type AwsChunkedOptions } from '../../../src/objects/s3/aws-chunked.js';
import { createChecksummer } from '../../../src/objects/s3/checksums.js';
import { S3Error } from '../../../src/objects/s3/s3-error.js';
import { chunkStringToSign, sha256Hex, signingKey } from '../../../src/objects/s3/sigv4.js';

async function decode(pieces: Buffer[], options: AwsChunkedOptions): Promise<{ data: Buffer; trailers: Map<string, string> }> {
  const d = new AwsChunkedDecoder(options);
  const out: Buffer[] = [];
  d.on('data', (c: Buffer) => out.push(c));
  const done = new Promise<void>((resolve, reject) => {
    d.on('end', resolve);
    d.on('error', reject);
  });
  for (const p of pieces) d.write(p);
  d.end();
  await done;
  return { data: Buffer.concat(out), trailers: d.trailers };
}

function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    pieces.push(buf.subarray(prev, p));
    prev = p;
  }
  pieces.push(buf.subarray(prev));
  return pieces.filter((p) => p.length > 0);
}

async function rejects(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof S3Error && e.code === code);
}

// The example of "Signature calculations for the Authorization header: transferring payload in multiple chunks".
const key = signingKey('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', '20130524', 'us-east-1', 's3');
const signing = { signingKey: key, amzDate: '20130524T000000Z', scope: '20130524/us-east-1/s3/aws4_request', seedSignature: '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9' };
const documented = [
  { size: 65536, signature: 'ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648' },
  { size: 1024, signature: '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497' },
  { size: 0, signature: 'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9' },
];
function documentedBody(): Buffer {
  const parts: Buffer[] = [];
  for (const c of documented) {
    parts.push(Buffer.from(`${c.size.toString(16)};chunk-signature=${c.signature}\r\n`), Buffer.alloc(c.size, 'a'), Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** Signs chunks the way a client does (chained signatures), for random bodies. */
function signedBody(data: Buffer, chunkSize: number): Buffer {
  const parts: Buffer[] = [];
  let prev = signing.seedSignature;
  const sizes: number[] = [];
  for (let off = 0; off < data.length; off += chunkSize) sizes.push(Math.min(chunkSize, data.length - off));
  sizes.push(0);
  let off = 0;
  for (const size of sizes) {
    const chunk = data.subarray(off, off + size);
    off += size;
    const sig = createHmac('sha256', key).update(chunkStringToSign(signing.amzDate, signing.scope, prev, sha256Hex(chunk))).digest('hex');
    prev = sig;
    parts.push(Buffer.from(`${size.toString(16)};chunk-signature=${sig}\r\n`), chunk, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

describe('aws-chunked decoder', () => {
  it('decodes AWS\'s documented signed example, cut anywhere, and refuses it with any byte changed', async () => {
    const body = documentedBody();
    assert.equal(body.length, 66824); // the example's Content-Length
    const whole = await decode([body], { signing, trailer: false });
    assert.ok(whole.data.equals(Buffer.alloc(66560, 'a')));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(), { maxLength: 6 }), async (cuts) => {
        assert.ok((await decode(splitAt(body, cuts), { signing, trailer: false })).data.equals(whole.data));
      }),
      { numRuns: 50 },
    );
    const changed = Buffer.from(body);
    changed[1000] = 'b'.charCodeAt(0);
    await rejects(decode([changed], { signing, trailer: false }), 'SignatureDoesNotMatch');
    await rejects(decode([body], { signing: { ...signing, seedSignature: '0'.repeat(64) }, trailer: false }), 'SignatureDoesNotMatch');
  });

  it('round-trips random bodies, chunk sizes and split points, signed and unsigned with trailers', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 5000 }), fc.integer({ min: 1, max: 1500 }), fc.array(fc.nat(), { maxLength: 8 }), async (bytes, chunkSize, cuts) => {
        const data = Buffer.from(bytes);
        const signed = await decode(splitAt(signedBody(data, chunkSize), cuts), { signing, trailer: false });
        assert.ok(signed.data.equals(data));
        const crc = createChecksummer('crc32c');
        crc.update(data);
        const trailer = { 'x-amz-checksum-crc32c': crc.digest().toString('base64') };
        const unsigned = await decode(splitAt(encodeAwsChunkedUnsigned(data, chunkSize, trailer), cuts), { trailer: true });
        assert.ok(unsigned.data.equals(data));
        assert.equal(unsigned.trailers.get('x-amz-checksum-crc32c'), trailer['x-amz-checksum-crc32c']);
      }),
      { numRuns: 150 },
    );
  });

  it('fails a cut, malformed or oversized framing with IncompleteBody', async () => {
    const data = Buffer.from('hello, chunked world');
    const body = encodeAwsChunkedUnsigned(data, 7);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: body.length - 1 }), async (cut) => {
        await rejects(decode([body.subarray(0, cut)], { trailer: true }), 'IncompleteBody');
      }),
    );
    const bad: [string, string][] = [
      ['size not hex', 'zz\r\nabc\r\n0\r\n\r\n'],
      ['size too small for the data', '2\r\nabc\r\n0\r\n\r\n'],
      ['LF without CR', '3\nabc\r\n0\r\n\r\n'],
      ['unknown extension', '3;foo=bar\r\nabc\r\n0\r\n\r\n'],
      ['data after the end', '3\r\nabc\r\n0\r\n\r\nextra'],
      ['trailer without colon', '3\r\nabc\r\n0\r\nnocolon\r\n\r\n'],
      ['huge line', `${'0'.repeat(5000)}\r\n`],
    ];
    for (const [what, text] of bad) await rejects(decode([Buffer.from(text)], { trailer: true }), 'IncompleteBody').catch((e: unknown) => assert.fail(`${what}: ${String(e)}`));
    await rejects(decode([Buffer.from('3\r\nabc\r\n0\r\n\r\n')], { signing, trailer: false }), 'IncompleteBody');
    await rejects(decode([Buffer.from('3\r\nabc\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n')], { trailer: false }), 'IncompleteBody');
  });
});
