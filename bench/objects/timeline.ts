/**
 * `npm run bench -- objects --part timeline`: where a large GET's time goes. One 64 MiB object on a 3-node
 * cluster (replicated-3), read N times through each node alternately with the loopback limit (limits.ts);
 * per read: time to the response headers, to the first body byte, and the streaming rate after it (MiB/s
 * from the first byte to the last), plus a HEAD (the metadata look-up alone). Reports medians.
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Agent, request, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { startObjectCluster } from '../../test/objects/cli/object-cluster.js';
import { BenchCleanup } from '../coord/bench-cleanup.js';
import { fmt, percentile, table } from '../coord/stats.js';
import { startLoopbackSender, writeFsync } from './limits.js';
import { ObjectHttpClient } from './load.js';

const MiB = 1024 * 1024;

interface Timing {
  headersMs: number;
  firstByteMs: number;
  totalMs: number;
  bytes: number;
}

/** One request on `agent`; times the headers, the first body byte and the end. */
async function timedRequest(agent: Agent, node: string, method: 'GET' | 'HEAD', path: string): Promise<Timing> {
  const [host, port] = node.split(':') as [string, string];
  const t0 = performance.now();
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request({ host, port: Number(port), method, path, agent }, resolve);
    req.once('error', reject);
    req.end();
  });
  const headersMs = performance.now() - t0;
  if (res.statusCode !== 200) throw new Error(`${method} ${path} on ${node}: ${res.statusCode}`);
  let firstByteMs = headersMs;
  let bytes = 0;
  for await (const c of res) {
    if (bytes === 0) firstByteMs = performance.now() - t0;
    bytes += (c as Buffer).length;
  }
  return { headersMs, firstByteMs, totalMs: performance.now() - t0, bytes };
}

async function timedLoopback(port: number): Promise<Timing> {
  const t0 = performance.now();
  const s = connect({ host: '127.0.0.1', port });
  let bytes = 0;
  let firstByteMs = 0;
  for await (const c of s) {
    if (bytes === 0) firstByteMs = performance.now() - t0;
    bytes += (c as Buffer).length;
  }
  return { headersMs: firstByteMs, firstByteMs, totalMs: performance.now() - t0, bytes };
}

export async function runTimeline(rounds: number, sizeMiB: number): Promise<void> {
  const owner = new BenchCleanup();
  owner.installSignalHandlers();
  const client = new ObjectHttpClient(4);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const size = sizeMiB * MiB;
  const load0 = loadavg();
  const rows: Record<string, Timing[]> = { loopback: [], 'GET (node holds it)': [], HEAD: [] };
  try {
    const c = await startObjectCluster(owner);
    for (const p of [c.server, ...c.nodes]) owner.trackProcess(p);
    await client.createBucket(c.http[0]!, 'large', 'replicated-3');
    const body = randomBytes(size);
    await client.put(c.http[0]!, 'large', 'obj', body);
    const dataDir = c.nodes[0]!.dataDir;
    await writeFsync(dataDir, 'bench-loopback.bin', body);
    const sender = await startLoopbackSender(dataDir, join(dataDir, 'bench-loopback.bin'));
    const path = '/api/v1/objects/buckets/large/objects/obj';
    try {
      await timedLoopback(sender.port);
      for (const n of c.http) await timedRequest(agent, n, 'GET', path);
      for (let i = 0; i < rounds; i++) {
        const node = c.http[i % 3]!;
        const l = await timedLoopback(sender.port);
        if (l.bytes !== size) throw new Error(`loopback: ${l.bytes} of ${size} bytes`);
        rows.loopback!.push(l);
        const g = await timedRequest(agent, node, 'GET', path);
        if (g.bytes !== size) throw new Error(`GET: ${g.bytes} of ${size} bytes`);
        rows['GET (node holds it)']!.push(g);
        rows.HEAD!.push(await timedRequest(agent, node, 'HEAD', path));
      }
    } finally {
      await sender.stop();
    }
  } catch (err) {
    owner.passed = false;
    throw err;
  } finally {
    client.close();
    agent.destroy();
    await owner.run();
  }
  const med = (xs: number[]): number => percentile(xs, 0.5);
  const rate = (t: Timing): number => t.bytes / MiB / ((t.totalMs - t.firstByteMs) / 1000);
  const whole = (t: Timing): number => t.bytes / MiB / (t.totalMs / 1000);
  console.log(`\nobjects timeline: ${rounds} reads of ${sizeMiB} MiB, medians; load average ${load0.map((l) => l.toFixed(2)).join(' ')} at the start, ${loadavg().map((l) => l.toFixed(2)).join(' ')} at the end\n`);
  console.log(
    table(
      ['', 'headers ms', 'first byte ms', 'total ms', 'MiB/s after 1st byte', 'MiB/s whole'],
      Object.entries(rows).map(([k, ts]) => [
        k,
        fmt(med(ts.map((t) => t.headersMs)), 2),
        fmt(med(ts.map((t) => t.firstByteMs)), 2),
        fmt(med(ts.map((t) => t.totalMs)), 1),
        k === 'HEAD' ? '-' : fmt(med(ts.map(rate)), 1),
        k === 'HEAD' ? '-' : fmt(med(ts.map(whole)), 1),
      ]),
    ),
  );
}
