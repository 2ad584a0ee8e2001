import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePromql, PromqlSyntaxError, typeOf, type Expr } from '../../../src/monitor/promql/index.js';

test('parses every construct of the subset', () => {
  const sel = parsePromql('http_requests_total{job="api", code!="500", path=~"/a.*", method!~"GET|HEAD",}');
  assert.equal(sel.kind, 'vector');
  if (sel.kind === 'vector') {
    assert.deepEqual(sel.matchers.map((m) => `${m.name}${m.type}${m.value}`), ['__name__=http_requests_total', 'job=api', 'code!=500', 'path=~/a.*', 'method!~GET|HEAD']);
  }
  const m = parsePromql('rate(foo[1h30m] offset 5m)');
  assert.equal(m.kind, 'call');
  const arg = m.kind === 'call' ? m.args[0] : undefined;
  if (arg?.kind === 'matrix') {
    assert.equal(arg.rangeMs, 5_400_000);
    assert.equal(arg.selector.offsetMs, 300_000);
  } else assert.fail('expected a call over a matrix selector');
  const agg = parsePromql('sum without (a, b) (x)');
  assert.ok(agg.kind === 'aggregate' && agg.without && agg.grouping.join() === 'a,b');
  const agg2 = parsePromql('topk(3, x) by (zone)');
  assert.ok(agg2.kind === 'aggregate' && agg2.op === 'topk' && agg2.param?.kind === 'number' && agg2.grouping[0] === 'zone');
  const bin = parsePromql('a / on (job) b');
  assert.ok(bin.kind === 'binary' && bin.matching?.on === true && bin.matching.labels[0] === 'job');
  const ign = parsePromql('a > bool ignoring (code) b');
  assert.ok(ign.kind === 'binary' && ign.returnBool && ign.matching?.on === false);
  for (const q of ['abs(x)', 'ceil(x)', 'floor(x)', 'round(x)', 'round(x, 5)', 'clamp_min(x, 1)', 'clamp_max(x, 1)', 'irate(x[1m])', 'increase(x[1m])', 'delta(x[1m])', 'avg_over_time(x[1m])', 'min_over_time(x[1m])', 'max_over_time(x[1m])', 'sum_over_time(x[1m])', 'count_over_time(x[1m])', 'last_over_time(x[1m])', 'avg(x)', 'min(x)', 'max(x)', 'count(x)', 'a and b', 'a or b', 'a unless b', 'x offset -1m', '{__name__=~"a.*"}', "x{a='b\\'c'}", 'x{a=`\\d`}', 'Inf', 'NaN', '0x1F', '1e3', '.5']) {
    assert.doesNotThrow(() => parsePromql(q), q);
  }
});

test('precedence and associativity follow Prometheus', () => {
  const show = (e: Expr): string => {
    switch (e.kind) {
      case 'number':
        return String(e.value);
      case 'vector':
        return e.name ?? '{}';
      case 'binary':
        return `(${show(e.lhs)} ${e.op} ${show(e.rhs)})`;
      case 'unary':
        return `(${e.op}${show(e.expr)})`;
      case 'paren':
        return show(e.expr);
      default:
        return e.kind;
    }
  };
  assert.equal(show(parsePromql('a + b * c ^ d ^ e')), '(a + (b * (c ^ (d ^ e))))');
  assert.equal(show(parsePromql('a or b and c unless d')), '(a or ((b and c) unless d))');
  assert.equal(show(parsePromql('-a ^ b')), '(-(a ^ b))');
  assert.equal(show(parsePromql('-a * b')), '((-a) * b)');
  assert.equal(show(parsePromql('a - b - c')), '((a - b) - c)');
  assert.equal(show(parsePromql('a == b + 1')), '(a == (b + 1))');
  assert.equal(typeOf(parsePromql('1 + 2')), 'scalar');
  assert.equal(typeOf(parsePromql('x[5m]')), 'matrix');
});

test('malformed queries are rejected with line and column', () => {
  const cases: [string, number, number, RegExp][] = [
    ['foo{', 1, 5, /expected label/],
    ['rate(foo)', 1, 6, /expected type range vector/],
    ['sum(foo[5m])', 1, 5, /instant vector in aggregation/],
    ['1 > 2', 1, 3, /BOOL modifier/],
    ['foo{a=~"("}', 1, 8, /invalid regular expression/],
    ['foo +', 1, 6, /unexpected end of input/],
    ['{a=""}', 1, 1, /at least one non-empty matcher/],
    ['foo{a="b"} offset', 1, 18, /expected a duration/],
    ['nosuchfn(x)', 1, 1, /unknown function/],
    ['histogram_quantile(0.9, x)', 1, 1, /not supported/],
    ['rate(x[5m], 1)', 1, 14, /expected 1 argument/],
    ['x[5m][10m:1m]', 1, 1, /subquery is only allowed on instant vector, got range vector/],
    ['x[5m:0s]', 1, 6, /zero or negative subquery resolution/],
    ['x[5m:1m', 1, 8, /in subquery, expected "\]"/],
    ['x[5m:1m] offset 1m offset 1m', 1, 20, /offset may not be set multiple times/],
    ['foo\n  + bar[5m]', 2, 5, /binary expression must contain only scalar and instant vector/],
    ['1 and 2', 1, 3, /set operator "and" not allowed/],
    ['x + on(a) 1', 1, 3, /vector matching only allowed between instant vectors/],
    ['x + bool y', 1, 3, /bool modifier can only be used on comparison/],
    ['a / group_left b', 1, 5, /unexpected <group_left>/],
    ['a and on(x) group_left b', 1, 13, /no grouping allowed for "and" operation/],
    ['a / on(x) group_left(x) b', 1, 11, /label "x" must not occur in ON and GROUP clause at once/],
    ['foo{__name__="bar"}', 1, 5, /metric name must not be set twice/],
    ['"unterminated', 1, 1, /unterminated quoted string/],
    ['x $ y', 1, 3, /unexpected character/],
    ['foo[0s]', 1, 5, /greater than zero/],
    ['', 1, 1, /no expression found/],
    ['foo @ 100', 1, 5, /@ modifier/],
    ['(foo', 1, 5, /expected "\)"/],
  ];
  for (const [q, line, column, re] of cases) {
    assert.throws(
      () => parsePromql(q),
      (err: unknown) => {
        assert.ok(err instanceof PromqlSyntaxError, `${q}: ${String(err)}`);
        assert.match(err.message, re, q);
        assert.deepEqual([err.position.line, err.position.column], [line, column], `${q}: ${err.message}`);
        assert.ok(err.message.includes(`${line}:${column}: parse error:`));
        return true;
      },
      q,
    );
  }
});

test('hostile input gives an error, never a crash', () => {
  for (const q of ['('.repeat(50) + 'x' + ')'.repeat(50), 'x{' + 'a="b",'.repeat(500) + '}', '\u0000', '🙂', 'x{a=~"\\\\"}', 'x{a="\\q"}']) {
    try {
      parsePromql(q);
    } catch (err) {
      assert.ok(err instanceof PromqlSyntaxError, String(err));
    }
  }
});
