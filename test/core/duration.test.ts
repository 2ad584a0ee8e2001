import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, parseDuration } from '../../src/core/duration.js';

describe('durations', () => {
  const good: [string, number][] = [
    ['0', 0],
    ['250', 250],
    ['500ms', 500],
    ['10s', 10_000],
    ['1.5s', 1500],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['2d', 172_800_000],
  ];
  for (const [text, ms] of good) it(`reads ${text} as ${ms} ms`, () => assert.deepEqual(parseDuration(text), { value: ms }));

  for (const text of ['', 'soon', '10x', '5m garbage', '-1s', 'm5']) {
    it(`rejects ${JSON.stringify(text)}`, () => assert.match(parseDuration(text).error ?? '', /expected a duration/));
  }

  it('formats for people', () => {
    assert.equal(formatDuration(5_400_000), '1h30m');
    assert.equal(formatDuration(1500), '1s500ms');
    assert.equal(formatDuration(0), '0s');
  });
});
