/**
 * The benchmark's DAG: a root fans out to `width` parallel chains holding every task but the root and the
 * sink, and the chains fan in to one sink. The width stays within both peers' concurrency, so the time from
 * an upstream's end to its downstream's start is the hand-off, not a wait for a free slot.
 */
export interface DagShape {
  /** Task keys in a topological order (root first, sink last). */
  keys: string[];
  /** Upstreams of each task (none for the root). */
  upstream: Map<string, string[]>;
  root: string;
  sink: string;
  /** The chains, head first. */
  chains: string[][];
}

export function fanOutFanIn(tasks: number, width: number): DagShape {
  const middle = tasks - 2;
  const chains: string[][] = Array.from({ length: width }, () => []);
  for (let i = 0; i < middle; i++) {
    const c = i % width;
    chains[c]!.push(`c${String(c).padStart(2, '0')}_${String(chains[c]!.length).padStart(3, '0')}`);
  }
  const upstream = new Map<string, string[]>([['root', []]]);
  for (const chain of chains) chain.forEach((k, j) => upstream.set(k, [j === 0 ? 'root' : chain[j - 1]!]));
  upstream.set('sink', chains.map((c) => c[c.length - 1]!));
  return { keys: ['root', ...chains.flat(), 'sink'], upstream, root: 'root', sink: 'sink', chains };
}

/** The shape as a Flotilla workflow spec: every task runs `true` (bash -c) unless the executor is swapped. */
export function toFlowYaml(shape: DagShape, flowKey: string): string {
  const lines = [`collection: { key: ${flowKey}, concurrency: 0, max_active_runs: 4 }`, 'tasks:'];
  for (const k of shape.keys) lines.push(`  ${k}: { command: "true" }`);
  lines.push('workflow:');
  for (const chain of shape.chains) lines.push(`  - ${['root', ...chain, 'sink'].join(' -> ')}`);
  return `${lines.join('\n')}\n`;
}

/** Timestamps one peer's executor recorded per task (ms, performance.now() + timeOrigin). */
export interface TaskTimes {
  start: Map<string, number>;
  end: Map<string, number>;
}

export interface RoundResult {
  tasks: number;
  wallMs: number;
  /** downstream start - the latest end of its upstreams, one per task with upstreams. */
  handoffMs: number[];
}

export function roundResult(shape: DagShape, times: TaskTimes, wallMs: number): RoundResult {
  const handoffMs: number[] = [];
  for (const k of shape.keys) {
    const ups = shape.upstream.get(k)!;
    if (ups.length === 0) continue;
    const start = times.start.get(k);
    const ready = Math.max(...ups.map((u) => times.end.get(u) ?? Number.NaN));
    if (start === undefined || !Number.isFinite(ready)) throw new Error(`task ${k} has no start or an upstream has no end`);
    handoffMs.push(start - ready);
  }
  return { tasks: times.start.size, wallMs, handoffMs };
}

export const nowMs = (): number => performance.timeOrigin + performance.now();
