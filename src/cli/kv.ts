/**
 * `flotilla kv put|get|del|scan|health|shell|demo`: the key-value store from the command line, against
 * any node (`--node HOST:PORT`, env FLOTILLA_KV_NODE, default 127.0.0.1:7101): the node coordinates the
 * request over the key's replicas. Keys and values are UTF-8 text, or base64 with --base64 (binary).
 */
import { readFile } from 'node:fs/promises';
import { create } from '@bufbuild/protobuf';
import type { Command } from 'commander';
import { parseHostPort } from '../core/address.js';
import { parseDuration } from '../core/duration.js';
import { Code, FlotillaError } from '../core/errors.js';
import { formatHlc } from '../core/hlc.js';
import { peerCallError } from '../cluster/index.js';
import {
  DeleteRequestSchema,
  GetRequestSchema,
  KvHealthRequestSchema,
  PutRequestSchema,
  ScanRequestSchema,
  type KvVersion,
} from '../gen/flotilla/v1/kv_pb.js';
import { checkKey, checkValue, consistencyToProto, createKvClients, parseConsistency, type KvClients } from '../kv/index.js';
import { runKvDemo } from './kv-demo.js';
import { runKvShell } from './kv-shell.js';
import { action } from './run.js';

export interface KvFlags {
  node?: string;
  consistency?: string;
  json?: boolean;
  base64?: boolean;
  ttl?: string;
  limit?: string;
  all?: boolean;
  file?: string;
  timeout?: string;
}

/** A connection to one node's KvService, with the flags that shape every request. */
export interface KvSession {
  readonly node: string;
  put(key: string, value: Buffer, flags: KvFlags): Promise<Record<string, unknown>>;
  get(key: string, flags: KvFlags): Promise<Record<string, unknown>>;
  del(key: string, flags: KvFlags): Promise<Record<string, unknown>>;
  scan(prefix: string, flags: KvFlags): Promise<Record<string, unknown>[]>;
  health(): Promise<Record<string, unknown>>;
  close(): void;
}

export function nodeAddress(flags: KvFlags): string {
  const node = flags.node ?? process.env.FLOTILLA_KV_NODE ?? '127.0.0.1:7101';
  const p = parseHostPort(node);
  if (p.error !== undefined) throw new FlotillaError(Code.INVALID_ARGUMENT, `invalid --node ${JSON.stringify(node)}: ${p.error}`);
  return node;
}

function quorum(flags: KvFlags): { consistency: number; replicas: number } {
  if (flags.consistency === undefined) return { consistency: 0, replicas: 0 };
  const c = parseConsistency(flags.consistency);
  if (c.error !== undefined) throw new FlotillaError(Code.INVALID_ARGUMENT, c.error);
  return { consistency: consistencyToProto(c.value.level), replicas: c.value.replicas };
}

/** Text in, bytes out: UTF-8, or base64 with --base64 (strict: a typo is an error, not garbage). */
export function decodeArg(text: string, flags: KvFlags, what: string): Buffer {
  if (flags.base64 !== true) return Buffer.from(text, 'utf8');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) throw new FlotillaError(Code.INVALID_ARGUMENT, `the ${what} is not valid base64`);
  return Buffer.from(text, 'base64');
}

export function encodeOut(b: Uint8Array, flags: KvFlags): string {
  return flags.base64 === true ? Buffer.from(b).toString('base64') : Buffer.from(b).toString('utf8');
}

const version = (v: KvVersion | undefined): string => (v === undefined ? '' : formatHlc({ wallMs: Number(v.wallMs), logical: v.logical, node: v.node }));

