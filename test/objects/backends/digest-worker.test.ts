import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Code, FlotillaError } from '../../../src/core/errors.js';
import { BodyHasher } from '../../../src/objects/backends/blob-format.js';
import { createBodyDigester, digestThreadRunning, IDLE_STOP_MS, MAX_OFFLOADED_JOBS, OFFLOAD_MIN_BYTES, OffloadedHasher, RING_BYTES, stopDigestWorker, wantsThread, type BodyDigester } from '../../../src/objects/backends/digest-worker.js';
import type { BodyDigests } from '../../../src/objects/backends/index.js';

const MiB = 1024 * 1024;
const ALL: BodyDigests = { sha256: true, md5: true, crc32: true };

/** Feeds `body` in chunks of the given sizes (cycled), waiting where the digester asks to. */
async function feed(d: BodyDigester, body: Buffer, sizes: number[]): Promise<void> {
  let at = 0;
  for (let i = 0; at < body.length; i++) {
    const n = Math.min(sizes[i % sizes.length]!, body.length - at);
    const wait = d.update(body.subarray(at, at + n));
    if (wait !== undefined) await wait;
    at += n;
  }
}

const inline = (body: Buffer, digests: BodyDigests): ReturnType<BodyHasher['result']> => {
  const h = new BodyHasher(body.length, digests);
  h.update(body);
  return h.result();
};

const codeOf = (e: unknown): Code | undefined => (e instanceof FlotillaError ? e.code : undefined);

