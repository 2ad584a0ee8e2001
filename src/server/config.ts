import { z } from 'zod';
import { durationMs, envBoolean, hostPort, stringList } from '../core/config.js';
import { remoteWriteSchema } from '../monitor/index.js';
import { tlsConfigFields } from '../core/tls.js';

const BYTE_UNITS: Record<string, number> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };

/** A size in bytes, from a number or a string such as `500MB`, `10GiB`, `1.5GB`. */
const byteSize = z.union([
  z.number().int().nonnegative(),
  z.string().transform((s, ctx) => {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(s);
    const unit = m === null ? undefined : BYTE_UNITS[m[2]!.toLowerCase()];
    if (m === null || unit === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a size such as 0, 500MB or 10GiB, got ${JSON.stringify(s)}` });
      return z.NEVER;
    }
    return Math.round(Number(m[1]) * unit);
  }),
]);

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
  /** Metric history: samples older than this are deleted (whole blocks). Default 15d. */
  tsdbRetention: durationMs.refine((ms) => ms >= 3_600_000, 'must be at least 1h').default(15 * 86_400_000),
  /** Metric history: most bytes its blocks may take on disk (oldest deleted first); 0 = no limit. Default 0. */
  tsdbMaxBytes: byteSize.default(0),
  /** Remote write of agents' samples: `URL[;match=SELECTOR]...` specs or YAML mappings (see docs/metrics.md). Default none. */
  remoteWrite: remoteWriteSchema.default([]),
  /** Prometheus rule files (recording and alerting rules), re-read on SIGHUP. Default none. */
  rules: stringList.default([]),
  /** URLs that receive alert notifications (Alertmanager's webhook JSON). Default none. */
  alertWebhook: stringList.default([]),
  /** Authentication: `auto` (on when any listener is beyond loopback) or `on`. Default auto. See docs/security.md. */
  auth: z.enum(['auto', 'on'], { message: 'auth is auto or on (--insecure-no-auth turns it off)' }).default('auto'),
  /** Turns authentication off even when listening beyond loopback (logged as a loud warning). Default false. */
  insecureNoAuth: envBoolean.default(false),
  /** Rate limit of the public APIs (HTTP API, public gRPC methods): requests/s per API token (per client address without one); the cluster token is exempt; 0 = off. Applies with authentication on. Default 200. */
  rateLimit: z.coerce.number().min(0).max(1_000_000).default(1000),
  /** Requests a caller may make at once (the token bucket's size). Default: 2 × rateLimit. */
  rateLimitBurst: z.coerce.number().int().min(1).max(10_000_000).optional(),
  /** The cluster token this server uses for internal calls (a second server sharing etcd). Default: <data-dir>/join-token, created when missing. */
  joinToken: z.string().min(1).optional(),
  /** Dashboard login with OpenID Connect: the provider's issuer URL (https://, or http:// on loopback). Default: off. */
  oidcIssuer: z.string().url().optional(),
  /** The client id registered at the provider. */
  oidcClientId: z.string().min(1).optional(),
  /** The client secret (prefer FLOTILLA_OIDC_CLIENT_SECRET to a flag). */
  oidcClientSecret: z.string().min(1).optional(),
  /** This server's public callback URL registered at the provider: https://HOST/auth/oidc/callback. */
  oidcRedirectUrl: z.string().url().optional(),
  /** Users (verified e-mail or subject) given each role at login. */
  oidcAdmins: stringList.default([]),
  oidcOperators: stringList.default([]),
  oidcReaders: stringList.default([]),
  /** The role of any other user who signs in; unset: they are refused. */
  oidcDefaultRole: z.enum(['reader', 'operator', 'admin']).optional(),
  /** How long a login's session token lasts. Default 12h. */
  oidcSessionTtl: durationMs.refine((ms) => ms >= 60_000 && ms <= 30 * 86_400_000, 'must be from 1m to 30d').default(12 * 3_600_000),
  /** TLS (docs/security.md): --tls-dir/--tls-name or --tls-ca/--tls-cert/--tls-key; default off. */
  ...tlsConfigFields,
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
