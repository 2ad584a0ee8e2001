import type { Command } from 'commander';
import { loadConfig } from '../core/config.js';
import { createLogger } from '../core/log.js';
import { version } from '../core/version.js';
import { createServerProcess, serverConfigSchema } from '../server/index.js';
import { action, addProcessTlsOptions, givenOptions, runUntilStopped, table } from './run.js';
import { setupProcessTls } from '../core/tls.js';
import type { BootstrapResult } from '../auth/index.js';

/** The first admin token, printed once when this start created it. */
export function adminTokenNotice(b: BootstrapResult | undefined): string {
  if (b?.createdAdminToken === undefined) return '';
  return `\nAdmin API token (shown once; also in ${b.adminTokenFile}, mode 0600):\n  ${b.createdAdminToken}\n`;
}

export function registerServer(program: Command): void {
  const cmd = program.command('server');
  addProcessTlsOptions(cmd, 'server');
  cmd
    .description('run a control-plane server: coordination store (or a client of real etcd) and the HTTP API')
    .option('--listen <host:port>', 'gRPC address: nodes join here, `flotilla status` asks here (default 0.0.0.0:50051)')
    .option('--http <host:port>', 'HTTP API address (default 0.0.0.0:8080)')
    .option('--coord-listen <host:port>', 'address of the embedded coordination store (default 127.0.0.1:2379)')
    .option('--etcd <endpoints>', 'use real etcd instead of the embedded store: host:port[,host:port...]')
    .option('--data-dir <dir>', 'where this server keeps its data (default ./.flotilla/server)')
    .option('--db <url>', 'SQL store for workflows and messages: sqlite:PATH or postgres://user@host:port/db (default sqlite:<data-dir>/flotilla.db)')
    .option('--expect-nodes <n>', 'build the kv ring automatically once N kv nodes are ACTIVE (default: never; see flotilla ring build)')
    .option('--nats <url>', 'scheduled messages: fan out through NATS (nats://host:port) so subscribers on every server get every message')
    .option('--pubsub-secret <secret>', 'scheduled messages: HMAC secret of channel tokens, >= 32 chars (env FLOTILLA_PUBSUB_SECRET; default: generated in the data dir)')
    .option('--log-samples', 'log every metric sample agents send, (time, hostname, metric, value), at info level (env FLOTILLA_LOG_SAMPLES)')
    .option(
      '--remote-write <spec>',
      'remote write agents\' samples to URL[;match=SELECTOR]..., e.g. \'http://h:8086/api/v1/prom/write?db=containers;match={container!=""}\' (repeatable; env FLOTILLA_REMOTE_WRITE, space-separated)',
      (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    )
    .option('--tsdb-retention <duration>', 'metric history kept, e.g. 15d, 36h (default 15d; env FLOTILLA_TSDB_RETENTION)')
    .option('--tsdb-max-bytes <size>', 'most disk the metric history may take, e.g. 10GB (oldest deleted first; default 0 = no limit)')
    .option('--rules <file...>', 'Prometheus rule files (recording and alerting rules; re-read on SIGHUP)')
    .option('--alert-webhook <url>', 'POST alert notifications (Alertmanager webhook JSON) to this URL (repeatable)', (value: string, previous: string[] | undefined) => [...(previous ?? []), value])
    .option('--auth <mode>', 'API tokens: auto (on when any listener is beyond loopback) or on (default auto; docs/security.md)')
    .option('--insecure-no-auth', 'turn authentication off even beyond loopback (logged as a loud warning)')
    .option('--rate-limit <n>', 'requests/s per API token (or per client address without one) on the HTTP API and public gRPC methods; the join token is exempt; 0 = off (default 1000)')
    .option('--rate-limit-burst <n>', 'requests a caller may make at once (default 2 x --rate-limit)')
    .option('--join-token <token>', 'cluster token for internal calls (env FLOTILLA_JOIN_TOKEN; default <data-dir>/join-token, created when missing)')
    .option('--oidc-issuer <url>', 'dashboard login with OpenID Connect: the provider\'s issuer URL (docs/security.md)')
    .option('--oidc-client-id <id>', 'OpenID Connect client id registered at the provider')
    .option('--oidc-client-secret <secret>', 'OpenID Connect client secret (prefer env FLOTILLA_OIDC_CLIENT_SECRET)')
    .option('--oidc-redirect-url <url>', 'this server\'s public callback URL: https://HOST/auth/oidc/callback')
    .option('--oidc-admins <users>', 'users (verified e-mail or subject) who sign in as admin, comma-separated')
    .option('--oidc-operators <users>', 'users who sign in as operator, comma-separated')
    .option('--oidc-readers <users>', 'users who sign in as reader, comma-separated')
    .option('--oidc-default-role <role>', 'role of any other user who signs in (default: refused)')
    .option('--oidc-session-ttl <duration>', 'how long a login lasts (default 12h)')
    .option('--config <file>', 'YAML file with the same keys (listen, http, coordListen, etcd, dataDir, logSamples)')
    .action(
      action(async (_opts: unknown, cmd: Command) => {
        const config = loadConfig({ schema: serverConfigSchema, flags: givenOptions(cmd), file: cmd.opts<{ config?: string }>().config });
        const logger = createLogger({ name: 'server' });
        // Before any listener or client exists: bad TLS material stops the start with CONFIG_INVALID naming the file.
        const tls = await setupProcessTls(config, 'server');
        const server = createServerProcess(config, logger);
        process.on('SIGHUP', () => {
          const rules = server.rules;
          if (rules === undefined) return;
          rules.reload().catch((err: unknown) => logger.error({ err: (err as Error).message }, 'rule reload failed; the previous rules stay in force'));
        });
        await runUntilStopped(
          server.lifecycle,
          () =>
            `flotilla server ${version} ready\n` +
            table([
              [config.etcd.length > 0 ? 'coordination (etcd)' : 'coordination (etcd v3 API)', server.coordEndpoints().join(',')],
              ['gRPC (join, status, agents)', server.grpc.address],
              ['HTTP', `${server.http.url}  (health: /healthz, readiness: /readyz)`],
              ['data', config.dataDir],
              ['TLS', tls !== undefined ? `on (mutual TLS between processes, HTTPS API; certificate ${tls.name ?? ''})` : 'off (--tls-dir turns it on)'],
              ['authentication', server.auth.enabled ? 'on (API tokens)' : 'off (loopback only; --auth on turns it on)'],
              ['join token', server.auth.bootstrap()?.joinTokenFile ?? ''],
            ]) +
            adminTokenNotice(server.auth.bootstrap()),
        );
      }),
    );
}
