import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FlotillaError } from '../../src/core/errors.js';
import { defaultLimits, parseTime, validatePublish } from '../../src/pubsub/index.js';

const now = Date.parse('2026-01-01T00:00:00Z');

function rejects(body: unknown, code: string, re: RegExp): void {
  assert.throws(
    () => validatePublish(body, now),
    (err: unknown) => err instanceof FlotillaError && err.code === code && re.test(err.message),
  );
}

describe('publish validation', () => {
  it('accepts JSON data, bytes, absolute and relative times', () => {
    const a = validatePublish({ channel: 'news', data: { a: 1 } }, now);
    assert.equal(a.deliverAtMs, now);
    assert.equal(a.data, '{"a":1}');
    assert.equal(a.encoding, 'json');
    const b = validatePublish({ channel: 'public:x', dataBase64: 'AAEC', deliverAt: '2026-01-01T00:10:00Z', ttl: '1m' }, now);
    assert.equal(b.deliverAtMs, now + 600_000);
    assert.equal(b.expiresAtMs, now + 660_000);
    assert.equal(b.encoding, 'base64');
    assert.equal(validatePublish({ channel: 'c', data: null, delay: '1h30m' }, now).deliverAtMs, now + 5_400_000);
    assert.equal(validatePublish({ channel: 'c', data: 1, deliverAt: now + 5 }, now).deliverAtMs, now + 5);
  });

  it('delivers a deliverAt in the past at once', () => {
    assert.equal(validatePublish({ channel: 'c', data: 1, deliverAt: '2020-01-01T00:00:00Z' }, now).deliverAtMs, now);
  });

  it('rejects bad input with a clear error (table)', () => {
    const big = 'x'.repeat(defaultLimits.maxDataBytes);
    const cases: [unknown, string, RegExp][] = [
      [null, 'INVALID_ARGUMENT', /body/],
      [{ data: 1 }, 'INVALID_ARGUMENT', /channel/],
      [{ channel: 'bad channel', data: 1 }, 'INVALID_ARGUMENT', /invalid channel/],
      [{ channel: '', data: 1 }, 'INVALID_ARGUMENT', /invalid channel/],
      [{ channel: 'c' }, 'INVALID_ARGUMENT', /data/],
      [{ channel: 'c', data: 1, dataBase64: 'AA==' }, 'INVALID_ARGUMENT', /either data or dataBase64/],
      [{ channel: 'c', dataBase64: 'not base64!' }, 'INVALID_ARGUMENT', /base64/],
      [{ channel: 'c', data: big }, 'RESOURCE_EXHAUSTED', /limit is 65536/],
      [{ channel: 'c', dataBase64: Buffer.alloc(defaultLimits.maxDataBytes + 1).toString('base64') }, 'RESOURCE_EXHAUSTED', /limit/],
      [{ channel: 'c', data: 1, deliverAt: 'tomorrow' }, 'INVALID_ARGUMENT', /ISO 8601/],
      [{ channel: 'c', data: 1, deliverAt: '2026-02-31T00:00:00' }, 'INVALID_ARGUMENT', /ISO 8601/],
      [{ channel: 'c', data: 1, deliverAt: '9999-01-01T00:00:00Z' }, 'INVALID_ARGUMENT', /too far away/],
      [{ channel: 'c', data: 1, delay: '400d' }, 'INVALID_ARGUMENT', /too far away/],
      [{ channel: 'c', data: 1, delay: 'soon' }, 'INVALID_ARGUMENT', /duration/],
      [{ channel: 'c', data: 1, delay: -5 }, 'INVALID_ARGUMENT', /non-negative/],
      [{ channel: 'c', data: 1, deliverAt: 5, delay: 5 }, 'INVALID_ARGUMENT', /either deliverAt or delay/],
      [{ channel: 'c', data: 1, ttl: '1000d' }, 'INVALID_ARGUMENT', /ttl is too long/],
      [{ channel: 'c', data: 1, extra: true }, 'INVALID_ARGUMENT', /extra|Unrecognized/i],
      [{ channel: 'c', data: 1, idempotencyKey: 'k'.repeat(200) }, 'INVALID_ARGUMENT', /idempotencyKey/],
    ];
    for (const [body, code, re] of cases) rejects(body, code, re);
  });

  it('parses times', () => {
    assert.equal(parseTime('2026-12-01T09:00:00Z'), Date.parse('2026-12-01T09:00:00Z'));
    assert.equal(parseTime('2026-12-01T09:00:00.250+02:00'), Date.parse('2026-12-01T07:00:00.250Z'));
    assert.equal(parseTime('1234'), 1234);
    assert.throws(() => parseTime('2026-12-01 09:00'), /ISO 8601/);
  });
});
