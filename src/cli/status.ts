import type { Command } from 'commander';
import { hostPort } from '../core/config.js';
import { Code, FlotillaError } from '../core/errors.js';
import { createPeerClients, fetchMembers, type MemberSummary } from '../cluster/index.js';
import { action } from './run.js';

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 10 || i === 0 ? Math.round(v) : v.toFixed(1)}${units[i]}`;
}

/** The status table: one row per node. */
export function formatStatusTable(members: MemberSummary[]): string {
  const header = ['NAME', 'ADDRESS', 'ROLES', 'ZONE', 'STATUS', 'RTT', 'BACKEND', 'CAPACITY/FREE', 'READ/WRITE MB/s', 'RINGS'];
  const rows = members.map((m) => [
    m.name,
    m.peerAddress,
    m.roles.join(','),
    m.zone,
    m.status + (m.status === 'DISCONNECTED' && !m.registered ? ' (lease expired)' : ''),
    m.rttMs === null ? '-' : `${m.rttMs.toFixed(2)}ms`,
    m.backend.kind,
    `${bytes(m.backend.capacityBytes)}/${bytes(m.backend.freeBytes)}`,
    `${m.backend.readMBps}/${m.backend.writeMBps}`,
    Object.keys(m.rings).length === 0
      ? '-'
      : Object.entries(m.rings)
          .map(([k, v]) => `${k}:v${v}`)
          .join(','),
  ]);
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  return all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('the cluster\'s nodes as the server sees them: status, RTT, backend, capacity, rings')
    .option('--server <host:port>', 'the server gRPC address (env FLOTILLA_SERVER, default 127.0.0.1:50051); a node peer address works too')
    .option('--json', 'print JSON for scripts')
    .action(
      action(async (opts: { server?: string; json?: boolean }) => {
        const given = opts.server ?? process.env.FLOTILLA_SERVER ?? '127.0.0.1:50051';
        const parsed = hostPort.safeParse(given);
        if (!parsed.success) throw new FlotillaError(Code.INVALID_ARGUMENT, `invalid --server ${JSON.stringify(given)}: ${parsed.error.issues[0]?.message}`);
        const address = parsed.data;
        const peers = createPeerClients();
        try {
          const res = await fetchMembers(address, peers);
          const members = res.members;
          if (opts.json === true) {
            process.stdout.write(JSON.stringify({ observer: res.observer, coordinationReachable: res.coordinationReachable, members }, null, 2) + '\n');
            return;
          }
          if (members.length === 0) process.stdout.write(`no nodes yet (asked ${res.observer} at ${address})\n`);
          else process.stdout.write(formatStatusTable(members));
          if (!res.coordinationReachable) process.stdout.write(`note: ${res.observer} cannot reach the coordination store; this is its last known view\n`);
        } finally {
          peers.close();
        }
      }),
    );
}
