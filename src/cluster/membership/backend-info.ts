/**
 * What a node tells the cluster about its storage backend: kind, capacity, free space, and read/write
 * speed measured once at start by writing (with fsync) then reading a test file, which is then deleted.
 * The read figure may come from the page cache: it is an upper bound.
 */
import { mkdir, open, rm, statfs } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Code, FlotillaError } from '../../core/errors.js';
import type { BackendInfo } from './node-record.js';

export type BackendSpec =
  | { kind: 'dir'; path: string }
  | {
      kind: 's3';
      /** http(s)://HOST:PORT */
      endpoint: string;
      bucket: string;
      /** Key prefix inside the bucket ('' or ending in '/'). */
      prefix: string;
      region: string;
      /** Undefined: from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY at start. */
      accessKeyId?: string;
      secretAccessKey?: string;
      /** s3://HOST:PORT/BUCKET/PREFIX, without credentials (what the node publishes). */
      location: string;
    };

/**
 * Parses `dir:PATH` or `s3://[ACCESS:SECRET@]HOST[:PORT]/BUCKET[/PREFIX][?tls=1&region=R]` (credentials
 * percent-encoded; plain HTTP unless tls=1; region default us-east-1; path-style addressing).
 */
export function parseBackendSpec(text: string): { value: BackendSpec; error?: undefined } | { value?: undefined; error: string } {
  if (text.startsWith('dir:')) {
    const path = text.slice(4);
    if (path === '') return { error: 'dir: needs a path (dir:/var/lib/flotilla/objects)' };
    return { value: { kind: 'dir', path: resolve(path) } };
  }
  if (text.startsWith('s3://')) return parseS3Spec(text);
  return { error: `expected dir:PATH or s3://BUCKET (got ${JSON.stringify(text)})` };
}

function parseS3Spec(text: string): { value: BackendSpec; error?: undefined } | { value?: undefined; error: string } {
  const usage = 'expected s3://[ACCESS:SECRET@]HOST[:PORT]/BUCKET[/PREFIX][?tls=1&region=R]';
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return { error: `${usage} (got an unparsable URL)` };
  }
  const [bucket = '', ...rest] = u.pathname.replace(/^\//, '').split('/');
  if (u.hostname === '' || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) return { error: `${usage}: the bucket name is 3-63 lower-case letters, digits, "." or "-"` };
  const prefixPath = rest.filter((s) => s !== '').join('/');
  if (prefixPath.split('/').some((s) => s === '..' || s === '.')) return { error: `${usage}: the prefix may not contain "." or ".." segments` };
  for (const k of u.searchParams.keys()) if (k !== 'tls' && k !== 'region') return { error: `${usage}: unknown option ${k}` };
  const tls = u.searchParams.get('tls') === '1' || u.searchParams.get('tls') === 'true';
  const host = u.port !== '' ? `${u.hostname}:${u.port}` : u.hostname;
  const prefix = prefixPath === '' ? '' : `${prefixPath}/`;
  if ((u.username === '') !== (u.password === '')) return { error: `${usage}: give both ACCESS and SECRET, or neither (then AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)` };
  return {
    value: {
      kind: 's3',
      endpoint: `${tls ? 'https' : 'http'}://${host}`,
      bucket,
      prefix,
      region: u.searchParams.get('region') ?? 'us-east-1',
      ...(u.username !== '' ? { accessKeyId: decodeURIComponent(u.username), secretAccessKey: decodeURIComponent(u.password) } : {}),
      location: `s3://${host}/${bucket}${prefix === '' ? '' : `/${prefix.slice(0, -1)}`}`,
    },
  };
}

export interface ProbeOptions {
  /** Size of the test file. Default: 4 MiB. */
  testBytes?: number;
}

/** Capacity and free space of the file system holding `path`. */
export async function backendSpace(path: string): Promise<{ capacityBytes: number; freeBytes: number }> {
  const s = await statfs(path);
  return { capacityBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize };
}

const mbps = (bytes: number, ms: number): number => Math.round((bytes / 1e6 / Math.max(ms, 0.001)) * 1000 * 10) / 10;

/** Creates the backend directory if needed, measures it and returns what the node registers. */
export async function probeBackend(spec: BackendSpec, options: ProbeOptions = {}): Promise<BackendInfo> {
  if (spec.kind === 's3') {
    // Reached through the object store's S3 backend (src/objects), which checks the bucket at start.
    return { kind: 's3', location: spec.location, capacityBytes: 0, freeBytes: 0, readMBps: 0, writeMBps: 0 };
  }
  const size = options.testBytes ?? 4 * 1024 * 1024;
  try {
    await mkdir(spec.path, { recursive: true });
  } catch (err) {
    throw new FlotillaError(Code.CONFIG_INVALID, `backend directory ${spec.path} cannot be created: ${(err as Error).message}`, { cause: err });
  }
  const file = join(spec.path, `.flotilla-speed-test-${process.pid}`);
  const chunk = randomBytes(Math.min(size, 1024 * 1024));
  let writeMs = 0;
  let readMs = 0;
  try {
    const t0 = performance.now();
    const fh = await open(file, 'w');
    try {
      for (let written = 0; written < size; written += chunk.length) await fh.write(chunk, 0, Math.min(chunk.length, size - written));
      await fh.sync();
    } finally {
      await fh.close();
    }
    writeMs = performance.now() - t0;
    const t1 = performance.now();
    const rh = await open(file, 'r');
    try {
      const buf = Buffer.allocUnsafe(chunk.length);
      for (let read = 0; read < size; ) {
        const { bytesRead } = await rh.read(buf, 0, buf.length, read);
        if (bytesRead === 0) break;
        read += bytesRead;
      }
    } finally {
      await rh.close();
    }
    readMs = performance.now() - t1;
  } catch (err) {
    throw new FlotillaError(Code.CONFIG_INVALID, `backend directory ${spec.path} is not writable: ${(err as Error).message}`, { cause: err });
  } finally {
    await rm(file, { force: true });
  }
  const space = await backendSpace(spec.path);
  return { kind: spec.kind, location: spec.path, ...space, readMBps: mbps(size, readMs), writeMBps: mbps(size, writeMs) };
}
