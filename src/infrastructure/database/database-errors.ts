/**
 * Errors that mean "PostgreSQL is not there right now" (refused, cut, not answering in time,
 * starting or shutting down, out of connections), as opposed to errors in what was asked. The
 * first kind is a 503 for the caller and an outage for the operator; the second is a bug or a
 * bad request.
 */

/** Socket-level failures of the TCP connection to the server. */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

/**
 * SQLSTATEs of an unavailable server: class 08 (connection exception, except 08P01, a protocol
 * violation: our bug, e.g. a NUL byte in a parameter), 53300 too many connections, 57P01..57P05
 * shutdown, crash, starting up, idle session timeout; 57014 is a statement cut off by
 * `statement_timeout`, and 55P03 a lock not granted in time: the server is too busy to answer.
 */
function isUnavailableSqlState(code: string): boolean {
  if (code.startsWith('08')) return code !== '08P01';
  return ['53300', '57P01', '57P02', '57P03', '57P05', '57014', '55P03'].includes(code);
}

/**
 * node-postgres reports these without a code. Its messages are part of its interface (its own
 * tests and pg-pool match on them).
 */
const DRIVER_MESSAGES = [
  'Query read timeout',
  'timeout exceeded when trying to connect',
  'Connection terminated due to connection timeout',
  'Connection terminated unexpectedly',
  'Connection terminated',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
];

/** The client-side read deadline fired: the server took the query and never answered. */
export function isQueryReadTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === 'Query read timeout';
}

export function isDatabaseUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (SOCKET_CODES.has(code)) return true;
    if (/^[0-9A-Z]{5}$/.test(code) && 'severity' in error) return isUnavailableSqlState(code);
  }
  if (DRIVER_MESSAGES.includes(error.message)) return true;
  // Node's happy-eyeballs connect wraps one refusal per address in an AggregateError.
  if (error instanceof AggregateError) return error.errors.some(isDatabaseUnavailable);
  return false;
}

/** A short, safe reason for a log line: a code or the driver's sentence, never SQL or values. */
export function unavailableReason(error: unknown): string {
  if (!(error instanceof Error)) return 'unknown';
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && code !== '') return code;
  if (error instanceof AggregateError && error.errors.length > 0) {
    return unavailableReason(error.errors[0]);
  }
  return DRIVER_MESSAGES.includes(error.message) ? error.message : error.name;
}
