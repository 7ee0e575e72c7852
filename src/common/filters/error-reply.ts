import type { ArgumentsHost } from '@nestjs/common';
import { Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { loggableError } from '../logging/loggable-error';
import { markQuietReply } from '../logging/quiet-replies';

export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  requestId?: string;
}

/** What a filter decided about an error: the status, the sentence, and headers to send. */
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

/** Maps one kind of error to a reply, or leaves it (undefined) to the next. */
export type ErrorMapper = (error: unknown) => MappedError | undefined;

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

const logger = new Logger('Errors');

/**
 * The one way an error becomes a reply, whichever filter mapped it: the envelope
 * `{statusCode, error, message, requestId}`. A 500 is logged with its stack and the request id;
 * 502/503/504 are expected conditions (Instagram or the database unavailable): a warning.
 */
export function sendError(host: ArgumentsHost, exception: unknown, mapped: MappedError): void {
  const ctx = host.switchToHttp();
  const reply = ctx.getResponse<FastifyReply>();
  const request = ctx.getRequest<FastifyRequest>();
  const route = `${request.method} ${request.routeOptions?.url ?? 'unknown route'}`;
  if (mapped.quiet) {
    markQuietReply(reply.raw);
  } else if (mapped.status === 500) {
    logger.error(
      { err: loggableError(exception, { stack: true }), requestId: request.id },
      `unhandled error for ${route}`,
    );
  } else if (mapped.status > 500) {
    logger.warn({ requestId: request.id, reason: mapped.message }, `${mapped.status} for ${route}`);
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

/** Whole seconds until `date` for a Retry-After header; at least 1. */
export function retryAfterSeconds(date: Date, now: Date = new Date()): number {
  return Math.max(1, Math.ceil((date.getTime() - now.getTime()) / 1000));
}
