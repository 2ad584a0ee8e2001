/**
 * The dependency check of recording rules: rule A depends on rule B when a selector of A's expression
 * names (by an equality or regex matcher on `__name__`) the series B records. A cycle (a rule that reads,
 * directly or through others, what it records itself) is rejected: it could never be evaluated
 * consistently. Selectors without a `__name__` matcher are not followed.
 */
import type { LabelMatcher } from '../tsdb/types.js';
import { walk } from '../promql/ast.js';
import { matchesValue } from '../promql/matchers.js';
import type { RecordingRuleSpec, RuleGroupSpec } from './rule-file.js';
import { ruleFileError } from './rule-file.js';

function selectedNames(rule: RecordingRuleSpec, recorded: readonly string[]): string[] {
  const out = new Set<string>();
  walk(rule.expr, (n) => {
    if (n.kind !== 'vector') return;
    const nameMatchers: LabelMatcher[] = n.matchers.filter((m) => m.name === '__name__');
    if (nameMatchers.length === 0) return;
    for (const name of recorded) if (nameMatchers.every((m) => matchesValue(m, name))) out.add(name);
  });
  return [...out];
}

/** Throws a CONFIG_INVALID error naming the cycle (with each rule's file, line and column) when recording rules form one. */
export function checkRuleCycles(groups: readonly RuleGroupSpec[]): void {
  const rules = groups.flatMap((g) => g.rules).filter((r): r is RecordingRuleSpec => r.kind === 'recording');
  const byName = new Map<string, RecordingRuleSpec[]>();
  for (const r of rules) byName.set(r.name, [...(byName.get(r.name) ?? []), r]);
  const recorded = [...byName.keys()];
  const edges = new Map<RecordingRuleSpec, RecordingRuleSpec[]>();
  for (const r of rules) edges.set(r, selectedNames(r, recorded).flatMap((n) => byName.get(n) ?? []));
  const state = new Map<RecordingRuleSpec, 'visiting' | 'done'>();
  const stack: RecordingRuleSpec[] = [];
  const visit = (r: RecordingRuleSpec): void => {
    state.set(r, 'visiting');
    stack.push(r);
    for (const d of edges.get(r) ?? []) {
      const s = state.get(d);
      if (s === 'visiting') {
        const cycle = [...stack.slice(stack.indexOf(d)), d];
        const path = cycle.map((x) => x.name).join(' -> ');
        throw ruleFileError([{ ...d.position, message: `recording rules form a cycle: ${path} (${cycle.slice(0, -1).map((x) => `${x.name} at ${x.position.file}:${x.position.line}:${x.position.column}`).join(', ')})` }]);
      }
      if (s === undefined) visit(d);
    }
    stack.pop();
    state.set(r, 'done');
  };
  for (const r of rules) if (!state.has(r)) visit(r);
}
