/**
 * The engine and state-machine suites again, on a real PostgreSQL (started here) instead of SQLite: the
 * FlowStore runs through the same SqlStore seam with the `pg` driver, one fresh database per test.
 */
import { after } from 'node:test';
import { startPostgres } from '../../testkit/index.js';

const pg = await startPostgres();
after(() => pg.stop());
process.env.FLOWS_TEST_POSTGRES = pg.url;
await import('./engine.test.js');
await import('./states.test.js');
