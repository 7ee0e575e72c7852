import { join } from 'node:path';
import { runner } from 'node-pg-migrate';
import { projectRoot } from '../../common/project-root';

export const MIGRATIONS_DIR = join(projectRoot(), 'migrations');

export interface MigrationLog {
  info(message: string): void;
}

/**
 * Applies every pending SQL file of `migrations/` in name order. node-pg-migrate takes an advisory
 * lock first (two instances starting together apply each file once), runs each file in its own
 * transaction and records it in `pgmigrations`; a failing file rejects and stops the boot.
 */
export async function migrate(databaseUrl: string, log: MigrationLog): Promise<string[]> {
  const applied = await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    migrationsTable: 'pgmigrations',
    direction: 'up',
    count: Infinity,
    singleTransaction: false,
    checkOrder: true,
    log: () => undefined,
    logger: {
      debug: () => undefined,
      info: () => undefined,
      warn: (m) => log.info(m),
      error: (m) => log.info(m),
    },
  });
  for (const migration of applied) log.info(`migration applied: ${migration.name}`);
  return applied.map((m) => m.name);
}
