/**
 * Several processes starting at once on a new database (an api and two workers, say): each
 * creates pg-boss's queues at boot. Unserialised, they deadlock and one fails its boot.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config';
import { generateKeyringEntry } from '../src/config/keyring';
import { createDatabase } from '../src/infrastructure/database/database';
import { JOB_NAMES } from '../src/infrastructure/jobs/job-names';
import { JobQueue } from '../src/infrastructure/jobs/job-queue';
import { createTestDatabase, type TestDatabase } from './helpers/database';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database?.drop();
});

it('four processes booting together on a new database all start, and make each queue once', async () => {
  const config = loadConfig({
    NODE_ENV: 'test',
    DATA_DIR: mkdtempSync(join(tmpdir(), 'ssell-queue-setup-')),
    DATABASE_URL: database.url,
    JWT_SECRET: 'queue-setup-secret-queue-setup-secret-0123',
    TOKEN_ENCRYPTION_KEY: generateKeyringEntry(1),
    JOBS_ENABLED: 'false',
  });
  // Each JobQueue stands for one process: a pg-boss of its own, on a pool of its own.
  const handles = Array.from({ length: 4 }, () => createDatabase(database.url, 1, () => undefined));
  const queues = handles.map(
    (h) => new JobQueue(config, database.url, pino({ level: 'silent' }), h.health),
  );
  const boots = await Promise.allSettled(queues.map((q) => q.onModuleInit()));
  try {
    expect(boots.map((b) => b.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'fulfilled',
    ]);
    const handle = createDatabase(database.url, 1, () => undefined);
    try {
      const rows = await handle.db.manyOrNone<{ name: string }>(
        'SELECT name FROM pgboss.queue ORDER BY name',
      );
      expect(rows.map((r) => r.name)).toEqual([...JOB_NAMES].sort());
    } finally {
      await handle.close();
    }
  } finally {
    await Promise.all(queues.map((q) => q.onApplicationShutdown()));
    await Promise.all(handles.map((h) => h.close()));
    await Promise.all(handles.map((h) => h.close()));
  }
});