export function openKvSession(node: string, timeoutMs = 10_000): KvSession {
  const clients: KvClients = createKvClients({ timeoutMs });
  const kv = clients.kv(node);
  const call = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      const fe = peerCallError(err, node, what);
      // Strip the "<node>: <what> failed:" wrapping of errors the node itself reported.
      throw fe;
    }
  };
  return {
    node,
    async put(key, value, flags) {
      const k = decodeArg(key, flags, 'key');
      checkKey(k);
      checkValue(value);
      let ttlMs = 0;
      if (flags.ttl !== undefined) {
        const d = parseDuration(flags.ttl);
        if (d.error !== undefined) throw new FlotillaError(Code.INVALID_ARGUMENT, `invalid --ttl: ${d.error}`);
        ttlMs = d.value;
      }
      const r = await call('put', () => kv.put(create(PutRequestSchema, { key: k, value, ttlMs: BigInt(ttlMs), ...quorum(flags) })));
      return { key, version: version(r.version), acks: r.acks };
    },
    async get(key, flags) {
      const k = decodeArg(key, flags, 'key');
      checkKey(k);
      const r = await call('get', () => kv.get(create(GetRequestSchema, { key: k, ...quorum(flags) })));
      if (!r.found) throw new FlotillaError(Code.NOT_FOUND, `key ${JSON.stringify(key)} not found`);
      return {
        key,
        value: encodeOut(r.value, flags),
        version: version(r.version),
        ...(r.expiresAtMs > 0n ? { expiresAt: new Date(Number(r.expiresAtMs)).toISOString() } : {}),
        answered: r.answered,
        repaired: r.repaired,
      };
    },
    async del(key, flags) {
      const k = decodeArg(key, flags, 'key');
      checkKey(k);
      const r = await call('delete', () => kv.delete(create(DeleteRequestSchema, { key: k, ...quorum(flags) })));
      return { key, deleted: true, version: version(r.version), acks: r.acks };
    },
    async scan(prefix, flags) {
      const p = decodeArg(prefix, flags, 'prefix');
      const limit = flags.limit === undefined ? 100 : Number(flags.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new FlotillaError(Code.INVALID_ARGUMENT, `invalid --limit ${JSON.stringify(flags.limit)}: 1..1000`);
      const out: Record<string, unknown>[] = [];
      let token: Uint8Array = new Uint8Array(0);
      // --all follows pages (bounded at 10 000 pages); else one page.
      for (let page = 0; page < (flags.all === true ? 10_000 : 1); page++) {
        const r = await call('scan', () => kv.scan(create(ScanRequestSchema, { prefix: p, limit, pageToken: token, ...quorum(flags) })));
        for (const e of r.entries) out.push({ key: encodeOut(e.key, flags), value: encodeOut(e.value, flags), version: version(e.version) });
        token = r.nextPageToken;
        if (token.length === 0) break;
      }
      return out;
    },
    async health() {
      const r = await call('health', () => kv.checkHealth(create(KvHealthRequestSchema, {})));
      return {
        node: r.node,
        address: node,
        serving: r.serving,
        replicas: r.replicas,
        writeQuorum: r.writeQuorum,
        readQuorum: r.readQuorum,
        ringVersion: Number(r.ringVersion),
        up: r.up,
        down: r.down,
        pendingHints: Number(r.pendingHints),
      };
    },
    close: () => clients.close(),
  };
}

/** One result as people read it. */
export function formatResult(cmd: string, r: Record<string, unknown>): string {
  switch (cmd) {
    case 'get':
      return `${String(r.value)}\n`;
    case 'put':
      return `OK (version ${String(r.version)}, ${String(r.acks)} replicas)\n`;
    case 'del':
      return `deleted (version ${String(r.version)}, ${String(r.acks)} replicas)\n`;
    case 'health':
      return (
        `${String(r.node)} at ${String(r.address)}: ${r.serving === true ? 'serving' : 'NOT serving'}; N=${String(r.replicas)} W=${String(r.writeQuorum)} R=${String(r.readQuorum)}` +
        ` ring v${String(r.ringVersion)}; up: ${(r.up as string[]).join(',') || '-'}; down: ${(r.down as string[]).join(',') || '-'}; hints waiting: ${String(r.pendingHints)}\n`
      );
    default:
      return `${JSON.stringify(r)}\n`;
  }
}

export function formatScan(entries: Record<string, unknown>[]): string {
  if (entries.length === 0) return '(no keys)\n';
  const width = Math.max(...entries.map((e) => String(e.key).length));
  return entries.map((e) => `${String(e.key).padEnd(width)}  ${String(e.value)}`).join('\n') + '\n';
}

async function withSession(flags: KvFlags, fn: (s: KvSession) => Promise<void>): Promise<void> {
  const timeout = flags.timeout === undefined ? 10_000 : Number(flags.timeout);
  if (!Number.isInteger(timeout) || timeout < 1) throw new FlotillaError(Code.INVALID_ARGUMENT, `invalid --timeout ${JSON.stringify(flags.timeout)}: milliseconds`);
  const s = openKvSession(nodeAddress(flags), timeout);
  try {
    await fn(s);
  } finally {
    s.close();
  }
}

function print(cmd: string, r: Record<string, unknown>, flags: KvFlags): void {
  process.stdout.write(flags.json === true ? `${JSON.stringify(r)}\n` : formatResult(cmd, r));
}

function common(c: Command): Command {
  return c
    .option('--node <host:port>', 'the node to ask (env FLOTILLA_KV_NODE, default 127.0.0.1:7101)')
    .option('--consistency <level>', 'one, quorum, all, or a number of replicas (default: the cluster setting, W=2 R=2)')
    .option('--base64', 'keys and values are base64 (binary) on input and output')
    .option('--json', 'print JSON')
    .option('--timeout <ms>', 'deadline of a request in ms (default 10000)');
}

