export interface LoggableErrorOptions {
  /** Include the stack trace (for failures nobody expected, where the origin matters). */
  stack?: boolean;
}

/**
 * What of an unexpected error goes to a log line: its class, message and code (and its stack when
 * asked). Never its other properties: pino's error serializer would print them all, and
 * pg-promise attaches the failed query with its values (a password hash, a sealed token), while
 * client errors may carry request details.
 */
export function loggableError(
  error: unknown,
  options: LoggableErrorOptions = {},
): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: describe(error) };
  const code = (error as { code?: unknown }).code;
  return {
    type: error.name,
    message: error.message,
    ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
    ...(options.stack ? { stack: error.stack } : {}),
  };
}

/** A thrown non-Error as text; a logging helper must not throw from inside a catch block. */
function describe(value: unknown): string {
  try {
    return String(value);
  } catch {
    return 'unprintable thrown value';
  }
}
