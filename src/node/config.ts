import { z } from 'zod';
import { durationMs as anyDurationMs, envBoolean, hostPort, stringList } from '../core/config.js';
import { Code, FlotillaError } from '../core/errors.js';
import { NODE_ROLES, nodeNameSchema, parseBackendSpec } from '../cluster/index.js';
import { agentLabelsSchema } from '../monitor/index.js';
import { tlsConfigFields } from '../core/tls.js';

/** A duration: a number of seconds, or NUMBER followed by ms or s ("1500ms", "3s"). Parsed to ms. */
const durationMs = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const m = typeof v === 'number' ? [String(v), String(v), 's'] : /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(v.trim());
  const ms = m === null ? NaN : Number(m[1]) * (m[2] === 'ms' ? 1 : 1000);
  if (!Number.isFinite(ms) || ms < 100 || ms > 600_000) {
    ctx.addIssue({ code: 'custom', message: 'expected a duration between 100ms and 600s, e.g. 3s or 1500ms' });
    return z.NEVER;
  }
  return ms;
});

/** Configuration of `flotilla node` (flags, FLOTILLA_* variables, YAML file). */
export const nodeConfigSchema = z.object({
  /** The node's name in the cluster (unique among live nodes). Required. */
  name: nodeNameSchema,
  /** remote_setup: any member's address (the server's --listen, or a node's peer address). */
  join: hostPort.optional(),
  /** Same as `join`, naming the server. */
  server: hostPort.optional(),
  /** Static list of peer addresses; each is checked, the first that answers is asked to join. */
  peers: stringList.optional(),
  /** Coordination endpoints used directly (no join). */
  etcd: stringList.default([]),
  /** local_setup (no join, peers or etcd): address of this node's own embedded coordination store. */
  coordListen: hostPort.default('127.0.0.1:2379'),
  /** Peer gRPC address. */
  listen: hostPort.default('0.0.0.0:7101'),
  /** agent role: the monitoring server's gRPC address. Default: the server this node joined through (or learned of when joining). */
  monitorServer: hostPort.optional(),
  /** agent role: labels workflow tasks select this node's agent by (`k=v,...`; runs_on: {labels}). Default: none. */
  labels: agentLabelsSchema.default({}),
  /**
   * objects role: address of the file transfer endpoints (POST /upload, /download). Default 0.0.0.0:5001;
   * when that default port is taken the node runs without them (warning); an explicit address must be free.
   * "off" disables them.
   */
  xfer: z.union([z.literal('off'), hostPort]).optional(),
  /** objects role: S3 access keys accepted by the S3 API, ACCESS:SECRET[,ACCESS:SECRET...]. Default: none (S3 API refuses every request). */
  s3Credentials: stringList.default([]).pipe(z.array(z.string().regex(/^[^:]{1,128}:.{1,256}$/, 'an S3 credential is ACCESS:SECRET'))),
  /** objects role: time between replicator rounds (repair, rebalancing, garbage collection), e.g. 30s. Default 30s. */
  replicateInterval: anyDurationMs.pipe(z.number().min(100, 'at least 100ms')).default(30_000),
  /** objects role: time between auditor passes (every local replica re-read and checked), e.g. 1h. Default 10m. */
  auditInterval: anyDurationMs.pipe(z.number().min(100, 'at least 100ms')).default(600_000),
  /** objects role: a delete's tombstone is removed this long after the delete (longer than any node stays away). Default 7d. */
  tombstoneGrace: anyDurationMs.pipe(z.number().min(1000, 'at least 1s')).default(7 * 86_400_000),
  /** objects role: multipart uploads not completed this long after they started are aborted. Default 7d. */
  multipartExpiry: anyDurationMs.pipe(z.number().min(1000, 'at least 1s')).default(7 * 86_400_000),
  /** HTTP address (health, readiness, /api/v1, the S3 API). */
  http: hostPort.default('0.0.0.0:9001'),
  /** Host other processes dial to reach this node. Default: the listen host, or this machine's first IPv4 address. */
  advertiseHost: z.string().min(1).optional(),
  roles: stringList.default([...NODE_ROLES]).pipe(
    z.array(z.enum(NODE_ROLES, { message: `roles are ${NODE_ROLES.join(', ')}` })).min(1, 'at least one role'),
  ),
  /** Failure domain used by rings to spread replicas. */
  zone: z.string().regex(/^[A-Za-z0-9._-]{1,63}$/, 'a zone is 1-63 letters, digits, ".", "_" or "-"').default('default'),
  /** Rings this node's services need: /readyz reports `ring:<name>` not ready until each exists. Default: none. */
  needRings: stringList.default([]),
  /** Default: ./.flotilla/<name>. */
  dataDir: z.string().min(1).optional(),
  /** dir:PATH (default dir:<data-dir>/objects) or s3://[ACCESS:SECRET@]HOST[:PORT]/BUCKET[/PREFIX][?tls=1&region=R]. */
  backend: z
    .string()
    .optional()
    .superRefine((v, ctx) => {
      if (v === undefined) return;
      const p = parseBackendSpec(v);
      if (p.error !== undefined) ctx.addIssue({ code: 'custom', message: p.error });
    }),
  /** Registration lease TTL in seconds. */
  leaseTtl: z.coerce.number().int().min(2).max(300).default(5),
  /** A peer that does not answer health checks for this long is DISCONNECTED. Default 3s. */
  failureTimeout: durationMs.default(3000),
  /** Authentication: `auto` (on when a listener is beyond loopback or a join token is given) or `on`. Default auto. */
  auth: z.enum(['auto', 'on'], { message: 'auth is auto or on (--insecure-no-auth turns it off)' }).default('auto'),
  /** Turns authentication off even when listening beyond loopback (logged as a loud warning). Default false. */
  insecureNoAuth: envBoolean.default(false),
  /** Rate limit of the public APIs (HTTP API, public gRPC methods): requests/s per API token (per client address without one); the cluster token is exempt; 0 = off. Applies with authentication on. Default 200. */
  rateLimit: z.coerce.number().min(0).max(1_000_000).default(1000),
  /** Requests a caller may make at once (the token bucket's size). Default: 2 × rateLimit. */
  rateLimitBurst: z.coerce.number().int().min(1).max(10_000_000).optional(),
  /** The cluster's join token (from the server's <data-dir>/join-token), sent on every call to other processes. */
  joinToken: z.string().min(1).optional(),
  /** A file holding the join token (read at start). */
  joinTokenFile: z.string().min(1).optional(),
  /** Time between health checks of one peer. Default 1s. */
  healthInterval: durationMs.default(1000),
  /** TLS (docs/security.md): --tls-dir/--tls-name or --tls-ca/--tls-cert/--tls-key; default off. */
  ...tlsConfigFields,
});
export type NodeConfigInput = z.infer<typeof nodeConfigSchema>;