describe('digests on the hashing thread (digest-worker.ts)', () => {
  it('large bodies with costly digests go to the thread, small ones and cheap digests are hashed inline', () => {
    const large = createBodyDigester(OFFLOAD_MIN_BYTES, ALL);
    assert.ok(large instanceof OffloadedHasher);
    large.abort();
    const small = createBodyDigester(OFFLOAD_MIN_BYTES - 1, ALL);
    assert.ok(!(small instanceof OffloadedHasher));
    small.abort();
    // MD5 always costs more than the copy into the ring; SHA-256 only without the CPU's SHA-256 instructions.
    const hardware = /^(flags|Features)\s*:.*\b(sha_ni|sha2)\b/m.test(readFileSync('/proc/cpuinfo', 'utf8'));
    const sha = createBodyDigester(OFFLOAD_MIN_BYTES, { sha256: true, md5: false, crc32: true });
    assert.equal(sha instanceof OffloadedHasher, !hardware);
    sha.abort();
    assert.equal(wantsThread({ sha256: true, md5: false, crc32: true }), !hardware);
    assert.equal(wantsThread({ sha256: false, md5: false, crc32: true }), false);
    assert.equal(wantsThread({ sha256: false, md5: true }), true);
  });

  it('digests computed on the thread are the inline ones, whatever the chunking and whichever digests', async () => {
    const body = randomBytes(3 * RING_BYTES + 12345);
    // 64 KiB socket reads; odd sizes across the ring's end; chunks larger than the ring itself.
    for (const sizes of [[64 * 1024], [1, 7, 100_003, 65_537], [RING_BYTES + 3, 5]]) {
      for (const digests of [ALL, { sha256: true, md5: false, crc32: true }, { sha256: false, md5: false, crc32: true }]) {
        const d = new OffloadedHasher(body.length, digests);
        await feed(d, body, sizes);
        assert.deepEqual(await d.result(), inline(body, digests), `chunks ${sizes.join(',')}, ${JSON.stringify(digests)}`);
      }
    }
  });

  it('a body of unknown size is hashed on the thread too, the empty body included', async () => {
    const body = randomBytes(5 * MiB + 1);
    const d = createBodyDigester(undefined, ALL);
    assert.ok(d instanceof OffloadedHasher);
    await feed(d, body, [65_536]);
    assert.deepEqual(await d.result(), inline(body, ALL));
    const e = createBodyDigester(undefined, ALL);
    assert.deepEqual(await e.result(), inline(Buffer.alloc(0), ALL));
  });

  it('a body longer than declared fails at the chunk that overflows; a shorter one at the result', async () => {
    const long = createBodyDigester(8 * MiB, ALL);
    await feed(long, randomBytes(8 * MiB), [MiB]);
    assert.throws(() => long.update(Buffer.alloc(1)), (e: unknown) => codeOf(e) === Code.INVALID_ARGUMENT && /longer than the declared/.test((e as Error).message));
    long.abort();
    const short = createBodyDigester(8 * MiB, ALL);
    await feed(short, randomBytes(8 * MiB - 1), [MiB]);
    await assert.rejects(short.result(), (e: unknown) => codeOf(e) === Code.INVALID_ARGUMENT && /truncated upload/.test((e as Error).message));
  });

  it('bodies hashed at once are kept apart; past MAX_OFFLOADED_JOBS the rest are hashed inline; aborted ones free their place', async () => {
    const n = MAX_OFFLOADED_JOBS + 3;
    const bodies = Array.from({ length: n }, (_, i) => randomBytes(OFFLOAD_MIN_BYTES + i * 70_001));
    const ds = bodies.map((b) => createBodyDigester(b.length, ALL));
    assert.equal(ds.filter((d) => d instanceof OffloadedHasher).length, MAX_OFFLOADED_JOBS);
    // Interleaved, 256 KiB at a time, each waiting only for itself.
    await Promise.all(ds.map((d, i) => feed(d, bodies[i]!, [256 * 1024])));
    const results = await Promise.all(ds.map((d) => d.result()));
    for (const [i, r] of results.entries()) assert.deepEqual(r, inline(bodies[i]!, ALL), `body ${i}`);
    const aborted = Array.from({ length: MAX_OFFLOADED_JOBS }, () => createBodyDigester(OFFLOAD_MIN_BYTES, ALL));
    for (const d of aborted) {
      void d.update(Buffer.alloc(MiB));
      d.abort();
    }
    const again = Array.from({ length: MAX_OFFLOADED_JOBS }, () => createBodyDigester(OFFLOAD_MIN_BYTES, ALL));
    assert.ok(again.every((d) => d instanceof OffloadedHasher), 'aborted bodies gave their places back');
    for (const d of again) d.abort();
  });

  it('an update waiting for room in the ring fails when the body is aborted (it does not hang)', { timeout: 10_000 }, async () => {
    const d = createBodyDigester(2 * RING_BYTES, ALL);
    const waiting = d.update(randomBytes(RING_BYTES + 1));
    assert.ok(waiting !== undefined, 'a chunk larger than the ring waits for the thread');
    d.abort();
    await assert.rejects(waiting, (e: unknown) => codeOf(e) === Code.CANCELLED);
  });

  it('a hashing thread that stops fails the bodies it was hashing with a clear error; the next body starts a new thread', async () => {
    const d = createBodyDigester(16 * MiB, ALL);
    await feed(d, randomBytes(2 * MiB), [MiB]);
    await stopDigestWorker();
    const failed = (e: unknown): boolean => codeOf(e) === Code.UNAVAILABLE && /hashing thread/.test((e as Error).message);
    assert.throws(() => d.update(Buffer.alloc(MiB)), failed);
    await assert.rejects(d.result(), failed);
    const body = randomBytes(6 * MiB);
    const next = createBodyDigester(body.length, ALL);
    await feed(next, body, [MiB]);
    assert.deepEqual(await next.result(), inline(body, ALL));
  });

  it('the thread stops when idle and starts again for the next large body', async () => {
    const body = randomBytes(OFFLOAD_MIN_BYTES);
    const d = createBodyDigester(body.length, ALL);
    await feed(d, body, [MiB]);
    await d.result();
    assert.equal(digestThreadRunning(), true);
    await new Promise((r) => setTimeout(r, IDLE_STOP_MS + 500));
    assert.equal(digestThreadRunning(), false, `stopped after ${IDLE_STOP_MS} ms without a body`);
    const next = createBodyDigester(body.length, ALL);
    await feed(next, body, [MiB]);
    assert.deepEqual(await next.result(), inline(body, ALL));
  });
});
