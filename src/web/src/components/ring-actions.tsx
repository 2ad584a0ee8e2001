/**
 * The cluster page's ring actions: the rings with their devices and weights, build the missing standard
 * rings, rebalance one, drain a node (weight 0 in every ring, then rebalance). Each asks for confirmation
 * and shows the server's answer.
 */
import type { VNode } from 'preact';
import { useState } from 'preact/hooks';
import { errorText, getJson, requestJson } from '../api.js';
import { useConfirm } from './obj-confirm.js';
import type { RingsJson } from '../types.js';
import { useLoad } from '../use-load.js';

interface RingDetail {
  name: string;
  version: number;
  partitions: number;
  replicas: number;
  minPartMoveIntervalMs: number;
  maxBalancePercent: number;
  drainingReplicas: number;
  devices: { id: string; zone: string; weight: number; replicas: number; target: number; balancePercent: number | null }[];
}

interface ChangeJson {
  ring: string;
  changed: boolean;
  previousVersion: number;
  version: number;
  movedReplicas: number;
  pendingReplicas: number;
}

interface ActionResult {
  ok: boolean;
  title: string;
  lines: string[];
}

function changeLine(c: ChangeJson): string {
  const base = c.changed ? `ring ${c.ring}: version ${c.previousVersion} → ${c.version}, ${c.movedReplicas} partition replicas moved` : `ring ${c.ring} version ${c.version}: nothing to change (already balanced)`;
  return c.pendingReplicas > 0 ? `${base}; ${c.pendingReplicas} still to move after the minimum move interval` : base;
}

export interface RingActions {
  /** Asks, runs, shows the answer; bumps `version` so the rings reload. */
  act(question: string, yes: string, title: string, run: () => Promise<string[]>): void;
  drain(node: string): void;
  busy: boolean;
  version: number;
  result: VNode | null;
  dialog: VNode | null;
}

export function useRingActions(): RingActions {
  const { confirm, dialog } = useConfirm();
  const [busy, setBusy] = useState(false);
  const [version, setVersion] = useState(0);
  const [res, setRes] = useState<ActionResult | undefined>();
  const act = (question: string, yes: string, title: string, run: () => Promise<string[]>): void => {
    void confirm(question, yes).then(async (ok) => {
      if (!ok) return;
      setBusy(true);
      setRes(undefined);
      try {
        setRes({ ok: true, title, lines: await run() });
      } catch (err) {
        setRes({ ok: false, title: `${title} refused`, lines: [errorText(err)] });
      } finally {
        setBusy(false);
        setVersion((v) => v + 1);
      }
    });
  };
  return {
    act,
    drain: (node) =>
      act(`Drain ${node}? Its weight becomes 0 in every ring and its partitions move to the other nodes.`, 'Drain', `drain ${node}`, async () => {
        const r = await requestJson<{ rings: ChangeJson[] }>('POST', `/api/v1/nodes/${encodeURIComponent(node)}/drain`);
        return r.rings.map(changeLine);
      }),
    busy,
    version,
    dialog,
    result:
      res === undefined ? null : (
        <div class={`ack ${res.ok ? 'good' : 'bad'}`} role="status" data-testid="ring-result">
          <strong>{res.title}</strong>
          <ul class="plain small">
            {res.lines.map((l, i) => (
              <li key={i}>{l}</li>
            ))}
          </ul>
        </div>
      ),
  };
}

/** `reloadKey` changes when any node reports another ring version (from the live membership). */
export function RingsCard(props: { actions: RingActions; reloadKey: string }) {
  const { actions } = props;
  const { data: rings, error } = useLoad(
    async (signal) => {
      const s = await getJson<RingsJson>('/api/v1/rings', signal);
      return Promise.all(s.rings.map((r) => getJson<RingDetail>(`/api/v1/rings/${encodeURIComponent(r.name)}`, signal)));
    },
    [actions.version, props.reloadKey],
  );

  return (
    <section class="card" data-testid="rings">
      <div class="row obj-spread">
        <h2>Rings</h2>
        <button
          type="button"
          data-testid="ring-build"
          disabled={actions.busy}
          onClick={() =>
            actions.act('Build every standard ring that does not exist yet (kv and one per object storage policy) from the ACTIVE nodes?', 'Build', 'build rings', async () => {
              const r = await requestJson<{ built: { ring: string; version: number; partitions: number; replicas: number; devices: string[] }[]; skipped: { ring: string; reason: string }[] }>('POST', '/api/v1/rings/build', { json: {} });
              return [
                ...r.built.map((b) => `built ${b.ring}: version ${b.version}, ${b.partitions} partitions, ${b.replicas} replicas on ${b.devices.join(', ')}`),
                ...r.skipped.map((s) => `${s.ring}: ${s.reason}`),
              ];
            })
          }
        >
          Build missing rings
        </button>
      </div>
      {actions.result}
      {error !== undefined && (
        <p class="note bad" role="alert">
          {error}
        </p>
      )}
      {rings === undefined ? (
        error === undefined && <p class="muted">Loading…</p>
      ) : rings.length === 0 ? (
        <p class="muted">No ring yet: build them once the nodes are up.</p>
      ) : (
        <div class="scroll">
          <table data-testid="ring-table">
            <thead>
              <tr>
                <th>Ring</th>
                <th class="num">Version</th>
                <th class="num">Partitions</th>
                <th class="num">Replicas</th>
                <th>Devices (weight, share)</th>
                <th class="num">Max balance</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {rings.map((r) => (
                <tr key={r.name} data-ring={r.name}>
                  <th scope="row">{r.name}</th>
                  <td class="num" data-testid="ring-version">
                    {r.version}
                  </td>
                  <td class="num">{r.partitions}</td>
                  <td class="num">{r.replicas}</td>
                  <td class="small ring-devs">
                    {r.devices.map((d) => (
                      <span key={d.id} class={`ring-dev ${d.weight === 0 ? 'ring-draining' : ''}`} title={`zone ${d.zone}, target ${d.target}`}>
                        {d.id} <span class="muted">w{d.weight} · {d.replicas}</span>
                      </span>
                    ))}
                  </td>
                  <td class="num">{r.maxBalancePercent.toFixed(1)}%</td>
                  <td>
                    <button
                      type="button"
                      class="ghost small"
                      data-testid="ring-rebalance"
                      disabled={actions.busy}
                      onClick={() =>
                        actions.act(`Rebalance ring ${r.name}? Partitions move toward the device weights (writes version ${r.version + 1} if anything moves).`, 'Rebalance', `rebalance ${r.name}`, async () => [
                          changeLine(await requestJson<ChangeJson>('POST', `/api/v1/rings/${encodeURIComponent(r.name)}/rebalance`)),
                        ])
                      }
                    >
                      Rebalance
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {actions.dialog}
    </section>
  );
}
