/**
 * The physical limits `bench objects` compares the object store with, measured in the same run on the same
 * machine and disk:
 * - disk write: the same bytes written to a file in a node's data directory, then fsynced (what one replica
 *   costs the disk at the least); for small objects, 4 KiB files written + fsynced by C writers at once;
 * - loopback: the same bytes sent from a file by a separate Node.js process through a plain TCP socket
 *   (`fs.createReadStream(file).pipe(socket)`) to the bench's reader process (startReader; Flotilla's large
 *   GETs are read there too), which reads and drops them (what a GET costs at the least: one process reads
 *   the bytes and streams them to another over 127.0.0.1);
 * - a plain replication pipeline (a reference beside the disk goal): three Node.js processes, one per
 *   node's data directory; the bench PUTs the bytes over HTTP to the first, which writes them to its file
 *   and forwards every chunk over plain TCP to the two others, which write theirs; each fsyncs, and the
 *   first answers once all three did. What three replicas through loopback cost this machine's cores and
 *   disk with nothing else done: no hashing, no checks, no metadata, no staging, no framing.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';

const MiB = 1024 * 1024;

/** Writes `data` to a new file in `dir` in 1 MiB writes, fsyncs and closes it; returns the seconds taken. */
export async function writeFsync(dir: string, name: string, data: Buffer): Promise<number> {
  const path = join(dir, name);
  const t0 = performance.now();
  const fh = await open(path, 'w');
  try {
    for (let off = 0; off < data.length; off += MiB) await fh.write(data, off, Math.min(MiB, data.length - off));
    await fh.sync();
  } finally {
    await fh.close();
  }
  return (performance.now() - t0) / 1000;
}

/** Small-file writes: C writers each write + fsync 4 KiB files for `seconds`; returns files/s. */
export async function smallWriteLimit(dir: string, clients: number, seconds: number, bytes: number): Promise<number> {
  const body = randomBytes(bytes);
  const end = performance.now() + seconds * 1000;
  let done = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = 0; performance.now() < end && i < 1_000_000; i++) {
        const fh = await open(join(dir, `bench-small-${c}-${i}.bin`), 'w');
        try {
          await fh.write(body);
          await fh.sync();
        } finally {
          await fh.close();
        }
        done++;
      }
    }),
  );
  const rate = done / ((performance.now() - t0) / 1000);
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    for (let i = 0; i < done; i++) await rm(join(dir, `bench-small-${c}-${i}.bin`), { force: true });
  }));
  return rate;
}

/** A helper process of the bench: its stdout dropped, its stderr shown, an IPC channel. */
export interface BenchChild {
  child: ChildProcess;
  /** Its first IPC message (what it announces once ready); rejects if it exits first. */
  ready: Promise<unknown>;
  /** SIGTERM, then waits for it to exit (nothing when it has already exited). */
  stop(): Promise<void>;
}

