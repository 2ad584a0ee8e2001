/**
 * The Prometheus text exposition format, version 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/): one `# HELP` and one `# TYPE` line per
 * metric family, then its samples, `name{label="value",...} value [timestamp_ms]`. Label values escape
 * `\`, `"` and newline; HELP text escapes `\` and newline. Families are written in the order given, labels
 * in name order, so the output of the same data is always the same bytes.
 */

export type MetricType = 'counter' | 'gauge' | 'untyped';

export interface ExpositionSample {
  labels: Readonly<Record<string, string>>;
  value: number;
  /** Sample time in ms since the epoch; written only when set. */
  timestampMs?: number;
}

export interface MetricFamily {
  name: string;
  help?: string;
  type: MetricType;
  samples: ExpositionSample[];
}

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const METRIC_NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function isValidMetricName(name: string): boolean {
  return METRIC_NAME_RE.test(name);
}

/** A label name usable in exposition: valid and not reserved (`__` prefix). */
export function isValidLabelName(name: string): boolean {
  return LABEL_NAME_RE.test(name) && !name.startsWith('__');
}

export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** A float as Prometheus writes it: NaN, +Inf, -Inf, or the shortest round-tripping decimal. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** `{a="1",b="2"}` with names sorted, or '' without labels. */
export function formatLabels(labels: Readonly<Record<string, string>>): string {
  const names = Object.keys(labels).sort();
  if (names.length === 0) return '';
  return `{${names.map((n) => `${n}="${escapeLabelValue(labels[n]!)}"`).join(',')}}`;
}

/** Writes the families; a family with an invalid name, or a repeated name, is skipped and counted. */
export function formatExposition(families: Iterable<MetricFamily>): { text: string; skipped: number } {
  const parts: string[] = [];
  const seen = new Set<string>();
  let skipped = 0;
  for (const f of families) {
    if (!isValidMetricName(f.name) || seen.has(f.name)) {
      skipped += 1;
      continue;
    }
    seen.add(f.name);
    if (f.help !== undefined) parts.push(`# HELP ${f.name} ${escapeHelp(f.help)}\n`);
    parts.push(`# TYPE ${f.name} ${f.type}\n`);
    for (const s of f.samples) {
      const ts = s.timestampMs !== undefined && Number.isFinite(s.timestampMs) ? ` ${Math.trunc(s.timestampMs)}` : '';
      parts.push(`${f.name}${formatLabels(s.labels)} ${formatValue(s.value)}${ts}\n`);
    }
  }
  return { text: parts.join(''), skipped };
}
