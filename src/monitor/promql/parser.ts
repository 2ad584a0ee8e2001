/**
 * The PromQL parser (a precedence-climbing parser over the lexer's tokens) with Prometheus's type checks.
 * Precedence, lowest first: `or`; `and`, `unless`; comparisons; `+ -`; `* / %`; unary `+ -`; `^` (right
 * associative). Errors are PromqlSyntaxError with the line and column of the offending token.
 */
import type { LabelMatcher, MatchType } from '../tsdb/types.js';
import { typeOf, type AggregateOp, type BinaryOp, type Expr, type MatrixSelector, type VectorMatching, type VectorSelector } from './ast.js';
import { parsePromDuration } from './duration.js';
import { PromqlSyntaxError } from './errors.js';
import { aggregateOps, functionTable, unsupportedNames } from './function-table.js';
import { tokenize, type Token } from './lexer.js';
import { compileMatcherRegex } from './matchers.js';

const precedence: Record<string, number> = {
  or: 1, and: 2, unless: 2,
  '==': 3, '!=': 3, '>': 3, '<': 3, '>=': 3, '<=': 3,
  '+': 4, '-': 4,
  '*': 5, '/': 5, '%': 5,
  '^': 7,
};
const unaryPrecedence = 6;
const comparisonOps = new Set(['==', '!=', '>', '<', '>=', '<=']);
const setOps = new Set(['and', 'or', 'unless']);
const labelNameRe = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const typeNames: Record<string, string> = { scalar: 'scalar', vector: 'instant vector', matrix: 'range vector', string: 'string' };

class Parser {
  private i = 0;
  constructor(
    private readonly src: string,
    private readonly tokens: Token[],
  ) {}

  private peek(ahead = 0): Token {
    return this.tokens[Math.min(this.i + ahead, this.tokens.length - 1)]!;
  }
  private next(): Token {
    const t = this.peek();
    if (this.i < this.tokens.length - 1) this.i++;
    return t;
  }
  fail(message: string, pos: number): never {
    throw new PromqlSyntaxError(message, pos, this.src);
  }
  private describe(t: Token): string {
    if (t.kind === 'eof') return 'end of input';
    if (t.kind === 'string') return `string ${JSON.stringify(t.text)}`;
    return `${t.kind === 'punct' || t.kind === 'op' ? '' : t.kind + ' '}${JSON.stringify(t.text)}`;
  }
  private expect(text: string, context: string): Token {
    const t = this.next();
    if ((t.kind === 'punct' || t.kind === 'op') && t.text === text) return t;
    return this.fail(`unexpected ${this.describe(t)} in ${context}, expected "${text}"`, t.pos);
  }
  private isPunct(text: string, ahead = 0): boolean {
    const t = this.peek(ahead);
    return t.kind === 'punct' && t.text === text;
  }

  parseQuery(): Expr {
    if (this.peek().kind === 'eof') this.fail('no expression found in input', 0);
    const e = this.parseExpr(0);
    const t = this.peek();
    if (t.kind !== 'eof') this.fail(`unexpected ${this.describe(t)}`, t.pos);
    return e;
  }

  private binaryOpAt(): BinaryOp | undefined {
    const t = this.peek();
    if (t.kind === 'op' && precedence[t.text] !== undefined) return t.text as BinaryOp;
    if (t.kind === 'ident' && setOps.has(t.text.toLowerCase())) return t.text.toLowerCase() as BinaryOp;
    return undefined;
  }

  parseExpr(minPrec: number): Expr {
    let lhs = this.parseUnary();
    for (;;) {
      const op = this.binaryOpAt();
      if (op === undefined) break;
      const prec = precedence[op]!;
      if (prec < minPrec) break;
      const opTok = this.next();
      let returnBool = false;
      if (this.peek().kind === 'ident' && this.peek().text.toLowerCase() === 'bool') {
        this.next();
        returnBool = true;
      }
      let matching: VectorMatching | undefined;
      const modTok = this.peek();
      const mod = modTok.kind === 'ident' ? modTok.text.toLowerCase() : '';
      if (mod === 'on' || mod === 'ignoring') {
        this.next();
        matching = { on: mod === 'on', labels: this.parseLabelList(mod) };
      }
      const grp = this.peek();
      if (grp.kind === 'ident' && /^group_(left|right)$/i.test(grp.text)) {
        const side = grp.text.toLowerCase();
        if (matching === undefined) this.fail(`unexpected <${side}>`, grp.pos);
        if (setOps.has(op)) this.fail(`no grouping allowed for "${op}" operation`, grp.pos);
        this.next();
        // The label list is optional: `group_left` alone copies nothing.
        const include = this.isPunct('(') ? this.parseLabelList(side) : [];
        matching = { ...matching, card: side === 'group_left' ? 'many-to-one' : 'one-to-many', include };
        if (matching.on) {
          const clash = include.find((l) => matching!.labels.includes(l));
          if (clash !== undefined) this.fail(`label "${clash}" must not occur in ON and GROUP clause at once`, grp.pos);
        }
      }
      const rhs = this.parseExpr(op === '^' ? prec : prec + 1);
      lhs = this.checkBinary(op, lhs, rhs, returnBool, matching, opTok);
    }
    return lhs;
  }

