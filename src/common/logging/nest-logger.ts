import type { LoggerService } from '@nestjs/common';
import type { Logger, Level } from 'pino';

/**
 * Nest's own log calls (`new Logger('Errors').warn(...)`, the framework's start-up lines) on the
 * process's root pino logger: an object argument is merged into the line, the last extra string
 * is Nest's context (kept as `context`). Replaces nestjs-pino, whose per-request child logger
 * lived in an AsyncLocalStorage: that enabled promise hooks on every promise of every request
 * (a tenth of the service's CPU under load) for lines that name their request id anyway.
 */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  verbose(message: unknown, ...params: unknown[]): void {
    this.call('trace', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.call('debug', message, params);
  }
  log(message: unknown, ...params: unknown[]): void {
    this.call('info', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.call('warn', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.call('error', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.call('fatal', message, params);
  }

  private call(level: Level, message: unknown, params: unknown[]): void {
    if (!this.logger.isLevelEnabled(level)) return;
    const fields: Record<string, unknown> = {};
    let rest = params;
    if (params.length > 0) {
      fields.context = params[params.length - 1];
      rest = params.slice(0, -1);
    }
    // pino's signatures want a message string; Nest passes whatever it was given.
    const write: (obj: object, ...args: unknown[]) => void = this.logger[level].bind(this.logger);
    const log = (obj: object, ...args: unknown[]) => write(obj, ...args);
    if (typeof message === 'object' && message !== null) {
      if (message instanceof Error) fields.err = message;
      else Object.assign(fields, message);
      log(fields, ...rest);
    } else if (
      // Nest's exception handlers call error(message, stack[, context]).
      level === 'error' &&
      typeof message === 'string' &&
      rest.length === 1 &&
      typeof rest[0] === 'string' &&
      /\n\s*at /.test(rest[0])
    ) {
      const err = new Error(message);
      err.stack = rest[0];
      log({ ...fields, err });
    } else {
      log(fields, message, ...rest);
    }
  }
}
