/** Cluster: the service list of OBJ-7 (status, addresses, roles, zone, backend, space, I/O), the RTT heat map, and the ring actions (build, rebalance, drain). */
import { formatAgo, formatBytes, formatMs } from '../format.js';
import { useLive } from '../live.js';
import { HeatMap } from '../components/heat-map.js';
import { StreamNote } from '../components/stream-note.js';
import { RingsCard, useRingActions } from '../components/ring-actions.js';
import type { Member } from '../types.js';

function SpaceBar(props: { m: Member }) {
  const { capacityBytes, freeBytes } = props.m.backend;
  if (!(capacityBytes > 0)) return <span class="muted">-</span>;
  const used = Math.min(1, Math.max(0, (capacityBytes - freeBytes) / capacityBytes));
  return (
    <div class="space" title={`${formatBytes(capacityBytes - freeBytes)} used of ${formatBytes(capacityBytes)}`}>
      <div class="bar" role="meter" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(used * 100)} aria-label="used space">
        <div class={`fill ${used > 0.9 ? 'bad' : used > 0.75 ? 'warn' : ''}`} style={{ width: `${(used * 100).toFixed(1)}%` }} />
      </div>
      <span class="small">
        {formatBytes(freeBytes)} free of {formatBytes(capacityBytes)}
      </span>
    </div>
  );
}

function statusTone(s: string): string {
  return s === 'ACTIVE' ? 'good' : s === 'DISCONNECTED' ? 'bad' : 'neutral';
}

export function ClusterPage() {
  const live = useLive({ members: true });
  const data = live.members;
  const members = data?.members ?? [];
  const actions = useRingActions();
  // Reload the rings when a node reports another ring version.
  const ringKey = members.map((m) => Object.entries(m.rings).map(([k, v]) => `${k}${v}`).join(',')).join(';');
  return (
    <div class="page">
      <h1>Cluster</h1>
      <StreamNote state={live.membersStream} error={live.membersError} what="membership" />
      {data !== undefined && !data.coordinationReachable && <p class="note bad">The server cannot reach the coordination store: this is its last known view.</p>}
      <section class="card">
        <h2>Services</h2>
        {data === undefined ? (
          <p class="muted">Loading…</p>
        ) : members.length === 0 ? (
          <p class="muted">No node has joined yet. Start one with <code>flotilla node --name node-a --join SERVER:50051</code>.</p>
        ) : (
          <div class="scroll">
            <table class="members" data-testid="members">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Status</th>
                  <th>Address</th>
                  <th>Roles</th>
                  <th>Zone</th>
                  <th>RTT</th>
                  <th>Backend</th>
                  <th>Capacity / free</th>
                  <th>Read / write</th>
                  <th>Rings</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {members.map((m) => (
                  <tr key={m.name} data-node={m.name}>
                    <th scope="row">{m.name}</th>
                    <td>
                      <span class={`badge ${statusTone(m.status)}`} data-testid="status" title={`since ${formatAgo(m.statusSince)}`}>
                        {m.status}
                      </span>
                      {m.status === 'DISCONNECTED' && !m.registered && <span class="small muted"> lease expired</span>}
                    </td>
                    <td>
                      <code>{m.peerAddress}</code>
                      {m.httpAddress !== '' && (
                        <div class="small muted">
                          HTTP <code>{m.httpAddress}</code>
                        </div>
                      )}
                    </td>
                    <td>{m.roles.join(', ')}</td>
                    <td>{m.zone}</td>
                    <td>{formatMs(m.rttMs)}</td>
                    <td title={m.backend.location}>{m.backend.kind}</td>
                    <td>
                      <SpaceBar m={m} />
                    </td>
                    <td class="nowrap">
                      {m.backend.readMBps} / {m.backend.writeMBps} MB/s
                    </td>
                    <td class="small">
                      {Object.entries(m.rings)
                        .map(([k, v]) => `${k} v${v}`)
                        .join(', ') || '-'}
                    </td>
                    <td>
                      {Object.keys(m.rings).length > 0 && (
                        <button type="button" class="ghost small" data-testid="drain" disabled={actions.busy} onClick={() => actions.drain(m.name)}>
                          Drain
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <RingsCard actions={actions} reloadKey={ringKey} />
      <section class="card">
        <h2>Distances</h2>
        <HeatMap members={members} />
      </section>
    </div>
  );
}
