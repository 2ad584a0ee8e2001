/**
 * The PromQL lexer: turns query text into tokens with their offsets. Strings follow Go's quoting rules
 * (single, double and back quotes; escapes in the first two); numbers include hex, exponents, Inf and NaN;
 * a number directly followed by a unit (`5m`, `1h30m`) is a duration.
 */
import { PromqlSyntaxError } from './errors.js';

export type TokenKind = 'ident' | 'number' | 'duration' | 'string' | 'op' | 'punct' | 'eof';

export interface Token {
  readonly kind: TokenKind;
  /** The token's text (for strings, the unquoted value). */
  readonly text: string;
  readonly pos: number;
  /** The numeric value of a number token. */
  readonly num?: number;
}

const operators = ['==', '!=', '>=', '<=', '=~', '!~', '+', '-', '*', '/', '%', '^', '>', '<', '='];
const puncts = new Set(['(', ')', '{', '}', '[', ']', ',', ':', '@']);

function isIdentStart(c: string): boolean {
  return /[A-Za-z_:]/.test(c);
}
function isIdentPart(c: string): boolean {
  return /[A-Za-z0-9_:]/.test(c);
}

const escapes: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };

function lexString(src: string, start: number): { value: string; end: number } {
  const quote = src[start]!;
  let i = start + 1;
  let out = '';
  while (i < src.length) {
    const c = src[i]!;
    if (c === quote) return { value: out, end: i + 1 };
    if (quote !== '`' && c === '\n') throw new PromqlSyntaxError('unterminated quoted string', start, src);
    if (quote !== '`' && c === '\\') {
      const n = src[i + 1];
      if (n === undefined) break;
      if (n === quote) {
        out += n;
        i += 2;
        continue;
      }
      if (escapes[n] !== undefined) {
        out += escapes[n];
        i += 2;
        continue;
      }
      const hex = n === 'x' ? 2 : n === 'u' ? 4 : n === 'U' ? 8 : 0;
      if (hex > 0) {
        const digits = src.slice(i + 2, i + 2 + hex);
        if (!new RegExp(`^[0-9a-fA-F]{${hex}}$`).test(digits)) throw new PromqlSyntaxError(`invalid escape sequence \\${n}${digits}`, i, src);
        const code = parseInt(digits, 16);
        if (code > 0x10ffff || (code >= 0xd800 && code < 0xe000)) throw new PromqlSyntaxError(`invalid escape sequence \\${n}${digits}`, i, src);
        out += String.fromCodePoint(code);
        i += 2 + hex;
        continue;
      }
      if (/[0-7]/.test(n)) {
        const digits = src.slice(i + 1, i + 4);
        if (!/^[0-7]{3}$/.test(digits)) throw new PromqlSyntaxError(`invalid escape sequence \\${digits}`, i, src);
        out += String.fromCharCode(parseInt(digits, 8));
        i += 4;
        continue;
      }
      throw new PromqlSyntaxError(`unknown escape sequence \\${n}`, i, src);
    }
    out += c;
    i++;
  }
  throw new PromqlSyntaxError('unterminated quoted string', start, src);
}

const numberRe = /^(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)/;
const durationRe = /^(?:\d+(?:ms|y|w|d|h|m|s))+/;

/** Splits `src` into tokens; throws PromqlSyntaxError with the offset on an unexpected character. */
export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (c === '#') {
      while (i < src.length && src[i] !== '\n') i++;
      continue;
    }
    const rest = src.slice(i, i + 64);
    if (/[0-9.]/.test(c)) {
      const d = durationRe.exec(src.slice(i));
      if (d !== null && !/[A-Za-z0-9_.]/.test(src[i + d[0].length] ?? ' ')) {
        out.push({ kind: 'duration', text: d[0], pos: i });
        i += d[0].length;
        continue;
      }
      const m = numberRe.exec(src.slice(i));
      if (m === null) throw new PromqlSyntaxError(`unexpected character: ${JSON.stringify(c)}`, i, src);
      const after = src[i + m[0].length];
      if (after !== undefined && (isIdentPart(after) || after === '.')) throw new PromqlSyntaxError(`bad number or duration syntax: ${JSON.stringify(src.slice(i, i + m[0].length + 1))}`, i, src);
      const text = m[0];
      const num = /^0[xX]/.test(text) ? parseInt(text.slice(2), 16) : Number(text);
      out.push({ kind: 'number', text, pos: i, num });
      i += text.length;
      continue;
    }
    if (isIdentStart(c)) {
      let j = i + 1;
      while (j < src.length && isIdentPart(src[j]!)) j++;
      const text = src.slice(i, j);
      const lower = text.toLowerCase();
      if (lower === 'inf' || lower === 'nan') out.push({ kind: 'number', text, pos: i, num: lower === 'inf' ? Infinity : NaN });
      else out.push({ kind: 'ident', text, pos: i });
      i = j;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') {
      const s = lexString(src, i);
      out.push({ kind: 'string', text: s.value, pos: i });
      i = s.end;
      continue;
    }
    const op = operators.find((o) => rest.startsWith(o));
    if (op !== undefined) {
      out.push({ kind: 'op', text: op, pos: i });
      i += op.length;
      continue;
    }
    if (puncts.has(c)) {
      out.push({ kind: 'punct', text: c, pos: i });
      i++;
      continue;
    }
    throw new PromqlSyntaxError(`unexpected character: ${JSON.stringify(c)}`, i, src);
  }
  out.push({ kind: 'eof', text: '', pos: src.length });
  return out;
}
