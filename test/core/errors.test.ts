import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Code, FlotillaError, GrpcStatus } from '../../src/core/errors.js';

describe('FlotillaError', () => {
  it('puts the code in the message and maps it to gRPC and HTTP', () => {
    const e = new FlotillaError(Code.NOT_FOUND, 'no such key');
    assert.equal(e.message, '[not_found] no such key');
    assert.equal(e.grpcStatus, GrpcStatus.NOT_FOUND);
    assert.equal(e.httpStatus, 404);
    assert.equal(e.retryable, false);
    assert.equal(new FlotillaError(Code.UNAVAILABLE, 'x').retryable, true);
  });

  it('builds problem+json without the cause', () => {
    const e = new FlotillaError(Code.INVALID_ARGUMENT, 'bad key', { cause: new Error('secret internals'), details: { key: 'k' } });
    const p = e.toProblem('/kv/x');
    assert.deepEqual(p, {
      type: 'urn:flotilla:error:invalid_argument',
      title: 'Invalid argument',
      status: 400,
      code: 'INVALID_ARGUMENT',
      detail: 'bad key',
      instance: '/kv/x',
      details: { key: 'k' },
    });
    assert.ok(!JSON.stringify(p).includes('secret'));
  });

  it('normalises anything thrown', () => {
    const same = new FlotillaError(Code.CANCELLED, 'c');
    assert.equal(FlotillaError.from(same), same);
    const inUse = Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' });
    assert.equal(FlotillaError.from(inUse).code, Code.LISTEN_FAILED);
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    assert.equal(FlotillaError.from(refused).code, Code.UNAVAILABLE);
    assert.equal(FlotillaError.from('weird').code, Code.INTERNAL);
    assert.equal(FlotillaError.from(new Error('boom')).cause instanceof Error, true);
  });

  it('maps every code', () => {
    for (const code of Object.values(Code)) {
      const e = new FlotillaError(code, 'm');
      assert.ok(e.httpStatus >= 400 && e.httpStatus < 600, code);
      assert.ok(e.grpcStatus > 0 && e.grpcStatus <= 16, code);
    }
  });
});
