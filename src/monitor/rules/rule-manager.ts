/**
 * Runs rule groups: each group is evaluated every `interval` at timestamps aligned to the interval
 * (multiples of it since the epoch), its rules in file order, so a rule sees what earlier rules of the
 * group recorded at the same timestamp. Recording rules append their result (named by `record`, with the
 * rule's labels) through the SampleAppender, like collected samples; alerting rules move their alerts
 * through pending and firing, append ALERTS / ALERTS_FOR_STATE, and notify the webhook sender.
 * `reload()` re-reads the files (SIGHUP); a bad file leaves the running rules untouched.
 */
import type { Component } from '../../core/lifecycle.js';
import type { Logger } from '../../core/log.js';
import type { SampleAppender, SampleQuerier } from '../tsdb/types.js';
import { createPromqlEngine, type PromqlEngine } from '../promql/engine.js';
import { labelsKey, type Sample } from '../promql/value.js';
import { PromqlExecutionError } from '../promql/errors.js';
import { AlertingRuleState, type Alert } from './alerting-rule.js';
import { checkRuleCycles } from './dependencies.js';
import { loadRuleFile, type RuleGroupSpec, type RuleSpec } from './rule-file.js';
import { fingerprint, type WebhookPayload, type WebhookSender } from './webhook.js';

export interface RuleManagerOptions {
  /** Rule files (Prometheus format). */
  files: readonly string[];
  querier: SampleQuerier;
  appender: SampleAppender;
  logger: Logger;
  /** Interval of groups that give none. Default 60 000 ms (Prometheus's evaluation_interval). */
  defaultIntervalMs?: number;
  /** Instant selectors' lookback. Default 300 000 ms. */
  lookbackDeltaMs?: number;
  /** Where alert notifications go; none: alerts are only shown in the API. */
  webhooks?: WebhookSender;
  /** How often a still-firing alert is re-sent. Default 60 000 ms (Prometheus's resend delay). */
  resendDelayMs?: number;
  /** The server's URL, for the notifications' generatorURL. */
  externalUrl?: string;
  /** Clock. Default Date.now. */
  now?: () => number;
}

export type RuleHealth = 'unknown' | 'ok' | 'err';

export interface RuleStatus {
  spec: RuleSpec;
  health: RuleHealth;
  lastError: string;
  lastEvaluationMs: number;
  evaluationSeconds: number;
  /** Alerting rules only. */
  alerting: AlertingRuleState | undefined;
}

export interface GroupStatus {
  spec: RuleGroupSpec;
  rules: RuleStatus[];
  lastEvaluationMs: number;
  evaluationSeconds: number;
}

export interface RuleManager extends Component {
  /** Re-reads every file; throws (and keeps the current rules) when one is invalid. */
  reload(): Promise<void>;
  groups(): readonly GroupStatus[];
  /** Every pending or firing alert of every rule. */
  alerts(): { rule: RuleStatus; alert: Alert }[];
  /** Evaluates one group at `tsMs` (what the scheduler does at each tick). */
  evaluateGroup(group: GroupStatus, tsMs: number): Promise<void>;
}

async function loadAll(files: readonly string[], defaultIntervalMs: number): Promise<RuleGroupSpec[]> {
  const groups = (await Promise.all(files.map((f) => loadRuleFile(f, { defaultIntervalMs })))).flat();
  checkRuleCycles(groups);
  return groups;
}

