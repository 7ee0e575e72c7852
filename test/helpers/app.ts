import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../src/app.factory';
import type { Clock } from '../../src/common/clock/clock';
import { createRootLogger } from '../../src/common/logging/logger';
import { loadConfig, type AppConfig } from '../../src/config/config';
import { createDatabase, type Db } from '../../src/infrastructure/database/database';
import { generateKeyringEntry } from '../../src/config/keyring';
import { createTestDatabase, type TestDatabase } from './database';

export interface TestApp {
  app: NestFastifyApplication;
  url: string;
  config: AppConfig;
  /** A second pool on the same database, for assertions and fixtures. */
  db: Db;
  database: TestDatabase;
  /** Every line the service logged (JSON), for scans. */
  logs: string[];
  close(): Promise<void>;
}

export interface TestAppOptions {
  /** The service's clock (snapshots, expiry windows); default the system's. */
  clock?: Clock;
  /** Another instance's database: several service processes on one database. Not dropped. */
  database?: TestDatabase;
  /** Tells the instances' pools apart (`application_name`). */
  name?: string;
}

/**
 * The real service on a socket (127.0.0.1, random port) over its own fresh database. `env`
 * overrides the test defaults the way the environment would.
 */
export async function startTestApp(
  env: Record<string, string> = {},
  options: TestAppOptions = {},
): Promise<TestApp> {
  const ownDatabase = options.database === undefined;
  const database = options.database ?? (await createTestDatabase());
  const name = options.name ?? 'ssell';
  const config = loadConfig({
    NODE_ENV: 'test',
    DATA_DIR: mkdtempSync(join(tmpdir(), 'ssell-test-data-')),
    DATABASE_URL: database.url,
    DATABASE_POOL_SIZE: '5',
    JWT_SECRET: 'test-secret-test-secret-test-secret-0123456789',
    TOKEN_ENCRYPTION_KEY: generateKeyringEntry(1),
    LOG_LEVEL: 'info',
    AUTH_RATE_LIMIT_PER_IP: '1000',
    AUTH_RATE_LIMIT_PER_EMAIL: '1000',
    JOBS_ENABLED: 'false',
    PORT: '0',
    ...env,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const logger = createRootLogger(config.logLevel, sink);
  const handle = createDatabase(database.url, config.database.poolSize, () => undefined, {
    name,
    statementTimeoutMs: config.database.statementTimeoutMs,
    connectTimeoutMs: config.database.connectTimeoutMs,
  });
  handle.health.reportTo(logger.child({ component: 'database' }));
  const app = await createApp({
    config,
    database: handle,
    logger,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const fixtures = createDatabase(database.url, 2, () => undefined, {
    name: `${name}-test-fixtures`,
  });
  return {
    app,
    url: `http://127.0.0.1:${port}`,
    config,
    db: fixtures.db,
    database,
    logs,
    close: async () => {
      await app.close();
      await fixtures.close();
      if (ownDatabase) await database.drop();
    },
  };
}
