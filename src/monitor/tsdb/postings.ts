/**
 * The inverted index: label name -> label value -> the ids of the series carrying that pair. Selecting
 * by matchers intersects the postings of the matchers a series must carry a value for, then checks the
 * ones an absent label also satisfies against each candidate's labels.
 */
import type { CompiledMatcher } from './matchers.js';
import type { Labels } from './types.js';

export class PostingsIndex {
  private readonly byName = new Map<string, Map<string, Set<number>>>();
  private readonly all = new Set<number>();

  get size(): number {
    return this.all.size;
  }

  add(id: number, labels: Labels): void {
    this.all.add(id);
    for (const name in labels) {
      const value = labels[name]!;
      let values = this.byName.get(name);
      if (values === undefined) this.byName.set(name, (values = new Map<string, Set<number>>()));
      let ids = values.get(value);
      if (ids === undefined) values.set(value, (ids = new Set()));
      ids.add(id);
    }
  }

  remove(id: number, labels: Labels): void {
    this.all.delete(id);
    for (const name in labels) {
      const values = this.byName.get(name);
      const ids = values?.get(labels[name]!);
      if (ids === undefined) continue;
      ids.delete(id);
      if (ids.size === 0) {
        values!.delete(labels[name]!);
        if (values!.size === 0) this.byName.delete(name);
      }
    }
  }

  /** Ids of the series matching every matcher (all series when there are none). */
  select(matchers: readonly CompiledMatcher[], labelsOf: (id: number) => Labels): number[] {
    let candidates: Set<number> | undefined;
    // Equality first: the smallest sets, found without scanning values.
    const positive = matchers.filter((m) => !m.matchesEmpty).sort((a, b) => (a.equals !== undefined ? 0 : 1) - (b.equals !== undefined ? 0 : 1));
    for (const m of positive) {
      const values = this.byName.get(m.name);
      if (values === undefined) return [];
      let ids: Set<number>;
      if (m.equals !== undefined) ids = values.get(m.equals) ?? new Set();
      else {
        ids = new Set();
        for (const [value, set] of values) if (m.test(value)) for (const id of set) ids.add(id);
      }
      if (candidates === undefined) candidates = ids;
      else {
        const [small, large] = candidates.size <= ids.size ? [candidates, ids] : [ids, candidates];
        const next = new Set<number>();
        for (const id of small) if (large.has(id)) next.add(id);
        candidates = next;
      }
      if (candidates.size === 0) return [];
    }
    const rest = matchers.filter((m) => m.matchesEmpty);
    const out: number[] = [];
    for (const id of candidates ?? this.all) {
      if (rest.length > 0) {
        const labels = labelsOf(id);
        if (!rest.every((m) => m.test(labels[m.name] ?? ''))) continue;
      }
      out.push(id);
    }
    return out.sort((a, b) => a - b);
  }

  labelNames(): string[] {
    return [...this.byName.keys()];
  }

  labelValues(name: string): string[] {
    return [...(this.byName.get(name)?.keys() ?? [])];
  }
}
