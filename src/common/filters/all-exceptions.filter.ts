import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException } from '@nestjs/common';
import { RetryLaterException } from '../errors/too-many-requests.exception';
import { type ErrorMapper, type MappedError, sendError } from './error-reply';

interface PgError {
  code: string;
  constraint?: string;
}
function isPgError(error: unknown): error is PgError {
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { code?: unknown }).code === 'string' &&
    /^[0-9A-Z]{5}$/.test((error as { code: string }).code) &&
    'severity' in error
  );
}

/** PostgreSQL errors a client can cause; their text (SQL, constraint names) is never sent. */
function mapPgError(error: PgError): MappedError | undefined {
  switch (error.code) {
    case '23505':
      return { status: 409, message: 'A resource with these unique values already exists' };
    case '23503':
      return { status: 409, message: 'The request refers to a resource that does not exist' };
    case '23514':
    case '23502':
    case '22P02':
    case '22001':
    case '22003':
    case '22007':
    case '22008':
      return { status: 400, message: 'A value in the request is not valid' };
    default:
      return undefined;
  }
}

interface FastifyLikeError {
  statusCode: number;
  code?: string;
  message: string;
}
function isFastifyError(error: unknown): error is FastifyLikeError {
  return (
    error instanceof Error &&
    typeof (error as { statusCode?: unknown }).statusCode === 'number' &&
    typeof (error as { code?: unknown }).code === 'string' &&
    (error as unknown as { code: string }).code.startsWith('FST_')
  );
}

function mapFastifyError(error: FastifyLikeError): MappedError {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, message: 'Request body is larger than the 1 MB limit' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, message: 'Unsupported Content-Type' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, message: 'Body is empty but Content-Type is application/json' };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { status: 400, message: 'Malformed JSON in request body' };
    default:
      if (error.statusCode >= 400 && error.statusCode < 500) {
        return { status: error.statusCode, message: error.message };
      }
      return { status: 500, message: 'Internal server error' };
  }
}

function messageOf(response: string | object): string {
  if (typeof response === 'string') return response;
  const message = (response as { message?: unknown }).message;
  if (Array.isArray(message)) return message.map(String).join('; ');
  if (typeof message === 'string') return message;
  return 'Request failed';
}

/**
 * The last filter: every error no family filter claimed (registered after this one in
 * app.factory.ts, so Nest asks them first). HTTP exceptions keep their status and message;
 * Fastify's and PostgreSQL's errors a client can cause get theirs; anything else is a 500
 * without detail, logged with the request id.
 */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  /**
   * `mappers`: error kinds that are not classes a family filter could catch (PostgreSQL being
   * unavailable shows up as driver, socket and SQLSTATE errors alike), tried before the rest.
   */
  constructor(private readonly mappers: readonly ErrorMapper[] = []) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    sendError(host, exception, this.map(exception));
  }

  private map(exception: unknown): MappedError {
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const message = status === 500 ? 'Internal server error' : messageOf(exception.getResponse());
      if (exception instanceof RetryLaterException) {
        return {
          status,
          message,
          headers: { 'retry-after': String(Math.max(1, Math.ceil(exception.retryAfterSeconds))) },
          quiet: exception.quiet,
        };
      }
      return { status, message };
    }
    for (const mapper of this.mappers) {
      const mapped = mapper(exception);
      if (mapped) return mapped;
    }
    if (isFastifyError(exception)) return mapFastifyError(exception);
    if (isPgError(exception)) {
      const mapped = mapPgError(exception);
      if (mapped) return mapped;
    }
    return { status: 500, message: 'Internal server error' };
  }
}
