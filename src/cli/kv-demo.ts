/**
 * `flotilla kv demo`: the source document's test scenario, run end to end on a cluster the demo starts
 * itself (a server that builds the kv ring, three kv nodes; temp data dir, free loopback ports):
 * PUT, GET from every node, DELETE, GET from every node; stop one node, read the old keys and write new
 * ones through the others; restart it and show it caught up without any manual step. Everything it
 * started is stopped at the end, on error and on Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Code, FlotillaError } from '../core/errors.js';
import { openKvSession, type KvSession } from './kv.js';

interface Proc {
  name: string;
  args: string[];
  http: string;
  peer?: string;
  child?: ChildProcess;
  stderr: string;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a !== null ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

const out = (s: string): void => void process.stdout.write(s);

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(200);
  }
  throw new FlotillaError(Code.DEADLINE_EXCEEDED, `demo: ${what} did not happen within ${timeoutMs / 1000} s`);
}

export async function runKvDemo(options: { keep: boolean }): Promise<void> {
  const bin = fileURLToPath(new URL('../../bin/flotilla.js', import.meta.url));
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-kv-demo-'));
  const [grpc, http, coord] = [await freePort(), await freePort(), await freePort()];
  const server: Proc = {
    name: 'server',
    http: `127.0.0.1:${http}`,
    args: ['server', '--listen', `127.0.0.1:${grpc}`, '--http', `127.0.0.1:${http}`, '--coord-listen', `127.0.0.1:${coord}`, '--data-dir', join(dir, 'server'), '--expect-nodes', '3'],
    stderr: '',
  };
  const nodes: Proc[] = [];
  for (const [i, name] of ['node-a', 'node-b', 'node-c'].entries()) {
    const [peer, nhttp] = [await freePort(), await freePort()];
    nodes.push({
      name,
      http: `127.0.0.1:${nhttp}`,
      peer: `127.0.0.1:${peer}`,
      args: ['node', '--name', name, '--join', `127.0.0.1:${grpc}`, '--listen', `127.0.0.1:${peer}`, '--http', `127.0.0.1:${nhttp}`, '--roles', 'kv', '--zone', `zone-${i + 1}`, '--need-rings', 'kv', '--data-dir', join(dir, name)],
      stderr: '',
    });
  }
  const sessions = new Map<string, KvSession>();
  const start = async (p: Proc): Promise<void> => {
    const child = spawn(process.execPath, [bin, ...p.args], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: { ...process.env, FLOTILLA_LOG_PRETTY: '0' } });
    p.child = child;
    p.stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (p.stderr = (p.stderr + d).slice(-20_000)));
    await until(`${p.name} ready`, 30_000, async () => {
      if (child.exitCode !== null) throw new FlotillaError(Code.UNAVAILABLE, `${p.name} exited: ${p.stderr.slice(-500)}`);
      const res = await fetch(`http://${p.http}/readyz`);
      await res.body?.cancel();
      return res.status === 200;
    });
  };
  const stop = async (p: Proc): Promise<void> => {
    const c = p.child;
    p.child = undefined;
    if (c === undefined || c.exitCode !== null) return;
    const exited = new Promise((resolve) => c.once('exit', resolve));
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  const stopAll = async (): Promise<void> => {
    for (const s of sessions.values()) s.close();
    for (const p of [...nodes].reverse()) await stop(p);
    await stop(server);
    if (!options.keep) await rm(dir, { recursive: true, force: true });
  };
  const onSignal = (): void => {
    void stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const kv = (name: string): KvSession => {
    let s = sessions.get(name);
    if (s === undefined) sessions.set(name, (s = openKvSession(nodes.find((n) => n.name === name)!.peer!, 5000)));
    return s;
  };
  const getFrom = async (name: string, key: string, consistency?: string): Promise<string> => {
    try {
      const r = await kv(name).get(key, consistency !== undefined ? { consistency } : {});
      return JSON.stringify(r.value);
    } catch (err) {
      const fe = FlotillaError.from(err);
      return fe.code === Code.NOT_FOUND ? '(not found)' : `error: ${fe.message}`;
    }
  };

  try {
    out(`starting a server and three kv nodes in ${dir} ...\n`);
    await start(server);
    await Promise.all(nodes.map(start));
    await until('every node sees the kv ring and its peers', 30_000, async () => {
      const hs = await Promise.all(nodes.map((n) => kv(n.name).health()));
      return hs.every((h) => (h.ringVersion as number) > 0 && (h.up as string[]).length === 3);
    });
    out(`cluster up: ${nodes.map((n) => `${n.name} ${n.peer}`).join(', ')}; N=3 W=2 R=2\n\n`);

    out('1. PUT and replication\n');
    out(`   PUT greeting="xin chao" via node-a: ${JSON.stringify(await kv('node-a').put('greeting', Buffer.from('xin chao'), {}))}\n`);
    for (const n of nodes) out(`   GET greeting from ${n.name}: ${await getFrom(n.name, 'greeting')}\n`);

    out('\n2. DELETE and replication\n');
    out(`   DELETE greeting via node-b: ${JSON.stringify(await kv('node-b').del('greeting', {}))}\n`);
    for (const n of nodes) out(`   GET greeting from ${n.name}: ${await getFrom(n.name, 'greeting')}\n`);

    out('\n3. One node down\n');
    for (let i = 1; i <= 3; i++) await kv('node-a').put(`city/${i}`, Buffer.from(['Ha Noi', 'Hue', 'Sai Gon'][i - 1]!), {});
    out('   PUT city/1..3 via node-a\n');
    await stop(nodes[2]!);
    sessions.get('node-c')?.close();
    sessions.delete('node-c');
    out('   node-c stopped (SIGTERM)\n');
    await until('node-a and node-b see node-c down', 20_000, async () => ((await kv('node-a').health()).down as string[]).includes('node-c'));
    for (const name of ['node-a', 'node-b']) for (let i = 1; i <= 3; i++) out(`   GET city/${i} from ${name}: ${await getFrom(name, `city/${i}`)}\n`);
    out(`   PUT while-c-was-down="written by node-b" via node-b: ${JSON.stringify(await kv('node-b').put('while-c-was-down', Buffer.from('written by node-b'), {}))}\n`);
    out(`   hints waiting on node-a and node-b for node-c: ${String((await kv('node-a').health()).pendingHints)} + ${String((await kv('node-b').health()).pendingHints)}\n`);

    out('\n4. node-c returns and catches up (no manual step)\n');
    const t0 = Date.now();
    await start(nodes[2]!);
    await until('node-c holds the write it missed', 30_000, async () => (await getFrom('node-c', 'while-c-was-down', 'one')) === JSON.stringify('written by node-b'));
    out(`   node-c restarted; its own copy (consistency one) of while-c-was-down: ${await getFrom('node-c', 'while-c-was-down', 'one')} after ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    out(`   its own copy of greeting: ${await getFrom('node-c', 'greeting', 'one')}\n`);
    out('\ndemo done.\n');
  } catch (err) {
    for (const p of [server, ...nodes]) if (p.stderr !== '') process.stderr.write(`--- ${p.name} (last lines)\n${p.stderr.split('\n').slice(-15).join('\n')}\n`);
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stopAll();
  }
}
