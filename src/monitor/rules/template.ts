/**
 * The small part of Prometheus's alert templates this server expands: `{{ $labels.NAME }}`,
 * `{{ .Labels.NAME }}`, `{{ $value }}`, `{{ .Value }}` and `{{ $labels }}`. Anything else is left as written.
 */
import type { Labels } from '../tsdb/types.js';
import { formatFloat } from '../promql/value.js';

export function expandTemplate(text: string, labels: Labels, value: number): string {
  if (!text.includes('{{')) return text;
  return text
    .replace(/\{\{-?\s*(?:\$labels|\.Labels)\.([a-zA-Z_][a-zA-Z0-9_]*)\s*-?\}\}/g, (_m, name: string) => labels[name] ?? '')
    .replace(/\{\{-?\s*(?:\$value|\.Value)\s*-?\}\}/g, () => formatFloat(value))
    .replace(/\{\{-?\s*(?:\$labels|\.Labels)\s*-?\}\}/g, () => `map[${Object.keys(labels).sort().map((k) => `${k}:${labels[k]}`).join(' ')}]`);
}
