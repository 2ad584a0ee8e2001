import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileMatcher } from '../../../src/monitor/tsdb/matchers.js';
import { PostingsIndex } from '../../../src/monitor/tsdb/postings.js';
import type { LabelMatcher, Labels } from '../../../src/monitor/tsdb/types.js';

const SERIES: Labels[] = [
  { __name__: 'cpu', host: 'a', mode: 'user' },
  { __name__: 'cpu', host: 'a', mode: 'system' },
  { __name__: 'cpu', host: 'b', mode: 'user' },
  { __name__: 'mem', host: 'b' },
  { __name__: 'mem', host: 'ab' },
];

function select(ms: LabelMatcher[]): number[] {
  const idx = new PostingsIndex();
  SERIES.forEach((l, i) => idx.add(i, l));
  return idx.select(ms.map(compileMatcher), (i) => SERIES[i]!);
}

const m = (name: string, type: LabelMatcher['type'], value: string): LabelMatcher => ({ name, type, value });

describe('inverted index and matchers', () => {
  const cases: [string, LabelMatcher[], number[]][] = [
    ['no matcher: everything', [], [0, 1, 2, 3, 4]],
    ['equality', [m('__name__', '=', 'cpu')], [0, 1, 2]],
    ['intersection', [m('__name__', '=', 'cpu'), m('host', '=', 'a')], [0, 1]],
    ['inequality', [m('__name__', '=', 'cpu'), m('mode', '!=', 'user')], [1]],
    ['regex is anchored', [m('host', '=~', 'a')], [0, 1]],
    ['regex alternatives', [m('host', '=~', 'a|ab')], [0, 1, 4]],
    ['negative regex', [m('host', '!~', 'a.*')], [2, 3]],
    ['absent label equals empty', [m('mode', '=', '')], [3, 4]],
    ['!= "" needs the label', [m('mode', '!=', '')], [0, 1, 2]],
    ['=~ ".*" matches all, with or without the label', [m('mode', '=~', '.*')], [0, 1, 2, 3, 4]],
    ['=~ ".+" needs the label', [m('mode', '=~', '.+')], [0, 1, 2]],
    ['unknown label value', [m('host', '=', 'zzz')], []],
    ['unknown label name', [m('nope', '=', 'x')], []],
  ];
  for (const [name, ms, want] of cases) it(name, () => assert.deepEqual(select(ms), want));

  it('removing a series removes its postings', () => {
    const idx = new PostingsIndex();
    SERIES.forEach((l, i) => idx.add(i, l));
    idx.remove(3, SERIES[3]!);
    assert.deepEqual(idx.select([compileMatcher(m('__name__', '=', 'mem'))], (i) => SERIES[i]!), [4]);
    assert.equal(idx.size, 4);
    assert.deepEqual(idx.labelValues('host').sort(), ['a', 'ab', 'b']);
  });

  it('bad matchers are clear errors', () => {
    assert.throws(() => compileMatcher(m('x', '=~', '(')), /\[invalid_argument\] invalid regular expression "\("/);
    assert.throws(() => compileMatcher({ name: 'x', type: '==' as never, value: 'a' }), /unknown matcher type "=="/);
    assert.throws(() => compileMatcher(m('', '=', 'a')), /needs a label name/);
  });
});
