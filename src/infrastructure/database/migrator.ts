import { join } from 'node:path';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import { projectRoot } from '../../common/project-root';

export const MIGRATIONS_DIR = join(projectRoot(), 'migrations');

export interface MigrationLog {
  info(message: string): void;
}

/** Our own lock key; node-pg-migrate's try-lock on its key still runs inside it. */
const LOCK_KEY = 7_342_001;

/**
 * Applies every pending SQL file of `migrations/` in name order, each in its own transaction,
 * recorded in `pgmigrations`; a failing file rejects and stops the boot.
 *
 * node-pg-migrate's own lock is a try-lock: a second instance starting at the same moment would
 * fail. So we first wait on a blocking advisory lock in the session the migrations run in: the
 * second instance waits, then finds nothing left to apply.
 */
/**
 * Tables a migration rewrites (ALTER TABLE … ADD COLUMN … STORED), vacuumed once it has run: a
 * rewritten table has an empty visibility map and no statistics for its new columns, so the
 * planner would not use an index-only scan on it until autovacuum came by, hours of updates
 * later. VACUUM cannot run inside a migration's transaction, hence here.
 */
const VACUUM_AFTER: Readonly<Record<string, readonly string[]>> = {
  '013-sync-sweep-reads-its-index-alone': ['client_accounts'],
};

export async function migrate(databaseUrl: string, log: MigrationLog): Promise<string[]> {
  // node-pg-migrate complains about every file whose name does not start with a timestamp; ours
  // are numbered on purpose (001-, 002-, as the spec names them).
  const report = (message: string) => {
    if (!message.includes("Can't determine timestamp")) log.info(message);
  };
  const client = new pg.Client({
    connectionString: databaseUrl,
    application_name: 'ssell-migrate',
  });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
    const applied = await runner({
      dbClient: client,
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
        warn: (m) => report(m),
        error: (m) => report(m),
      },
    });
    for (const migration of applied) log.info(`migration applied: ${migration.name}`);
    for (const table of new Set(applied.flatMap((m) => VACUUM_AFTER[m.name] ?? []))) {
      await client.query(`VACUUM (ANALYZE) ${table}`);
      log.info(`vacuumed after migration: ${table}`);
    }
    return applied.map((m) => m.name);
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => undefined);
    await client.end();
  }
}
