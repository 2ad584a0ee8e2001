/**
 * Overview: nodes by status, agents alive/dead, keys, objects and bytes, workflow runs by state, coordination
 * health, ring versions, recent events (node and agent changes, task failures).
 */
import { getJson } from '../api.js';
import { formatAgo, formatTime } from '../format.js';
import { useLive } from '../live.js';
import { Link } from '../router.js';
import type { ReadyJson, RingsJson } from '../types.js';
import { StreamNote } from '../components/stream-note.js';
import { Count, OverviewCountCards, useOverviewCounts } from '../components/overview-counts.js';
import { useLoad } from '../use-load.js';

/** Slow data (readiness, rings) is re-read this often: it changes rarely and has no event stream yet. */
const REFRESH_MS = 10_000;

export function OverviewPage() {
  const live = useLive({ members: true, agents: true });
  const ready = useLoad((signal) => getJson<ReadyJson>('/readyz', signal), [], { refreshMs: REFRESH_MS });
  const rings = useLoad((signal) => getJson<RingsJson>('/api/v1/rings', signal), [], { refreshMs: REFRESH_MS });
  const members = live.members?.members ?? [];
  const by = (s: string): number => members.filter((m) => m.status === s).length;
  const agents = [...live.agents.values()];
  const alive = agents.filter((a) => a.alive).length;
  const coordOk = ready.data?.checks.coordination?.ok;
  const data = useOverviewCounts();
  const feed = [...live.feed, ...data.failures].sort((a, b) => b.at.localeCompare(a.at)).slice(0, 30);

  return (
    <div class="page">
      <h1>Overview</h1>
      <StreamNote state={live.membersStream} error={live.membersError} what="membership" />
      <StreamNote state={data.stream} error={data.streamError} what="workflow events" />
      <div class="grid">
        <section class="card">
          <h2>
            <Link href="/cluster">Nodes</Link>
          </h2>
          <div class="counts">
            <Count label="active" value={by('ACTIVE')} tone="good" testid="count-active" />
            <Count label="disconnected" value={by('DISCONNECTED')} tone={by('DISCONNECTED') > 0 ? 'bad' : ''} testid="count-disconnected" />
            <Count label="shut off" value={by('SHUTOFF')} />
          </div>
        </section>
        <section class="card">
          <h2>
            <Link href="/monitoring">Agents</Link>
          </h2>
          <div class="counts">
            <Count label="alive" value={alive} tone="good" testid="count-alive" />
            <Count label="dead" value={agents.length - alive} tone={agents.length - alive > 0 ? 'bad' : ''} />
          </div>
        </section>
        <OverviewCountCards {...(data.counts !== undefined ? { counts: data.counts } : {})} {...(data.error !== undefined ? { error: data.error } : {})} />
        <section class="card">
          <h2>Coordination</h2>
          <p>
            <span class={`badge ${coordOk === true ? 'good' : coordOk === false ? 'bad' : ''}`} data-testid="coord-health">
              {coordOk === true ? 'healthy' : coordOk === false ? 'unreachable' : 'checking…'}
            </span>
          </p>
          {ready.data?.checks.coordination?.error !== undefined && <p class="muted small">{ready.data.checks.coordination.error}</p>}
          {ready.error !== undefined && ready.data === undefined && <p class="muted small">{ready.error}</p>}
          {live.members !== undefined && !live.members.coordinationReachable && <p class="muted small">The server shows its last known membership.</p>}
        </section>
        <section class="card">
          <h2>Rings</h2>
          {rings.data === undefined ? (
            <p class="muted">{rings.error ?? 'loading…'}</p>
          ) : rings.data.rings.length === 0 ? (
            <p class="muted">No ring built yet.</p>
          ) : (
            <ul class="plain">
              {rings.data.rings.map((r) => (
                <li key={r.name}>
                  <strong>{r.name}</strong> v{r.version} · {r.partitions} partitions × {r.replicas} replicas · {r.devices.length} devices
                  {rings.data!.refused[r.name] !== undefined && <span class="badge bad">newer refused</span>}
                </li>
              ))}
            </ul>
          )}
        </section>
      </div>
      <section class="card">
        <h2>Recent events</h2>
        {feed.length === 0 ? (
          <p class="muted">Nothing has happened since the server started.</p>
        ) : (
          <ul class="feed" data-testid="feed">
            {feed.map((e) => (
              <li key={`${e.at}|${e.text}`} class={e.tone} data-kind={e.kind}>
                <time dateTime={e.at} title={formatAgo(e.at)}>
                  {formatTime(e.at)}
                </time>{' '}
                {e.text}
              </li>
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}
