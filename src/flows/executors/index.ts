export { planAttempt, type AttemptContext } from './task-plan.js';
export { splitSqlStatements } from './sql-split.js';
