/**
 * A job fetched while another job with its key runs is put off for DEFER_MS. When the running
 * one ends saying it hands over, the put-off job starts as soon as the key is free; otherwise it
 * keeps its delay. On a real PostgreSQL and pg-boss, one JobQueue standing for one worker process.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config';
import { generateKeyringEntry } from '../src/config/keyring';
import { createDatabase, type DatabaseHandle } from '../src/infrastructure/database/database';
import { JobQueue } from '../src/infrastructure/jobs/job-queue';
import { DEFER_MS } from '../src/infrastructure/jobs/queue-worker';
import { createTestDatabase, type TestDatabase } from './helpers/database';

let database: TestDatabase;
let handle: DatabaseHandle;
let queue: JobQueue;
/** Per endpoint id: what the handler does with each of its runs, in order. */
const scripts = new Map<string, Array<() => Promise<{ handOver: boolean }>>>();
const started = new Map<string, number[]>();

const POLL_MS = 100;

beforeAll(async () => {
  database = await createTestDatabase();
  const config = loadConfig({
    NODE_ENV: 'test',
    DATA_DIR: mkdtempSync(join(tmpdir(), 'ssell-handover-')),
    DATABASE_URL: database.url,
    JWT_SECRET: 'handover-secret-handover-secret-0123456789',
    TOKEN_ENCRYPTION_KEY: generateKeyringEntry(1),
    JOBS_ENABLED: 'true',
    JOBS_POLL_INTERVAL_MS: String(POLL_MS),
  });
  handle = createDatabase(database.url, 2, () => undefined);
  queue = new JobQueue(config, database.url, pino({ level: 'silent' }), handle.health);
  await queue.onModuleInit();
  await queue.work(
    'webhook.deliver-endpoint',
    async (job) => {
      const id = job.data.endpointId;
      started.set(id, [...(started.get(id) ?? []), Date.now()]);
      const next = scripts.get(id)?.shift();
      return next ? next() : { handOver: false };
    },
    { concurrency: 4 },
  );
});

afterAll(async () => {
  await queue?.beforeApplicationShutdown();
  await queue?.onApplicationShutdown();
  await handle?.close();
  await database?.drop();
});

async function until(condition: () => Promise<boolean> | boolean, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Runs a first job for a key that holds until released and then ends with `handOver`, a second
 * one queued meanwhile (fetched, found the key held, put off); how long after the release the
 * second one started.
 */
async function secondStartAfterRelease(handOver: boolean): Promise<number> {
  const endpointId = randomUUID();
  const key = `webhook:${endpointId}`;
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  scripts.set(endpointId, [
    async () => {
      await held;
      return { handOver };
    },
  ]);
  await queue.enqueue('webhook.deliver-endpoint', { endpointId }, { singletonKey: key });
  await until(() => started.get(endpointId)?.length === 1, 'the first job to start');
  expect(
    await queue.enqueue('webhook.deliver-endpoint', { endpointId }, { singletonKey: key }),
  ).not.toBeNull();
  // Fetched while the first holds the key: queued again for DEFER_MS and more from now.
  await until(async () => {
    const row = await handle.db.oneOrNone<{ later: boolean }>(
      `SELECT start_after > now() + interval '3 seconds' AS later FROM pgboss.job
       WHERE name = 'webhook.deliver-endpoint' AND singleton_key = $1 AND state = 'created'`,
      [key],
    );
    return row?.later === true;
  }, 'the second job to be put off');
  const releasedAt = Date.now();
  release();
  await until(() => started.get(endpointId)?.length === 2, 'the second job to start');
  return started.get(endpointId)![1]! - releasedAt;
}

describe('a keyed job that hands over', () => {
  it('lets the job put off behind it start as soon as its key is free', async () => {
    const waited = await secondStartAfterRelease(true);
    // Its next fetch (the queue is polled every 100 ms when idle), not DEFER_MS later.
    expect(waited).toBeLessThan(1500);
  });

  it('without handing over, leaves the put-off job to its delay', async () => {
    const waited = await secondStartAfterRelease(false);
    expect(waited).toBeGreaterThan(DEFER_MS - 2000);
  });
});
