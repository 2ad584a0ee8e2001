/**
 * The directory backend's read path (the GET hot path): one stage reading the open file, the replica's
 * checksum checked in its read loop with the last chunk held back, ranges, and the body read being the
 * version whose head was read even when a newer one replaces it meanwhile.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { createDirBackend, READ_BYTES } from '../../../src/objects/backends/dir-backend.js';
import { bodyCheckFor } from '../../../src/objects/store/streams.js';
import { tempDir } from '../../testkit/index.js';

async function backendWith(t: TestContext, body: Buffer): Promise<{ b: ReturnType<typeof createDirBackend>; crc32: string; file: string }> {
  const dir = await tempDir(t);
  const b = createDirBackend({ path: join(dir, 'backend') });
  await b.start();
  t.after(() => b.stop());
  let crc32 = '';
  await b.put('x/blob', Readable.from([body]), {
    digests: { sha256: false, md5: false, crc32: true },
    finish: (w) => {
      crc32 = w.crc32!;
      return JSON.stringify({ crc32 });
    },
  });
  return { b, crc32, file: join(dir, 'backend', 'blobs', 'x', 'blob~') };
}

/** Reads a stream to its end or error: the bytes received and the error. */
async function drain(r: Readable): Promise<{ bytes: Buffer; error?: Error }> {
  const chunks: Buffer[] = [];
  try {
    for await (const c of r) chunks.push(c as Buffer);
  } catch (err) {
    return { bytes: Buffer.concat(chunks), error: err as Error };
  }
  return { bytes: Buffer.concat(chunks) };
}

test('dir backend read: a checked whole read returns the bytes; a damaged one errors before its last bytes', async (t) => {
  const body = randomBytes(2 * READ_BYTES + 12345);
  const { b, crc32, file } = await backendWith(t, body);
  let mismatches = 0;
  const good = await b.get('x/blob', undefined, { check: (h) => (assert.equal(h.size, body.length), bodyCheckFor({ sha256: '', crc32 }, () => mismatches++)) });
  assert.equal(good.checked, true);
  const ok = await drain(good.body);
  assert.equal(ok.error, undefined);
  assert.ok(ok.bytes.equals(body));
  assert.equal(mismatches, 0);

  // One byte flipped in the middle of the body.
  const fh = await open(file, 'r+');
  await fh.write(Buffer.from([body[READ_BYTES + 7]! ^ 0x01]), 0, 1, READ_BYTES + 7);
  await fh.close();
  const bad = await drain((await b.get('x/blob', undefined, { check: () => bodyCheckFor({ sha256: '', crc32 }, () => mismatches++) })).body);
  assert.match(bad.error?.message ?? '', /checksum mismatch/);
  assert.equal(mismatches, 1);
  assert.ok(bad.bytes.length < body.length, `the reader got ${bad.bytes.length} of ${body.length} bytes: never the whole body`);
});

test('dir backend read: ranges, an empty blob, and the version whose head was read', async (t) => {
  const body = randomBytes(READ_BYTES + 1000);
  const { b } = await backendWith(t, body);
  const part = await drain((await b.get('x/blob', { start: READ_BYTES - 10, end: READ_BYTES + 99 })).body);
  assert.ok(part.bytes.equals(body.subarray(READ_BYTES - 10, READ_BYTES + 100)));

  // Opened (head read), then replaced by a newer blob before any byte is read: the old bytes come.
  const opened = await b.get('x/blob');
  const newer = randomBytes(5000);
  await b.put('x/blob', Readable.from([newer]), { finish: () => 'newer' });
  assert.ok((await drain(opened.body)).bytes.equals(body));
  const now = await b.get('x/blob');
  assert.equal(now.head.meta, 'newer');
  assert.ok((await drain(now.body)).bytes.equals(newer));

  await b.put('x/empty', Readable.from([]), { finish: () => 'e' });
  assert.equal((await drain((await b.get('x/empty')).body)).bytes.length, 0);
  // Opened and dropped unread: destroy closes the file (no error, nothing left pending).
  const dropped = await b.get('x/blob');
  dropped.body.destroy();
  await new Promise((res) => dropped.body.once('close', res));
});
