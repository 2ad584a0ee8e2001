/**
 * The load generator's client: the `etcd3` npm library, configured identically for both peers. Each
 * client gets its own HTTP/2 connection (a local sub-channel pool; grpc-js otherwise shares one
 * connection between all clients of the same address), so C clients are C connections to the store.
 * Fault handling is a pass-through: a failed request fails the run instead of being retried.
 */
import { Etcd3 } from 'etcd3';
import type { IOptions } from 'etcd3';

type Policy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;

function passThroughPolicy(): Policy {
  const noEvent = () => ({ dispose: () => undefined });
  const policy = {
    execute: async <T>(fn: (ctx: { signal: AbortSignal }) => PromiseLike<T> | T): Promise<T> => fn({ signal: new AbortController().signal }),
    onSuccess: noEvent,
    onFailure: noEvent,
  };
  return policy as unknown as Policy;
}

export interface BenchClientOptions {
  /** Deadline of each unary request. Default: 10000. */
  requestTimeoutMs?: number;
}

/** A new etcd3 client on its own connection to `endpoint` (`127.0.0.1:PORT`). Close it with close(). */
export function createBenchClient(endpoint: string, opts: BenchClientOptions = {}): Etcd3 {
  const timeoutMs = opts.requestTimeoutMs ?? 10_000;
  return new Etcd3({
    hosts: `http://${endpoint}`,
    grpcOptions: { 'grpc.use_local_subchannel_pool': 1 },
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeoutMs }),
    faultHandling: { global: passThroughPolicy(), host: () => passThroughPolicy() },
  });
}