/** Forks `module` (a script path) with `args` (and `execArgv`, e.g. a TypeScript loader) as a BenchChild named `what` in errors. */
export function forkBenchChild(module: string, args: string[], what: string, execArgv?: string[]): BenchChild {
  const child = fork(module, args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], ...(execArgv !== undefined ? { execArgv } : {}) });
  const ready = new Promise<unknown>((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`${what} exited (code ${code})`)));
  });
  ready.catch(() => undefined);
  return {
    child,
    ready,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Writes `source` (CommonJS) to `dir/name` and forks it (forkBenchChild). */
async function forkScript(dir: string, name: string, source: string, args: string[], what: string): Promise<BenchChild> {
  const script = join(dir, name);
  await writeFile(script, source);
  return forkBenchChild(script, args, what);
}

/** The sender of the loopback limit: a separate process serving a file on every connection. */
const SENDER = `
const net = require('node:net');
const fs = require('node:fs');
const file = process.argv[2];
const srv = net.createServer((s) => { const r = fs.createReadStream(file, { highWaterMark: 1024 * 1024 }); r.pipe(s); s.on('error', () => r.destroy()); });
srv.listen(0, '127.0.0.1', () => process.send(srv.address().port));
process.on('disconnect', () => process.exit(0));
`;

export interface LoopbackSender {
  port: number;
  stop(): Promise<void>;
}

export async function startLoopbackSender(dir: string, file: string): Promise<LoopbackSender> {
  const sender = await forkScript(dir, 'bench-sender.cjs', SENDER, [file], 'the loopback sender');
  return { port: (await sender.ready) as number, stop: () => sender.stop() };
}

/**
 * The plain replication pipeline (see the top): `holder` mode writes each connection's bytes to a file,
 * fsyncs, answers one byte and removes the file; `relay` mode takes an HTTP PUT, writes it to its own
 * file while forwarding each chunk to the two holders (paced by the slowest socket), and answers 200 once
 * its fsync and both holders' answers are in. Writes are batched like the nodes' (writev of what arrived
 * while the previous write ran).
 */
const PIPELINE = `
const net = require('node:net');
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const [mode, dir, ...ports] = process.argv.slice(2);
let n = 0;
function fileWriter(done) {
  const file = path.join(dir, 'bench-pipeline-' + process.pid + '-' + n++);
  const fd = fs.openSync(file, 'w');
  let pending = [], writing = false, ended = false;
  const flush = () => {
    if (writing) return;
    if (pending.length === 0) {
      if (ended) { ended = false; fs.fsync(fd, (e) => { fs.closeSync(fd); fs.rmSync(file, { force: true }); done(e); }); }
      return;
    }
    const b = pending; pending = []; writing = true;
    fs.writev(fd, b, (e) => { writing = false; if (e) return done(e); flush(); });
  };
  return { write: (c) => { pending.push(c); flush(); }, end: () => { ended = true; flush(); } };
}
if (mode === 'holder') {
  const srv = net.createServer({ allowHalfOpen: true }, (s) => {
    const w = fileWriter((e) => s.end(e ? 'e' : 'k'));
    s.on('data', (c) => w.write(c)).on('end', () => w.end()).on('error', () => undefined);
  });
  srv.listen(0, '127.0.0.1', () => process.send(srv.address().port));
} else {
  const srv = http.createServer((req, res) => {
    const socks = ports.map((p) => net.connect(Number(p), '127.0.0.1'));
    let left = 3, failed = false;
    const one = (ok) => { failed = failed || !ok; if (--left === 0) res.writeHead(failed ? 500 : 200).end(); };
    for (const s of socks) s.once('data', (d) => one(String(d) === 'k')).once('error', () => one(false));
    const w = fileWriter((e) => one(!e));
    req.on('data', (c) => {
      w.write(c);
      let waits = 0;
      for (const s of socks) if (!s.write(c)) { waits++; s.once('drain', () => { if (--waits === 0) req.resume(); }); }
      if (waits > 0) req.pause();
    });
    req.on('end', () => { w.end(); for (const s of socks) s.end(); });
  });
  srv.listen(0, '127.0.0.1', () => process.send(srv.address().port));
}
process.on('disconnect', () => process.exit(0));
`;

export interface ReplicationPipeline {
  /** The relay's HTTP port. */
  port: number;
  stop(): Promise<void>;
}

/** Starts the plain replication pipeline: a relay writing to `dirs[0]`, holders writing to `dirs[1]` and `dirs[2]`. */
export async function startReplicationPipeline(dirs: [string, string, string]): Promise<ReplicationPipeline> {
  const script = join(dirs[0], 'bench-pipeline.cjs');
  await writeFile(script, PIPELINE);
  const children: BenchChild[] = [];
  const start = async (args: string[]): Promise<number> => {
    const c = forkBenchChild(script, args, 'a replication pipeline process');
    children.push(c);
    return (await c.ready) as number;
  };
  const stop = async (): Promise<void> => {
    await Promise.all(children.map((c) => c.stop()));
  };
  try {
    const holders = await Promise.all([start(['holder', dirs[1]]), start(['holder', dirs[2]])]);
    const port = await start(['relay', dirs[0], ...holders.map(String)]);
    return { port, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** One PUT of `body` through the pipeline (1 MiB slices, as the bench's client sends); returns the seconds taken. */
export async function pipelineOnce(port: number, body: Buffer): Promise<number> {
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'PUT', path: '/', headers: { 'content-length': body.length } }, (res) => {
      res.resume();
      res.once('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`replication pipeline: status ${res.statusCode}`))));
    });
    req.once('error', reject);
    let off = 0;
    const next = (): void => {
      while (off < body.length) {
        const s = body.subarray(off, Math.min(off + MiB, body.length));
        off += s.length;
        if (!req.write(s)) {
          req.once('drain', next);
          return;
        }
      }
      req.end();
    };
    next();
  });
  return (performance.now() - t0) / 1000;
}

/**
 * The reader of the large reads, both the loopback limit's and Flotilla's GETs: a separate, lean Node.js
 * process (no TypeScript loader, no test harness, a small heap). Read in the bench's own process, every
 * 64 MiB arrived as a thousand fresh 64 KiB buffers in a heap holding the bench, the cluster's harness and
 * the bodies: a full garbage collection per read on four threads (~180 ms of CPU per 64 MiB, more than the
 * node serving it), which slowed and scattered both measurements alike.
 */
const READER = `
const http = require('node:http');
const net = require('node:net');
const agent = new http.Agent({ keepAlive: true });
function done(t0, bytes, extra) { process.send({ seconds: (performance.now() - t0) / 1000, bytes, ...extra }); }
process.on('message', (m) => {
  const t0 = performance.now();
  let bytes = 0;
  if (m.loopback !== undefined) {
    const s = net.connect(m.loopback, '127.0.0.1');
    s.on('data', (c) => (bytes += c.length)).on('end', () => done(t0, bytes)).on('error', (e) => process.send({ error: e.message }));
    return;
  }
  http.get(m.url, { agent }, (res) => {
    res.on('data', (c) => (bytes += c.length));
    res.on('end', () => done(t0, bytes, { status: res.statusCode, complete: res.complete }));
  }).on('error', (e) => process.send({ error: e.message }));
});
process.on('disconnect', () => process.exit(0));
`;

export interface Reader {
  /** Reads the loopback sender's file once. */
  loopback(port: number): Promise<{ seconds: number; bytes: number }>;
  /** GETs a URL and drops the body; fails on a status other than 200 or a cut response. */
  get(url: string): Promise<{ seconds: number; bytes: number }>;
  stop(): Promise<void>;
}

export async function startReader(dir: string): Promise<Reader> {
  const reader = await forkScript(dir, 'bench-reader.cjs', READER, [], 'the bench reader');
  const { child } = reader;
  const ask = (m: object): Promise<{ seconds: number; bytes: number; status?: number; complete?: boolean }> =>
    new Promise((resolve, reject) => {
      const onExit = (code: number | null): void => reject(new Error(`the bench reader exited (code ${code})`));
      child.once('exit', onExit);
      child.once('message', (r) => {
        child.off('exit', onExit);
        const a = r as { error?: string; seconds: number; bytes: number; status?: number; complete?: boolean };
        if (a.error !== undefined) reject(new Error(`bench reader: ${a.error}`));
        else resolve(a);
      });
      child.send(m);
    });
  return {
    loopback: (port) => ask({ loopback: port }),
    async get(url) {
      const r = await ask({ url });
      if (r.status !== 200 || r.complete !== true) throw new Error(`GET ${url}: status ${r.status}, ${r.complete === true ? 'complete' : 'cut'} after ${r.bytes} bytes`);
      return r;
    },
    stop: () => reader.stop(),
  };
}
