import type { Command } from 'commander';
import { z } from 'zod';
import { Code, FlotillaError } from '../core/errors.js';
import { ExitCode } from '../core/lifecycle.js';
import { checkPeerHealth, createPeerClients, type HealthReport } from '../cluster/index.js';
import { action } from './run.js';

function formatUptime(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

export function formatHealthLine(r: HealthReport, width: number): string {
  if (!r.healthy) return `${r.address.padEnd(width)}  UNHEALTHY  ${r.name !== undefined ? `${r.role} ${r.name}: ` : ''}${r.error ?? 'unknown error'}`;
  return (
    `${r.address.padEnd(width)}  ok         ${r.role} ${r.name}  v${r.version}  up ${formatUptime(r.uptimeMs ?? 0)}  rtt ${r.rttMs} ms` +
    (r.coordinationReachable === false ? '  (coordination store unreachable from it)' : '')
  );
}

export function registerHealth(program: Command): void {
  program
    .command('health')
    .description('check the health of one or more Flotilla processes (server --listen or node peer addresses); exits 1 if any is unhealthy')
    .argument('<host:port...>', 'addresses to check')
    .option('--json', 'print one JSON array instead of lines')
    .option('--timeout <ms>', 'deadline of each check in ms (default 3000)')
    .action(
      action(async (targets: string[], opts: { json?: boolean; timeout?: string }) => {
        const t = z.coerce.number().int().min(1).max(600_000).safeParse(opts.timeout ?? 3000);
        if (!t.success) throw new FlotillaError(Code.INVALID_ARGUMENT, `invalid --timeout: expected milliseconds (got ${JSON.stringify(opts.timeout)})`);
        const peers = createPeerClients();
        try {
          const reports = await Promise.all(targets.map((a) => checkPeerHealth(a, peers, { timeoutMs: t.data })));
          if (opts.json === true) process.stdout.write(JSON.stringify(reports, null, 2) + '\n');
          else {
            const width = Math.max(...reports.map((r) => r.address.length));
            process.stdout.write(reports.map((r) => formatHealthLine(r, width)).join('\n') + '\n');
          }
          process.exitCode = reports.every((r) => r.healthy) ? ExitCode.OK : ExitCode.FAILURE;
        } finally {
          peers.close();
        }
      }),
    );
}
