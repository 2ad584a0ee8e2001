/**
 * Prometheus rule files (`groups: - name, interval, limit, rules: - record|alert, expr, for, labels,
 * annotations`), parsed with the yaml package's positions so every problem is reported as
 * `file:line:column: message`, including syntax errors inside a PromQL expression (mapped from the
 * expression back into the file).
 */
import { readFile } from 'node:fs/promises';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type Pair, type Scalar, type YAMLMap } from 'yaml';
import { Code, FlotillaError } from '../../core/errors.js';
import type { Expr } from '../promql/ast.js';
import { parsePromDuration } from '../promql/duration.js';
import { PromqlSyntaxError } from '../promql/errors.js';
import { parsePromql } from '../promql/parser.js';

export interface SourcePosition {
  file: string;
  line: number;
  column: number;
}

export interface RecordingRuleSpec {
  kind: 'recording';
  /** The recorded metric name. */
  name: string;
  exprText: string;
  expr: Expr;
  labels: Record<string, string>;
  position: SourcePosition;
}

export interface AlertingRuleSpec {
  kind: 'alerting';
  /** The alert name (label `alertname`). */
  name: string;
  exprText: string;
  expr: Expr;
  /** How long the condition must hold before the alert fires (`for`), ms. */
  forMs: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  position: SourcePosition;
}

export type RuleSpec = RecordingRuleSpec | AlertingRuleSpec;

export interface RuleGroupSpec {
  name: string;
  file: string;
  /** Evaluation interval, ms (the file's `interval`, else the default). */
  intervalMs: number;
  /** Most series (recording) or alerts a rule may produce; 0 = no limit. */
  limit: number;
  rules: RuleSpec[];
  position: SourcePosition;
}

export interface RuleFileProblem extends SourcePosition {
  message: string;
}

const metricNameRe = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelNameRe = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** An error listing every problem found, each with file, line and column. */
export function ruleFileError(problems: RuleFileProblem[]): FlotillaError {
  const shown = problems.slice(0, 10).map((p) => `${p.file}:${p.line}:${p.column}: ${p.message}`);
  const more = problems.length > 10 ? ` (and ${problems.length - 10} more)` : '';
  return new FlotillaError(Code.CONFIG_INVALID, `invalid rule file: ${shown.join('; ')}${more}`, { details: { problems } });
}

