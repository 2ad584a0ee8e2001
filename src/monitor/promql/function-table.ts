/** The functions of the subset: argument types (trailing optional ones counted by `minArgs`) and result type. */
import type { ValueType } from './ast.js';

export interface FunctionSignature {
  readonly args: readonly ValueType[];
  /** Arguments that must be given (the rest are optional). */
  readonly minArgs: number;
  readonly returns: ValueType;
}

const rangeFn: FunctionSignature = { args: ['matrix'], minArgs: 1, returns: 'vector' };
const mathFn: FunctionSignature = { args: ['vector'], minArgs: 1, returns: 'vector' };

export const functionTable: Readonly<Record<string, FunctionSignature>> = {
  rate: rangeFn,
  irate: rangeFn,
  increase: rangeFn,
  delta: rangeFn,
  idelta: rangeFn,
  avg_over_time: rangeFn,
  min_over_time: rangeFn,
  max_over_time: rangeFn,
  sum_over_time: rangeFn,
  count_over_time: rangeFn,
  last_over_time: rangeFn,
  abs: mathFn,
  ceil: mathFn,
  floor: mathFn,
  exp: mathFn,
  sqrt: mathFn,
  ln: mathFn,
  log2: mathFn,
  log10: mathFn,
  round: { args: ['vector', 'scalar'], minArgs: 1, returns: 'vector' },
  clamp_min: { args: ['vector', 'scalar'], minArgs: 2, returns: 'vector' },
  clamp_max: { args: ['vector', 'scalar'], minArgs: 2, returns: 'vector' },
  clamp: { args: ['vector', 'scalar', 'scalar'], minArgs: 3, returns: 'vector' },
  time: { args: [], minArgs: 0, returns: 'scalar' },
  vector: { args: ['scalar'], minArgs: 1, returns: 'vector' },
  scalar: { args: ['vector'], minArgs: 1, returns: 'scalar' },
};

export const aggregateOps = new Set(['sum', 'avg', 'min', 'max', 'count', 'topk', 'bottomk']);

/** Names Prometheus knows that this subset does not implement (they get a clearer error than "unknown function"). */
export const unsupportedNames = new Set([
  'quantile', 'stddev', 'stdvar', 'count_values', 'group', 'histogram_quantile', 'label_replace', 'label_join', 'predict_linear',
  'deriv', 'resets', 'changes', 'holt_winters', 'quantile_over_time', 'stddev_over_time', 'stdvar_over_time', 'present_over_time',
  'absent', 'absent_over_time', 'sort', 'sort_desc', 'timestamp', 'sgn', 'day_of_month', 'day_of_week', 'days_in_month', 'hour',
  'minute', 'month', 'year',
]);