  private checkBinary(op: BinaryOp, lhs: Expr, rhs: Expr, returnBool: boolean, matching: VectorMatching | undefined, opTok: Token): Expr {
    const lt = typeOf(lhs);
    const rt = typeOf(rhs);
    for (const [t, e] of [[lt, lhs], [rt, rhs]] as const) {
      if (t !== 'scalar' && t !== 'vector') this.fail(`binary expression must contain only scalar and instant vector types`, e.pos);
    }
    if (returnBool && !comparisonOps.has(op)) this.fail('bool modifier can only be used on comparison operators', opTok.pos);
    if (comparisonOps.has(op) && lt === 'scalar' && rt === 'scalar' && !returnBool) this.fail('comparisons between scalars must use BOOL modifier', opTok.pos);
    if (setOps.has(op) && (lt === 'scalar' || rt === 'scalar')) this.fail(`set operator "${op}" not allowed in binary scalar expression`, opTok.pos);
    if (matching !== undefined && (lt !== 'vector' || rt !== 'vector')) this.fail('vector matching only allowed between instant vectors', opTok.pos);
    const vectors = lt === 'vector' && rt === 'vector';
    return {
      kind: 'binary',
      pos: lhs.pos,
      op,
      lhs,
      rhs,
      returnBool,
      matching: vectors ? (matching ?? { on: false, labels: [] }) : undefined,
    };
  }

  private parseUnary(): Expr {
    const t = this.peek();
    if (t.kind === 'op' && (t.text === '-' || t.text === '+')) {
      this.next();
      const expr = this.parseExpr(unaryPrecedence + 1);
      const ty = typeOf(expr);
      if (ty !== 'scalar' && ty !== 'vector') this.fail(`unary expression only allowed on expressions of type scalar or instant vector, got "${typeNames[ty]}"`, t.pos);
      if (expr.kind === 'number') return { kind: 'number', pos: t.pos, value: t.text === '-' ? -expr.value : expr.value };
      return { kind: 'unary', pos: t.pos, op: t.text, expr };
    }
    return this.parsePostfix(this.parsePrimary());
  }

  private parsePostfix(e: Expr): Expr {
    for (;;) {
      const t = this.peek();
      if (t.kind === 'punct' && t.text === '[') {
        this.next();
        const d = this.next();
        if (d.kind !== 'duration') this.fail(`unexpected ${this.describe(d)} in range, expected a duration`, d.pos);
        const parsed = parsePromDuration(d.text);
        if (parsed.error !== undefined) this.fail(parsed.error, d.pos);
        if (parsed.value <= 0) this.fail('range must be greater than zero', d.pos);
        const colon = this.peek();
        if ((colon.kind === 'punct' && colon.text === ':') || (colon.kind === 'ident' && colon.text.startsWith(':'))) {
          e = this.parseSubquery(e, parsed.value);
          continue;
        }
        if (e.kind !== 'vector') this.fail(e.kind === 'matrix' ? 'range specification may only follow an instant vector selector once' : 'ranges only allowed for vector selectors', t.pos);
        if (e.offsetMs !== 0) this.fail('no offset modifiers allowed before range', t.pos);
        this.expect(']', 'range');
        const m: MatrixSelector = { kind: 'matrix', pos: e.pos, selector: e, rangeMs: parsed.value };
        e = m;
        continue;
      }
      if (t.kind === 'ident' && t.text.toLowerCase() === 'offset') {
        this.next();
        let sign = 1;
        if (this.peek().kind === 'op' && (this.peek().text === '-' || this.peek().text === '+')) sign = this.next().text === '-' ? -1 : 1;
        const d = this.next();
        if (d.kind !== 'duration') this.fail(`unexpected ${this.describe(d)} in offset, expected a duration`, d.pos);
        const parsed = parsePromDuration(d.text);
        if (parsed.error !== undefined) this.fail(parsed.error, d.pos);
        if (e.kind === 'subquery') {
          if (e.offsetMs !== 0) this.fail('offset may not be set multiple times', t.pos);
          e = { ...e, offsetMs: sign * parsed.value };
          continue;
        }
        const sel = e.kind === 'matrix' ? e.selector : e.kind === 'vector' ? e : undefined;
        if (sel === undefined) this.fail('offset modifier must be preceded by an instant vector selector or range vector selector or a subquery', t.pos);
        if (sel.offsetMs !== 0) this.fail('offset may not be set multiple times', t.pos);
        const withOffset: VectorSelector = { ...sel, offsetMs: sign * parsed.value };
        e = e.kind === 'matrix' ? { ...e, selector: withOffset } : withOffset;
        continue;
      }
      if (t.kind === 'punct' && t.text === '@') this.fail('the @ modifier is not supported by this PromQL subset', t.pos);
      return e;
    }
  }

