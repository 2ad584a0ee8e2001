/**
 * `flotilla obj mb|ls|put|get|rm|stat|policies`: the object store from the command line, against any
 * node's HTTP API (`--node HOST:PORT`, env FLOTILLA_NODE, default 127.0.0.1:9001); the node places and
 * replicates. Bodies stream both ways (a file is never read whole into memory); `put` and `get` of large
 * objects draw a progress bar on a terminal and print plain progress lines otherwise.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { clusterRequest as request } from '../core/tls.js';
import { basename } from 'node:path';
import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { parseHostPort } from '../core/address.js';
import { Code, FlotillaError } from '../core/errors.js';
import { checkBucketName, checkKey, type BucketInfo, type ListObjectsResult, type ObjectMeta, type PolicyInfo } from '../objects/index.js';
import { action } from './run.js';
import { authHeader } from './credentials.js';

interface ObjFlags {
  node?: string;
  json?: boolean;
  policy?: string;
  delimiter?: string;
  pageSize?: string;
}

/** Objects at least this large get a progress bar (TTY) or progress lines. */
const PROGRESS_MIN_BYTES = 8 * 1024 * 1024;
/** Keys per ListObjects page while `ls` pages through a bucket. */
const LIST_PAGE = 1000;

export function nodeOf(flags: ObjFlags): string {
  const node = (flags.node ?? process.env.FLOTILLA_NODE ?? '127.0.0.1:9001').trim();
  const p = parseHostPort(node);
  if (p.error !== undefined) throw new FlotillaError(Code.INVALID_ARGUMENT, `invalid --node ${JSON.stringify(node)}: ${p.error}`);
  return node;
}

/** "BUCKET/KEY" (the key may contain "/"); `keyRequired` false allows "BUCKET" and "BUCKET/". */
export function parseTarget(text: string, keyRequired: boolean): { bucket: string; key: string } {
  const slash = text.indexOf('/');
  const bucket = slash < 0 ? text : text.slice(0, slash);
  const key = slash < 0 ? '' : text.slice(slash + 1);
  checkBucketName(bucket);
  if (keyRequired && key === '') throw new FlotillaError(Code.INVALID_ARGUMENT, `expected BUCKET/KEY, got ${JSON.stringify(text)}`);
  if (key !== '') checkKey(key);
  return { bucket, key };
}

const objectPath = (bucket: string, key: string): string => `/api/v1/objects/buckets/${encodeURIComponent(bucket)}/objects/${encodeURIComponent(key)}`;

/** One HTTP exchange with the node; the body (when given) is streamed. Resolves with the response, whatever its status. */
function exchange(node: string, method: string, path: string, opts: { headers?: Record<string, string | number>; body?: Readable } = {}): Promise<IncomingMessage> {
  const { host, port } = parseHostPort(node) as { host: string; port: number };
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request({ host, port, method, path, headers: { ...authHeader(), ...(opts.body === undefined ? { 'content-length': 0 } : {}), ...opts.headers } }, (res) => {
      answered = true;
      resolve(res);
    });
    req.once('error', (err: NodeJS.ErrnoException) => {
      // A node that answers early (e.g. an unknown bucket) may close while the body is still going out.
      if (answered) return;
      const reason = err.code === 'ECONNREFUSED' ? 'connection refused' : err.message;
      reject(new FlotillaError(Code.UNAVAILABLE, `cannot reach node ${node}: ${reason}`));
    });
    if (opts.body === undefined) req.end();
    else {
      opts.body.once('error', (err) => {
        req.destroy();
        reject(FlotillaError.from(err));
      });
      opts.body.pipe(req);
    }
  });
}

async function readAll(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A non-2xx answer as a FlotillaError carrying the node's code and message (problem+json). */
async function failureOf(res: IncomingMessage): Promise<FlotillaError> {
  const text = await readAll(res).catch(() => '');
  let code: Code = res.statusCode === 404 ? Code.NOT_FOUND : res.statusCode === 400 ? Code.INVALID_ARGUMENT : Code.INTERNAL;
  let detail = `HTTP ${res.statusCode ?? 0}${text !== '' ? `: ${text.slice(0, 200)}` : ''}`;
  try {
    const p = JSON.parse(text) as { code?: string; detail?: string };
    if (p.code !== undefined && p.code in Code) code = p.code as Code;
    if (typeof p.detail === 'string') detail = p.detail;
  } catch {
    // Not problem+json: keep the status line.
  }
  return new FlotillaError(code, detail);
}

async function callJson<T>(node: string, method: string, path: string): Promise<T> {
  const res = await exchange(node, method, path);
  if ((res.statusCode ?? 0) >= 300) throw await failureOf(res);
  return JSON.parse(await readAll(res)) as T;
}

const MiB = 1024 * 1024;
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < MiB) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * MiB) return `${(n / MiB).toFixed(1)} MiB`;
  return `${(n / (1024 * MiB)).toFixed(2)} GiB`;
}

