/**
 * The settings of `flotilla agent` (flags, FLOTILLA_* variables, YAML file; see src/core/config.ts).
 * The monitoring settings themselves (interval, metrics) live in the coordination store.
 */
import { hostname as osHostname } from 'node:os';
import { z } from 'zod';
import { durationMs, hostPort, stringList } from '../../core/config.js';
import { parseHostPort } from '../../core/address.js';
import { agentLabelsSchema } from './agent-labels.js';
import { tlsConfigFields } from '../../core/tls.js';

export const agentConfigSchema = z.object({
  /** Name reported by this agent. Default: the machine's hostname. */
  hostname: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/, 'a hostname: letters, digits, dot, dash, underscore; no slash')
    .default(() => osHostname()),
  /** The monitor server, host:port. Default: 127.0.0.1:50051. */
  server: hostPort.default('127.0.0.1:50051'),
  /** Coordination endpoints host:port[,host:port...]. Default: 127.0.0.1:2379. */
  etcd: stringList
    .refine((l) => l.length > 0, 'at least one endpoint')
    .refine((l) => l.every((e) => parseHostPort(e.replace(/^https?:\/\//, '')).error === undefined), 'each endpoint must be HOST:PORT')
    .default(['127.0.0.1:2379']),
  /** Heartbeat lease TTL (rounded up to whole seconds, at least 1 s). Default: 5s. */
  heartbeatTtl: durationMs.refine((ms) => ms >= 1000 && ms <= 3_600_000, 'between 1s and 1h').default(5000),
  /** Where samples past the memory bound are spilled. Default: none (they are dropped, and counted). */
  dataDir: z.string().min(1).optional(),
  /** Most samples buffered in memory. Default: 100000. */
  bufferSamples: z.coerce.number().int().min(100).max(100_000_000).default(100_000),
  /** Bound of the spill files (with --data-dir), in bytes. Default: 67108864 (64 MiB). */
  spillBytes: z.coerce.number().int().min(65_536).max(1024 ** 4).default(64 * 1024 * 1024),
  /** Labels (`k=v,k2=v2`, or a mapping in the YAML file) that workflow tasks select agents by. Default: none. */
  labels: agentLabelsSchema.default({}),
  /** TLS (docs/security.md): --tls-dir/--tls-name or --tls-ca/--tls-cert/--tls-key; default off. */
  ...tlsConfigFields,
});
export type AgentConfig = z.infer<typeof agentConfigSchema>;
