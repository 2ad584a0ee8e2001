// MonitorService over a real ConnectRPC HTTP/2 listener, with agent streams written from the proto contract.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { describe, it } from 'node:test';
import { Code as ConnectCode, ConnectError } from '@connectrpc/connect';
import { eventually, monitorClient, startAgent, startCoord, startMonitor } from './fixtures.js';

async function rejection(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err);
  }
  assert.fail('expected the call to fail');
}

describe('monitor service: agent streams', () => {
  it('two agents stream; the server logs every sample as (time, hostname, metric, value) and acks each batch by seq', async (t) => {
    const { coord } = await startCoord(t);
    const m = await startMonitor(t, coord, { logSamples: true });
    const client = monitorClient(t, m.address);
    const a = startAgent(t, client, 'node-a');
    const b = startAgent(t, client, 'node-b');
    await eventually('both welcomed', () => a.welcomed() && b.welcomed());
    const time = Date.parse('2025-03-01T10:00:00.000Z');
    a.batch(1n, [{ metric: 'node_cpu_usage_percent', value: 12.5, timeMs: time }]);
    b.batch(1n, [{ metric: 'node_memory_used_bytes', value: 1024, timeMs: time, labels: { kind: 'rss' } }]);
    a.batch(2n, [{ metric: 'node_cpu_usage_percent', value: 13, timeMs: time + 1000 }]);
    await eventually('acks', () => a.ackedSeq() === 2n && b.ackedSeq() === 1n);
    assert.ok(m.log.has('(2025-03-01T10:00:00.000Z, node-a, node_cpu_usage_percent, 12.5)'), m.log.messages().join('\n'));
    assert.ok(m.log.has('(2025-03-01T10:00:00.000Z, node-b, node_memory_used_bytes{kind="rss"}, 1024)'));
    assert.ok(m.log.has('batch 2 from node-a: 1 samples'));
    const snap = m.monitor.view.snapshot('node-a', { metrics: true })!;
    assert.equal(snap.connected, true);
    assert.equal(snap.samplesReceived, 2);
    assert.deepEqual(snap.lastMetrics?.map((s) => s.value), [13]);
    const list = await client.listAgents({});
    assert.deepEqual(list.agents.map((x) => [x.hostname, x.connected, Number(x.samplesReceived)]), [['node-a', true, 2], ['node-b', true, 1]]);
    // The default config was written for both new hosts.
    await eventually('default configs', async () => (await coord.get('/monitor/config/node-a')) !== undefined && (await coord.get('/monitor/config/node-b')) !== undefined);
  });

  it('a resent batch (seq already taken) is dropped and acked again; a reconnect of the same process resumes after acked_seq', async (t) => {
    const { coord } = await startCoord(t);
    const m = await startMonitor(t, coord);
    const client = monitorClient(t, m.address);
    const a = startAgent(t, client, 'node-a', { incarnation: 'p1' });
    a.batch(1n, [{ metric: 'm', value: 1 }]);
    a.batch(2n, [{ metric: 'm', value: 2 }]);
    a.batch(2n, [{ metric: 'm', value: 99 }]);
    a.batch(1n, [{ metric: 'm', value: 98 }]);
    await eventually('acks', () => m.monitor.view.snapshot('node-a')!.batchesDuplicate === 2);
    let snap = m.monitor.view.snapshot('node-a', { metrics: true })!;
    assert.equal(snap.samplesReceived, 2);
    assert.equal(snap.lastMetrics![0]!.value, 2);
    assert.equal(a.ackedSeq(), 2n);
    a.kill();
    await a.done;
    await eventually('disconnected', () => !m.monitor.view.snapshot('node-a')!.connected);
    // Same process reconnects: seq 2 was acked; it resends 2 (lost ack) and sends 3 from its backlog.
    const a2 = startAgent(t, client, 'node-a', { incarnation: 'p1', ackedSeq: 2n });
    a2.batch(2n, [{ metric: 'm', value: 97 }]);
    a2.batch(3n, [{ metric: 'm', value: 3 }], { backlog: true });
    await eventually('ack 3', () => a2.ackedSeq() === 3n);
    snap = m.monitor.view.snapshot('node-a', { metrics: true })!;
    assert.equal(snap.samplesReceived, 3);
    assert.equal(snap.lastMetrics![0]!.value, 3);
    a2.kill();
    await a2.done;
    // A restarted agent process (new incarnation) starts its seqs again at 1.
    const a3 = startAgent(t, client, 'node-a', { incarnation: 'p2' });
    a3.batch(1n, [{ metric: 'm', value: 4 }]);
    await eventually('ack 1', () => a3.ackedSeq() === 1n);
    assert.equal(m.monitor.view.snapshot('node-a')!.samplesReceived, 4);
  });

  it('a stream that does not start with AgentHello, or names a bad host, is refused; other agents keep being served', async (t) => {
    const { coord } = await startCoord(t);
    const m = await startMonitor(t, coord, { helloTimeoutMs: 500 });
    const client = monitorClient(t, m.address);
    const good = startAgent(t, client, 'node-a');
    await eventually('welcomed', () => good.welcomed());
    const noHello = startAgent(t, client, 'node-x', { noHello: true });
    noHello.batch(1n, [{ metric: 'm', value: 1 }]);
    const e1 = ConnectError.from(await noHello.done);
    assert.equal(e1.code, ConnectCode.InvalidArgument);
    assert.match(e1.rawMessage, /expected AgentHello as the first message, got batch/);
    const badName = startAgent(t, client, '../etc/passwd');
    const e2 = ConnectError.from(await badName.done);
    assert.equal(e2.code, ConnectCode.InvalidArgument);
    assert.match(e2.rawMessage, /invalid host name/);
    const silent = startAgent(t, client, 'node-y', { noHello: true });
    const e3 = ConnectError.from(await silent.done);
    assert.match(e3.rawMessage, /no AgentHello within 500 ms/);
    const twice = startAgent(t, client, 'node-z');
    twice.send({ kind: { case: 'hello', value: { hostname: 'node-z', incarnation: 'x' } } });
    const e4 = ConnectError.from(await twice.done);
    assert.match(e4.rawMessage, /AgentHello sent twice/);
    good.batch(1n, [{ metric: 'm', value: 1 }]);
    await eventually('still served', () => good.ackedSeq() === 1n);
    assert.deepEqual(m.monitor.view.hostnames(), ['node-a', 'node-z']);
  });

  it('garbage bytes on the stream end that stream with an error; the server keeps serving every other agent', async (t) => {
    const { coord } = await startCoord(t);
    const m = await startMonitor(t, coord);
    const client = monitorClient(t, m.address);
    const good = startAgent(t, client, 'node-a');
    await eventually('welcomed', () => good.welcomed());
    for (const body of [Buffer.from('this is not a grpc frame at all'), Buffer.from([0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff]), Buffer.from([0, 0x7f, 0xff, 0xff, 0xff, 1, 2])]) {
      const session = http2.connect(`http://${m.address}`);
      session.on('error', () => undefined);
      const req = session.request({ ':method': 'POST', ':path': '/flotilla.v1.MonitorService/CommandStream', 'content-type': 'application/grpc', te: 'trailers' });
      const status = await new Promise<string>((resolve) => {
        let grpcStatus = '';
        req.on('response', (h) => (grpcStatus = String(h['grpc-status'] ?? grpcStatus)));
        req.on('trailers', (h) => (grpcStatus = String(h['grpc-status'] ?? grpcStatus)));
        req.on('data', () => undefined);
        req.on('close', () => resolve(grpcStatus));
        req.on('error', () => resolve(grpcStatus || 'stream error'));
        req.end(body);
      });
      session.destroy();
      assert.notEqual(status, '0', 'garbage must not be answered with OK');
      assert.notEqual(status, '', 'garbage must get a gRPC status');
    }
    good.batch(1n, [{ metric: 'm', value: 1 }]);
    await eventually('still served', () => good.ackedSeq() === 1n);
    assert.deepEqual(m.monitor.view.hostnames(), ['node-a']);
  });

  it('NaN and Inf samples, bad names, labels, times and other hosts\' samples are rejected and counted; the rest of the batch is taken', async (t) => {
    const { coord } = await startCoord(t);
    const m = await startMonitor(t, coord);
    const client = monitorClient(t, m.address);
    const a = startAgent(t, client, 'node-a');
    a.batch(1n, [
      { metric: 'ok_metric', value: 1 },
      { metric: 'nan_metric', value: Number.NaN },
      { metric: 'inf_metric', value: Number.POSITIVE_INFINITY },
      { metric: 'neg_inf', value: Number.NEGATIVE_INFINITY },
      { metric: 'bad name!', value: 1 },
      { metric: 'labels', value: 1, labels: { 'bad-label': 'x' } },
      { metric: 'future', value: 1, timeMs: Date.now() + 10 * 86_400_000 },
      { metric: 'zero_time', value: 1, timeMs: 0 },
      { metric: 'spoof', value: 1, hostname: 'node-b' },
    ]);
    await eventually('ack', () => a.ackedSeq() === 1n);
    const snap = m.monitor.view.snapshot('node-a', { metrics: true })!;
    assert.equal(snap.samplesReceived, 1);
    assert.equal(snap.samplesRejected, 8);
    assert.deepEqual(snap.rejectedByReason, { non_finite: 3, bad_name: 1, bad_labels: 1, bad_time: 2, wrong_host: 1 });
    assert.deepEqual(snap.lastMetrics!.map((s) => s.metric), ['ok_metric']);
    assert.ok(m.log.messages().some((l) => l.includes('node-a sent 8 invalid samples')));
    assert.equal(m.monitor.view.has('node-b'), false);
  });

  it('100k distinct label values from one agent: series stay capped, the excess is refused and counted, other agents are unaffected', async (t) => {
    const { coord } = await startCoord(t);
    const m = await startMonitor(t, coord, { maxSeriesPerHost: 10_000 });
    const client = monitorClient(t, m.address);
    const noisy = startAgent(t, client, 'noisy');
    const calm = startAgent(t, client, 'calm');
    const perBatch = 10_000;
    for (let b = 0; b < 10; b++) {
      noisy.batch(
        BigInt(b + 1),
        Array.from({ length: perBatch }, (_, i) => ({ metric: 'requests_total', value: i, labels: { id: `v${b * perBatch + i}` } })),
      );
    }
    calm.batch(1n, [{ metric: 'm', value: 1 }]);
    await eventually('all acked', () => noisy.ackedSeq() === 10n && calm.ackedSeq() === 1n, 30_000);
    const snap = m.monitor.view.snapshot('noisy')!;
    assert.equal(snap.series, 10_000);
    assert.equal(snap.samplesReceived, 10_000);
    assert.equal(snap.seriesRefused, 90_000);
    assert.equal(m.monitor.view.snapshot('calm')!.samplesReceived, 1);
    assert.ok(m.log.messages().some((l) => l.includes('noisy has too many series')));
  });
});

