/**
 * Errors of the query language. A syntax or type error in a query is a PromqlSyntaxError: a
 * FlotillaError (INVALID_ARGUMENT) whose message starts with `line:column: parse error:` as Prometheus's
 * does, and whose details carry the offset, line and column (1-based) in the query text. An error while
 * evaluating (e.g. duplicate series in a match group) is a PromqlExecutionError.
 */
import { Code, FlotillaError } from '../../core/errors.js';

export interface TextPosition {
  /** Offset in the query text (0-based, in UTF-16 code units). */
  offset: number;
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  column: number;
}

export function positionOf(src: string, offset: number): TextPosition {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < src.length; i++) {
    if (src[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  }
  return { offset, line, column: offset - lineStart + 1 };
}

export class PromqlSyntaxError extends FlotillaError {
  readonly position: TextPosition;
  /** The message without position. */
  readonly reason: string;

  constructor(reason: string, offset: number, src: string) {
    const position = positionOf(src, offset);
    super(Code.INVALID_ARGUMENT, `${position.line}:${position.column}: parse error: ${reason}`, { details: { ...position, reason } });
    this.position = position;
    this.reason = reason;
  }
}

export class PromqlExecutionError extends FlotillaError {
  constructor(message: string) {
    super(Code.INVALID_ARGUMENT, message, { details: { errorType: 'execution' } });
  }
}
