import { randomBytes } from 'node:crypto';
import { describe } from 'node:test';
import { createS3Backend } from '../../../src/objects/backends/index.js';
import { parseBackendSpec } from '../../../src/cluster/index.js';
import { createBackendFromSpec } from '../../../src/objects/backends/index.js';
import { suiteOwner } from '../../testkit/cluster.js';
import { startS3rver, type LocalS3 } from '../testkit/s3rver.js';
import { runBackendSuite } from './backend-suite.js';
import assert from 'node:assert/strict';
import { test } from 'node:test';

describe('S3 backend against s3rver', () => {
  const owner = suiteOwner();
  let s3: LocalS3 | undefined;
  runBackendSuite({
    async newBackend(t) {
      s3 ??= await startS3rver(owner);
      // Each test its own prefix in the one bucket; parts of 5 MiB so that 12 MiB is a multipart upload.
      const b = createS3Backend({ endpoint: s3.endpoint, bucket: s3.bucket, prefix: `t-${randomBytes(4).toString('hex')}/`, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', partBytes: 5 * 1024 * 1024 });
      await b.start();
      t.after(() => b.stop());
      return b;
    },
  });

  test('the --backend s3:// spec builds a working backend; a missing bucket is a clear error', async () => {
    s3 ??= await startS3rver(owner);
    const spec = parseBackendSpec(s3.spec('node-a'));
    assert.equal(spec.error, undefined);
    assert.equal(spec.value?.kind, 's3');
    const b = createBackendFromSpec(spec.value);
    await b.start();
    assert.equal(b.location, `s3://${s3.host}/${s3.bucket}/node-a`);
    await b.stop();
    const bad = createBackendFromSpec(parseBackendSpec(`s3://S3RVER:S3RVER@${s3.host}/no-such-bucket`).value!);
    await assert.rejects(bad.start(), /no-such-bucket/);
    await bad.stop();
  });

  test('bad s3:// specs are refused with a message', () => {
    for (const s of ['s3://', 's3://host', 's3://host/B', 's3://a@host/bucket', 's3://k:s@host/bucket?x=1', 's3://k:s@host/bucket/../x']) {
      assert.ok(parseBackendSpec(s).error !== undefined, s);
    }
  });
});
