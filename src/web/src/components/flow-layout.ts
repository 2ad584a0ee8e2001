/**
 * The layered layout of a workflow's DAG (no graph library): each task sits in the layer of its longest
 * path from a source; tasks within a layer are ordered by the mean position of their neighbours (a few
 * down and up sweeps, which removes most crossings). Layers run left to right, or top to bottom.
 */
export const NODE_W = 150;
export const NODE_H = 40;
/** Between layers, and between the tasks of one layer. */
const GAP_LAYER = 60;
const GAP_LAYER_VERTICAL = 36;
const GAP_ROW = 18;
const PAD = 8;

export interface DagLayout {
  positions: Map<string, { x: number; y: number; layer: number }>;
  width: number;
  height: number;
}

/** Layers by longest path, then barycentric ordering. Edges naming unknown tasks are ignored. */
export function layoutDag(tasks: readonly string[], edges: readonly (readonly [string, string])[], vertical = false): DagLayout {
  const known = new Set(tasks);
  const ups = new Map<string, string[]>(tasks.map((t) => [t, []]));
  const downs = new Map<string, string[]>(tasks.map((t) => [t, []]));
  for (const [a, b] of edges) {
    if (!known.has(a) || !known.has(b) || a === b) continue;
    downs.get(a)!.push(b);
    ups.get(b)!.push(a);
  }
  // Longest path from a source (Kahn's order; a cycle, which the server refuses, would leave tasks at 0).
  const layer = new Map<string, number>(tasks.map((t) => [t, 0]));
  const indeg = new Map<string, number>(tasks.map((t) => [t, ups.get(t)!.length]));
  const ready = tasks.filter((t) => indeg.get(t) === 0);
  while (ready.length > 0) {
    const t = ready.shift()!;
    for (const d of downs.get(t)!) {
      layer.set(d, Math.max(layer.get(d)!, layer.get(t)! + 1));
      indeg.set(d, indeg.get(d)! - 1);
      if (indeg.get(d) === 0) ready.push(d);
    }
  }
  const layers: string[][] = [];
  for (const t of tasks) (layers[layer.get(t)!] ??= []).push(t);
  for (let i = 0; i < layers.length; i++) layers[i] ??= [];
  const index = new Map<string, number>();
  const reindex = (): void => layers.forEach((l) => l.forEach((t, i) => index.set(t, i)));
  reindex();
  const sweep = (from: number, to: number, step: number, neighbours: Map<string, string[]>): void => {
    for (let i = from; i !== to; i += step) {
      const l = layers[i]!;
      const bary = new Map(
        l.map((t) => {
          const ns = neighbours.get(t)!;
          return [t, ns.length === 0 ? index.get(t)! : ns.reduce((s, n) => s + index.get(n)!, 0) / ns.length] as const;
        }),
      );
      l.sort((a, b) => bary.get(a)! - bary.get(b)! || index.get(a)! - index.get(b)!);
      l.forEach((t, k) => index.set(t, k));
    }
  };
  for (let pass = 0; pass < 4; pass++) {
    sweep(1, layers.length, 1, ups);
    sweep(layers.length - 2, -1, -1, downs);
  }
  // Along a layer (rows) and across layers, then turned to x/y by the orientation.
  const rowSize = vertical ? NODE_W : NODE_H;
  const layerSize = vertical ? NODE_H : NODE_W;
  const layerGap = vertical ? GAP_LAYER_VERTICAL : GAP_LAYER;
  const widest = Math.max(1, ...layers.map((l) => l.length));
  const across = PAD * 2 + widest * rowSize + (widest - 1) * GAP_ROW;
  const along = PAD * 2 + layers.length * layerSize + Math.max(0, layers.length - 1) * layerGap;
  const positions = new Map<string, { x: number; y: number; layer: number }>();
  layers.forEach((l, li) => {
    const offset = (across - (l.length * rowSize + (l.length - 1) * GAP_ROW)) / 2;
    l.forEach((t, k) => {
      const a = PAD + li * (layerSize + layerGap);
      const b = offset + k * (rowSize + GAP_ROW);
      positions.set(t, vertical ? { x: b, y: a, layer: li } : { x: a, y: b, layer: li });
    });
  });
  return vertical ? { positions, width: across, height: along } : { positions, width: along, height: across };
}
