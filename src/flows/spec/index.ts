export * from './spec-types.js';
export { parseFlowSpec, parseTrigger, type ParseSpecOptions, type ParseSpecResult } from './parse-spec.js';
export { loadFlowSpecFile, parseBundle, formatProblems, maxSpecFileBytes, type SpecBundle } from './load-spec.js';
