/**
 * The syntax tree of the PromQL subset. Every node carries `pos`, the offset of its first character in
 * the query text, so that errors found after parsing (type errors, rule checks) can still point at it.
 */
import type { LabelMatcher } from '../tsdb/types.js';

export type ValueType = 'scalar' | 'vector' | 'matrix' | 'string';

export type ArithmeticOp = '+' | '-' | '*' | '/' | '%' | '^';
export type ComparisonOp = '==' | '!=' | '>' | '<' | '>=' | '<=';
export type SetOp = 'and' | 'or' | 'unless';
export type BinaryOp = ArithmeticOp | ComparisonOp | SetOp;

export type AggregateOp = 'sum' | 'avg' | 'min' | 'max' | 'count' | 'topk' | 'bottomk';

export interface NumberLiteral {
  readonly kind: 'number';
  readonly pos: number;
  readonly value: number;
}

export interface StringLiteral {
  readonly kind: 'string';
  readonly pos: number;
  readonly value: string;
}

export interface VectorSelector {
  readonly kind: 'vector';
  readonly pos: number;
  /** The metric name when written before the braces (it is also among `matchers` as `__name__="..."`). */
  readonly name: string | undefined;
  readonly matchers: readonly LabelMatcher[];
  /** `offset` in ms (may be negative). */
  readonly offsetMs: number;
}

export interface MatrixSelector {
  readonly kind: 'matrix';
  readonly pos: number;
  readonly selector: VectorSelector;
  readonly rangeMs: number;
}

/** `expr[range:step] offset d`: the inner instant vector evaluated at every multiple of `stepMs` in the range. */
export interface Subquery {
  readonly kind: 'subquery';
  readonly pos: number;
  readonly expr: Expr;
  readonly rangeMs: number;
  /** The resolution; 0 when omitted (`expr[5m:]`): the engine's default evaluation interval. */
  readonly stepMs: number;
  readonly offsetMs: number;
}

export interface Call {
  readonly kind: 'call';
  readonly pos: number;
  readonly func: string;
  readonly args: readonly Expr[];
}

export interface Aggregate {
  readonly kind: 'aggregate';
  readonly pos: number;
  readonly op: AggregateOp;
  readonly expr: Expr;
  /** topk/bottomk's k. */
  readonly param: Expr | undefined;
  /** Labels of `by (...)` or `without (...)`. */
  readonly grouping: readonly string[];
  readonly without: boolean;
}

export interface VectorMatching {
  /** true for `on(...)`, false for `ignoring(...)` or none. */
  readonly on: boolean;
  readonly labels: readonly string[];
  /**
   * `group_left(...)` (many-to-one: each left element matches one right element) or `group_right(...)`
   * (one-to-many); absent for one-to-one matching.
   */
  readonly card?: 'many-to-one' | 'one-to-many';
  /** The labels of `group_left(...)` / `group_right(...)` copied from the "one" side. */
  readonly include?: readonly string[];
}

export interface Binary {
  readonly kind: 'binary';
  readonly pos: number;
  readonly op: BinaryOp;
  readonly lhs: Expr;
  readonly rhs: Expr;
  /** The `bool` modifier of a comparison. */
  readonly returnBool: boolean;
  /** Set when both sides are instant vectors. */
  readonly matching: VectorMatching | undefined;
}

export interface Unary {
  readonly kind: 'unary';
  readonly pos: number;
  readonly op: '+' | '-';
  readonly expr: Expr;
}

export interface Paren {
  readonly kind: 'paren';
  readonly pos: number;
  readonly expr: Expr;
}

export type Expr = NumberLiteral | StringLiteral | VectorSelector | MatrixSelector | Subquery | Call | Aggregate | Binary | Unary | Paren;

/** The type an expression evaluates to. */
export function typeOf(e: Expr): ValueType {
  switch (e.kind) {
    case 'number':
      return 'scalar';
    case 'string':
      return 'string';
    case 'vector':
    case 'aggregate':
      return 'vector';
    case 'matrix':
    case 'subquery':
      return 'matrix';
    case 'call':
      return functionReturnType(e.func);
    case 'binary':
      return typeOf(e.lhs) === 'scalar' && typeOf(e.rhs) === 'scalar' ? 'scalar' : 'vector';
    case 'unary':
    case 'paren':
      return typeOf(e.expr);
  }
}

function functionReturnType(name: string): ValueType {
  return name === 'time' || name === 'scalar' ? 'scalar' : 'vector';
}

/** Calls `visit` on every node, parents first. */
export function walk(e: Expr, visit: (node: Expr) => void): void {
  visit(e);
  switch (e.kind) {
    case 'matrix':
      walk(e.selector, visit);
      break;
    case 'call':
      for (const a of e.args) walk(a, visit);
      break;
    case 'aggregate':
      if (e.param !== undefined) walk(e.param, visit);
      walk(e.expr, visit);
      break;
    case 'binary':
      walk(e.lhs, visit);
      walk(e.rhs, visit);
      break;
    case 'unary':
    case 'paren':
    case 'subquery':
      walk(e.expr, visit);
      break;
    default:
      break;
  }
}
