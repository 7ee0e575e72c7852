import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { reasonPhrase, type ErrorBody } from '../filters/error-reply';
import { headerWriter } from './security-headers';

/** Our sentences for the router's refusals: its own messages quote the path back. */
const MESSAGES: Record<string, { status: number; message: string }> = {
  FST_ERR_BAD_URL: { status: 400, message: 'The URL is malformed (bad percent-encoding)' },
  FST_ERR_MAX_PARAM_LENGTH: { status: 414, message: 'A part of the URL is too long' },
};

/**
 * Fastify's `frameworkErrors`: requests the router refuses before any route, hook or the error
 * filter runs. They get the same envelope, request id and security headers as every other error.
 */
export function frameworkErrorHandler(
  isProduction: boolean,
): (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => void {
  const writeSecurityHeaders = headerWriter(isProduction);
  return (error, request, reply) => {
    const known = error.code ? MESSAGES[error.code] : undefined;
    const status =
      known?.status ?? (error.statusCode && error.statusCode >= 400 ? error.statusCode : 400);
    const body: ErrorBody = {
      statusCode: status,
      error: reasonPhrase(status),
      message: known?.message ?? 'The request could not be routed',
      requestId: request.id,
    };
    writeSecurityHeaders(request.raw, reply.raw);
    void reply
      .code(status)
      .header('x-request-id', request.id)
      .header('content-type', 'application/json; charset=utf-8')
      .send(body);
  };
}
