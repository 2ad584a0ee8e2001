/**
 * A workflow's DAG as an SVG, laid out by flow-layout.ts (left to right, or top to bottom on a narrow
 * screen), with curved edges and arrows. Each node is coloured by its task's state and carries
 * `data-state` and `data-history` (the states it went through while shown), which the tests read.
 */
import { useEffect, useState } from 'preact/hooks';
import { stateTone } from '../flows-api.js';
import { layoutDag, NODE_H, NODE_W } from './flow-layout.js';

export interface DagNodeState {
  state: string;
  history: string[];
}

/** True on a narrow screen (follows resizes). */
function useNarrow(): boolean {
  const [narrow, setNarrow] = useState(() => matchMedia('(max-width: 600px)').matches);
  useEffect(() => {
    const mq = matchMedia('(max-width: 600px)');
    const on = (): void => setNarrow(mq.matches);
    mq.addEventListener('change', on);
    return () => mq.removeEventListener('change', on);
  }, []);
  return narrow;
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export function FlowDag(props: {
  tasks: readonly string[];
  edges: readonly (readonly [string, string])[];
  states: ReadonlyMap<string, DagNodeState>;
  selected?: string | undefined;
  onSelect?: (task: string) => void;
}) {
  const vertical = useNarrow();
  const { positions, width, height } = layoutDag(props.tasks, props.edges, vertical);
  return (
    <div class="scroll flow-dag-box">
      <svg class="flow-dag" data-testid="flow-dag" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label="the workflow's task graph">
        <defs>
          <marker id="flow-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" class="flow-arrow" />
          </marker>
        </defs>
        {props.edges.map(([a, b]) => {
          const p = positions.get(a);
          const q = positions.get(b);
          if (p === undefined || q === undefined) return null;
          let d: string;
          if (vertical) {
            const [x1, y1, x2, y2] = [p.x + NODE_W / 2, p.y + NODE_H, q.x + NODE_W / 2, q.y];
            const mid = (y1 + y2) / 2;
            d = `M${x1},${y1} C${x1},${mid} ${x2},${mid} ${x2},${y2}`;
          } else {
            const [x1, y1, x2, y2] = [p.x + NODE_W, p.y + NODE_H / 2, q.x, q.y + NODE_H / 2];
            const mid = (x1 + x2) / 2;
            d = `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`;
          }
          return <path key={`${a}->${b}`} class="flow-edge" d={d} marker-end="url(#flow-arrow)" />;
        })}
        {props.tasks.map((t) => {
          const p = positions.get(t)!;
          const s = props.states.get(t);
          const state = s?.state ?? 'none';
          return (
            <g
              key={t}
              class={`flow-node tone-${stateTone(state)}${props.selected === t ? ' selected' : ''}`}
              transform={`translate(${p.x},${p.y})`}
              data-task={t}
              data-state={state}
              data-history={(s?.history ?? []).join(' ')}
              tabIndex={0}
              role="button"
              aria-label={`${t}: ${state}`}
              onClick={() => props.onSelect?.(t)}
              onKeyDown={(e) => {
                if (e.key === 'Enter' || e.key === ' ') {
                  e.preventDefault();
                  props.onSelect?.(t);
                }
              }}
            >
              <title>{`${t}: ${state}`}</title>
              <rect width={NODE_W} height={NODE_H} rx="7" />
              <text x="10" y="16" class="flow-node-name">
                {clip(t, 19)}
              </text>
              <text x="10" y="31" class="flow-node-state">
                {state === 'none' ? 'not started' : state.replace(/_/g, ' ')}
              </text>
            </g>
          );
        })}
      </svg>
    </div>
  );
}
