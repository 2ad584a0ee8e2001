import { z } from 'zod';
import { durationMs, envBoolean, hostPort, stringList } from '../core/config.js';

/** Configuration of `flotilla server` (flags, FLOTILLA_* variables, YAML file). */
export const serverConfigSchema = z.object({
  /** gRPC address (ClusterService: nodes join here, `flotilla status` asks here). */
  listen: hostPort.default('0.0.0.0:50051'),
  /** HTTP API and dashboard address. */
  http: hostPort.default('0.0.0.0:8080'),
  /** Address of the embedded coordination store (etcd v3 API); unused with `etcd`. */
  coordListen: hostPort.default('127.0.0.1:2379'),
  /** Real etcd endpoints (host:port or http://host:port); when set, no embedded store runs. */
  etcd: stringList.default([]),
  /** Build the `kv` ring automatically once this many kv nodes are ACTIVE (OBJ-9). Default: never (an admin builds it). */
  expectNodes: z.coerce.number().int().min(1).max(65_535).optional(),
  /** Where this process keeps its data. */
  dataDir: z.string().min(1).default('./.flotilla/server'),
  /** The SQL store (workflows, messages): sqlite:PATH or postgres://... Default: sqlite:<data-dir>/flotilla.db. */
  db: z.string().min(1).optional(),
  /** Scheduled messages: HMAC secret of channel tokens (>= 32 chars; servers sharing NATS share it). Default: generated into <data-dir>/pubsub-secret. */
  pubsubSecret: z.string().min(32).optional(),
  /** Scheduled messages: fan out through this NATS server (nats://host:port) so subscribers on every server get every message. */
  nats: z.string().regex(/^nats:\/\/\S+$/, 'expected nats://host:port').optional(),
  /** Log every metric sample agents send, `(time, hostname, metric, value)`, at info level (else debug). */
  logSamples: envBoolean.default(false),
});
export type ServerConfig = z.infer<typeof serverConfigSchema>;

/** Configuration of `flotilla coord serve`. */
export const coordConfigSchema = z.object({
  listen: hostPort.default('127.0.0.1:2379'),
  /** History the store keeps before compacting it automatically; 0 turns automatic compaction off. */
  autoCompactionRetention: durationMs.default(3_600_000),
  dataDir: z.string().min(1).default('./.flotilla/coord'),
});
export type CoordConfig = z.infer<typeof coordConfigSchema>;
