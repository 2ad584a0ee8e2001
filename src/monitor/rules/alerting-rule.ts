/**
 * The state of one alerting rule, as Prometheus keeps it. Each evaluation's result samples become alerts
 * (labels: the sample's without `__name__`, then the rule's labels, then `alertname`):
 *   inactive -> pending   when a new label set appears;
 *   pending  -> firing    once it has been present for `for` (at once when `for` is 0);
 *   pending  -> (dropped) when it disappears before firing;
 *   firing   -> inactive  (resolved) when it disappears; a resolved alert is kept 15 minutes so that its
 *                          resolution is notified, then dropped.
 */
import type { Labels } from '../tsdb/types.js';
import { PromqlExecutionError } from '../promql/errors.js';
import { dropMetricName, labelsKey, type Sample } from '../promql/value.js';
import type { AlertingRuleSpec } from './rule-file.js';
import { expandTemplate } from './template.js';

export type AlertState = 'inactive' | 'pending' | 'firing';

export interface Alert {
  labels: Labels;
  annotations: Record<string, string>;
  state: AlertState;
  value: number;
  activeAtMs: number;
  firedAtMs: number | undefined;
  resolvedAtMs: number | undefined;
  lastSentAtMs: number | undefined;
  /** Until when a firing alert stays valid without a new evaluation (Alertmanager's endsAt). */
  validUntilMs: number;
}

const resolvedRetentionMs = 15 * 60_000;

export class AlertingRuleState {
  readonly active = new Map<string, Alert>();
  constructor(readonly spec: AlertingRuleSpec) {}

  /** The rule's overall state: the "worst" of its alerts. */
  get state(): AlertState {
    let s: AlertState = 'inactive';
    for (const a of this.active.values()) {
      if (a.state === 'firing') return 'firing';
      if (a.state === 'pending') s = 'pending';
    }
    return s;
  }

  /** Applies one evaluation's result at `tsMs`; returns the ALERTS and ALERTS_FOR_STATE samples to store. */
  update(result: readonly Sample[], tsMs: number, validForMs: number): Sample[] {
    const seen = new Set<string>();
    for (const s of result) {
      const base = dropMetricName(s.labels);
      const labels: Record<string, string> = { ...base };
      for (const [k, v] of Object.entries(this.spec.labels)) {
        const x = expandTemplate(v, base, s.value);
        if (x === '') delete labels[k];
        else labels[k] = x;
      }
      labels.alertname = this.spec.name;
      const annotations: Record<string, string> = {};
      for (const [k, v] of Object.entries(this.spec.annotations)) annotations[k] = expandTemplate(v, base, s.value);
      const key = labelsKey(labels);
      if (seen.has(key)) throw new PromqlExecutionError('vector contains metrics with the same labelset after applying alert labels');
      seen.add(key);
      const a = this.active.get(key);
      if (a !== undefined && a.state !== 'inactive') {
        a.value = s.value;
        a.annotations = annotations;
        continue;
      }
      this.active.set(key, { labels, annotations, state: 'pending', value: s.value, activeAtMs: tsMs, firedAtMs: undefined, resolvedAtMs: undefined, lastSentAtMs: undefined, validUntilMs: 0 });
    }
    const out: Sample[] = [];
    for (const [key, a] of this.active) {
      if (!seen.has(key)) {
        if (a.state === 'pending' || (a.state === 'inactive' && tsMs - (a.resolvedAtMs ?? tsMs) > resolvedRetentionMs)) {
          this.active.delete(key);
        } else if (a.state === 'firing') {
          a.state = 'inactive';
          a.resolvedAtMs = tsMs;
        }
        continue;
      }
      if (a.state === 'pending' && tsMs - a.activeAtMs >= this.spec.forMs) {
        a.state = 'firing';
        a.firedAtMs = tsMs;
      }
      if (a.state === 'firing') a.validUntilMs = tsMs + validForMs;
      out.push({ labels: { ...a.labels, __name__: 'ALERTS', alertstate: a.state }, value: 1 });
      out.push({ labels: { ...a.labels, __name__: 'ALERTS_FOR_STATE' }, value: a.activeAtMs / 1000 });
    }
    return out;
  }

  /** Alerts to notify now (Prometheus's needsSending): firing ones every `resendDelayMs`, resolved ones until sent. */
  due(tsMs: number, resendDelayMs: number): Alert[] {
    const out: Alert[] = [];
    for (const a of this.active.values()) {
      if (a.state === 'pending') continue;
      const last = a.lastSentAtMs;
      if (last === undefined || (a.resolvedAtMs !== undefined && a.resolvedAtMs > last) || last + resendDelayMs < tsMs) {
        a.lastSentAtMs = tsMs;
        out.push(a);
      }
    }
    return out;
  }
}
