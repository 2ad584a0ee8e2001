/** Recording and alerting rules: rule files, the cycle check, the rule manager and the webhook sender. */
export { parseRuleFile, loadRuleFile, ruleFileError, type RuleGroupSpec, type RuleSpec, type RecordingRuleSpec, type AlertingRuleSpec, type SourcePosition, type RuleFileProblem } from './rule-file.js';
export { checkRuleCycles } from './dependencies.js';
export { AlertingRuleState, type Alert, type AlertState } from './alerting-rule.js';
export { createRuleManager, type RuleManager, type RuleManagerOptions, type GroupStatus, type RuleStatus, type RuleHealth } from './rule-manager.js';
export { createWebhookSender, fingerprint, type WebhookSender, type WebhookSenderOptions, type WebhookPayload, type WebhookAlert, type WebhookStats } from './webhook.js';
export { expandTemplate } from './template.js';
