/**
 * What the server accepts from an agent: host names, metric samples and their labels. Everything here is
 * edge validation of untrusted input; a failure is normal (a buggy or hostile agent) and is counted, not
 * thrown.
 */

/** A metric sample in the server's domain (no generated types past the edge). */
export interface Sample {
  /** Sample time, ms since the Unix epoch. */
  timeMs: number;
  metric: string;
  value: number;
  labels: Record<string, string>;
}

/** Why a sample was refused. */
export type RejectReason = 'non_finite' | 'bad_name' | 'bad_labels' | 'bad_time' | 'wrong_host';

export const REJECT_REASONS: readonly RejectReason[] = ['non_finite', 'bad_name', 'bad_labels', 'bad_time', 'wrong_host'];

/** Host names as agents announce them (RFC 1123-ish, plus `_`); used in keys, so no `/`. */
const HOSTNAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;
/** Prometheus metric names, at most 200 characters. */
const METRIC_RE = /^[A-Za-z_:][A-Za-z0-9_:]{0,199}$/;
const LABEL_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,99}$/;

/** Most labels on one sample. */
export const MAX_LABELS = 32;
/** Longest label value, in characters. */
export const MAX_LABEL_VALUE_CHARS = 1024;
/** How far ahead of the server's clock a sample time may be (clock skew), in ms. */
export const MAX_FUTURE_SKEW_MS = 24 * 3_600_000;

/** Undefined when `name` is a usable host name, else why not. */
export function checkHostname(name: string): string | undefined {
  if (name === '') return 'the host name is empty';
  if (!HOSTNAME_RE.test(name)) return `invalid host name ${JSON.stringify(name.slice(0, 80))} (letters, digits, '.', '_', '-'; at most 253 characters)`;
  return undefined;
}

/** Undefined when `t` (ms since the epoch) is a usable sample time at server time `nowMs`. */
export function checkTime(t: number, nowMs: number): 'bad_time' | undefined {
  return Number.isFinite(t) && t > 0 && t <= nowMs + MAX_FUTURE_SKEW_MS ? undefined : 'bad_time';
}

/** Undefined when a metric name and labels make a usable series. */
export function checkSeries(metric: string, labels: Record<string, string>): 'bad_name' | 'bad_labels' | undefined {
  if (!METRIC_RE.test(metric)) return 'bad_name';
  const names = Object.keys(labels);
  if (names.length > MAX_LABELS) return 'bad_labels';
  for (const n of names) {
    if (!LABEL_NAME_RE.test(n)) return 'bad_labels';
    if (labels[n]!.length > MAX_LABEL_VALUE_CHARS) return 'bad_labels';
  }
  return undefined;
}

/** Undefined when the sample may be taken from `host`'s stream at server time `nowMs`. */
export function checkSample(sample: Sample & { hostname: string }, host: string, nowMs: number): RejectReason | undefined {
  if (sample.hostname !== '' && sample.hostname !== host) return 'wrong_host';
  if (!Number.isFinite(sample.value)) return 'non_finite';
  if (!METRIC_RE.test(sample.metric)) return 'bad_name';
  return checkTime(sample.timeMs, nowMs) ?? checkSeries(sample.metric, sample.labels);
}

/** The series identity: `metric{a="1",b="2"}` with labels sorted by name (also how samples are printed). */
export function seriesKey(metric: string, labels: Record<string, string>): string {
  const names = Object.keys(labels).sort();
  if (names.length === 0) return metric;
  return `${metric}{${names.map((n) => `${n}=${JSON.stringify(labels[n])}`).join(',')}}`;
}
