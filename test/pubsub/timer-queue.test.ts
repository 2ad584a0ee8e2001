import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { TimerQueue } from '../../src/pubsub/index.js';
import { FakeClock } from './fake-clock.js';

describe('TimerQueue', () => {
  it('fires each item at its time, never before, in time order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 100_000 }), { minLength: 1, maxLength: 300 }), (delays) => {
        const clock = new FakeClock();
        const start = clock.now();
        const fired: { key: number; at: number; now: number }[] = [];
        const q = new TimerQueue<{ key: number; at: number }>({ clock, onDue: (items) => items.forEach((i) => fired.push({ ...i, now: clock.now() })) });
        delays.forEach((d, key) => q.add(String(key), start + d, { key, at: start + d }));
        clock.advance(100_001);
        assert.equal(fired.length, delays.length);
        for (const f of fired) assert.equal(f.now, f.at, 'fired exactly at its time with a precise clock');
        for (let i = 1; i < fired.length; i++) assert.ok(fired[i]!.at >= fired[i - 1]!.at);
        assert.equal(q.size, 0);
      }),
    );
  });

  it('removed items never fire and moved items fire at their new time', () => {
    const clock = new FakeClock();
    const fired: string[] = [];
    const q = new TimerQueue<string>({ clock, onDue: (items) => fired.push(...items) });
    q.add('a', clock.now() + 10, 'a');
    q.add('b', clock.now() + 20, 'b');
    q.add('c', clock.now() + 30, 'c');
    assert.equal(q.remove('a'), true);
    assert.equal(q.remove('zzz'), false);
    q.add('c', clock.now() + 5, 'c-moved');
    clock.advance(15);
    assert.deepEqual(fired, ['c-moved']);
    clock.advance(100);
    assert.deepEqual(fired, ['c-moved', 'b']);
  });

  it('holds one timer however many items, and waits re-arm beyond maxTimerMs', () => {
    const clock = new FakeClock();
    let n = 0;
    const q = new TimerQueue<number>({ clock, maxTimerMs: 1000, onDue: (items) => (n += items.length) });
    for (let i = 0; i < 10_000; i++) q.add(String(i), clock.now() + 5000 + i, i);
    assert.equal(clock.pendingTimers, 1);
    clock.advance(4999);
    assert.equal(n, 0);
    clock.advance(20_000);
    assert.equal(n, 10_000);
    assert.equal(clock.pendingTimers, 0);
  });

  it('memory stays bounded when most items are removed', () => {
    const clock = new FakeClock();
    const q = new TimerQueue<number>({ clock, onDue: () => undefined });
    for (let i = 0; i < 50_000; i++) {
      q.add(String(i), clock.now() + 1_000_000 - i, i);
      q.remove(String(i));
    }
    assert.equal(q.size, 0);
    q.add('x', clock.now() + 1, 1);
    assert.equal(q.peekTimeMs(), clock.now() + 1);
    q.stop();
  });
});
