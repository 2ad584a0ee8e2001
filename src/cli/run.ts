/**
 * What every command shares: turning errors into one line on stderr and an exit code (never a stack
 * trace), and running a long-lived process until a signal or its parent stops it.
 */
import type { Command } from 'commander';
import { Code, FlotillaError } from '../core/errors.js';
import { ExitCode, type Lifecycle } from '../core/lifecycle.js';
import { stopWhenParentGoes } from '../core/supervisor.js';
import { clusterFetch, loadTrustedCa, processTls, setProcessTls, setupProcessTls, type TlsFlags } from '../core/tls.js';

const usageCodes: ReadonlySet<Code> = new Set([Code.CONFIG_INVALID, Code.INVALID_ARGUMENT, Code.FLOW_SPEC_INVALID]);

export function exitCodeFor(err: FlotillaError): number {
  return usageCodes.has(err.code) ? ExitCode.USAGE : ExitCode.FAILURE;
}

/** Prints `flotilla: <message>` and exits non-zero. With FLOTILLA_DEBUG=1 the cause is printed too. */
export function fail(err: unknown): never {
  const fe = FlotillaError.from(err);
  process.stderr.write(`flotilla: ${fe.message}\n`);
  if (process.env.FLOTILLA_DEBUG === '1' && fe.cause !== undefined) {
    process.stderr.write(`${fe.cause instanceof Error ? (fe.cause.stack ?? fe.cause.message) : JSON.stringify(fe.cause)}\n`);
  }
  process.exit(exitCodeFor(fe));
}

/** Wraps a command action so that any error ends in `fail`. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      fail(err);
    }
  };
}

/** The options the user actually gave on the command line (commander defaults are not used). */
export function givenOptions(cmd: Command): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(cmd.opts())) {
    if (key === 'config') continue;
    if (cmd.getOptionValueSource(key) === 'cli') out[key] = value;
  }
  return out;
}

/**
 * Starts a lifecycle, prints `banner()` on stdout once it is up, and keeps the process alive until
 * SIGINT/SIGTERM or the supervising parent goes away; then stops cleanly and exits 0.
 */
export async function runUntilStopped(lifecycle: Lifecycle, banner: () => string): Promise<void> {
  lifecycle.handleSignals();
  stopWhenParentGoes(() => {
    lifecycle.stop().then(
      () => process.exit(ExitCode.OK),
      () => process.exit(ExitCode.FAILURE),
    );
  });
  await lifecycle.start();
  process.stdout.write(banner());
  await lifecycle.whenStopped();
}

/** Left-aligned two-column lines for banners. */
export function table(rows: [string, string][], indent = '  '): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${indent}${k.padEnd(width)}  ${v}`).join('\n') + '\n';
}

/** Commands that run processes: they take TLS from their own --tls-* flags (setupProcessTls). */
const PROCESS_COMMANDS = new Set(['server', 'node', 'agent', 'up', 'coord', 'certs']);

/** Adds the TLS flags of a process (server, node, agent): --tls-dir, --tls-name, --tls-ca, --tls-cert, --tls-key. */
export function addProcessTlsOptions(cmd: Command, defaultName: string): Command {
  return cmd
    .option('--tls-dir <dir>', `TLS: directory with ca.crt, NAME.crt, NAME.key from flotilla certs (env FLOTILLA_TLS_DIR; default: TLS off)`)
    .option('--tls-name <name>', `TLS: the certificate's NAME in --tls-dir (env FLOTILLA_TLS_NAME; default ${defaultName})`)
    .option('--tls-ca <file>', 'TLS: the cluster CA certificate (default <tls-dir>/ca.crt)')
    .option('--tls-cert <file>', "TLS: this process's certificate (default <tls-dir>/NAME.crt)")
    .option('--tls-key <file>', "TLS: this process's private key (default <tls-dir>/NAME.key)");
}

/**
 * fetch() of a CLI with TLS: https:// requests go through clusterFetch (trusting the cluster CA, with the
 * certificate when there is one); anything else is the original fetch.
 */
function installTlsFetch(): void {
  const original = globalThis.fetch;
  if ((original as { flotillaTls?: boolean }).flotillaTls === true) return;
  const withTls = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = input instanceof Request ? input.url : String(input);
    if (!url.startsWith('https://') || processTls() === undefined) return original(input, init);
    const headers: Record<string, string> = {};
    new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined)).forEach((v, k) => (headers[k] = v));
    const body = init?.body;
    if (body !== undefined && body !== null && typeof body !== 'string') return original(input, init);
    return clusterFetch(url, {
      method: init?.method ?? (input instanceof Request ? input.method : 'GET'),
      headers,
      ...(typeof body === 'string' ? { body } : {}),
      ...(init?.signal !== undefined && init.signal !== null ? { signal: init.signal } : {}),
    });
  };
  globalThis.fetch = Object.assign(withTls, { flotillaTls: true });
}

/**
 * The CLI's TLS: every client command gets `--tls-ca FILE` (env FLOTILLA_TLS_CA: trust the cluster CA, for
 * the HTTPS API) and `--tls-dir DIR --tls-name NAME` (env FLOTILLA_TLS_DIR/FLOTILLA_TLS_NAME: also present
 * NAME's certificate, which the mutual-TLS gRPC ports require). Loaded before the command's action runs.
 */
export function addClientTlsOptions(program: Command): void {
  const visit = (cmd: Command, top: string): void => {
    if (cmd.commands.length === 0) {
      if (!PROCESS_COMMANDS.has(top) && !cmd.options.some((o) => o.long === '--tls-ca')) {
        cmd.option('--tls-ca <file>', 'trust this cluster CA certificate: the server serves HTTPS (env FLOTILLA_TLS_CA)');
        cmd.option('--tls-dir <dir>', 'present a certificate from this directory to gRPC ports with TLS (env FLOTILLA_TLS_DIR)');
        cmd.option('--tls-name <name>', 'the certificate NAME in --tls-dir (env FLOTILLA_TLS_NAME; default cli)');
      }
      return;
    }
    for (const sub of cmd.commands) visit(sub, top);
  };
  for (const c of program.commands) visit(c, c.name());
  program.hook('preAction', async (_program, actionCommand) => {
    let top: Command = actionCommand;
    while (top.parent !== null && top.parent !== program) top = top.parent;
    if (PROCESS_COMMANDS.has(top.name())) return;
    const o = actionCommand.opts<{ tlsCa?: string; tlsDir?: string; tlsName?: string }>();
    const env = process.env;
    const pick = (v: string | undefined, e: string | undefined): string | undefined => (v !== undefined && v !== '' ? v : e !== undefined && e !== '' ? e : undefined);
    const flags: TlsFlags = { tlsCa: pick(o.tlsCa, env.FLOTILLA_TLS_CA), tlsDir: pick(o.tlsDir, env.FLOTILLA_TLS_DIR), tlsName: pick(o.tlsName, env.FLOTILLA_TLS_NAME) };
    try {
      if (flags.tlsDir !== undefined) await setupProcessTls(flags, 'cli');
      else if (flags.tlsCa !== undefined) setProcessTls(await loadTrustedCa(flags.tlsCa));
      else return;
    } catch (err) {
      fail(err);
    }
    installTlsFetch();
  });
}