  /** After `expr[range`, at `:` (a token of its own, or the start of an identifier such as `:1m`): the rest of a subquery. */
  private parseSubquery(e: Expr, rangeMs: number): Expr {
    const ty = typeOf(e);
    if (ty !== 'vector') this.fail(`subquery is only allowed on instant vector, got ${typeNames[ty]} instead`, e.pos);
    const colon = this.next();
    let stepText = colon.kind === 'ident' ? colon.text.slice(1) : '';
    let stepPos = colon.pos + 1;
    if (stepText === '' && this.peek().kind === 'duration') {
      const d = this.next();
      stepText = d.text;
      stepPos = d.pos;
    }
    let stepMs = 0;
    if (stepText !== '') {
      const parsed = parsePromDuration(stepText);
      if (parsed.error !== undefined) this.fail(parsed.error, stepPos);
      if (parsed.value <= 0) this.fail('zero or negative subquery resolution (step) is not allowed', stepPos);
      stepMs = parsed.value;
    }
    this.expect(']', 'subquery');
    return { kind: 'subquery', pos: e.pos, expr: e, rangeMs, stepMs, offsetMs: 0 };
  }

  private parsePrimary(): Expr {
    const t = this.peek();
    switch (t.kind) {
      case 'number':
        this.next();
        return { kind: 'number', pos: t.pos, value: t.num! };
      case 'string':
        this.next();
        return { kind: 'string', pos: t.pos, value: t.text };
      case 'duration':
        return this.fail(`unexpected duration ${JSON.stringify(t.text)}`, t.pos);
      case 'punct':
        if (t.text === '(') {
          this.next();
          const inner = this.parseExpr(0);
          this.expect(')', 'parenthesized expression');
          return { kind: 'paren', pos: t.pos, expr: inner };
        }
        if (t.text === '{') return this.parseSelector(undefined, t.pos);
        return this.fail(`unexpected ${this.describe(t)}`, t.pos);
      case 'ident':
        return this.parseIdentifier(t);
      case 'op':
      case 'eof':
        return this.fail(`unexpected ${this.describe(t)}`, t.pos);
    }
  }

  private parseIdentifier(t: Token): Expr {
    const lower = t.text.toLowerCase();
    const isCall = this.isPunct('(', 1);
    if (aggregateOps.has(lower) && (isCall || /^(by|without)$/i.test(this.peek(1).kind === 'ident' ? this.peek(1).text : ''))) return this.parseAggregate(t, lower as AggregateOp);
    if (isCall) {
      this.next();
      return this.parseCall(t);
    }
    if (['by', 'without', 'on', 'ignoring', 'bool', 'offset', 'group_left', 'group_right', 'and', 'or', 'unless'].includes(lower)) {
      this.fail(`unexpected ${JSON.stringify(t.text)}`, t.pos);
    }
    this.next();
    return this.parseSelector(t.text, t.pos);
  }

  private parseCall(name: Token): Expr {
    const sig = functionTable[name.text];
    if (sig === undefined) {
      if (unsupportedNames.has(name.text)) this.fail(`function "${name.text}" is not supported by this PromQL subset`, name.pos);
      this.fail(`unknown function with name ${JSON.stringify(name.text)}`, name.pos);
    }
    this.expect('(', 'function call');
    const args: Expr[] = [];
    if (!this.isPunct(')')) {
      for (;;) {
        args.push(this.parseExpr(0));
        if (this.isPunct(',')) {
          this.next();
          continue;
        }
        break;
      }
    }
    const close = this.expect(')', `call to function "${name.text}"`);
    if (args.length < sig.minArgs || args.length > sig.args.length) {
      const want = sig.minArgs === sig.args.length ? `${sig.minArgs}` : `${sig.minArgs} to ${sig.args.length}`;
      this.fail(`expected ${want} argument(s) in call to "${name.text}", got ${args.length}`, close.pos);
    }
    args.forEach((a, k) => {
      const want = sig.args[k]!;
      const got = typeOf(a);
      if (got !== want) this.fail(`expected type ${typeNames[want]} in call to function "${name.text}", got ${typeNames[got]}`, a.pos);
    });
    return { kind: 'call', pos: name.pos, func: name.text, args };
  }

