import assert from 'node:assert/strict';
import { it } from 'node:test';
import { silentLogger } from '../../../src/core/log.js';
import {
  createMetricsExporter,
  decodeWriteRequest,
  encodeWriteRequest,
  formatExposition,
  MetricRegistry,
  parseDestinationSpec,
  parseSelector,
  matchesAll,
  remoteWriteSchema,
} from '../../../src/monitor/index.js';
import { GlobalView } from '../../../src/monitor/server/index.js';

it('exposition escapes label values and HELP text, sorts labels, writes special floats', () => {
  const { text, skipped } = formatExposition([
    { name: 'a_metric', help: 'line one\nback\\slash', type: 'gauge', samples: [{ labels: { z: '1', b: 'q"uote', a: 'back\\slash\nnl' }, value: Infinity, timestampMs: 1700000000123.7 }] },
    { name: 'b_total', type: 'counter', samples: [{ labels: {}, value: Number.NaN }, { labels: { x: '' }, value: -Infinity }, { labels: {}, value: 1e21 }] },
  ]);
  assert.equal(skipped, 0);
  assert.equal(
    text,
    '# HELP a_metric line one\\nback\\\\slash\n' +
      '# TYPE a_metric gauge\n' +
      'a_metric{a="back\\\\slash\\nnl",b="q\\"uote",z="1"} +Inf 1700000000123\n' +
      '# TYPE b_total counter\n' +
      'b_total NaN\n' +
      'b_total{x=""} -Inf\n' +
      'b_total 1e+21\n',
  );
});

it('exposition writes one TYPE line per family and skips repeated or invalid family names', () => {
  const { text, skipped } = formatExposition([
    { name: 'x', type: 'gauge', samples: [{ labels: {}, value: 1 }] },
    { name: 'x', type: 'counter', samples: [{ labels: {}, value: 2 }] },
    { name: '0bad', type: 'gauge', samples: [{ labels: {}, value: 3 }] },
  ]);
  assert.equal(text, '# TYPE x gauge\nx 1\n');
  assert.equal(skipped, 2);
});

