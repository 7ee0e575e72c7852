import { mkdtempSync, writeFileSync, cpSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runner } from 'node-pg-migrate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type DatabaseHandle } from '../src/infrastructure/database/database';
import { MIGRATIONS_DIR, migrate } from '../src/infrastructure/database/migrator';
import { createTestDatabase, type TestDatabase } from './helpers/database';

/** A database with no migration applied: the template is migrated, so drop its schema first. */
async function emptyDatabase(): Promise<{ database: TestDatabase; handle: DatabaseHandle }> {
  const database = await createTestDatabase();
  const handle = createDatabase(database.url, 4, () => undefined);
  await handle.db.none('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
  return { database, handle };
}

describe('migrations', () => {
  let fresh: { database: TestDatabase; handle: DatabaseHandle };
  beforeAll(async () => {
    fresh = await emptyDatabase();
  });
  afterAll(async () => {
    await fresh.handle.close();
    await fresh.database.drop();
  });

  it('two instances starting at once apply each file exactly once', async () => {
    const log = { info: () => undefined };
    const [a, b] = await Promise.all([
      migrate(fresh.database.url, log),
      migrate(fresh.database.url, log),
    ]);
    const applied = [...a, ...b].sort();
    expect(applied).toEqual([
      '001-create-users-and-sessions',
      '002-create-client-accounts-table',
      '003-create-account-tokens-and-oauth-states',
      ...applied.filter((n) => n > '004'),
    ]);
    const recorded = await fresh.handle.db.many<{ name: string }>(
      'SELECT name FROM pgmigrations ORDER BY run_on, id',
    );
    expect(new Set(recorded.map((r) => r.name)).size).toBe(recorded.length);
    expect(await migrate(fresh.database.url, log)).toEqual([]);
  });

  it('builds the schema the code expects', async () => {
    const db = fresh.handle.db;
    const columns = await db.many<{ column_name: string; data_type: string; is_nullable: string }>(
      `SELECT column_name, data_type, is_nullable FROM information_schema.columns
       WHERE table_name = 'client_accounts' ORDER BY ordinal_position`,
    );
    expect(columns.map((c) => c.column_name)).toEqual([
      'id',
      'user_id',
      'platform',
      'platform_account_id',
      'username',
      'display_name',
      'profile_picture_url',
      'follower_count',
      'following_count',
      'media_count',
      'biography',
      'website',
      'status',
      'account_type',
      'metadata',
      'permissions',
      'created_at',
      'updated_at',
      'last_sync_at',
      'token_expires_at',
      // Migration 013: computed by PostgreSQL from last_sync_at and metadata, for the sync sweep.
      'last_attempt_at',
      'rate_limited_until',
    ]);
    const generated = await db.many<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns
       WHERE table_name = 'client_accounts' AND is_generated = 'ALWAYS' ORDER BY column_name`,
    );
    expect(generated.map((c) => c.column_name)).toEqual(['last_attempt_at', 'rate_limited_until']);
    // Rewritten by 013, then vacuumed, so the sweep's index-only scan is planned from the start.
    const { vacuumed } = await db.one<{ vacuumed: boolean }>(
      `SELECT last_vacuum IS NOT NULL AS vacuumed FROM pg_stat_user_tables
       WHERE relname = 'client_accounts'`,
    );
    expect(vacuumed).toBe(true);
    for (const c of columns.filter((c) => c.column_name.endsWith('_at'))) {
      expect(c.data_type, c.column_name).toBe('timestamp with time zone');
    }
    const fks = await db.many(
      `SELECT conname FROM pg_constraint WHERE conrelid = 'client_accounts'::regclass AND contype = 'f'`,
    );
    expect(fks).toHaveLength(1);
    const indexes = (
      await db.many<{ indexname: string }>(
        `SELECT indexname FROM pg_indexes WHERE tablename = 'client_accounts'`,
      )
    ).map((r) => r.indexname);
    expect(indexes).toEqual(
      expect.arrayContaining([
        'client_accounts_pkey',
        'unique_platform_account',
        'idx_client_accounts_user_id',
        'idx_client_accounts_platform',
        'idx_client_accounts_status',
        'idx_client_accounts_token_expires',
        'idx_client_accounts_sync_due_covering',
      ]),
    );
    expect(indexes).not.toContain('idx_client_accounts_platform_account');
    const tokenColumns = (
      await db.many<{ column_name: string }>(
        `SELECT column_name FROM information_schema.columns WHERE table_name = 'account_tokens'`,
      )
    ).map((r) => r.column_name);
    expect(tokenColumns).toEqual(
      expect.arrayContaining(['ciphertext', 'iv', 'auth_tag', 'key_version', 'expires_at']),
    );
    const accountColumns = columns.map((c) => c.column_name).join(',');
    expect(accountColumns).not.toMatch(/token(?!_expires_at)/);
  });

  it('a failing migration stops with its error and leaves nothing half-applied', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ssell-migrations-'));
    chmodSync(dir, 0o755);
    cpSync(MIGRATIONS_DIR, dir, { recursive: true });
    writeFileSync(
      join(dir, '999-broken.sql'),
      '-- Up Migration\nCREATE TABLE half_written (id int);\nSELECT no_such_function();\n',
    );
    const { database, handle } = await emptyDatabase();
    try {
      await expect(
        runner({
          databaseUrl: database.url,
          dir,
          migrationsTable: 'pgmigrations',
          direction: 'up',
          count: Infinity,
          log: () => undefined,
          logger: {
            debug: () => undefined,
            info: () => undefined,
            warn: () => undefined,
            error: () => undefined,
          },
        }),
      ).rejects.toThrow(/no_such_function/);
      const table = await handle.db.oneOrNone(`SELECT to_regclass('public.half_written') AS t`);
      expect(table?.t).toBeNull();
      const names = (await handle.db.many<{ name: string }>('SELECT name FROM pgmigrations')).map(
        (r) => r.name,
      );
      expect(names).not.toContain('999-broken');
      expect(names).toContain('003-create-account-tokens-and-oauth-states');
    } finally {
      await handle.close();
      await database.drop();
    }
  });
});
