/** A Fastify server on a free loopback port with the S3 routes over a given ObjectService, and an SDK client for it. */
import Fastify from 'fastify';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { ObjectService } from '../../../src/objects/object-service.js';
import { registerS3Routes } from '../../../src/objects/s3/index.js';
import { freePort, type Cleanup } from '../../testkit/index.js';
import { MemoryObjectService } from './memory-object-service.js';

export const ACCESS_KEY = 'FLOTILLATESTKEY00001';
export const SECRET_KEY = 'flotilla/test/secret+key/0123456789abcdef';

export interface S3TestServer {
  url: string;
  port: number;
  service: ObjectService;
  /** Every x-amz-content-sha256 mode seen (hex digests as 'sha256'), to show which body kinds clients sent. */
  payloadModes: Set<string>;
  client(config?: Partial<S3ClientConfig>): S3Client;
}

export async function startS3Server(t: Cleanup, service: ObjectService = new MemoryObjectService(), extra: { nowMs?: () => number } = {}): Promise<S3TestServer> {
  const app = Fastify({ bodyLimit: 1024 * 1024 });
  // Other routes of the same app, as on a node: they keep working beside the S3 catch-all.
  app.get('/healthz', async () => ({ status: 'ok' }));
  const payloadModes = new Set<string>();
  app.addHook('onRequest', async (req) => {
    const m = req.headers['x-amz-content-sha256'];
    if (typeof m === 'string') payloadModes.add(/^[0-9a-f]{64}$/.test(m) ? 'sha256' : m);
  });
  registerS3Routes(app, service, { credentials: [{ accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY }], region: 'us-east-1', ...extra });
  const port = await freePort();
  await app.listen({ host: '127.0.0.1', port });
  const clients: S3Client[] = [];
  t.after(async () => {
    for (const c of clients) c.destroy();
    await app.close();
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    service,
    payloadModes,
    client(config = {}) {
      const c = new S3Client({
        endpoint: url,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
        maxAttempts: 1,
        ...config,
      });
      clients.push(c);
      return c;
    },
  };
}