it('/metrics holds every host\'s latest samples labelled by host, collisions renamed, stale series left out, own metrics first', () => {
  const now = 1_700_000_000_000;
  const view = new GlobalView({ now: () => now });
  const exporter = createMetricsExporter({ view, logger: silentLogger(), staleAfterMs: 60_000 });
  for (const host of ['b-host', 'a-host']) view.agentConnected({ hostname: host, version: 'v', incarnation: 'i', ackedSeq: 0n });
  view.ingest('a-host', {
    seq: 1n,
    droppedTotal: 0n,
    metrics: [
      { hostname: 'a-host', metric: 'node_load1', value: 0.5, labels: {}, timeMs: now - 1000 },
      { hostname: 'a-host', metric: 'node_load1', value: 0.75, labels: {}, timeMs: now - 500 },
      { hostname: 'a-host', metric: 'container_cpu_usage_cores', value: 1, labels: { host: 'x', __weird: 'y', cgroup: '/c' }, timeMs: now - 500 },
      { hostname: 'a-host', metric: 'process_cpu_seconds_total', value: 9, labels: {}, timeMs: now - 500 },
    ],
  });
  view.ingest('b-host', { seq: 1n, droppedTotal: 0n, metrics: [{ hostname: 'b-host', metric: 'node_load1', value: 2, labels: {}, timeMs: now - 120_000 }] });
  const text = exporter.render();
  const typeLines = text.split('\n').filter((l) => l.startsWith('# TYPE'));
  assert.equal(new Set(typeLines).size, typeLines.length, 'one TYPE line per family');
  assert.match(text, /# TYPE node_load1 gauge\nnode_load1\{host="a-host"\} 0\.75 1699999999500\n/);
  assert.doesNotMatch(text, /b-host"\} 2/, 'a series older than staleAfterMs is left out');
  assert.match(text, /container_cpu_usage_cores\{cgroup="\/c",exported___weird="y",exported_host="x",host="a-host"\} 1 /);
  // An agent family named like one of the server's own is not exported (the server's is).
  assert.equal(text.match(/# TYPE process_cpu_seconds_total/g)?.length, 1);
  assert.doesNotMatch(text, /process_cpu_seconds_total\{host=/);
  assert.match(text, /flotilla_monitor_samples_received_total\{host="a-host"\} 4\n/);
  assert.match(text, /flotilla_monitor_hosts\{state="connected"\} 2\n/);
});

it('the registry keeps counters per label set and refuses a name twice', () => {
  const r = new MetricRegistry();
  const c = r.counter('things_total', 'Things.');
  c.inc({ kind: 'a' });
  c.inc({ kind: 'a' }, 2);
  c.inc({ kind: 'b' });
  c.inc({ kind: 'b' }, -5); // ignored: counters only grow
  assert.deepEqual(r.collect()[0]!.samples, [
    { labels: { kind: 'a' }, value: 3 },
    { labels: { kind: 'b' }, value: 1 },
  ]);
  assert.throws(() => r.counter('things_total', 'again'), /registered twice/);
});

it('selectors parse PromQL matchers and match with anchored regular expressions', () => {
  const sel = (s: string) => {
    const p = parseSelector(s);
    if (p.error !== undefined) throw new Error(p.error);
    return p.value;
  };
  const node = sel('{__name__=~"node_.*"}');
  assert.ok(matchesAll(node, { __name__: 'node_load1' }));
  assert.ok(!matchesAll(node, { __name__: 'xnode_load1' }));
  const c = sel(`container_cpu_usage_cores{container!="", image=~'nginx:.*' , cgroup!~"/system\\\\.slice/.*",}`);
  assert.ok(matchesAll(c, { __name__: 'container_cpu_usage_cores', container: 'web', image: 'nginx:1', cgroup: '/docker/abc' }));
  assert.ok(!matchesAll(c, { __name__: 'container_cpu_usage_cores', image: 'nginx:1' }), 'a missing label is the empty string');
  assert.ok(!matchesAll(c, { __name__: 'container_cpu_usage_cores', container: 'w', image: 'nginx:1', cgroup: '/system.slice/x' }));
  assert.ok(matchesAll(sel('{a="q\\"uote\\n"}'), { a: 'q"uote\n' }));
  for (const [bad, why] of [
    ['', /empty/],
    ['{}', /empty/],
    ['{a=1}', /expected a quoted value at column 4/],
    ['{a~"x"}', /expected one of =, !=, =~, !~/],
    ['{a="x"', /expected ',' or '}'/],
    ['{a="x', /unterminated string/],
    ['{a=~"("}', /invalid regular expression/],
    ['{a="\\q"}', /unknown escape/],
    ['m{a="b"} extra', /unexpected text/],
    ['{9a="b"}', /expected a label name/],
  ] as [string, RegExp][]) {
    const p = parseSelector(bad);
    assert.ok(p.error !== undefined, bad);
    assert.match(p.error, why, bad);
  }
});

it('destination specs: URL with selectors, YAML mappings, clear errors', () => {
  const spec = parseDestinationSpec('http://h:8086/api/v1/prom/write?db=containers;match={container!=""};match=node_load1');
  assert.equal(spec.error, undefined);
  assert.equal(spec.value.url, 'http://h:8086/api/v1/prom/write?db=containers');
  assert.equal(spec.value.match.length, 2);
  const many = remoteWriteSchema.parse('http://a/w http://b/w;match={x="1"}');
  assert.deepEqual(many.map((d) => d.url), ['http://a/w', 'http://b/w']);
  const [obj] = remoteWriteSchema.parse([{ url: 'https://r/w', match: ['{a="1"}', 'b'], queueSamples: 10, timeout: '2s', maxBackoff: 500 }]);
  assert.deepEqual([obj!.queueSamples, obj!.timeoutMs, obj!.maxBackoffMs, obj!.match.length], [10, 2000, 500, 2]);
  for (const [bad, why] of [
    ['ftp://x/y', /expected an http/],
    ['not a url', /not a URL/],
    ['http://x/y;match={a=}', /destination 1: selector/],
    [[{ url: 'http://x', queueSamples: 0 }], /queueSamples|>=1|too small/i],
    [[{ url: 'http://x', nope: 1 }], /nope|unrecognized/i],
    [[{ url: 'http://x', timeout: 'soon' }], /timeout|duration/i],
  ] as [unknown, RegExp][]) {
    const r = remoteWriteSchema.safeParse(bad);
    assert.equal(r.success, false, JSON.stringify(bad));
    assert.match(JSON.stringify(r.error.issues), why, JSON.stringify(bad));
  }
});

it('a WriteRequest groups samples by series, sorts labels and times, and survives protobuf + snappy', () => {
  const body = encodeWriteRequest([
    { labels: { __name__: 'm', b: '2', a: '1' }, timeMs: 2000, value: 2 },
    { labels: { a: '1', __name__: 'm', b: '2' }, timeMs: 1000, value: 1 },
    { labels: { __name__: 'n' }, timeMs: 1500, value: -0.5 },
  ]);
  assert.deepEqual(decodeWriteRequest(body), [
    { labels: { __name__: 'm', a: '1', b: '2' }, timeMs: 1000, value: 1 },
    { labels: { __name__: 'm', a: '1', b: '2' }, timeMs: 2000, value: 2 },
    { labels: { __name__: 'n' }, timeMs: 1500, value: -0.5 },
  ]);
});
