/** The contract every ObjectBackend meets: runBackendSuite({ newBackend }) for each implementation. */
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import type { ObjectBackend } from '../../../src/objects/backends/index.js';
import { FlotillaError } from '../../../src/core/errors.js';

export interface BackendSuiteOptions {
  /** A fresh, started backend; stopped by the suite. */
  newBackend: (t: { after: (fn: () => unknown) => void }) => Promise<ObjectBackend>;
}

async function readAll(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const put = (b: ObjectBackend, name: string, data: Buffer | Readable, meta = 'm', expectedSize?: number) =>
  b.put(name, Buffer.isBuffer(data) ? Readable.from([data]) : data, { finish: () => meta, ...(expectedSize !== undefined ? { expectedSize } : {}) });

export function runBackendSuite(opts: BackendSuiteOptions): void {
  test('put then get returns the bytes, the metadata and the digests', async (t) => {
    const b = await opts.newBackend(t);
    const data = randomBytes(300_000);
    const w = await b.put('p/0001/abc', Readable.from([data.subarray(0, 1000), data.subarray(1000)]), { finish: (x) => JSON.stringify(x) });
    assert.equal(w.size, data.length);
    assert.equal(w.sha256, createHash('sha256').update(data).digest('hex'));
    assert.equal(w.md5, createHash('md5').update(data).digest('hex'));
    const g = await b.get('p/0001/abc');
    assert.deepEqual(JSON.parse(g.head.meta), w);
    assert.ok((await readAll(g.body)).equals(data));
    assert.deepEqual(await b.head('p/0001/abc'), { size: data.length, meta: JSON.stringify(w) });
  });

  test('ranged get returns exactly the inclusive range; a range outside the body is refused', async (t) => {
    const b = await opts.newBackend(t);
    const data = randomBytes(10_000);
    await put(b, 'r/x', data);
    assert.ok((await readAll((await b.get('r/x', { start: 100, end: 199 })).body)).equals(data.subarray(100, 200)));
    assert.ok((await readAll((await b.get('r/x', { start: 9999, end: 9999 })).body)).equals(data.subarray(9999)));
    await assert.rejects(b.get('r/x', { start: 5, end: 10_000 }), (e: FlotillaError) => e.code === 'INVALID_ARGUMENT');
  });

  test('an empty body round-trips', async (t) => {
    const b = await opts.newBackend(t);
    await put(b, 'e/empty', Buffer.alloc(0), 'meta-of-empty');
    const g = await b.get('e/empty');
    assert.equal(g.head.size, 0);
    assert.equal(g.head.meta, 'meta-of-empty');
    assert.equal((await readAll(g.body)).length, 0);
  });

  test('metadata of any size up to the limit, with bodies shorter and longer than it, reads back exactly (and their first byte alone)', async (t) => {
    const b = await opts.newBackend(t);
    // Sizes around the directory backend's one-read tail (4 KiB with its 12-byte footer) and the 16 KiB limit.
    for (const metaLen of [0, 1, 4084, 4085, 4096, 9000, 16 * 1024]) {
      for (const bodyLen of [0, 1, 5, 5000]) {
        const meta = 'é'.repeat(metaLen >> 1) + 'm'.repeat(metaLen & 1);
        const body = randomBytes(bodyLen);
        const name = `m/${metaLen}-${bodyLen}`;
        await put(b, name, body, meta);
        assert.deepEqual(await b.head(name), { size: bodyLen, meta }, `head, meta ${metaLen} bytes, body ${bodyLen}`);
        const g = await b.get(name);
        assert.equal(g.head.meta, meta);
        assert.ok((await readAll(g.body)).equals(body), `body, meta ${metaLen} bytes, body ${bodyLen}`);
        if (bodyLen > 0) assert.ok((await readAll((await b.get(name, { start: 0, end: 0 })).body)).equals(body.subarray(0, 1)), `first byte, meta ${metaLen} bytes`);
      }
    }
  });

  test('missing blobs: get is NOT_FOUND, head undefined, delete succeeds', async (t) => {
    const b = await opts.newBackend(t);
    await assert.rejects(b.get('no/such'), (e: FlotillaError) => e.code === 'NOT_FOUND');
    assert.equal(await b.head('no/such'), undefined);
    await b.delete('no/such');
  });

  test('overwrite replaces atomically and delete removes', async (t) => {
    const b = await opts.newBackend(t);
    await put(b, 'o/k', Buffer.from('one'), 'v1');
    await put(b, 'o/k', Buffer.from('second'), 'v2');
    const g = await b.get('o/k');
    assert.equal((await readAll(g.body)).toString(), 'second');
    assert.equal(g.head.meta, 'v2');
    await b.delete('o/k');
    assert.equal(await b.head('o/k'), undefined);
  });

  test('a failing body, a wrong length or a refused finish leaves nothing visible', async (t) => {
    const b = await opts.newBackend(t);
    await put(b, 'f/keep', Buffer.from('old'), 'old');
    const failing = new Readable({ read() {} });
    failing.push(randomBytes(50_000));
    setImmediate(() => failing.destroy(new Error('client went away')));
    await assert.rejects(b.put('f/new', failing, { finish: () => 'x' }));
    assert.equal(await b.head('f/new'), undefined);
    await assert.rejects(put(b, 'f/new', Buffer.from('short'), 'x', 10), (e: FlotillaError) => e.code === 'INVALID_ARGUMENT');
    await assert.rejects(put(b, 'f/new', Buffer.from('too long body'), 'x', 3), (e: FlotillaError) => e.code === 'INVALID_ARGUMENT');
    assert.equal(await b.head('f/new'), undefined);
    await assert.rejects(
      b.put('f/keep', Readable.from([Buffer.from('replacement')]), {
        finish: () => {
          throw new FlotillaError('INVALID_ARGUMENT', 'checksum mismatch');
        },
      }),
    );
    assert.equal((await readAll((await b.get('f/keep')).body)).toString(), 'old');
    assert.deepEqual(await collect(b, 'f/'), ['f/keep']);
  });

  test('hostile names are refused and nothing is written outside the backend', async (t) => {
    const b = await opts.newBackend(t);
    for (const name of ['', '../x', 'a/../../x', '/abs', 'a//b', '.hidden', 'a/./b', 'a\\b', 'a b', 'x'.repeat(600), 'ü', 'a/b~', 'a\0b']) {
      await assert.rejects(put(b, name, Buffer.from('x')), (e: FlotillaError) => e.code === 'INVALID_ARGUMENT', `name ${JSON.stringify(name)}`);
      await assert.rejects(b.get(name), (e: FlotillaError) => e.code === 'INVALID_ARGUMENT');
    }
    assert.deepEqual(await collect(b, ''), []);
  });

  test('list by prefix returns every blob under it once', async (t) => {
    const b = await opts.newBackend(t);
    const names = ['l/0001/a', 'l/0001/b', 'l/0002/c', 'm/0001/d'];
    for (const n of names) await put(b, n, Buffer.from(n));
    assert.deepEqual(await collect(b, 'l/'), ['l/0001/a', 'l/0001/b', 'l/0002/c']);
    assert.deepEqual(await collect(b, 'l/0001/'), ['l/0001/a', 'l/0001/b']);
    assert.deepEqual(await collect(b, 'l/000'), ['l/0001/a', 'l/0001/b', 'l/0002/c']);
    assert.deepEqual(await collect(b, ''), [...names].sort());
  });

  test('a body larger than one buffer streams through (12 MiB)', async (t) => {
    const b = await opts.newBackend(t);
    const chunk = randomBytes(1024 * 1024);
    const sha = createHash('sha256');
    for (let i = 0; i < 12; i++) sha.update(chunk);
    const w = await b.put('big/one', Readable.from((function* () { for (let i = 0; i < 12; i++) yield chunk; })()), { finish: () => 'big' });
    assert.equal(w.sha256, sha.digest('hex'));
    const got = createHash('sha256');
    let n = 0;
    for await (const c of (await b.get('big/one')).body) {
      got.update(c as Buffer);
      n += (c as Buffer).length;
    }
    assert.equal(n, 12 * 1024 * 1024);
    assert.equal(got.digest('hex'), w.sha256);
  });

  test('declares its capabilities and space', async (t) => {
    const b = await opts.newBackend(t);
    assert.equal(b.capabilities.atomicPut, true);
    assert.equal(typeof b.capabilities.rangedReads, 'boolean');
    const s = await b.space();
    assert.ok(s.capacityBytes >= 0 && s.freeBytes >= 0);
  });
}

async function collect(b: ObjectBackend, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const l of b.list(prefix)) out.push(l.name);
  return out.sort();
}
