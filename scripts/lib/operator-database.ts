import type { AppConfig } from '../../src/config/config';
import {
  runningEmbeddedPostgresUrl,
  startEmbeddedPostgres,
  type RunningEmbeddedPostgres,
} from '../../src/infrastructure/database/embedded-postgres';
import { migrate } from '../../src/infrastructure/database/migrator';

/**
 * The database an operator's command works on, migrated: DATABASE_URL, else the embedded cluster
 * of DATA_DIR (the one the service has running, or started here for the command and stopped
 * after it). `log` gets operational messages only.
 */
export async function withOperatorDatabase<T>(
  config: AppConfig,
  log: (message: string) => void,
  work: (databaseUrl: string) => Promise<T>,
): Promise<T> {
  let embedded: RunningEmbeddedPostgres | undefined;
  let databaseUrl = config.database.url;
  if (!databaseUrl) {
    databaseUrl = runningEmbeddedPostgresUrl(config.dataDir);
    if (databaseUrl) {
      log(`using the embedded PostgreSQL already running for ${config.dataDir}`);
    } else {
      log(`starting the embedded PostgreSQL of ${config.dataDir} (no DATABASE_URL set)`);
      embedded = await startEmbeddedPostgres({
        dataDir: config.dataDir,
        port: config.database.embeddedPort,
        persistent: true,
        log: () => undefined,
      });
      databaseUrl = embedded.url;
    }
  }
  try {
    await migrate(databaseUrl, { info: log });
    return await work(databaseUrl);
  } finally {
    if (embedded) await embedded.stop();
  }
}
