import 'reflect-metadata';
import { config as loadDotenv } from 'dotenv';
import { createRootLogger } from '../src/common/logging/logger';
import { ConfigError, loadConfig } from '../src/config/config';
import {
  runningEmbeddedPostgresUrl,
  startEmbeddedPostgres,
} from '../src/infrastructure/database/embedded-postgres';
import { migrate } from '../src/infrastructure/database/migrator';

/**
 * `npm run migrate`: applies pending migrations to DATABASE_URL, else to the embedded cluster of
 * DATA_DIR (the running one if the service has it up, otherwise started for the occasion).
 */
async function main(): Promise<number> {
  loadDotenv({ quiet: true });
  const config = loadConfig();
  const logger = createRootLogger(config.logLevel === 'silent' ? 'silent' : 'info');
  let url = config.database.url ?? runningEmbeddedPostgresUrl(config.dataDir);
  const embedded = url
    ? undefined
    : await startEmbeddedPostgres({
        dataDir: config.dataDir,
        port: config.database.embeddedPort,
        persistent: true,
        log: (m) => logger.debug(m),
      });
  url ??= embedded!.url;
  try {
    const applied = await migrate(url, { info: (m) => logger.info(m) });
    logger.info(
      applied.length ? `${applied.length} migration(s) applied` : 'database is up to date',
    );
    return 0;
  } finally {
    if (embedded) await embedded.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `migrate: ${error instanceof ConfigError || !(error instanceof Error) ? String(error) : error.message}\n`,
    );
    process.exit(1);
  },
);