/** Parses one rule file's text; throws a CONFIG_INVALID FlotillaError listing every problem with its position. */
export function parseRuleFile(text: string, file: string, options: { defaultIntervalMs?: number } = {}): RuleGroupSpec[] {
  const defaultIntervalMs = options.defaultIntervalMs ?? 60_000;
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  const problems: RuleFileProblem[] = [];
  const at = (offset: number): SourcePosition => {
    const p = lc.linePos(offset);
    return { file, line: p.line, column: p.col };
  };
  const posOf = (node: Node | null | undefined): SourcePosition => at(node?.range?.[0] ?? 0);
  const problem = (node: Node | null | undefined, message: string): void => {
    problems.push({ ...posOf(node), message });
  };
  if (doc.errors.length > 0) throw ruleFileError(doc.errors.map((e) => ({ ...at(e.pos[0]), message: e.message.split('\n')[0]! })));

  const groups: RuleGroupSpec[] = [];
  const root = doc.contents;
  if (root === null || (isScalar(root) && (root.value === null || root.value === ''))) return groups;
  if (!isMap(root)) throw ruleFileError([{ ...posOf(root), message: 'expected a mapping with the key "groups"' }]);
  const pairs = (m: YAMLMap, allowed: readonly string[], what: string): Map<string, Pair<Node, Node | null>> => {
    const out = new Map<string, Pair<Node, Node | null>>();
    for (const p of m.items as Pair<Node, Node | null>[]) {
      const key = isScalar(p.key) ? String(p.key.value) : '';
      if (!allowed.includes(key)) problem(p.key, `field ${JSON.stringify(key)} not allowed in ${what} (allowed: ${allowed.join(', ')})`);
      else out.set(key, p);
    }
    return out;
  };
  const str = (p: Pair<Node, Node | null> | undefined, what: string): string | undefined => {
    if (p === undefined) return undefined;
    if (!isScalar(p.value) || (typeof p.value.value !== 'string' && typeof p.value.value !== 'number' && typeof p.value.value !== 'boolean')) {
      problem(p.value ?? p.key, `${what} must be a string`);
      return undefined;
    }
    return String(p.value.value);
  };
  const duration = (p: Pair<Node, Node | null> | undefined, what: string): number | undefined => {
    const s = str(p, what);
    if (s === undefined) return undefined;
    const d = parsePromDuration(s);
    if (d.error !== undefined) {
      problem(p!.value, `${what}: ${d.error}`);
      return undefined;
    }
    return d.value;
  };
  const stringMap = (p: Pair<Node, Node | null> | undefined, what: string, checkNames: boolean): Record<string, string> => {
    const out: Record<string, string> = {};
    if (p === undefined || p.value === null || (isScalar(p.value) && p.value.value === null)) return out;
    if (!isMap(p.value)) {
      problem(p.value, `${what} must be a mapping of names to strings`);
      return out;
    }
    for (const item of p.value.items as Pair<Node, Node | null>[]) {
      const k = isScalar(item.key) ? String(item.key.value) : '';
      if (checkNames && !labelNameRe.test(k)) problem(item.key, `invalid label name: ${JSON.stringify(k)}`);
      const v = str(item, `${what}.${k}`);
      if (v !== undefined) out[k] = v;
    }
    return out;
  };

  const rootPairs = pairs(root, ['groups'], 'the rule file');
  const groupsNode = rootPairs.get('groups')?.value;
  if (groupsNode === undefined || groupsNode === null) {
    if (problems.length > 0) throw ruleFileError(problems);
    return groups;
  }
  if (!isSeq(groupsNode)) throw ruleFileError([...problems, { ...posOf(groupsNode), message: '"groups" must be a list' }]);
  const seenGroups = new Set<string>();
  for (const gNode of groupsNode.items as (Node | null)[]) {
    if (!isMap(gNode)) {
      problem(gNode, 'a group must be a mapping with name, interval and rules');
      continue;
    }
    const g = pairs(gNode, ['name', 'interval', 'limit', 'rules'], 'a rule group');
    const name = str(g.get('name'), 'name');
    if (name === undefined || name === '') {
      problem(g.get('name')?.value ?? gNode, 'groupname must not be empty');
    } else if (seenGroups.has(name)) problem(g.get('name')!.value, `groupname: ${JSON.stringify(name)} is repeated in the same file`);
    else seenGroups.add(name);
    const intervalMs = duration(g.get('interval'), 'interval') ?? 0;
    const limitText = str(g.get('limit'), 'limit');
    const limit = limitText === undefined ? 0 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 0) problem(g.get('limit')!.value, 'limit must be a non-negative integer');
    const group: RuleGroupSpec = { name: name ?? '', file, intervalMs: intervalMs > 0 ? intervalMs : defaultIntervalMs, limit, rules: [], position: posOf(gNode) };
    const rulesNode = g.get('rules')?.value;
    if (rulesNode !== undefined && rulesNode !== null && !(isScalar(rulesNode) && rulesNode.value === null)) {
      if (!isSeq(rulesNode)) problem(rulesNode, '"rules" must be a list');
      else for (const rNode of rulesNode.items as (Node | null)[]) {
        const rule = parseRule(rNode);
        if (rule !== undefined) group.rules.push(rule);
      }
    }
    groups.push(group);
  }
  if (problems.length > 0) throw ruleFileError(problems);
  return groups;

  function parseRule(rNode: Node | null): RuleSpec | undefined {
    if (!isMap(rNode)) {
      problem(rNode, 'a rule must be a mapping with record or alert, and expr');
      return undefined;
    }
    const r = pairs(rNode, ['record', 'alert', 'expr', 'for', 'labels', 'annotations'], 'a rule');
    const record = str(r.get('record'), 'record');
    const alert = str(r.get('alert'), 'alert');
    const before = problems.length;
    if (record === undefined && alert === undefined) problem(rNode, "one of 'record' or 'alert' must be set");
    if (record !== undefined && alert !== undefined) problem(rNode, "only one of 'record' and 'alert' must be set");
    if (record !== undefined && !metricNameRe.test(record)) problem(r.get('record')!.value, `invalid recording rule name: ${JSON.stringify(record)}`);
    if (alert !== undefined && alert === '') problem(r.get('alert')!.value, 'alert name must not be empty');
    if (record !== undefined && r.has('for')) problem(r.get('for')!.key, "invalid field 'for' in recording rule");
    if (record !== undefined && r.has('annotations')) problem(r.get('annotations')!.key, "invalid field 'annotations' in recording rule");
    const exprPair = r.get('expr');
    const exprText = str(exprPair, 'expr');
    let expr: Expr | undefined;
    if (exprText === undefined || exprText.trim() === '') {
      if (exprPair === undefined || exprText !== undefined) problem(exprPair?.value ?? rNode, "field 'expr' must be set in rule");
    } else {
      try {
        expr = parsePromql(exprText);
      } catch (err) {
        if (!(err instanceof PromqlSyntaxError)) throw err;
        problems.push({ ...exprPosition(exprPair!.value as Scalar, err.position.offset), message: `could not parse expression: ${err.reason}` });
      }
    }
    const forMs = duration(r.get('for'), 'for') ?? 0;
    const labels = stringMap(r.get('labels'), 'labels', true);
    if ('__name__' in labels) problem(r.get('labels')!.value, 'invalid label name: "__name__" may not be set by a rule');
    const annotations = stringMap(r.get('annotations'), 'annotations', false);
    if (problems.length > before || expr === undefined || exprText === undefined) return undefined;
    const position = posOf(rNode);
    if (record !== undefined) return { kind: 'recording', name: record, exprText, expr, labels, position };
    return { kind: 'alerting', name: alert!, exprText, expr, forMs, labels, annotations, position };
  }

  /** Where character `k` of the expression scalar sits in the file. */
  function exprPosition(node: Scalar, k: number): SourcePosition {
    const start = node.range?.[0] ?? 0;
    const value = String(node.value);
    const before = value.slice(0, k);
    const lineInExpr = before.split('\n').length - 1;
    const colInExpr = k - (before.lastIndexOf('\n') + 1);
    if (node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED') {
      const headerEnd = text.indexOf('\n', start);
      if (headerEnd < 0) return at(start);
      const body = text.slice(headerEnd + 1);
      const firstContent = /^(?:[ \t]*\n)*([ ]*)/.exec(body);
      const skipped = (firstContent?.[0].match(/\n/g) ?? []).length;
      const indent = firstContent?.[1]?.length ?? 0;
      const header = at(start);
      return { file, line: header.line + 1 + skipped + (node.type === 'BLOCK_LITERAL' ? lineInExpr : 0), column: indent + 1 + (node.type === 'BLOCK_LITERAL' ? colInExpr : 0) };
    }
    if (lineInExpr > 0) return at(start);
    const quoted = node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE';
    return at(start + (quoted ? 1 : 0) + k);
  }
}

/** Reads and parses a rule file. */
export async function loadRuleFile(file: string, options: { defaultIntervalMs?: number } = {}): Promise<RuleGroupSpec[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new FlotillaError(Code.CONFIG_INVALID, `cannot read rule file ${file}: ${(err as Error).message}`, { cause: err });
  }
  return parseRuleFile(text, file, options);
}
