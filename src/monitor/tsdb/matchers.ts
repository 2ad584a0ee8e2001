/**
 * Label matchers as Prometheus reads them: `=`, `!=`, `=~` and `!~`, regular expressions fully anchored,
 * and a label a series lacks reads as the empty string (so `{foo=""}` matches series without `foo`, and
 * `{foo!=""}` only those that have it).
 */
import { Code, FlotillaError } from '../../core/errors.js';
import type { LabelMatcher } from './types.js';

export interface CompiledMatcher {
  readonly name: string;
  /** The `=` value, for a direct postings look-up. */
  readonly equals: string | undefined;
  test(value: string): boolean;
  /** Whether a series without the label matches. */
  readonly matchesEmpty: boolean;
}

const MAX_REGEX_CHARS = 4096;

function anchored(source: string): RegExp {
  if (source.length > MAX_REGEX_CHARS) throw new FlotillaError(Code.INVALID_ARGUMENT, `regular expression longer than ${MAX_REGEX_CHARS} characters`);
  try {
    return new RegExp(`^(?:${source})$`, 'su');
  } catch (err) {
    throw new FlotillaError(Code.INVALID_ARGUMENT, `invalid regular expression ${JSON.stringify(source.slice(0, 200))}: ${(err as Error).message}`);
  }
}

export function compileMatcher(m: LabelMatcher): CompiledMatcher {
  if (typeof m.name !== 'string' || m.name === '') throw new FlotillaError(Code.INVALID_ARGUMENT, 'a label matcher needs a label name');
  if (typeof m.value !== 'string') throw new FlotillaError(Code.INVALID_ARGUMENT, `matcher on ${m.name}: the value must be a string`);
  let test: (v: string) => boolean;
  switch (m.type) {
    case '=':
      test = (v) => v === m.value;
      break;
    case '!=':
      test = (v) => v !== m.value;
      break;
    case '=~': {
      const re = anchored(m.value);
      test = (v) => re.test(v);
      break;
    }
    case '!~': {
      const re = anchored(m.value);
      test = (v) => !re.test(v);
      break;
    }
    default:
      throw new FlotillaError(Code.INVALID_ARGUMENT, `unknown matcher type ${JSON.stringify(String(m.type))} (=, !=, =~, !~)`);
  }
  return { name: m.name, equals: m.type === '=' ? m.value : undefined, test, matchesEmpty: test('') };
}

export function compileMatchers(ms: readonly LabelMatcher[]): CompiledMatcher[] {
  return ms.map(compileMatcher);
}
