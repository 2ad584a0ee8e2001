/**
 * The lean transport of the agents' CommandStream (agent-stream.ts) in front of ConnectRPC: malformed
 * streams get clear gRPC statuses, what it does not take (a deadline) still works through ConnectRPC,
 * and batches are pipelined (the store's fsync of one overlaps the next) with acks in order and only
 * once durable: a store failure acks nothing from the failed batch on, and the agent's resend is taken.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { describe, it } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import { AgentMessageSchema } from '../../../src/gen/flotilla/v1/monitor_pb.js';
import type { SampleStore } from '../../../src/monitor/index.js';
import { createTsdb } from '../../../src/monitor/tsdb/index.js';
import type { Cleanup } from '../../testkit/index.js';
import { tempDir } from '../../testkit/index.js';
import { eventually, monitorClient, startAgent, startCoord, startMonitor } from './fixtures.js';

const PATH = '/flotilla.v1.MonitorService/CommandStream';

interface RawAnswer {
  status: string | undefined;
  message: string | undefined;
}

/** Sends `body` as the whole request of a CommandStream over raw HTTP/2; the gRPC status of the answer. */
async function rawStream(t: Cleanup, address: string, body: Buffer, headers: http2.OutgoingHttpHeaders = {}): Promise<RawAnswer> {
  const session = http2.connect(`http://${address}`);
  t.after(() => session.destroy());
  session.on('error', () => undefined);
  const req = session.request({ ':method': 'POST', ':path': PATH, 'content-type': 'application/grpc', te: 'trailers', ...headers });
  return new Promise<RawAnswer>((resolve, reject) => {
    let answer: RawAnswer = { status: undefined, message: undefined };
    const take = (h: http2.IncomingHttpHeaders): void => {
      if (h['grpc-status'] !== undefined) answer = { status: String(h['grpc-status']), message: decodeURIComponent(String(h['grpc-message'] ?? '')) };
    };
    req.on('response', take);
    req.on('trailers', take);
    req.on('data', () => undefined);
    req.on('end', () => resolve(answer));
    req.on('error', reject);
    req.end(body);
  });
}

function frame(payload: Buffer, flags = 0): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

const hello = Buffer.from(toBinary(AgentMessageSchema, create(AgentMessageSchema, { kind: { case: 'hello', value: { hostname: 'raw', version: 'test', incarnation: 'i', protocol: 2 } } })));

