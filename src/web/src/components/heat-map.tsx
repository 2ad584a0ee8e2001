/**
 * The RTT matrix of OBJ-7 as a heat map: row = the node that measured, column = the peer, colour from
 * green (fast) to red (slow) on a log scale between the fastest and slowest pair.
 */
import { formatMs } from '../format.js';
import type { Member } from '../types.js';

function colour(ms: number, min: number, max: number): string {
  const span = Math.log(max) - Math.log(min);
  const f = span <= 0 ? 0 : (Math.log(ms) - Math.log(min)) / span;
  const hue = 130 - 130 * Math.min(1, Math.max(0, f));
  return `hsl(${hue.toFixed(0)} 65% 45% / 0.85)`;
}

export function HeatMap(props: { members: Member[] }) {
  const names = props.members.map((m) => m.name);
  const values = props.members.flatMap((m) => Object.values(m.distances)).filter((v) => Number.isFinite(v) && v >= 0).map((v) => Math.max(v, 0.001));
  if (values.length === 0) return <p class="muted">No node has published its distances yet.</p>;
  const min = Math.min(...values);
  const max = Math.max(...values);
  return (
    <div class="scroll">
      <table class="heat" data-testid="rtt-matrix">
        <caption class="muted small">
          RTT from row to column, {formatMs(min)} (green) to {formatMs(max)} (red)
        </caption>
        <thead>
          <tr>
            <th scope="col">from \ to</th>
            {names.map((n) => (
              <th key={n} scope="col">
                {n}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {props.members.map((row) => (
            <tr key={row.name}>
              <th scope="row">{row.name}</th>
              {names.map((col) => {
                const v = row.distances[col];
                if (col === row.name) return <td key={col} class="self">·</td>;
                if (v === undefined || !(v >= 0)) return <td key={col} class="none">-</td>;
                return (
                  <td key={col} style={{ background: colour(Math.max(v, 0.001), min, max) }} title={`${row.name} → ${col}: ${formatMs(v)}`}>
                    {formatMs(v)}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
