/**
 * `npm run bench -- objects --part path`: a large GET's response path alone, without the cluster. A child
 * process (get-path-server.ts) holds one blob in a directory backend and answers it the ways listed there;
 * this process reads each variant and the plain loopback stream alternately, N rounds, and prints the
 * median MiB/s and each variant's ratio to loopback.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, percentile, table } from '../coord/stats.js';
import { forkBenchChild } from './limits.js';

const MiB = 1024 * 1024;
const VARIANTS = ['/send-fused', '/send-unchecked', '/send-transform', '/raw-fused'];

async function timedGet(agent: Agent, port: number, path: string): Promise<{ ms: number; bytes: number }> {
  const t0 = performance.now();
  let bytes = 0;
  await new Promise<void>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.once('end', resolve);
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end();
  });
  return { ms: performance.now() - t0, bytes };
}

async function timedNet(port: number): Promise<{ ms: number; bytes: number }> {
  const t0 = performance.now();
  let bytes = 0;
  for await (const c of connect({ host: '127.0.0.1', port })) bytes += (c as Buffer).length;
  return { ms: performance.now() - t0, bytes };
}

export async function runGetPath(rounds: number, sizeMiB: number): Promise<void> {
  const size = sizeMiB * MiB;
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-get-path-'));
  const server = join(fileURLToPath(new URL('.', import.meta.url)), 'get-path-server.ts');
  const child = forkBenchChild(server, [dir, String(size)], 'the get-path server', ['--import', 'tsx']);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const load0 = loadavg();
  const ms: Record<string, number[]> = { loopback: [], ...Object.fromEntries(VARIANTS.map((v) => [v, []])) };
  try {
    const ports = (await child.ready) as { http: number; net: number };
    const check = (what: string, r: { ms: number; bytes: number }): number => {
      if (r.bytes !== size) throw new Error(`${what}: ${r.bytes} of ${size} bytes`);
      return r.ms;
    };
    await timedNet(ports.net);
    for (const v of VARIANTS) await timedGet(agent, ports.http, v);
    for (let i = 0; i < rounds; i++) {
      for (const v of VARIANTS) {
        ms.loopback!.push(check('loopback', await timedNet(ports.net)));
        ms[v]!.push(check(v, await timedGet(agent, ports.http, v)));
      }
    }
  } finally {
    agent.destroy();
    await child.stop();
    await rm(dir, { recursive: true, force: true });
  }
  const rate = (xs: number[]): number => sizeMiB / (percentile(xs, 0.5) / 1000);
  const loop = rate(ms.loopback!);
  console.log(`\nobjects GET path: ${rounds} rounds of ${sizeMiB} MiB per variant, medians; load average ${load0.map((l) => l.toFixed(2)).join(' ')} at the start, ${loadavg().map((l) => l.toFixed(2)).join(' ')} at the end\n`);
  console.log(table(['', 'MiB/s', 'ratio to loopback'], Object.entries(ms).map(([k, xs]) => [k, fmt(rate(xs), 1), k === 'loopback' ? '' : fmt(rate(xs) / loop, 2)])));
}