export function registerKv(program: Command): void {
  const kv = program.command('kv').description('the replicated key-value store: put, get, del, scan, health, an interactive shell, a demo');
  common(kv.command('put').description('store a value (from VALUE, or --file PATH)').argument('<key>').argument('[value]'))
    .option('--ttl <duration>', 'expire after this long, e.g. 30s, 10m, 1h')
    .option('--file <path>', 'read the value from a file ("-" for stdin)')
    .action(
      action(async (key: string, value: string | undefined, flags: KvFlags) => {
        let bytes: Buffer;
        if (flags.file !== undefined) {
          if (value !== undefined) throw new FlotillaError(Code.INVALID_ARGUMENT, 'give the value or --file, not both');
          bytes = flags.file === '-' ? await readStdin() : await readFile(flags.file);
        } else {
          if (value === undefined) throw new FlotillaError(Code.INVALID_ARGUMENT, 'missing the value (or --file PATH)');
          bytes = decodeArg(value, flags, 'value');
        }
        await withSession(flags, async (s) => print('put', await s.put(key, bytes, flags), flags));
      }),
    );
  common(kv.command('get').description('read a value (exits 1 when the key does not exist)').argument('<key>')).action(
    action(async (key: string, flags: KvFlags) => withSession(flags, async (s) => print('get', await s.get(key, flags), flags))),
  );
  common(kv.command('del').alias('delete').description('delete a key').argument('<key>')).action(
    action(async (key: string, flags: KvFlags) => withSession(flags, async (s) => print('del', await s.del(key, flags), flags))),
  );
  common(kv.command('scan').description('list keys starting with PREFIX, in byte order').argument('[prefix]', 'key prefix', ''))
    .option('--limit <n>', 'entries per page, 1..1000 (default 100)')
    .option('--all', 'follow every page')
    .action(
      action(async (prefix: string, flags: KvFlags) =>
        withSession(flags, async (s) => {
          const entries = await s.scan(prefix, flags);
          process.stdout.write(flags.json === true ? `${JSON.stringify(entries)}\n` : formatScan(entries));
        }),
      ),
    );
  kv.command('health')
    .description('KV health of one or more nodes (default: --node); exits 1 if any does not serve')
    .argument('[host:port...]')
    .option('--node <host:port>', 'the node to ask when no address is given')
    .option('--json', 'print JSON')
    .option('--timeout <ms>', 'deadline in ms (default 3000)')
    .action(
      action(async (targets: string[], flags: KvFlags) => {
        const list = targets.length > 0 ? targets : [nodeAddress(flags)];
        let ok = true;
        const out: Record<string, unknown>[] = [];
        for (const t of list) {
          const s = openKvSession(nodeAddress({ node: t }), Number(flags.timeout ?? 3000) || 3000);
          try {
            const h = await s.health();
            ok &&= h.serving === true;
            out.push(h);
          } catch (err) {
            ok = false;
            out.push({ address: t, serving: false, error: FlotillaError.from(err).message });
          } finally {
            s.close();
          }
        }
        process.stdout.write(
          flags.json === true ? `${JSON.stringify(out)}\n` : out.map((h) => (typeof h.error === 'string' ? `${String(h.address)}: UNHEALTHY ${h.error}\n` : formatResult('health', h))).join(''),
        );
        process.exitCode = ok ? 0 : 1;
      }),
    );
  kv.command('shell')
    .description('interactive shell: put, get, del, scan, health, help; history and tab completion')
    .option('--node <host:port>', 'the node to ask (env FLOTILLA_KV_NODE, default 127.0.0.1:7101)')
    .option('--consistency <level>', 'default consistency of the session')
    .action(action(async (flags: KvFlags) => runKvShell(nodeAddress(flags), flags)));
  kv.command('demo')
    .description(
      "the source document's scenario on a three-node cluster it starts itself (temp dir, free loopback ports):\n" +
        'PUT, GET from every node, DELETE, GET from every node; then one node stopped: read old keys and write\n' +
        'new ones through the others; restart it and watch it catch up (hinted handoff and anti-entropy)',
    )
    .option('--keep', 'keep the data directory afterwards')
    .action(action(async (flags: { keep?: boolean }) => runKvDemo({ keep: flags.keep === true })));
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of process.stdin as AsyncIterable<Buffer>) {
    chunks.push(c);
    size += c.length;
    if (size > 2 * 1024 * 1024) break;
  }
  return Buffer.concat(chunks);
}
