import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  HttpException,
  Logger,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RetryLaterException } from '../errors/too-many-requests.exception';
import { loggableError } from '../logging/loggable-error';
import { markQuietReply } from '../logging/quiet-replies';

export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  requestId?: string;
}

/** A response the filter builds for an error family it knows, plus headers to send with it. */
export interface MappedError {
  status: number;
  message: string;
  headers?: Record<string, string>;
  /**
   * Already reported by whoever mapped it (an outage logs its own start and end): no log line for
   * this request, not even in the access log.
   */
  quiet?: boolean;
}

/** Lets feature modules teach the filter their own error types without the filter importing them. */
export type ErrorMapper = (error: unknown) => MappedError | undefined;

const errorMappers: ErrorMapper[] = [];
export function registerErrorMapper(mapper: ErrorMapper): void {
  if (!errorMappers.includes(mapper)) errorMappers.push(mapper);
}

const REASON: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function reasonPhrase(status: number): string {
  return REASON[status] ?? (status >= 500 ? 'Internal Server Error' : 'Bad Request');
}

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
 * The one place an error becomes a reply: `{statusCode, error, message, requestId}` for every
 * failure. Unknown errors are logged with the request id and answered 500 without detail.
 */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  /** `mappers`: this application's own error families, tried before the global ones. */
  constructor(private readonly mappers: readonly ErrorMapper[] = []) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const reply = ctx.getResponse<FastifyReply>();
    const request = ctx.getRequest<FastifyRequest>();
    const mapped = this.map(exception);
    const route = `${request.method} ${request.routeOptions?.url ?? 'unknown route'}`;
    if (mapped.quiet) {
      markQuietReply(reply.raw);
    } else if (mapped.status === 500) {
      this.logger.error(
        { err: loggableError(exception, { stack: true }), requestId: request.id },
        `unhandled error for ${route}`,
      );
    } else if (mapped.status > 500) {
      // 502/503/504 are expected conditions (Instagram or the database unavailable): no stack.
      this.logger.warn(
        { requestId: request.id, reason: mapped.message },
        `${mapped.status} for ${route}`,
      );
    }
    const body: ErrorBody = {
      statusCode: mapped.status,
      error: reasonPhrase(mapped.status),
      message: mapped.message,
      requestId: request.id,
    };
    if (mapped.headers) void reply.headers(mapped.headers);
    void reply
      .status(mapped.status)
      .header('content-type', 'application/json; charset=utf-8')
      .send(body);
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
    for (const mapper of [...this.mappers, ...errorMappers]) {
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
