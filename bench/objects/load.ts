/**
 * The load generator of `bench objects`: plain node:http requests to the nodes' object API
 * (`/api/v1/objects/buckets/B/objects/KEY`, the same ObjectService as the S3 API without SigV4), one
 * keep-alive connection pool per run, bodies streamed from memory and responses drained without copies.
 */
import { Agent, request, type IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';

const MiB = 1024 * 1024;

export class ObjectHttpClient {
  private readonly agent: Agent;

  constructor(maxSockets: number) {
    this.agent = new Agent({ keepAlive: true, maxSockets });
  }

  close(): void {
    this.agent.destroy();
  }

  private path(bucket: string, key: string): string {
    return `/api/v1/objects/buckets/${bucket}/objects/${encodeURIComponent(key)}`;
  }

  /** PUT of `body` (sent in 1 MiB slices of the one buffer). */
  async put(node: string, bucket: string, key: string, body: Buffer): Promise<void> {
    const [host, port] = node.split(':') as [string, string];
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request({ host, port: Number(port), method: 'PUT', path: this.path(bucket, key), agent: this.agent, headers: { 'content-length': body.length, 'content-type': 'application/octet-stream' } }, resolve);
      req.once('error', reject);
      if (body.length <= MiB) req.end(body);
      else {
        const slices = function* (): Generator<Buffer> {
          for (let off = 0; off < body.length; off += MiB) yield body.subarray(off, Math.min(off + MiB, body.length));
        };
        Readable.from(slices(), { objectMode: false }).once('error', reject).pipe(req);
      }
    });
    await this.expectOk(res, `PUT ${bucket}/${key} on ${node}`);
  }

  /** GET; returns the bytes received (the body is read and dropped). */
  async get(node: string, bucket: string, key: string): Promise<number> {
    const [host, port] = node.split(':') as [string, string];
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request({ host, port: Number(port), method: 'GET', path: this.path(bucket, key), agent: this.agent }, resolve);
      req.once('error', reject);
      req.end();
    });
    if (res.statusCode !== 200) {
      await this.expectOk(res, `GET ${bucket}/${key} on ${node}`);
      return 0;
    }
    let n = 0;
    for await (const c of res) n += (c as Buffer).length;
    if (!res.complete) throw new Error(`GET ${bucket}/${key} on ${node}: the response was cut after ${n} bytes`);
    return n;
  }

  async createBucket(node: string, bucket: string, policy: string): Promise<void> {
    const r = await fetch(`http://${node}/api/v1/objects/buckets/${bucket}?policy=${policy}`, { method: 'PUT' });
    if (r.status !== 201) throw new Error(`creating bucket ${bucket}: ${r.status} ${await r.text()}`);
  }

  private async expectOk(res: IncomingMessage, what: string): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    if (res.statusCode !== 200) throw new Error(`${what}: ${res.statusCode} ${Buffer.concat(chunks).toString('utf8').slice(0, 300)}`);
  }
}

export interface OpsResult {
  ops: number;
  seconds: number;
  latenciesMs: number[];
  errors: number;
}

/** C clients each run `op(client, i)` back to back until `seconds` pass or `maxOps` are done in all. */
export async function runOps(clients: number, seconds: number, maxOps: number, op: (client: number, i: number) => Promise<void>): Promise<OpsResult> {
  const latenciesMs: number[] = [];
  let next = 0;
  let errors = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      while (performance.now() < end && next < maxOps) {
        const i = next++;
        const s = performance.now();
        try {
          await op(c, i);
          latenciesMs.push(performance.now() - s);
        } catch (err) {
          errors++;
          if (errors === 1) process.stderr.write(`  first error: ${err instanceof Error ? err.message : String(err)}\n`);
          if (errors > 100) throw err;
        }
      }
    }),
  );
  return { ops: latenciesMs.length, seconds: (performance.now() - t0) / 1000, latenciesMs, errors };
}
