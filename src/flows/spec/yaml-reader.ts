/** Reading typed fields out of a `yaml` document while keeping each node's line and column for errors. */
import { isMap, isScalar, isSeq, type LineCounter, type Node, type Pair, type YAMLMap } from 'yaml';
import { parseDuration } from '../../core/duration.js';
import type { SpecProblem } from './spec-types.js';

export class SpecReader {
  readonly problems: SpecProblem[] = [];
  constructor(
    private readonly lines: LineCounter,
    readonly source: string,
  ) {}

  /** 1-based line and column of a source offset. */
  at(offset: number): { line: number; col: number } {
    const p = this.lines.linePos(offset);
    return { line: p.line, col: p.col };
  }

  problem(node: Node | null | undefined, message: string, extraOffset = 0): void {
    const offset = (node?.range?.[0] ?? 0) + extraOffset;
    this.problemAt(offset, message);
  }

  problemAt(offset: number, message: string): void {
    this.problems.push({ ...this.at(offset), message });
  }

  /**
   * The pairs of a map, with duplicate and unknown keys reported. `allowed` undefined: any key.
   * Returns key -> pair (first occurrence).
   */
  entries(node: unknown, where: string, allowed?: readonly string[]): Map<string, Pair<Node, Node | null>> | undefined {
    if (!isMap(node)) {
      this.problem(node as Node, `${where} must be a mapping`);
      return undefined;
    }
    const out = new Map<string, Pair<Node, Node | null>>();
    for (const pair of (node as YAMLMap<Node, Node | null>).items) {
      const keyNode = pair.key;
      const key = isScalar(keyNode) ? String(keyNode.value) : undefined;
      if (key === undefined) {
        this.problem(keyNode, `${where}: keys must be plain names`);
        continue;
      }
      if (out.has(key)) {
        this.problem(keyNode, `duplicate key "${key}" in ${where}`);
        continue;
      }
      if (allowed !== undefined && !allowed.includes(key)) {
        this.problem(keyNode, `unknown field "${key}" in ${where} (expected one of: ${allowed.join(', ')})`);
        continue;
      }
      out.set(key, pair);
    }
    return out;
  }

  string(node: Node | null | undefined, what: string): string | undefined {
    if (isScalar(node) && (typeof node.value === 'string' || typeof node.value === 'number') && String(node.value) !== '') return String(node.value);
    this.problem(node, `${what} must be a non-empty string`);
    return undefined;
  }

  bool(node: Node | null | undefined, what: string): boolean | undefined {
    if (isScalar(node) && typeof node.value === 'boolean') return node.value;
    this.problem(node, `${what} must be true or false`);
    return undefined;
  }

  int(node: Node | null | undefined, what: string, min: number, max: number): number | undefined {
    if (isScalar(node) && typeof node.value === 'number' && Number.isInteger(node.value) && node.value >= min && node.value <= max) return node.value;
    this.problem(node, `${what} must be an integer from ${min} to ${max}`);
    return undefined;
  }

  /** A number is seconds (FLOW-1 writes `timeout: 600`); a string is a duration (`10s`, `500ms`, `1h30m`). */
  duration(node: Node | null | undefined, what: string): number | undefined {
    if (isScalar(node) && typeof node.value === 'number' && Number.isFinite(node.value) && node.value >= 0) return Math.round(node.value * 1000);
    if (isScalar(node) && typeof node.value === 'string') {
      const d = parseDuration(node.value);
      if (d.error === undefined) return d.value;
    }
    this.problem(node, `${what} must be a number of seconds or a duration such as 500ms, 10s, 5m, 1h`);
    return undefined;
  }

  stringMap(node: Node | null | undefined, what: string): Record<string, string> {
    const out: Record<string, string> = {};
    const entries = this.entries(node, what);
    if (entries === undefined) return out;
    for (const [k, pair] of entries) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) {
        this.problem(pair.key, `${what}: "${k}" is not a valid variable name`);
        continue;
      }
      const v = pair.value;
      if (isScalar(v) && (typeof v.value === 'string' || typeof v.value === 'number' || typeof v.value === 'boolean')) out[k] = String(v.value);
      else this.problem(v ?? pair.key, `${what}.${k} must be a string, number or boolean`);
    }
    return out;
  }

  json(node: Node | null | undefined): Record<string, unknown> {
    if (!isMap(node)) {
      this.problem(node, 'params must be a mapping');
      return {};
    }
    this.entries(node, 'params');
    return node.toJSON() as Record<string, unknown>;
  }

  stringList(node: Node | null | undefined, what: string): string[] {
    if (isScalar(node)) {
      const s = this.string(node, what);
      return s === undefined ? [] : [s];
    }
    if (!isSeq(node)) {
      this.problem(node, `${what} must be a string or a list of strings`);
      return [];
    }
    const out: string[] = [];
    for (const item of node.items) {
      const s = this.string(item as Node, what);
      if (s !== undefined) out.push(s);
    }
    return out;
  }
}