describe('monitor service: commands', () => {
  it('routes a command to that host\'s stream only and returns its ack; acks are matched by id', async (t) => {
    const { coord } = await startCoord(t);
    const m = await startMonitor(t, coord);
    const client = monitorClient(t, m.address);
    const a = startAgent(t, client, 'node-a', { onCommand: (c) => ({ ok: true, message: 'interval set to 2s', resultJson: JSON.stringify({ seen: JSON.parse(c.payloadJson) as unknown }) }) });
    const b = startAgent(t, client, 'node-b');
    await eventually('welcomed', () => a.welcomed() && b.welcomed());
    const res = await client.sendCommand({ hostname: 'node-a', action: 'set_interval', payloadJson: '{"interval":2}' });
    assert.equal(res.ack?.ok, true);
    assert.equal(res.ack?.message, 'interval set to 2s');
    assert.deepEqual(JSON.parse(res.ack.resultJson), { seen: { interval: 2 } });
    assert.equal(a.commands.length, 1);
    assert.equal(a.commands[0]!.id, res.ack.id);
    assert.equal(a.commands[0]!.action, 'set_interval');
    assert.ok(a.commands[0]!.deadlineMs > BigInt(Date.now()));
    assert.equal(b.commands.length, 0);
    // Several at once: each ack goes back to its own caller.
    const many = await Promise.all(['node-a', 'node-b', 'node-a'].map((h) => client.sendCommand({ hostname: h, action: 'ping', payloadJson: '' })));
    assert.equal(new Set(many.map((r) => r.ack!.id)).size, 3);
    assert.deepEqual(
      many.map((r) => r.ack!.message),
      ['interval set to 2s', 'done ping', 'interval set to 2s'],
    );
    assert.ok(m.log.has('command set_interval to node-a: ok: interval set to 2s'));
  });

  it('an agent refusing a command answers ok=false with its reason', async (t) => {
    const { coord } = await startCoord(t);
    const m = await startMonitor(t, coord);
    const client = monitorClient(t, m.address);
    startAgent(t, client, 'node-a', { onCommand: () => ({ ok: false, message: 'unknown metric "gpu"' }) });
    await eventually('connected', () => m.monitor.connectedAgents === 1);
    const res = await client.sendCommand({ hostname: 'node-a', action: 'enable_metric', payloadJson: '{"metric":"gpu"}' });
    assert.equal(res.ack?.ok, false);
    assert.equal(res.ack?.message, 'unknown metric "gpu"');
  });

  it('unknown host, disconnected host, unknown action, bad payload: clear errors with the right codes', async (t) => {
    const { coord } = await startCoord(t);
    const m = await startMonitor(t, coord);
    const client = monitorClient(t, m.address);
    const a = startAgent(t, client, 'node-a');
    const b = startAgent(t, client, 'node-b');
    await eventually('connected', () => m.monitor.connectedAgents === 2);
    b.kill();
    await b.done;
    await eventually('node-b disconnected', () => !m.monitor.view.snapshot('node-b')!.connected);
    const cases: [string, string, string, ConnectCode, RegExp][] = [
      ['node-q', 'ping', '{}', ConnectCode.NotFound, /unknown host "node-q" \(known: node-a, node-b\)/],
      ['node-b', 'ping', '{}', ConnectCode.FailedPrecondition, /node-b is not connected \(last seen .*, heartbeat dead\)/],
      ['node-a', 'reboot', '{}', ConnectCode.InvalidArgument, /unknown action "reboot" \(known: set_interval, enable_metric, disable_metric, get_config, ping\)/],
      ['node-a', 'set_interval', '{"interval":', ConnectCode.InvalidArgument, /payload of set_interval is not valid JSON/],
      ['node-a', 'set_interval', '{"interval":"2"}', ConnectCode.InvalidArgument, /bad payload for set_interval: "interval"/],
      ['node-a', 'set_interval', '{"interval":0}', ConnectCode.InvalidArgument, /bad payload for set_interval: "interval"/],
      ['node-a', 'set_interval', '{"interval":2,"x":1}', ConnectCode.InvalidArgument, /bad payload for set_interval/],
      ['node-a', 'set_interval', '[2]', ConnectCode.InvalidArgument, /bad payload for set_interval/],
      ['node-a', 'enable_metric', '{}', ConnectCode.InvalidArgument, /bad payload for enable_metric: "metric"/],
      ['', 'ping', '{}', ConnectCode.InvalidArgument, /no host given/],
    ];
    for (const [hostname, action, payloadJson, code, message] of cases) {
      const err = await rejection(client.sendCommand({ hostname, action, payloadJson }));
      assert.equal(err.code, code, `${hostname} ${action} ${payloadJson}: ${err.message}`);
      assert.match(err.rawMessage, message);
    }
    assert.equal(a.commands.length, 0, 'nothing invalid reaches the agent');
  });

  it('an agent that never acks: DEADLINE_EXCEEDED after the timeout; one that goes away while a command waits: UNAVAILABLE', async (t) => {
    const { coord } = await startCoord(t);
    const m = await startMonitor(t, coord);
    const client = monitorClient(t, m.address);
    const mute = startAgent(t, client, 'mute', { onCommand: () => undefined });
    await eventually('connected', () => m.monitor.connectedAgents === 1);
    const e1 = await rejection(client.sendCommand({ hostname: 'mute', action: 'ping', payloadJson: '{}', timeoutMs: 300n }));
    assert.equal(e1.code, ConnectCode.DeadlineExceeded);
    assert.match(e1.rawMessage, /mute did not ack ping \(command [0-9a-f-]+\) within 300 ms/);
    const pending = client.sendCommand({ hostname: 'mute', action: 'get_config', payloadJson: '{}', timeoutMs: 20_000n });
    await eventually('command delivered', () => mute.commands.length === 2);
    mute.kill();
    const e2 = await rejection(pending);
    assert.equal(e2.code, ConnectCode.Unavailable);
    assert.match(e2.rawMessage, /mute disconnected before acking get_config/);
  });

  it('a second stream from the same host replaces the first; commands go to the newest', async (t) => {
    const { coord } = await startCoord(t);
    const m = await startMonitor(t, coord);
    const client = monitorClient(t, m.address);
    const first = startAgent(t, client, 'node-a', { incarnation: 'p1' });
    await eventually('welcomed', () => first.welcomed());
    const second = startAgent(t, client, 'node-a', { incarnation: 'p1' });
    const err = ConnectError.from(await first.done);
    assert.match(err.rawMessage, /replaced by a newer stream from node-a/);
    await eventually('second welcomed', () => second.welcomed());
    await client.sendCommand({ hostname: 'node-a', action: 'ping', payloadJson: '{}' });
    assert.equal(second.commands.length, 1);
    assert.equal(m.monitor.view.snapshot('node-a')!.connected, true);
    assert.equal(m.monitor.connectedAgents, 1);
  });
});
