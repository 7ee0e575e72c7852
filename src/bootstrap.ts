import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Logger } from 'pino';
import { createApp } from './app.factory';
import type { AppConfig } from './config/config';
import { createDatabase } from './infrastructure/database/database';
import {
  startEmbeddedPostgres,
  type RunningEmbeddedPostgres,
} from './infrastructure/database/embedded-postgres';
import { migrate } from './infrastructure/database/migrator';

export interface RunningService {
  app: NestFastifyApplication;
  url: string;
  /** Ordered: stop taking requests and finish those in flight, close the pool, stop the cluster. */
  stop(): Promise<void>;
}

/** Everything `npm start` does after reading the configuration. */
export async function startService(config: AppConfig, logger: Logger): Promise<RunningService> {
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
    const database = createDatabase(databaseUrl, config.database.poolSize, (error) =>
      logger.warn({ err: error }, 'idle database connection failed'),
    );
    const app = await createApp({ config, database, logger });
    await app.listen({ port: config.port, host: config.host });
    const url = `http://localhost:${config.port}`;
    return {
      app,
      url,
      stop: async () => {
        await app.close();
        if (embedded) await embedded.stop();
      },
    };
  } catch (error) {
    if (embedded) await embedded.stop().catch(() => undefined);
    throw error;
  }
}
