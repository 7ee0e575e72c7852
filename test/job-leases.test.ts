/**
 * Job leases on a real PostgreSQL: session advisory locks, taken and released in batches (what
 * arrives while a statement runs goes in the next one), by two processes' worth of sessions.
 */
import pg from 'pg';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { JobLeases, type Lease } from '../src/infrastructure/jobs/job-leases';
import { createTestDatabase, type TestDatabase } from './helpers/database';

let database: TestDatabase;
const open: JobLeases[] = [];
const silent = pino({ level: 'silent' });
const noSql = () => Promise.reject(new Error('not used here'));

function leases(): JobLeases {
  const made = new JobLeases(database.url, noSql, silent);
  open.push(made);
  return made;
}

async function query<R extends pg.QueryResultRow>(sql: string, values: unknown[] = []) {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    return (await client.query<R>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

/** Advisory locks held by the lease sessions (each key shows once per holder). */
const heldCount = async () =>
  (
    await query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
       WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = 'ssell-job-leases'`,
    )
  )[0]!.n;

beforeAll(async () => {
  database = await createTestDatabase();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((l) => l.close()));
});
afterAll(async () => {
  await database?.drop();
});

describe('job leases', () => {
  it('gives each key to exactly one of two racing sessions, many keys at once', async () => {
    const [a, b] = [leases(), leases()];
    const keys = Array.from({ length: 200 }, (_, i) => `account-${i}`);
    const taken = await Promise.all(
      keys.flatMap((key) => [a.take('account.sync', key), b.take('account.sync', key)]),
    );
    for (let i = 0; i < keys.length; i++) {
      expect([taken[2 * i], taken[2 * i + 1]].filter((lease) => lease !== null)).toHaveLength(1);
    }
    expect(await heldCount()).toBe(keys.length);
    // Another queue's key of the same name is another lease.
    expect(await a.take('account.refresh', 'account-0')).not.toBeNull();

    await Promise.all(taken.flatMap((lease) => (lease ? [lease.release()] : [])));
    expect(await heldCount()).toBe(1);
    // Released: the other session can take every key now.
    const again = await Promise.all(keys.map((key) => b.take('account.sync', key)));
    expect(again.every((lease) => lease !== null)).toBe(true);
  });

  it('refuses a key this process already holds, and lets it go again after the release', async () => {
    const a = leases();
    const first = await a.take('account.sync', 'one');
    const concurrent = await Promise.all([
      a.take('account.sync', 'one'),
      a.take('account.sync', 'one'),
    ]);
    expect(first).not.toBeNull();
    expect(concurrent).toEqual([null, null]);
    // A release and a take of one key asked for together run in that order.
    const [, next] = await Promise.all([first!.release(), a.take('account.sync', 'one')]);
    expect(next).not.toBeNull();
    expect(await heldCount()).toBe(1);
  });

  it('ends every lease with its session: another process may take them; a release after that is a no-op', async () => {
    const a = leases();
    const b = leases();
    const held = (await Promise.all(
      ['x', 'y', 'z'].map((key) => a.take('account.sync', key)),
    )) as Lease[];
    expect(held.every((lease) => lease !== null)).toBe(true);
    expect(await b.take('account.sync', 'x')).toBeNull();

    // The worker's database session dies (what a kill -9 of its process does to it).
    await query(
      `SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
       WHERE l.locktype = 'advisory' AND a.application_name = 'ssell-job-leases'
       GROUP BY l.pid HAVING count(*) = 3`,
    );
    await expect
      .poll(async () => b.take('account.sync', 'x'), { timeout: 5_000, interval: 50 })
      .not.toBeNull();
    // The old leases' releases send nothing to the new session (they would unlock nothing, or
    // worse, another job's lock taken on it).
    await Promise.all(held.map((lease) => lease.release()));
    const fresh = await a.take('account.sync', 'w');
    expect(fresh).not.toBeNull();
    expect(await b.take('account.sync', 'w')).toBeNull();
  });
});
