import pg from 'pg';

// One key for every process of this service on a database: "ssell job queue setup".
const SETUP_LOCK_KEY = 0x5e11_0b55;

/**
 * Runs `work` (creating pg-boss's queues) while holding a session advisory lock on a connection
 * of its own. pg-boss creates a table partition per queue; processes that start together on a
 * new database (`--role api` and two `--role worker`s, say) would create them at once and
 * deadlock, and the loser would fail its boot. With the lock they take turns, and the later ones
 * find the queues there. The lock ends with the session, so a process killed meanwhile leaves
 * none behind.
 */
export async function withQueueSetupLock<T>(
  databaseUrl: string,
  work: () => Promise<T>,
): Promise<T> {
  const client = new pg.Client({
    connectionString: databaseUrl,
    application_name: 'ssell-jobs-setup',
  });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [SETUP_LOCK_KEY]);
    return await work();
  } finally {
    await client.end().catch(() => undefined);
  }
}
