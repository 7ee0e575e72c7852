import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Logger } from 'pino';
// Type-only: erased from the build. The emulator's code is loaded by startDemoEmulator alone.
import type { RunningEmulator } from '../emulator/emulator';
import { createApp } from './app.factory';
import type { AppConfig } from './config/config';
import { createDatabase } from './infrastructure/database/database';
import {
  startEmbeddedPostgres,
  type RunningEmbeddedPostgres,
} from './infrastructure/database/embedded-postgres';
import { migrate } from './infrastructure/database/migrator';
import { loggableError } from './common/logging/loggable-error';

export interface RunningService {
  app: NestFastifyApplication;
  url: string;
  /** Ordered: stop taking requests and finish those in flight, close the pool, stop the cluster. */
  stop(): Promise<void>;
}

/**
 * Demo mode (no Instagram app credentials, not production): the bundled emulator runs in this
 * process and the client's three Meta hosts point at it, so every feature can be tried offline.
 */
async function startDemoEmulator(
  config: AppConfig,
  logger: Logger,
): Promise<{ config: AppConfig; emulator: RunningEmulator }> {
  // A dynamic import, not a static one: the emulator is a development tool, and a process that is
  // not in demo mode (production never is) never loads its code.
  const { startEmulator } = await import('../emulator/emulator.js');
  const options = { host: '127.0.0.1', env: config.env, seed: true };
  let emulator: RunningEmulator;
  try {
    emulator = await startEmulator({ ...options, port: config.emulatorPort });
  } catch (error) {
    if ((error as { code?: string }).code !== 'EADDRINUSE') throw error;
    emulator = await startEmulator({ ...options, port: 0 });
  }
  const url = emulator.url.replace('127.0.0.1', 'localhost');
  logger.warn(
    { emulator: url },
    `demo mode: no INSTAGRAM_APP_ID/INSTAGRAM_APP_SECRET, Instagram is emulated at ${url}`,
  );
  return {
    emulator,
    config: {
      ...config,
      instagram: { ...config.instagram, oauthUrl: url, apiUrl: url, graphApiUrl: `${url}/v25.0` },
      // The emulator's picture links point at itself, on this machine.
      pictures: { ...config.pictures, allowPrivateAddresses: true },
    },
  };
}

/** `all`: HTTP and job workers (the default); `api`: HTTP only; `worker`: jobs only, no port. */
export type ServiceRole = 'all' | 'api' | 'worker';

/** Everything `npm start` does after reading the configuration. */
export async function startService(
  initial: AppConfig,
  logger: Logger,
  role: ServiceRole = 'all',
): Promise<RunningService> {
  let config: AppConfig = {
    ...initial,
    jobsEnabled: role === 'worker' ? true : role === 'api' ? false : initial.jobsEnabled,
  };
  let emulator: RunningEmulator | undefined;
  if (config.instagram.demo) ({ config, emulator } = await startDemoEmulator(config, logger));
  let embedded: RunningEmbeddedPostgres | undefined;
  let databaseUrl = config.database.url;
  if (!databaseUrl) {
    const started = Date.now();
    const pgLog = logger.child({ component: 'embedded-postgres' });
    embedded = await startEmbeddedPostgres({
      dataDir: config.dataDir,
      port: config.database.embeddedPort,
      persistent: true,
      log: (message) => pgLog.debug(message),
    });
    databaseUrl = embedded.url;
    logger.info(
      { port: config.database.embeddedPort, ms: Date.now() - started },
      'embedded PostgreSQL running (no DATABASE_URL set)',
    );
  }
  try {
    const migrationLog = logger.child({ component: 'migrations' });
    await migrate(databaseUrl, { info: (m) => migrationLog.info(m) });
    const database = createDatabase(
      databaseUrl,
      config.database.poolSize,
      (error) => logger.warn({ err: loggableError(error) }, 'idle database connection failed'),
      {
        statementTimeoutMs: config.database.statementTimeoutMs,
        connectTimeoutMs: config.database.connectTimeoutMs,
      },
    );
    database.health.reportTo(logger.child({ component: 'database' }));
    const app = await createApp({ config, database, logger });
    if (role !== 'worker') await app.listen({ port: config.port, host: config.host });
    const url = role === 'worker' ? '(worker: no HTTP)' : `http://localhost:${config.port}`;
    return {
      app,
      url,
      stop: async () => {
        await app.close();
        if (embedded) await embedded.stop();
        if (emulator) await emulator.close();
      },
    };
  } catch (error) {
    if (embedded) await embedded.stop().catch(() => undefined);
    if (emulator) await emulator.close().catch(() => undefined);
    throw error;
  }
}
