/** Durations as people write them: `500ms`, `10s`, `5m`, `1h`, `2d`, combined (`1h30m`), or a bare number of ms. */

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string): { value: number; error?: undefined } | { error: string } {
  const t = text.trim();
  if (/^\d+$/.test(t)) return { value: Number(t) };
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
  let total = 0;
  let consumed = 0;
  for (const m of t.matchAll(re)) {
    if (m.index !== consumed) break;
    total += Number(m[1]) * units[m[2]!]!;
    consumed += m[0].length;
  }
  if (t === '' || consumed !== t.length) return { error: `expected a duration such as 500ms, 10s, 5m, 1h or 1h30m, got ${JSON.stringify(text)}` };
  return { value: Math.round(total) };
}

export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const parts: string[] = [];
  let rest = ms;
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  if (rest > 0) parts.push(`${rest}ms`);
  return parts.join('');
}
