/** s3rver (a local S3-compatible server) in this process, on a free loopback port, closed by `t`. */
import { createRequire } from 'node:module';
import type { Cleanup } from '../../testkit/index.js';
import { freePort, tempDir } from '../../testkit/index.js';

interface S3rverInstance {
  run(): Promise<unknown>;
  close(cb: () => void): void;
}
type S3rverCtor = new (options: Record<string, unknown>) => S3rverInstance;
// s3rver ships no types: typed here by the few members used.
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverCtor;

export interface LocalS3 {
  endpoint: string;
  host: string;
  bucket: string;
  /** A --backend value for a node (credentials S3RVER:S3RVER). */
  spec(prefix?: string): string;
}

export async function startS3rver(t: Cleanup, buckets: string[] = ['flotilla-test']): Promise<LocalS3> {
  const port = await freePort();
  const directory = await tempDir(t, 'flotilla-s3rver-');
  const server = new S3rver({ port, address: '127.0.0.1', silent: true, directory, configureBuckets: buckets.map((name) => ({ name })) });
  await server.run();
  t.after(() => new Promise<void>((res) => server.close(() => res())));
  const host = `127.0.0.1:${port}`;
  const bucket = buckets[0] ?? 'flotilla-test';
  return { endpoint: `http://${host}`, host, bucket, spec: (prefix) => `s3://S3RVER:S3RVER@${host}/${bucket}${prefix !== undefined ? `/${prefix}` : ''}` };
}
