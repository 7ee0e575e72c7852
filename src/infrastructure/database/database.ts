import { parseIntoClientConfig } from 'pg-connection-string';
import pgPromise, { type IDatabase, type IMain } from 'pg-promise';
import { isDatabaseUnavailable, isQueryReadTimeout } from './database-errors';
import { DatabaseHealth } from './database-health';

export type Db = IDatabase<unknown>;
// Defined with the ports that take it; re-exported for the code that already imports it from here.
export type { Queryable } from '../../domain/repositories/queryable';

/** Which pool an event belongs to (pg-promise's "database context"). */
interface PoolContext {
  name: string;
}
const healthOf = new WeakMap<object, DatabaseHealth>();

/** One pg-promise root per process: it tracks every connection pool it has opened. */
const pgp: IMain = pgPromise({
  capSQL: true,
  error(error: unknown, e: { client?: object; dc?: unknown }) {
    if (isQueryReadTimeout(error) && e.client) {
      // The server took the statement and never answered. Handed back to the pool, this
      // connection would run whatever is still queued in its socket once the server wakes up (a
      // BEGIN whose COMMIT never came, and every later caller's writes inside it). Marking it the
      // way pg-promise marks a broken connection makes the pool destroy it on release.
      (e.client as { $connectionError?: unknown }).$connectionError = error;
    }
    if (typeof e.dc === 'object' && e.dc !== null && isDatabaseUnavailable(error)) {
      healthOf.get(e.dc)?.failed(error);
    }
  },
});

export { pgp };

export interface DatabaseHandle {
  db: Db;
  url: string;
  /** The pool's `application_name`; connections of its own (a listener) are named after it. */
  name: string;
  health: DatabaseHealth;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /**
   * `application_name` (seen in pg_stat_activity). Two pools of one process on one database need
   * different names: pg-promise warns about a second object for the same connection.
   */
  name?: string;
  /** Server-side limit per statement (`statement_timeout`). */
  statementTimeoutMs?: number;
  /** How long to wait for a connection, from the pool or a new one. */
  connectTimeoutMs?: number;
}

export const DEFAULT_STATEMENT_TIMEOUT_MS = 5000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 2000;
/**
 * The client-side deadline sits this far behind `statement_timeout`: a slow statement is cancelled
 * by the server first (its connection stays usable); the client gives up only on a server that
 * does not answer at all (frozen, or the network gone silent).
 */
export const READ_TIMEOUT_MARGIN_MS = 1000;

export function createDatabase(
  url: string,
  poolSize: number,
  onPoolError: (error: Error) => void,
  options: DatabaseOptions = {},
): DatabaseHandle {
  const statementTimeoutMs = options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
  const context: PoolContext = { name: options.name ?? 'ssell' };
  // Connection fields rather than the URL: pg-promise tells pools apart by their connection, and
  // masks a URL's "password" with a pattern that, in a URL without one, swallows port and
  // database, so every database on one server looked like the same connection.
  const db = pgp(
    {
      ...parseIntoClientConfig(url),
      max: poolSize,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      statement_timeout: statementTimeoutMs,
      query_timeout: statementTimeoutMs + READ_TIMEOUT_MARGIN_MS,
      // A transaction left open by a bug would hold its locks until the pool recycled it.
      idle_in_transaction_session_timeout: Math.max(10_000, 2 * statementTimeoutMs),
      application_name: context.name,
      // pg-connection-string's type allows an async password function; we pass what it parsed.
    } as Parameters<IMain>[0],
    context,
  );
  const health = new DatabaseHealth(() => db.one('SELECT 1'));
  healthOf.set(context, health);
  // An idle client's error (57P01 when the server shuts down first) is emitted on the pool;
  // unheard, it would crash the process. Every idle client reports the same outage at once.
  db.$pool.on('error', (error: Error) => {
    if (isDatabaseUnavailable(error)) health.failed(error);
    else onPoolError(error);
  });
  return {
    db,
    url,
    name: context.name,
    health,
    close: async () => {
      health.close();
      if (!db.$pool.ended) await db.$pool.end();
    },
  };
}
