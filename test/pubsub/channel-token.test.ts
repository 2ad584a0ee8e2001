import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { FlotillaError } from '../../src/core/errors.js';
import { signChannelToken, verifyChannelToken } from '../../src/pubsub/index.js';

const secret = 's'.repeat(40);
const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
function forge(header: unknown, payload: unknown, key = secret): string {
  const h = b64(header);
  const p = b64(payload);
  return `${h}.${p}.${createHmac('sha256', key).update(`${h}.${p}`).digest('base64url')}`;
}

function fails(token: string, code: string, re: RegExp, channel = 'news'): void {
  assert.throws(
    () => verifyChannelToken(token, { channel, secret }),
    (err: unknown) => err instanceof FlotillaError && err.code === code && re.test(err.message),
  );
}

describe('channel tokens (HS256 JWT)', () => {
  it('a signed token verifies for its channel until it expires', () => {
    const t = signChannelToken({ channel: 'news', secret, ttlMs: 60_000, sub: 'alice' });
    const claims = verifyChannelToken(t, { channel: 'news', secret });
    assert.equal(claims.channel, 'news');
    assert.equal(claims.sub, 'alice');
    fails(t, 'PERMISSION_DENIED', /not "other"/, 'other');
    assert.throws(() => verifyChannelToken(t, { channel: 'news', secret, nowMs: Date.now() + 61_000 }), /expired/);
  });

  it('rejects forged, malformed and wrongly signed tokens (table)', () => {
    const exp = Math.floor(Date.now() / 1000) + 60;
    const good = signChannelToken({ channel: 'news', secret, ttlMs: 60_000 });
    const [h, p] = good.split('.');
    const cases: [string, string, RegExp][] = [
      ['', 'UNAUTHENTICATED', /three/],
      ['a.b', 'UNAUTHENTICATED', /three/],
      ['a.b.c.d', 'UNAUTHENTICATED', /three/],
      [`${h}.${p}.`, 'UNAUTHENTICATED', /signature/],
      [`${h}.${p}.AAAA`, 'UNAUTHENTICATED', /signature does not match/],
      [forge({ alg: 'HS256', typ: 'JWT' }, { channel: 'news', exp }, 'another secret of enough length......'), 'UNAUTHENTICATED', /signature does not match/],
      [forge({ alg: 'none' }, { channel: 'news', exp }), 'UNAUTHENTICATED', /HS256 only/],
      [`${b64({ alg: 'none' })}.${b64({ channel: 'news', exp })}.`, 'UNAUTHENTICATED', /HS256 only/],
      [forge({ alg: 'HS512' }, { channel: 'news', exp }), 'UNAUTHENTICATED', /HS256 only/],
      [forge({ alg: 'HS256' }, { channel: 'news' }), 'UNAUTHENTICATED', /exp/],
      [forge({ alg: 'HS256' }, { channel: 'news', exp: '99999999999' }), 'UNAUTHENTICATED', /exp/],
      [forge({ alg: 'HS256' }, { exp }), 'UNAUTHENTICATED', /channel claim/],
      [forge({ alg: 'HS256' }, { channel: 'news', exp: exp - 120 }), 'UNAUTHENTICATED', /expired/],
      [forge({ alg: 'HS256' }, [1, 2]), 'UNAUTHENTICATED', /JSON object/],
      ['!!!.???.***', 'UNAUTHENTICATED', /base64url/],
      [`${Buffer.from('not json').toString('base64url')}.${p}.AAAA`, 'UNAUTHENTICATED', /not JSON/],
      ['x'.repeat(5000), 'UNAUTHENTICATED', /not a token/],
    ];
    for (const [token, code, re] of cases) fails(token, code, re);
  });
});
