/**
 * Series selectors for routing, in PromQL's syntax: `name`, `{label op "value", ...}` or
 * `name{...}`, with op one of =, !=, =~, !~ (regular expressions fully anchored, as in Prometheus). The
 * metric name is the label `__name__`. Parsing returns `{ value, error }`: a bad selector is normal input.
 */
import type { LabelMatcher, MatchType } from '../tsdb/types.js';

export interface CompiledMatcher extends LabelMatcher {
  readonly test: (value: string) => boolean;
}

function compile(m: LabelMatcher): CompiledMatcher | string {
  switch (m.type) {
    case '=':
      return { ...m, test: (v) => v === m.value };
    case '!=':
      return { ...m, test: (v) => v !== m.value };
    case '=~':
    case '!~': {
      let re: RegExp;
      try {
        re = new RegExp(`^(?:${m.value})$`, 'u');
      } catch (err) {
        return `invalid regular expression ${JSON.stringify(m.value)}: ${(err as Error).message}`;
      }
      return m.type === '=~' ? { ...m, test: (v) => re.test(v) } : { ...m, test: (v) => !re.test(v) };
    }
  }
}

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'" };

/** Parses a selector into matchers (a missing label counts as the empty string when matched). */
export function parseSelector(text: string): { value: CompiledMatcher[]; error?: undefined } | { error: string } {
  const s = text.trim();
  let i = 0;
  const fail = (msg: string): { error: string } => ({ error: `selector ${JSON.stringify(text)}: ${msg} at column ${i + 1}` });
  const matchers: LabelMatcher[] = [];
  const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(s);
  if (name !== null) {
    matchers.push({ name: '__name__', type: '=', value: name[0] });
    i = name[0].length;
  }
  const skipSpace = (): void => {
    while (i < s.length && /\s/.test(s[i]!)) i++;
  };
  skipSpace();
  if (i < s.length) {
    if (s[i] !== '{') return fail("expected '{'");
    i++;
    for (;;) {
      skipSpace();
      if (s[i] === '}') {
        i++;
        break;
      }
      const label = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(s.slice(i));
      if (label === null) return fail('expected a label name');
      i += label[0].length;
      skipSpace();
      const op = /^(=~|!~|!=|=)/.exec(s.slice(i));
      if (op === null) return fail('expected one of =, !=, =~, !~');
      i += op[0].length;
      skipSpace();
      const quote = s[i];
      if (quote !== '"' && quote !== "'") return fail('expected a quoted value');
      i++;
      let value = '';
      for (;;) {
        if (i >= s.length) return fail('unterminated string');
        const c = s[i]!;
        if (c === quote) {
          i++;
          break;
        }
        if (c === '\\') {
          const e = ESCAPES[s[i + 1] ?? ''];
          if (e === undefined) return fail('unknown escape');
          value += e;
          i += 2;
          continue;
        }
        value += c;
        i++;
      }
      matchers.push({ name: label[0], type: op[0] as MatchType, value });
      skipSpace();
      if (s[i] === ',') {
        i++;
        continue;
      }
      if (s[i] === '}') {
        i++;
        break;
      }
      return fail("expected ',' or '}'");
    }
    skipSpace();
    if (i < s.length) return fail('unexpected text after the selector');
  }
  if (matchers.length === 0) return { error: `selector ${JSON.stringify(text)}: empty (give a metric name or at least one matcher)` };
  const out: CompiledMatcher[] = [];
  for (const m of matchers) {
    const c = compile(m);
    if (typeof c === 'string') return { error: `selector ${JSON.stringify(text)}: ${c}` };
    out.push(c);
  }
  return { value: out };
}

/** True when every matcher holds for `labels` (a missing label is the empty string). */
export function matchesAll(matchers: readonly CompiledMatcher[], labels: Readonly<Record<string, string>>): boolean {
  for (const m of matchers) if (!m.test(labels[m.name] ?? '')) return false;
  return true;
}
