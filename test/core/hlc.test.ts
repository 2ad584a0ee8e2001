import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compareHlc, formatHlc, HybridLogicalClock, parseHlc, type HlcTimestamp } from '../../src/core/hlc.js';
import { FlotillaError } from '../../src/core/errors.js';

describe('hybrid logical clock', () => {
  it('follows the wall clock when it moves forward', () => {
    let t = 1000;
    const c = new HybridLogicalClock({ node: 'a', now: () => t });
    assert.deepEqual(c.now(), { wallMs: 1000, logical: 0, node: 'a' });
    t = 2000;
    assert.deepEqual(c.now(), { wallMs: 2000, logical: 0, node: 'a' });
  });

  it('never goes backwards when the wall clock does', () => {
    let t = 5000;
    const c = new HybridLogicalClock({ node: 'a', now: () => t });
    const first = c.now();
    t = 4000;
    const second = c.now();
    assert.ok(compareHlc(second, first) > 0);
    assert.equal(second.wallMs, 5000);
    assert.equal(second.logical, 1);
  });

  it('orders a receive after the remote send even when the remote clock is ahead', () => {
    const a = new HybridLogicalClock({ node: 'a', now: () => 1000 });
    const b = new HybridLogicalClock({ node: 'b', now: () => 900 });
    const sent = a.now();
    const received = b.update(sent);
    assert.ok(compareHlc(received, sent) > 0);
    assert.ok(compareHlc(b.now(), received) > 0);
  });

  it('rejects a remote timestamp too far in the future', () => {
    const c = new HybridLogicalClock({ node: 'a', now: () => 0, maxDriftMs: 1000 });
    assert.throws(() => c.update({ wallMs: 5000, logical: 0, node: 'z' }), FlotillaError);
  });

  it('is monotonic under any interleaving of local events, receives and clock jumps', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: -50, max: 50 }), fc.boolean(), fc.integer({ min: 0, max: 3 })), { maxLength: 200 }),
        (steps) => {
          let t = 10_000;
          const c = new HybridLogicalClock({ node: 'n', now: () => t });
          let last: HlcTimestamp = c.now();
          for (const [dt, receive, logical] of steps) {
            t += dt;
            const next = receive ? c.update({ wallMs: t + dt, logical, node: 'm' }) : c.now();
            if (compareHlc(next, last) <= 0) return false;
            last = next;
          }
          return true;
        },
      ),
    );
  });

  it('formats to strings that sort like the timestamps and parses them back', () => {
    fc.assert(
      fc.property(
        fc.record({ wallMs: fc.integer({ min: 0, max: 2 ** 48 }), logical: fc.integer({ min: 0, max: 2 ** 32 - 1 }), node: fc.constantFrom('a', 'b', 'node-c') }),
        fc.record({ wallMs: fc.integer({ min: 0, max: 2 ** 48 }), logical: fc.integer({ min: 0, max: 2 ** 32 - 1 }), node: fc.constantFrom('a', 'b', 'node-c') }),
        (x, y) => {
          assert.deepEqual(parseHlc(formatHlc(x)).value, { ...x });
          const byString = formatHlc(x) < formatHlc(y) ? -1 : formatHlc(x) > formatHlc(y) ? 1 : 0;
          assert.equal(byString, Math.sign(compareHlc(x, y)));
        },
      ),
    );
    assert.ok(parseHlc('garbage').error !== undefined);
  });
});
