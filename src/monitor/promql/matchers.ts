/** Label matchers as Prometheus applies them: regular expressions fully anchored; a missing label is "". */
import type { LabelMatcher, Labels } from '../tsdb/types.js';

const cache = new Map<string, { re?: RegExp; error?: string }>();

/** Compiles a matcher's regular expression anchored at both ends (`^(?:re)$`), cached. */
export function compileMatcherRegex(source: string): { re?: RegExp; error?: string } {
  let hit = cache.get(source);
  if (hit === undefined) {
    try {
      hit = { re: new RegExp(`^(?:${source})$`, 'u') };
    } catch {
      try {
        hit = { re: new RegExp(`^(?:${source})$`) };
      } catch (err) {
        hit = { error: (err as Error).message };
      }
    }
    if (cache.size > 10_000) cache.clear();
    cache.set(source, hit);
  }
  return hit;
}

export function matchesValue(m: LabelMatcher, value: string): boolean {
  switch (m.type) {
    case '=':
      return value === m.value;
    case '!=':
      return value !== m.value;
    case '=~':
      return compileMatcherRegex(m.value).re?.test(value) ?? false;
    case '!~':
      return !(compileMatcherRegex(m.value).re?.test(value) ?? false);
  }
}

/** True when a series with these labels matches every matcher. */
export function matchesAll(matchers: readonly LabelMatcher[], labels: Labels): boolean {
  return matchers.every((m) => matchesValue(m, labels[m.name] ?? ''));
}
