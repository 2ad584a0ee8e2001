/**
 * The public door of src/flows: the spec parser, the DAG states and trigger rules, and the workflow
 * service a server composes (store, engine, triggers, leader election, HTTP routes).
 */
export * from './spec/index.js';
export { allTaskStates, canTransition, isFinished, TaskState, type RunState } from './dag/task-states.js';
export { evaluateTriggerRule, triggerRules, type Readiness, type TriggerRule } from './dag/trigger-rules.js';
export { buildGraph, findCycle, topologicalOrder, type Graph } from './dag/graph.js';
export { FlowService, FLOWS_LEADER_PREFIX, type FlowServiceOptions } from './scheduler/flow-service.js';
export { SKIP_EXIT_CODE, type RunStateEvent, type TaskStateEvent } from './scheduler/run-engine.js';
export type { AttemptOutcome, AttemptRequest, TaskDispatcher } from './scheduler/dispatch.js';
export { createAgentDispatcher, createLocalDispatcher } from './scheduler/dispatch.js';
export { registerFlowRoutes } from './http-routes.js';
export { FlowMetrics, registerFlowMetrics, type ComputedMetricRegistry, type FlowMetricFamily } from './scheduler/flow-metrics.js';
export { FlowNotifier, postWebhook, sendMail, type DeliveryOptions, type MailMessage, type NotificationPayload } from './notify/index.js';
