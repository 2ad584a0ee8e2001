import type { Command } from 'commander';
import { hostPort } from '../core/config.js';
import { Code, FlotillaError } from '../core/errors.js';
import { createPeerClients, fetchMembers, type MemberSummary } from '../cluster/index.js';
import { createMonitorClient, parseMonitorConfig, type AgentRow } from '../monitor/index.js';
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

function ago(ms: number, nowMs: number): string {
  if (ms <= 0) return 'never';
  const s = Math.max(0, Math.round((nowMs - ms) / 1000));
  return s < 120 ? `${s}s ago` : s < 7200 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
}

/** The agents table of `flotilla status --agents`: one row per host the monitor server knows. */
export function formatAgentsTable(agents: AgentRow[], nowMs = Date.now()): string {
  const header = ['HOST', 'ALIVE', 'STREAM', 'LAST SEEN', 'SAMPLES', 'DROPPED', 'INTERVAL', 'METRICS'];
  const rows = agents.map((a) => {
    const cfg = a.configJson === '' ? undefined : parseMonitorConfig(a.configJson);
    return [
      a.hostname,
      a.alive ? 'alive' : 'dead',
      a.connected ? 'connected' : 'disconnected',
      ago(a.lastSeenMs, nowMs),
      String(a.samplesReceived),
      String(a.samplesDropped),
      cfg === undefined ? '-' : cfg.error === undefined ? `${cfg.value.interval}s` : 'invalid',
      cfg?.error === undefined && cfg !== undefined ? cfg.value.metrics.join(',') || '-' : '-',
    ];
  });
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  return all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

async function printAgents(address: string, json: boolean): Promise<void> {
  const client = createMonitorClient({ address });
  try {
    const agents = await client.listAgents();
    if (json) {
      const out = agents.map(({ lastMetrics: _lastMetrics, configJson, ...a }) => {
        const cfg = configJson === '' ? undefined : parseMonitorConfig(configJson);
        return { ...a, lastSeen: a.lastSeenMs > 0 ? new Date(a.lastSeenMs).toISOString() : null, config: cfg?.error === undefined ? (cfg?.value ?? null) : null, configJson };
      });
      process.stdout.write(JSON.stringify({ agents: out }, null, 2) + '\n');
      return;
    }
    if (agents.length === 0) process.stdout.write(`no agents yet (asked ${address})\n`);
    else process.stdout.write(formatAgentsTable(agents));
  } finally {
    client.close();
  }
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('the cluster\'s nodes as the server sees them: status, RTT, backend, capacity, rings')
    .option('--server <host:port>', 'the server gRPC address (env FLOTILLA_SERVER, default 127.0.0.1:50051); a node peer address works too')
    .option('--agents', 'the monitoring agents instead: alive, stream, last seen, samples, dropped, interval, metrics')
    .option('--json', 'print JSON for scripts')
    .action(
      action(async (opts: { server?: string; json?: boolean; agents?: boolean }) => {
        const given = opts.server ?? process.env.FLOTILLA_SERVER ?? '127.0.0.1:50051';
        const parsed = hostPort.safeParse(given);
        if (!parsed.success) throw new FlotillaError(Code.INVALID_ARGUMENT, `invalid --server ${JSON.stringify(given)}: ${parsed.error.issues[0]?.message}`);
        const address = parsed.data;
        if (opts.agents === true) {
          await printAgents(address, opts.json === true);
          return;
        }
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