/** One progress line: `label [#####-----]  50%  5.0 MiB/10.0 MiB  2.5 MiB/s`. */
export function renderProgress(label: string, done: number, total: number, elapsedMs: number, width = 30): string {
  const frac = total > 0 ? Math.min(done / total, 1) : 1;
  const filled = Math.round(frac * width);
  const rate = elapsedMs > 0 ? (done / elapsedMs) * 1000 : 0;
  return `${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.floor(frac * 100)).padStart(3)}%  ${formatBytes(done)}/${formatBytes(total)}  ${formatBytes(Math.round(rate))}/s`;
}

/**
 * Counts bytes flowing through; reports on stderr: a bar redrawn at most 10 times a second on a
 * terminal, a line every 25% otherwise. Silent for small objects.
 */
function progressMeter(label: string, total: number, out: NodeJS.WriteStream = process.stderr): { stream: Transform; finish(): void } {
  const show = total >= PROGRESS_MIN_BYTES;
  const tty = out.isTTY === true;
  const started = Date.now();
  let done = 0;
  let lastDraw = 0;
  let lastQuarter = 0;
  const draw = (final: boolean): void => {
    if (!show) return;
    const line = renderProgress(label, done, total, Date.now() - started);
    if (tty) out.write(`\r${line}${final ? '\n' : ''}`);
    else out.write(`${line}\n`);
  };
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      done += chunk.length;
      const now = Date.now();
      if (tty && now - lastDraw >= 100) {
        lastDraw = now;
        draw(false);
      } else if (!tty && total > 0) {
        const quarter = Math.floor((done / total) * 4);
        if (quarter > lastQuarter && quarter < 4) {
          lastQuarter = quarter;
          draw(false);
        }
      }
      cb(null, chunk);
    },
  });
  return { stream, finish: () => draw(true) };
}

/** `--page-size`: keys per listing request, 1 to 1000 (the server's largest page). */
function pageSizeOf(flags: ObjFlags): number {
  if (flags.pageSize === undefined) return LIST_PAGE;
  const n = /^\d+$/.test(flags.pageSize.trim()) ? Number(flags.pageSize) : NaN;
  if (!(n >= 1 && n <= LIST_PAGE)) throw new FlotillaError(Code.INVALID_ARGUMENT, `invalid --page-size: expected a whole number from 1 to ${LIST_PAGE} (got ${JSON.stringify(flags.pageSize)})`);
  return n;
}

async function listAll(node: string, bucket: string, prefix: string, delimiter: string | undefined, pageSize: number, onPage: (r: ListObjectsResult) => void): Promise<void> {
  let after: string | undefined;
  // Bounded: each page moves `after` strictly forward; the cap only stops a misbehaving node.
  for (let page = 0; page < 10_000_000; page++) {
    const q = new URLSearchParams({ limit: String(pageSize) });
    if (prefix !== '') q.set('prefix', prefix);
    if (delimiter !== undefined) q.set('delimiter', delimiter);
    if (after !== undefined) q.set('after', after);
    const r = await callJson<ListObjectsResult>(node, 'GET', `/api/v1/objects/buckets/${encodeURIComponent(bucket)}/objects?${q.toString()}`);
    onPage(r);
    if (r.nextAfter === undefined || r.nextAfter === after) return;
    after = r.nextAfter;
  }
}

