import 'reflect-metadata';
import { config as loadDotenv } from 'dotenv';
import { parseArgs } from 'node:util';
import { startService, type ServiceRole } from './bootstrap';
import { createRootLogger } from './common/logging/logger';
import { ConfigError, loadConfig, type AppConfig } from './config/config';
import { loggableError } from './common/logging/loggable-error';
import { EmbeddedPostgresAccessError } from './infrastructure/database/embedded-postgres';

const ROLES: readonly ServiceRole[] = ['all', 'api', 'worker'];

function roleFromArgs(): ServiceRole {
  const { values } = parseArgs({ options: { role: { type: 'string', default: 'all' } } });
  const role = values.role as ServiceRole;
  if (!ROLES.includes(role)) {
    process.stderr.write(`ssell: --role must be one of ${ROLES.join(', ')}\n`);
    process.exit(1);
  }
  return role;
}

async function main(): Promise<void> {
  const role = roleFromArgs();
  loadDotenv({ quiet: true });
  let config: AppConfig;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`ssell: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = createRootLogger(config.logLevel);
  const started = Date.now();
  const service = await startService(config, logger, role);
  logger.info(
    { url: service.url, role, ms: Date.now() - started },
    `ssell ready at ${service.url}`,
  );

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    service
      .stop()
      .then(() => {
        logger.info('stopped');
        process.exit(0);
      })
      .catch((error: unknown) => {
        logger.error({ err: loggableError(error, { stack: true }) }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main().catch((error: unknown) => {
  // Boot failures (a migration, the database, the port) end the process with their reason; one
  // we could explain in words is printed as the words alone.
  const message =
    error instanceof EmbeddedPostgresAccessError
      ? error.message
      : error instanceof Error
        ? (error.stack ?? error.message)
        : String(error);
  process.stderr.write(`ssell: failed to start: ${message}\n`);
  process.exit(1);
});
