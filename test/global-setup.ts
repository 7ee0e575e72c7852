import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import PgBoss from 'pg-boss';
import type { TestProject } from 'vitest/node';
import {
  EmbeddedPostgresAccessError,
  freePort,
  startEmbeddedPostgres,
  type RunningEmbeddedPostgres,
} from '../src/infrastructure/database/embedded-postgres';
import { migrate } from '../src/infrastructure/database/migrator';
import { databaseUrlFor } from './helpers/database-url';

declare module 'vitest' {
  export interface ProvidedContext {
    pgServerUrl: string;
    pgTemplate: string;
    pgRunId: string;
  }
}

async function admin<T>(serverUrl: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/**
 * One PostgreSQL server for the whole run: the one TEST_DATABASE_URL or DATABASE_URL names, else a
 * throw-away embedded cluster started here (never inside a test file). A template database is
 * migrated once; each test file clones it (test/helpers/database.ts).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const runId = `${process.pid.toString(36)}${Date.now().toString(36)}`;
  const template = `ssell_tpl_${runId}`;
  let embedded: RunningEmbeddedPostgres | undefined;
  let dataDir: string | undefined;
  let serverUrl = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL;
  if (!serverUrl) {
    dataDir = mkdtempSync(join(tmpdir(), 'ssell-test-pg-'));
    // mkdtemp makes the folder 0700; the cluster runs as the `postgres` user when we are root.
    chmodSync(dataDir, 0o755);
    try {
      embedded = await startEmbeddedPostgres({
        dataDir,
        port: await freePort(),
        persistent: false,
        log: () => undefined,
      });
    } catch (error) {
      rmSync(dataDir, { recursive: true, force: true });
      if (error instanceof EmbeddedPostgresAccessError) {
        // The paragraph says it all; Vitest would add a stack into this file.
        error.message = `${error.message} For the tests, TEST_DATABASE_URL may name a server instead.`;
        error.stack = error.message;
      }
      throw error;
    }
    serverUrl = embedded.url;
  }
  await admin(serverUrl, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${template}`);
    await client.query(`CREATE DATABASE ${template}`);
  });
  const templateUrl = databaseUrlFor(serverUrl, template);
  await migrate(templateUrl, { info: () => undefined });
  // pg-boss creates its own schema on first start; doing it once here means every clone has it.
  const boss = new PgBoss({
    connectionString: templateUrl,
    schema: 'pgboss',
    supervise: false,
    schedule: false,
  });
  await boss.start();
  await boss.stop({ graceful: false, close: true, wait: true });

  project.provide('pgServerUrl', serverUrl);
  project.provide('pgTemplate', template);
  project.provide('pgRunId', runId);

  return async () => {
    await admin(serverUrl, async (client) => {
      const { rows } = await client.query<{ datname: string }>(
        `SELECT datname FROM pg_database WHERE datname LIKE $1`,
        [`ssell_%${runId}%`],
      );
      for (const { datname } of rows) {
        await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
      }
    });
    if (embedded) await embedded.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  };
}
