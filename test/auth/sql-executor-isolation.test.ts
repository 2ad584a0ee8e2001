// The SQL executor on the server runs with the workflow's own database only: a `sqlite:` connection that
// leads out of the workflows' database directory into the server's own files (its SQL store, coordination
// store, tokens) is refused; relative paths inside it and databases elsewhere work.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Code, FlotillaError } from '../../src/core/errors.js';
import { planAttempt, type AttemptContext } from '../../src/flows/executors/index.js';
import type { TaskSpec } from '../../src/flows/spec/spec-types.js';

const ctx: AttemptContext = { flowKey: 'f', runId: 'r1', tryNumber: 1, logicalTimeMs: 0, flowEnv: {}, flowParams: {}, sqlDir: '/srv/flotilla/server/flows' };
const sqlTask = (connection: string | undefined): TaskSpec =>
  ({ key: 't', action: { kind: 'sql', content: 'select 1;' }, env: {}, params: {}, connection }) as unknown as TaskSpec;

test('a sqlite connection into the server data dir is refused; its own databases are not', () => {
  for (const bad of ['sqlite:../flotilla.db', 'sqlite:/srv/flotilla/server/flotilla.db', 'sqlite:sub/../../coord/x.db', 'sqlite:/srv/flotilla/server/admin-token']) {
    assert.throws(
      () => planAttempt(sqlTask(bad), ctx, 'local'),
      (e: unknown) => e instanceof FlotillaError && e.code === Code.PERMISSION_DENIED && /outside the workflows' database directory/.test(e.message),
      bad,
    );
  }
  const argvOf = (c: string | undefined): string[] => planAttempt(sqlTask(c), ctx, 'local').argv;
  assert.ok(argvOf(undefined).includes('sqlite:/srv/flotilla/server/flows/f.db'));
  assert.ok(argvOf('sqlite:sub/own.db').includes('sqlite:/srv/flotilla/server/flows/sub/own.db'));
  assert.ok(argvOf('sqlite:/var/lib/app/app.db').includes('sqlite:/var/lib/app/app.db'), 'a database elsewhere on the host is the author\'s to name');
  assert.ok(argvOf('postgres://app@db.example/app').includes('postgres://app@db.example/app'));
});
