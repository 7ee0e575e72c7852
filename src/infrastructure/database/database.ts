import pgPromise, { type IDatabase, type IMain } from 'pg-promise';

export type Db = IDatabase<unknown>;
// Defined with the ports that take it; re-exported for the code that already imports it from here.
export type { Queryable } from '../../domain/repositories/queryable';

/** One pg-promise root per process: it tracks every connection pool it has opened. */
const pgp: IMain = pgPromise({ capSQL: true });

export { pgp };

export interface DatabaseHandle {
  db: Db;
  url: string;
  close(): Promise<void>;
}

export function createDatabase(
  url: string,
  poolSize: number,
  onPoolError: (error: Error) => void,
): DatabaseHandle {
  const db = pgp({
    connectionString: url,
    max: poolSize,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
    application_name: 'ssell',
  });
  // An idle client's error (57P01 when the server shuts down first) is emitted on the pool;
  // unheard, it would crash the process.
  db.$pool.on('error', onPoolError);
  return {
    db,
    url,
    close: async () => {
      if (!db.$pool.ended) await db.$pool.end();
    },
  };
}
