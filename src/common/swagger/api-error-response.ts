import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiResponse, getSchemaPath } from '@nestjs/swagger';
import { ErrorResponseDto } from '../dto/error-response.dto';
import { reasonPhrase } from '../filters/error-reply';

/** A request id as the service sends it (X-Request-Id), for the examples. */
const EXAMPLE_REQUEST_ID = '6a1f3c0e-2b7d-4f5e-9c8a-0d4b1e2f3a57';

export interface ApiErrorOptions {
  description: string;
  /** What the service answers, by case: `{ 'malformed id': 'id must be a UUID (an account id)' }`. */
  examples: Record<string, string>;
  /** 429 and 503 answers say how long to wait. */
  retryAfter?: boolean;
}

/**
 * One documented error status with the envelope every error has and real messages as named
 * examples, so the document shows what a client will actually receive for that status.
 */
export function ApiErrorResponse(status: number, options: ApiErrorOptions) {
  const error = reasonPhrase(status);
  const examples = Object.fromEntries(
    Object.entries(options.examples).map(([summary, message]) => [
      summary.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_|_$/g, ''),
      {
        summary,
        value: { statusCode: status, error, message, requestId: EXAMPLE_REQUEST_ID },
      },
    ]),
  );
  // The content is spelled out as JSON: a route that produces images (the avatar) still
  // answers its errors in the JSON envelope.
  return applyDecorators(
    ApiExtraModels(ErrorResponseDto),
    ApiResponse({
      status,
      description: options.description,
      content: {
        'application/json': { schema: { $ref: getSchemaPath(ErrorResponseDto) }, examples },
      },
      ...(options.retryAfter
        ? {
            headers: {
              'Retry-After': {
                description: 'Seconds to wait before trying again',
                schema: { type: 'integer', minimum: 1, example: 900 },
              },
            },
          }
        : {}),
    }),
  );
}

/** The 401 of every route behind SessionGuard. */
export const ApiUnauthorizedError = () =>
  ApiErrorResponse(401, {
    description: 'No session: a Bearer access token or the session cookie is required',
    examples: {
      'no credentials': 'Authentication required',
      'expired or bad access token': 'Invalid or expired access token',
      'signed-out session cookie': 'Session expired or signed out',
    },
  });