/** Left-aligned columns with a header row. */
export function columns(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [head, ...rows].map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

interface StatView {
  meta: ObjectMeta;
  placement: { partition: number; ring: string; replicas: { node: string; primary: boolean; state: string; version?: string }[] };
}

async function put(file: string, target: string, flags: ObjFlags): Promise<void> {
  const node = nodeOf(flags);
  const t = parseTarget(target, false);
  const key = t.key === '' || t.key.endsWith('/') ? `${t.key}${basename(file)}` : t.key;
  checkKey(key);
  const st = await stat(file).catch((err: NodeJS.ErrnoException) => {
    throw new FlotillaError(err.code === 'ENOENT' ? Code.NOT_FOUND : Code.INVALID_ARGUMENT, `cannot read ${file}: ${err.code ?? err.message}`);
  });
  if (!st.isFile()) throw new FlotillaError(Code.INVALID_ARGUMENT, `${file} is not a regular file`);
  const meter = progressMeter(`put ${t.bucket}/${key}`, st.size);
  const body = createReadStream(file).pipe(meter.stream);
  const res = await exchange(node, 'PUT', objectPath(t.bucket, key), { headers: { 'content-length': st.size, 'content-type': 'application/octet-stream' }, body });
  if ((res.statusCode ?? 0) >= 300) throw await failureOf(res);
  const meta = JSON.parse(await readAll(res)) as ObjectMeta;
  meter.finish();
  if (flags.json === true) process.stdout.write(`${JSON.stringify(meta)}\n`);
  else process.stdout.write(`uploaded ${meta.bucket}/${meta.key} ${meta.size} bytes sha256 ${meta.sha256}\n`);
}

async function get(target: string, dest: string | undefined, flags: ObjFlags): Promise<void> {
  const node = nodeOf(flags);
  const { bucket, key } = parseTarget(target, true);
  const res = await exchange(node, 'GET', objectPath(bucket, key));
  if (res.statusCode !== 200) throw await failureOf(res);
  const size = Number(res.headers['content-length'] ?? 0);
  const expected = res.headers['x-flotilla-sha256'];
  const hash = createHash('sha256');
  const check = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
    flush(cb) {
      const got = hash.digest('hex');
      cb(typeof expected === 'string' && got !== expected ? new FlotillaError(Code.INTERNAL, `checksum mismatch: got sha256 ${got}, the node announced ${expected}`) : null);
    },
  });
  const toStdout = dest === '-';
  const file = dest ?? basename(key);
  const meter = progressMeter(`get ${bucket}/${key}`, size);
  // A file is written under a temporary name and renamed once complete and verified.
  const part = `${file}.flotilla-part`;
  const sink: Writable = toStdout ? process.stdout : createWriteStream(part);
  try {
    if (toStdout) await pipeline(res, check, meter.stream, sink, { end: false });
    else await pipeline(res, check, meter.stream, sink);
  } catch (err) {
    if (!toStdout) await rm(part, { force: true });
    const e = FlotillaError.from(err);
    throw e.code === Code.INTERNAL && !e.rawMessage.startsWith('checksum') ? new FlotillaError(Code.UNAVAILABLE, `download of ${bucket}/${key} failed: ${e.rawMessage}`) : e;
  }
  meter.finish();
  if (!toStdout) {
    await rename(part, file);
    process.stderr.write(`downloaded ${bucket}/${key} to ${file} (${size} bytes)\n`);
  }
}

async function ls(target: string | undefined, flags: ObjFlags): Promise<void> {
  const node = nodeOf(flags);
  if (target === undefined) {
    const { buckets } = await callJson<{ buckets: BucketInfo[] }>(node, 'GET', '/api/v1/objects/buckets');
    if (flags.json === true) process.stdout.write(`${JSON.stringify(buckets)}\n`);
    else process.stdout.write(columns(['BUCKET', 'POLICY', 'CREATED'], buckets.map((b) => [b.name, b.policy, iso(b.createdAtMs)])));
    return;
  }
  const { bucket, key: prefix } = parseTarget(target, false);
  const pageSize = pageSizeOf(flags);
  const all: ListObjectsResult = { objects: [], commonPrefixes: [] };
  await listAll(node, bucket, prefix, flags.delimiter, pageSize, (r) => {
    if (flags.json === true) {
      all.objects.push(...r.objects);
      all.commonPrefixes.push(...r.commonPrefixes);
      return;
    }
    // Text streams page by page (a large bucket is never held in memory).
    let text = '';
    for (const p of r.commonPrefixes) text += `${'PRE'.padStart(20)}  ${''.padStart(12)}  ${p}\n`;
    for (const o of r.objects) text += `${iso(o.lastModifiedMs).padStart(20)}  ${String(o.size).padStart(12)}  ${o.key}\n`;
    process.stdout.write(text);
  });
  if (flags.json === true) process.stdout.write(`${JSON.stringify(all)}\n`);
}

