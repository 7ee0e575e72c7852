import type { ErrorMapper } from '../../common/filters/error-reply';
import { isDatabaseUnavailable } from './database-errors';
import type { DatabaseHealth } from './database-health';

/** How long a client should wait before trying again while PostgreSQL is unavailable. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;
export const DATABASE_UNAVAILABLE_MESSAGE =
  'The database is not answering; try again in a few seconds';

/**
 * PostgreSQL refused, cut or not answering in time: 503 with `Retry-After`, counted against the
 * outage the pool already logged, instead of a 500 with a stack per request.
 */
export function databaseErrorMapper(health: DatabaseHealth): ErrorMapper {
  return (error) => {
    if (!isDatabaseUnavailable(error)) return undefined;
    health.failed(error);
    health.refusedRequest();
    return {
      status: 503,
      message: DATABASE_UNAVAILABLE_MESSAGE,
      headers: { 'retry-after': String(DATABASE_RETRY_AFTER_SECONDS) },
      quiet: true,
    };
  };
}