describe('agent streams on the lean path', () => {
  it('malformed streams get clear statuses; a call with a deadline goes through ConnectRPC and works', async (t) => {
    const { coord } = await startCoord(t);
    const m = await startMonitor(t, coord);
    const cases: [string, Buffer, string, RegExp][] = [
      ['bytes that are no AgentMessage', frame(Buffer.from([0xff, 0xff, 0xff])), '3', /cannot decode AgentMessage/],
      ['a message over 4 MiB', Buffer.from([0, 0, 0x50, 0, 0]), '8', /larger than configured readMaxBytes 4194304 \(got 5242880 bytes\)/],
      ['a compressed message without grpc-encoding', frame(hello, 1), '3', /compressed message without grpc-encoding/],
      ['a stream ending inside a message', frame(hello).subarray(0, 8), '3', /ended inside a message/],
      ['a batch before the hello', frame(Buffer.from(toBinary(AgentMessageSchema, create(AgentMessageSchema, { kind: { case: 'batch', value: { seq: 1n } } })))), '3', /expected AgentHello as the first message, got batch/],
      ['nothing at all', Buffer.alloc(0), '3', /the stream ended before AgentHello/],
    ];
    for (const [what, body, status, message] of cases) {
      const answer = await rawStream(t, m.address, body);
      assert.equal(answer.status, status, `${what}: ${JSON.stringify(answer)}`);
      assert.match(answer.message ?? '', message, what);
    }
    // A well-formed stream that just says hello and ends: welcomed, then a clean end.
    assert.deepEqual(await rawStream(t, m.address, frame(hello)), { status: '0', message: '' });

    // A deadline (grpc-timeout) is ConnectRPC's to enforce: the call is passed on and works the same.
    const client = monitorClient(t, m.address);
    const a = startAgent(t, client, 'with-deadline', { timeoutMs: 60_000 });
    a.refBatch(1n, { series: [{ ref: 0, metric: 'node_load1' }], scrapes: [{ refs: [0], values: [1] }] });
    await eventually('welcome and ack through ConnectRPC', () => a.welcomed() && a.ackedSeq() === 1n);
  });

  it('a protocol error right behind batches still being stored: those batches are acked, then the stream ends with the error', async (t) => {
    const { coord } = await startCoord(t);
    const db = createTsdb({ dir: await tempDir(t) });
    await db.start();
    t.after(() => db.stop());
    const m = await startMonitor(t, coord, { store: db });
    const a = startAgent(t, monitorClient(t, m.address), 'node-p');
    const t0 = Date.now() - 60_000;
    for (let k = 1; k <= 5; k++) a.refBatch(BigInt(k), { ...(k === 1 ? { series: [{ ref: 0, metric: 'node_load1' }] } : {}), scrapes: [{ timeMs: t0 + k * 1000, refs: [0], values: [k] }] });
    a.refBatch(6n, { scrapes: [{ timeMs: t0 + 6000, refs: [9], values: [6] }] });
    const err = await a.done;
    assert.match(String(err?.message), /ref 9 was never defined on this stream/);
    assert.equal(a.ackedSeq(), 5n);
    const stored = await db.select([{ name: 'host', type: '=', value: 'node-p' }], t0, t0 + 60_000);
    assert.deepEqual(stored.map((s) => s.values), [[1, 2, 3, 4, 5]]);
  });

  for (const transport of ['lean', 'connect'] as const) {
    it(`${transport}: acks come in order once durable; a store failure acks nothing from the failed batch on, and the resend is stored`, async (t) => {
      const { coord } = await startCoord(t);
      const db = createTsdb({ dir: await tempDir(t) });
      await db.start();
      t.after(() => db.stop());
      // The real store, with a disk that can be "full" for a while: appends fail without touching it.
      let diskFull = false;
      let failures = 0;
      const store: SampleStore = {
        appendHost: (host, samples) => db.appendHost(host, samples),
        seriesRef: (host, metric, labels) => db.seriesRef(host, metric, labels),
        appendRefs: (timeMs, refs, values) => {
          if (!diskFull) return db.appendRefs(timeMs, refs, values);
          failures += 1;
          return Promise.reject(new Error('no space left on device (injected)'));
        },
      };
      const m = await startMonitor(t, coord, { store, transport });
      const client = monitorClient(t, m.address);
      const t0 = Date.now() - 60_000;
      const series = [0, 1, 2].map((ref) => ({ ref, metric: 'node_cpu_seconds_total', labels: { cpu: String(ref) } }));
      const batch = (k: number, withSeries: boolean) => ({ ...(withSeries ? { series } : {}), scrapes: [{ timeMs: t0 + k * 1000, refs: [0, 1, 2], values: [k, k + 0.5, k + 0.25] }] });

      const a = startAgent(t, client, 'node-a');
      for (let k = 1; k <= 20; k++) a.refBatch(BigInt(k), batch(k, k === 1));
      await eventually('20 batches acked', () => a.ackedSeq() === 20n);
      const acks = a.received.flatMap((msg) => (msg.kind.case === 'batchAck' ? [msg.kind.value.seq] : []));
      assert.deepEqual(acks, [...acks].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)), 'acks in order');

      diskFull = true;
      for (let k = 21; k <= 26; k++) a.refBatch(BigInt(k), batch(k, false));
      assert.equal(await a.done, undefined, 'the stream ends (the agent reconnects and resends)');
      assert.equal(a.ackedSeq(), 20n, 'nothing acked from the failed batch on');
      assert.ok(failures >= 1);
      assert.equal(m.monitor.view.lastSeq('node-a'), 20n, 'the failed batches are given back');
      assert.ok(m.log.messages().some((msg) => msg === 'stream from node-a failed'), m.log.messages().join('\n'));
      assert.ok(m.log.lines.some((l) => l.includes('samples of node-a could not be stored: no space left on device (injected)')));

      diskFull = false;
      const again = startAgent(t, client, 'node-a', { ackedSeq: 20n });
      for (let k = 21; k <= 26; k++) again.refBatch(BigInt(k), batch(k, k === 21));
      await eventually('the resend acked', () => again.ackedSeq() === 26n);
      const stored = await db.select([{ name: 'host', type: '=', value: 'node-a' }], t0, t0 + 60_000);
      assert.equal(stored.length, 3);
      for (const s of stored) {
        const cpu = Number(s.labels.cpu);
        const expected = Array.from({ length: 26 }, (_, i) => i + 1 + [0, 0.5, 0.25][cpu]!);
        assert.deepEqual(s.values, expected, `cpu ${cpu}`);
      }
    });
  }
});