async function statObject(target: string, flags: ObjFlags): Promise<void> {
  const node = nodeOf(flags);
  const { bucket, key } = parseTarget(target, true);
  const v = await callJson<StatView>(node, 'GET', `${objectPath(bucket, key)}?stat=1`);
  if (flags.json === true) {
    process.stdout.write(`${JSON.stringify(v)}\n`);
    return;
  }
  const m = v.meta;
  const newest = v.placement.replicas.map((r) => r.version ?? '').sort().pop() ?? '';
  const rows: [string, string][] = [
    ['object', `${m.bucket}/${m.key}`],
    ['size', `${m.size} (${formatBytes(m.size)})`],
    ['sha256', m.sha256],
    ['etag', m.etag],
    ['content-type', m.contentType],
    ['modified', iso(m.lastModifiedMs)],
    ['version', newest],
    ['placement', `${v.placement.ring} partition ${v.placement.partition}`],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(rows.map(([k, val]) => `${k.padEnd(w)}  ${val}`).join('\n') + '\n\n');
  process.stdout.write(columns(['NODE', 'ROLE', 'STATE', 'VERSION'], v.placement.replicas.map((r) => [r.node, r.primary ? 'primary' : 'handoff', r.state, r.version ?? ''])));
}

export function registerObj(program: Command): void {
  const obj = program
    .command('obj')
    .description('object store: buckets and objects through any node (--node HOST:PORT, env FLOTILLA_NODE, default 127.0.0.1:9001)');
  const nodeOpt = ['--node <host:port>', "a node's HTTP address (env FLOTILLA_NODE, default 127.0.0.1:9001)"] as const;

  obj
    .command('mb <bucket>')
    .description('make a bucket')
    .option(...nodeOpt)
    .option('--policy <name>', 'storage policy (see `flotilla obj policies`; default replicated-3)')
    .action(
      action(async (bucket: string, flags: ObjFlags) => {
        checkBucketName(bucket);
        const q = flags.policy !== undefined ? `?policy=${encodeURIComponent(flags.policy)}` : '';
        const b = await callJson<BucketInfo>(nodeOf(flags), 'PUT', `/api/v1/objects/buckets/${encodeURIComponent(bucket)}${q}`);
        process.stdout.write(`created bucket ${b.name} (policy ${b.policy})\n`);
      }),
    );

  obj
    .command('ls [target]')
    .description('list buckets, or the objects of BUCKET[/PREFIX] (all pages)')
    .option(...nodeOpt)
    .option('--delimiter <d>', 'group keys by this delimiter into common prefixes (e.g. /)')
    .option('--page-size <n>', `keys per listing request (1-${LIST_PAGE}, default ${LIST_PAGE}); ls still lists every page`)
    .option('--json', 'JSON output')
    .action(action(async (target: string | undefined, flags: ObjFlags) => ls(target, flags)));

  obj
    .command('put <file> <target>')
    .description('upload FILE to BUCKET/KEY (BUCKET or BUCKET/DIR/ keeps the file name), streamed')
    .option(...nodeOpt)
    .option('--json', 'JSON output')
    .action(action(async (file: string, target: string, flags: ObjFlags) => put(file, target, flags)));

  obj
    .command('get <target> [file]')
    .description('download BUCKET/KEY to FILE (default: the key\'s base name), or to stdout with -')
    .option(...nodeOpt)
    .action(action(async (target: string, file: string | undefined, flags: ObjFlags) => get(target, file, flags)));

  obj
    .command('rm <target>')
    .description('delete BUCKET/KEY')
    .option(...nodeOpt)
    .action(
      action(async (target: string, flags: ObjFlags) => {
        const { bucket, key } = parseTarget(target, true);
        await callJson<unknown>(nodeOf(flags), 'DELETE', objectPath(bucket, key));
        process.stdout.write(`deleted ${bucket}/${key}\n`);
      }),
    );

  obj
    .command('stat <target>')
    .description('size, checksum, version of BUCKET/KEY and which nodes hold its replicas, in which state')
    .option(...nodeOpt)
    .option('--json', 'JSON output')
    .action(action(async (target: string, flags: ObjFlags) => statObject(target, flags)));

  obj
    .command('policies')
    .description('the storage policies')
    .option(...nodeOpt)
    .option('--json', 'JSON output')
    .action(
      action(async (flags: ObjFlags) => {
        const { policies } = await callJson<{ policies: PolicyInfo[] }>(nodeOf(flags), 'GET', '/api/v1/objects/policies');
        if (flags.json === true) process.stdout.write(`${JSON.stringify(policies)}\n`);
        else process.stdout.write(columns(['POLICY', 'REPLICAS', 'DESCRIPTION'], policies.map((p) => [p.name, String(p.replicas), p.description])));
      }),
    );
}