export function createRuleManager(options: RuleManagerOptions): RuleManager {
  const engine: PromqlEngine = createPromqlEngine({ querier: options.querier, ...(options.lookbackDeltaMs !== undefined ? { lookbackDeltaMs: options.lookbackDeltaMs } : {}) });
  const now = options.now ?? Date.now;
  const defaultIntervalMs = options.defaultIntervalMs ?? 60_000;
  const resendDelayMs = options.resendDelayMs ?? 60_000;
  const log = options.logger;
  let groups: GroupStatus[] = [];
  const timers = new Map<GroupStatus, NodeJS.Timeout>();
  const inFlight = new Set<Promise<void>>();
  let running = false;

  function install(specs: RuleGroupSpec[]): void {
    const previous = new Map<string, AlertingRuleState>();
    for (const g of groups) for (const r of g.rules) if (r.alerting !== undefined) previous.set(`${g.spec.file}\xff${g.spec.name}\xff${r.spec.name}\xff${r.spec.exprText}`, r.alerting);
    groups = specs.map((spec) => ({
      spec,
      lastEvaluationMs: 0,
      evaluationSeconds: 0,
      rules: spec.rules.map((r) => {
        let alerting: AlertingRuleState | undefined;
        if (r.kind === 'alerting') {
          const old = previous.get(`${spec.file}\xff${spec.name}\xff${r.name}\xff${r.exprText}`);
          alerting = new AlertingRuleState(r);
          if (old !== undefined) for (const [k, a] of old.active) alerting.active.set(k, a);
        }
        return { spec: r, health: 'unknown', lastError: '', lastEvaluationMs: 0, evaluationSeconds: 0, alerting };
      }),
    }));
  }

  async function evaluateRule(group: GroupStatus, rule: RuleStatus, tsMs: number): Promise<void> {
    const started = performance.now();
    try {
      const v = await engine.instantQuery(rule.spec.expr, tsMs);
      let samples: readonly Sample[];
      if (v.type === 'scalar') samples = [{ labels: {}, value: v.value }];
      else if (v.type === 'vector') samples = v.samples;
      else throw new PromqlExecutionError(`rule result is a ${v.type}, expected a vector or a scalar`);
      if (rule.spec.kind === 'recording') {
        const spec = rule.spec;
        const out = samples.map((s) => {
          const labels: Record<string, string> = { ...s.labels, ...spec.labels, __name__: spec.name };
          for (const k of Object.keys(labels)) if (labels[k] === '') delete labels[k];
          return { labels, timeMs: tsMs, value: s.value };
        });
        const keys = new Set(out.map((s) => labelsKey(s.labels)));
        if (keys.size !== out.length) throw new PromqlExecutionError('vector contains metrics with the same labelset after applying rule labels');
        if (group.spec.limit > 0 && out.length > group.spec.limit) throw new PromqlExecutionError(`exceeded limit of ${group.spec.limit} with ${out.length} series`);
        if (out.length > 0) {
          const res = await options.appender.append(out);
          const refused = Object.entries(res.rejected).filter(([, n]) => n > 0);
          if (refused.length > 0) log.warn({ rule: spec.name, rejected: res.rejected }, 'store refused recorded samples');
        }
      } else {
        const state = rule.alerting!;
        if (group.spec.limit > 0 && samples.length > group.spec.limit) throw new PromqlExecutionError(`exceeded limit of ${group.spec.limit} with ${samples.length} alerts`);
        const series = state.update(samples, tsMs, 4 * Math.max(resendDelayMs, group.spec.intervalMs));
        if (series.length > 0) await options.appender.append(series.map((s) => ({ labels: s.labels, timeMs: tsMs, value: s.value })));
        notify(state, tsMs);
      }
      rule.health = 'ok';
      rule.lastError = '';
    } catch (err) {
      rule.health = 'err';
      rule.lastError = (err as Error & { rawMessage?: string }).rawMessage ?? (err as Error).message;
      log.warn({ group: group.spec.name, rule: rule.spec.name, err: rule.lastError }, 'rule evaluation failed');
    }
    rule.lastEvaluationMs = tsMs;
    rule.evaluationSeconds = (performance.now() - started) / 1000;
  }

  function notify(state: AlertingRuleState, tsMs: number): void {
    if (options.webhooks === undefined) return;
    const due = state.due(tsMs, resendDelayMs);
    if (due.length === 0) return;
    const alerts = due.map((a) => ({
      status: a.state === 'firing' ? ('firing' as const) : ('resolved' as const),
      labels: a.labels,
      annotations: a.annotations,
      startsAt: new Date(a.firedAtMs ?? a.activeAtMs).toISOString(),
      endsAt: new Date(a.state === 'firing' ? a.validUntilMs : (a.resolvedAtMs ?? tsMs)).toISOString(),
      generatorURL: `${options.externalUrl ?? ''}/api/v1/rules`,
      fingerprint: fingerprint(a.labels),
    }));
    const common = <T extends Record<string, string>>(items: T[]): T => {
      const first = { ...items[0]! };
      for (const it of items.slice(1)) for (const k of Object.keys(first)) if (it[k] !== first[k]) delete first[k];
      return first;
    };
    const payload: WebhookPayload = {
      version: '4',
      groupKey: `{}:{alertname="${state.spec.name}"}`,
      truncatedAlerts: 0,
      status: alerts.some((a) => a.status === 'firing') ? 'firing' : 'resolved',
      receiver: 'flotilla',
      groupLabels: { alertname: state.spec.name },
      commonLabels: common(alerts.map((a) => ({ ...a.labels }))),
      commonAnnotations: common(alerts.map((a) => a.annotations)),
      externalURL: options.externalUrl ?? '',
      alerts,
    };
    options.webhooks.send(payload);
  }

  async function evaluateGroup(group: GroupStatus, tsMs: number): Promise<void> {
    const started = performance.now();
    for (const rule of group.rules) await evaluateRule(group, rule, tsMs);
    group.lastEvaluationMs = tsMs;
    group.evaluationSeconds = (performance.now() - started) / 1000;
  }

  function schedule(group: GroupStatus): void {
    if (!running || !groups.includes(group)) return;
    const interval = group.spec.intervalMs;
    const t = now();
    const next = Math.floor(t / interval) * interval + interval;
    const timer = setTimeout(() => {
      timers.delete(group);
      const p = evaluateGroup(group, next)
        .catch((err: unknown) => log.error({ err, group: group.spec.name }, 'group evaluation failed'))
        .finally(() => {
          inFlight.delete(p);
          schedule(group);
        });
      inFlight.add(p);
    }, Math.max(0, next - t));
    timer.unref();
    timers.set(group, timer);
  }

  function stopTimers(): void {
    for (const t of timers.values()) clearTimeout(t);
    timers.clear();
  }

  return {
    name: 'rules',
    async start() {
      install(await loadAll(options.files, defaultIntervalMs));
      running = true;
      for (const g of groups) schedule(g);
      log.info({ files: options.files, groups: groups.length, rules: groups.reduce((n, g) => n + g.rules.length, 0) }, 'rules loaded');
    },
    async stop() {
      running = false;
      stopTimers();
      await Promise.allSettled([...inFlight]);
    },
    async reload() {
      const specs = await loadAll(options.files, defaultIntervalMs);
      stopTimers();
      install(specs);
      if (running) for (const g of groups) schedule(g);
      log.info({ files: options.files, groups: groups.length }, 'rules reloaded');
    },
    groups: () => groups,
    alerts: () => groups.flatMap((g) => g.rules.flatMap((r) => (r.alerting === undefined ? [] : [...r.alerting.active.values()].filter((a) => a.state !== 'inactive').map((alert) => ({ rule: r, alert }))))),
    evaluateGroup,
  };
}
