/**
 * The monitoring agent's public door: `createAgent(options)` returns a start()/stop() component a
 * composition root (flotilla agent, flotilla node --roles agent) adds to its lifecycle.
 */
export type { Agent, AgentOptions } from './agent.js';
export { createAgent, DEFAULT_BUFFER_SAMPLES, DEFAULT_SPILL_BYTES } from './agent.js';
export { agentConfigSchema } from './agent-config.js';
export type { AgentConfig } from './agent-config.js';
export { agentLabelsSchema, labelProblem, labelsMatch, parseLabelList, MAX_LABELS } from './agent-labels.js';
export { DEFAULT_HEARTBEAT_TTL_SECONDS } from './heartbeat.js';
export type { CollectTime, Collector, Sample } from './collectors/index.js';
export { createDefaultCollectors } from './collectors/index.js';
export type { RunTaskProcessOptions, TaskProcessPlan, TaskProcessResult } from './task-runner.js';
export { MAX_TASK_LINE_CHARS, runTaskProcess } from './task-runner.js';
