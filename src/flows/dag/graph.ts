/** The task graph of a flow: upstream and downstream lists, cycle detection, topological order. */

export interface Graph {
  readonly nodes: readonly string[];
  upstream(key: string): readonly string[];
  downstream(key: string): readonly string[];
  /** Tasks with no upstream. */
  roots(): string[];
}

export function buildGraph(nodes: readonly string[], edges: readonly (readonly [string, string])[]): Graph {
  const up = new Map<string, string[]>();
  const down = new Map<string, string[]>();
  for (const n of nodes) {
    up.set(n, []);
    down.set(n, []);
  }
  for (const [a, b] of edges) {
    if (!up.has(a) || !up.has(b)) continue;
    if (!down.get(a)!.includes(b)) down.get(a)!.push(b);
    if (!up.get(b)!.includes(a)) up.get(b)!.push(a);
  }
  return {
    nodes,
    upstream: (k) => up.get(k) ?? [],
    downstream: (k) => down.get(k) ?? [],
    roots: () => nodes.filter((n) => up.get(n)!.length === 0),
  };
}

/** The first cycle found, as a closed path [a, b, ..., a]; undefined when the graph is acyclic. */
export function findCycle(graph: Graph): string[] | undefined {
  const color = new Map<string, 0 | 1 | 2>();
  const stack: string[] = [];
  for (const start of graph.nodes) {
    if ((color.get(start) ?? 0) !== 0) continue;
    // Iterative DFS: frames of (node, index of next child).
    const frames: [string, number][] = [[start, 0]];
    color.set(start, 1);
    stack.push(start);
    while (frames.length > 0) {
      const frame = frames[frames.length - 1]!;
      const children = graph.downstream(frame[0]);
      if (frame[1] < children.length) {
        const child = children[frame[1]++]!;
        const c = color.get(child) ?? 0;
        if (c === 1) return [...stack.slice(stack.indexOf(child)), child];
        if (c === 0) {
          color.set(child, 1);
          stack.push(child);
          frames.push([child, 0]);
        }
      } else {
        color.set(frame[0], 2);
        stack.pop();
        frames.pop();
      }
    }
  }
  return undefined;
}

/** Kahn's order; assumes no cycle. */
export function topologicalOrder(graph: Graph): string[] {
  const indeg = new Map(graph.nodes.map((n) => [n, graph.upstream(n).length]));
  const queue = graph.nodes.filter((n) => indeg.get(n) === 0);
  const out: string[] = [];
  while (queue.length > 0) {
    const n = queue.shift()!;
    out.push(n);
    for (const d of graph.downstream(n)) {
      indeg.set(d, indeg.get(d)! - 1);
      if (indeg.get(d) === 0) queue.push(d);
    }
  }
  return out;
}