export type JoinMode = { kind: 'local'; coordListen: string } | { kind: 'join'; address: string } | { kind: 'peers'; addresses: string[] } | { kind: 'etcd'; endpoints: string[] };

export interface NodeConfig extends Omit<NodeConfigInput, 'join' | 'server' | 'peers' | 'etcd' | 'coordListen' | 'dataDir' | 'backend'> {
  dataDir: string;
  backend: string;
  mode: JoinMode;
}

/** Cross-key checks and defaults that depend on other keys. */
export function resolveNodeConfig(c: NodeConfigInput): NodeConfig {
  const given = [c.join !== undefined && '--join', c.server !== undefined && '--server', c.peers !== undefined && '--peers', c.etcd.length > 0 && '--etcd'].filter(
    (x): x is string => x !== false,
  );
  if (given.length > 1) throw new FlotillaError(Code.CONFIG_INVALID, `give only one of ${given.join(', ')}`);
  if (c.healthInterval >= c.failureTimeout) {
    throw new FlotillaError(Code.CONFIG_INVALID, `--health-interval (${c.healthInterval} ms) must be shorter than --failure-timeout (${c.failureTimeout} ms)`);
  }
  const joinAddress = c.join ?? c.server;
  const mode: JoinMode =
    joinAddress !== undefined
      ? { kind: 'join', address: joinAddress }
      : c.peers !== undefined
        ? { kind: 'peers', addresses: c.peers }
        : c.etcd.length > 0
          ? { kind: 'etcd', endpoints: c.etcd }
          : { kind: 'local', coordListen: c.coordListen };
  if (mode.kind === 'peers' && mode.addresses.length === 0) throw new FlotillaError(Code.CONFIG_INVALID, '--peers needs at least one HOST:PORT');
  const dataDir = c.dataDir ?? `./.flotilla/${c.name}`;
  const { join: _j, server: _s, peers: _p, etcd: _e, coordListen: _c, ...rest } = c;
  return { ...rest, dataDir, backend: c.backend ?? `dir:${dataDir}/objects`, mode };
}
