/** The PromQL subset: parser (with positions), evaluator (Prometheus 2.x semantics) and value helpers. */
export * from './ast.js';
export { parsePromql } from './parser.js';
export { parsePromDuration, formatPromDuration } from './duration.js';
export { createPromqlEngine, type EngineOptions, type PromqlEngine } from './engine.js';
export { PromqlSyntaxError, PromqlExecutionError, positionOf, type TextPosition } from './errors.js';
export { matchesAll, matchesValue, compileMatcherRegex } from './matchers.js';
export * from './value.js';
export { functionTable } from './function-table.js';
