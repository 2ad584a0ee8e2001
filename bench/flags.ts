/** Flag parsing shared by the benchmarks' option modules; a usage error carries the benchmark's usage text. */
import { Code, FlotillaError } from '../src/core/errors.js';

export function usageError(message: string, usage: string): FlotillaError {
  return new FlotillaError(Code.INVALID_ARGUMENT, `${message}\n${usage}`);
}

/** A whole number from 1 to `max`, or a usage error naming the flag. */
export function parsePositiveIntFlag(flag: string, text: string | undefined, max: number, usage: string): number {
  if (text === undefined || !/^\d+$/.test(text)) throw usageError(`${flag} needs a whole number, got ${text === undefined ? 'nothing' : `'${text}'`}`, usage);
  const n = Number(text);
  if (n < 1 || n > max) throw usageError(`${flag} must be between 1 and ${max}, got ${n}`, usage);
  return n;
}