  private parseLabelList(context: string): string[] {
    this.expect('(', `${context} clause`);
    const out: string[] = [];
    while (!this.isPunct(')')) {
      const t = this.next();
      if (t.kind !== 'ident' || !labelNameRe.test(t.text)) this.fail(`unexpected ${this.describe(t)} in grouping opts, expected label`, t.pos);
      out.push(t.text);
      if (this.isPunct(',')) this.next();
      else if (!this.isPunct(')')) this.fail(`unexpected ${this.describe(this.peek())} in grouping opts, expected "," or ")"`, this.peek().pos);
    }
    this.next();
    return out;
  }

  private parseAggregate(t: Token, op: AggregateOp): Expr {
    this.next();
    let grouping: string[] = [];
    let without = false;
    let haveGrouping = false;
    const readGrouping = (): void => {
      const g = this.peek();
      if (g.kind === 'ident' && /^(by|without)$/i.test(g.text)) {
        if (haveGrouping) this.fail('aggregation may have only one by/without clause', g.pos);
        this.next();
        without = g.text.toLowerCase() === 'without';
        grouping = this.parseLabelList(g.text.toLowerCase());
        haveGrouping = true;
      }
    };
    readGrouping();
    this.expect('(', 'aggregation');
    const args: Expr[] = [];
    for (;;) {
      args.push(this.parseExpr(0));
      if (this.isPunct(',')) {
        this.next();
        continue;
      }
      break;
    }
    const close = this.expect(')', 'aggregation');
    readGrouping();
    const needsParam = op === 'topk' || op === 'bottomk';
    if (args.length !== (needsParam ? 2 : 1)) this.fail(`wrong number of arguments for aggregate expression provided, expected ${needsParam ? 2 : 1}, got ${args.length}`, close.pos);
    const expr = args[args.length - 1]!;
    const param = needsParam ? args[0] : undefined;
    if (typeOf(expr) !== 'vector') this.fail(`expected type instant vector in aggregation expression, got ${typeNames[typeOf(expr)]}`, expr.pos);
    if (param !== undefined && typeOf(param) !== 'scalar') this.fail(`expected type scalar in aggregation parameter, got ${typeNames[typeOf(param)]}`, param.pos);
    return { kind: 'aggregate', pos: t.pos, op, expr, param, grouping, without };
  }

  private parseSelector(name: string | undefined, pos: number): VectorSelector {
    const matchers: LabelMatcher[] = [];
    if (name !== undefined) matchers.push({ name: '__name__', type: '=', value: name });
    if (this.isPunct('{')) {
      this.next();
      while (!this.isPunct('}')) {
        const l = this.next();
        if (l.kind !== 'ident' || !labelNameRe.test(l.text)) this.fail(`unexpected ${this.describe(l)} in label matching, expected label`, l.pos);
        const opTok = this.next();
        if (opTok.kind !== 'op' || !['=', '!=', '=~', '!~'].includes(opTok.text)) this.fail(`unexpected ${this.describe(opTok)} in label matching, expected one of "=", "!=", "=~", "!~"`, opTok.pos);
        const v = this.next();
        if (v.kind !== 'string') this.fail(`unexpected ${this.describe(v)} in label matching, expected string`, v.pos);
        const type = opTok.text as MatchType;
        if (type === '=~' || type === '!~') {
          const err = compileMatcherRegex(v.text).error;
          if (err !== undefined) this.fail(`invalid regular expression ${JSON.stringify(v.text)}: ${err}`, v.pos);
        }
        if (l.text === '__name__' && name !== undefined) this.fail(`metric name must not be set twice: ${JSON.stringify(name)} or ${JSON.stringify(v.text)}`, l.pos);
        matchers.push({ name: l.text, type, value: v.text });
        if (this.isPunct(',')) this.next();
        else if (!this.isPunct('}')) this.fail(`unexpected ${this.describe(this.peek())} in label matching, expected "," or "}"`, this.peek().pos);
      }
      this.next();
    }
    if (!matchers.some((m) => !matchesEmpty(m))) this.fail('vector selector must contain at least one non-empty matcher', pos);
    return { kind: 'vector', pos, name, matchers, offsetMs: 0 };
  }
}

function matchesEmpty(m: LabelMatcher): boolean {
  switch (m.type) {
    case '=':
      return m.value === '';
    case '!=':
      return m.value !== '';
    case '=~':
      return compileMatcherRegex(m.value).re?.test('') ?? false;
    case '!~':
      return !(compileMatcherRegex(m.value).re?.test('') ?? false);
  }
}

/** Parses a PromQL expression; throws PromqlSyntaxError (a FlotillaError) with line and column. */
export function parsePromql(text: string): Expr {
  return new Parser(text, tokenize(text)).parseQuery();
}
