/**
 * The physical limits `bench objects` compares the object store with, measured in the same run on the same
 * machine and disk:
 * - disk write: the same bytes written to a file in a node's data directory, then fsynced (what one replica
 *   costs the disk at the least); for small objects, 4 KiB files written + fsynced by C writers at once;
 * - loopback: the same bytes sent from a file by a separate Node.js process through a plain TCP socket
 *   (`fs.createReadStream(file).pipe(socket)`) to this process, which reads and drops them (what a GET
 *   costs at the least: one process reads the bytes and streams them to another over 127.0.0.1).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
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
  const script = join(dir, 'bench-sender.cjs');
  await writeFile(script, SENDER);
  const child: ChildProcess = fork(script, [file], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve(m as number));
    child.once('exit', (code) => reject(new Error(`the loopback sender exited (code ${code})`)));
  });
  return {
    port,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Reads the whole file once from the sender; returns the seconds taken and the bytes received. */
export async function loopbackOnce(port: number): Promise<{ seconds: number; bytes: number }> {
  const t0 = performance.now();
  const s = connect({ host: '127.0.0.1', port });
  let bytes = 0;
  for await (const c of s) bytes += (c as Buffer).length;
  return { seconds: (performance.now() - t0) / 1000, bytes };
}
