import {
  ForbiddenException,
  type HttpException,
  UnsupportedMediaTypeException,
} from '@nestjs/common';
import type { FastifyRequest } from 'fastify';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Meta calls these server to server, form-encoded; the signed_request is their authentication. */
const FORM_CALLBACK_PREFIX = '/instagram/webhooks/';

/** `scheme://host[:port]` as browsers send it in `Origin` (lower case, default port dropped). */
export function originOf(value: string): string | undefined {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : undefined;
  } catch {
    return undefined;
  }
}

function mediaType(contentType: string): string {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase();
}

/**
 * Why a state-changing request must be refused before it runs, or undefined to let it through.
 *
 * - A browser's request from a page of another site: `Origin` not one of `allowedOrigins`
 *   (PUBLIC_URL and CORS_ORIGINS), or no `Origin` but `Sec-Fetch-Site` other than `same-origin`
 *   or `none`. Clients that are not browsers send neither and are let through: forging a request
 *   is a browser's problem (it attaches the victim's cookie), and API clients authenticate with
 *   a Bearer token no other site can read.
 * - A body that is not JSON. HTML forms can only send urlencoded, multipart or text/plain bodies,
 *   so JSON-only means no form on any site can reach these routes, even in a browser that sends
 *   no `Origin`.
 */
export function crossSiteRefusal(
  request: Pick<FastifyRequest, 'method' | 'headers'> & { routeOptions: { url?: string } },
  allowedOrigins: ReadonlySet<string>,
): HttpException | undefined {
  if (SAFE_METHODS.has(request.method)) return undefined;
  if (request.routeOptions.url?.startsWith(FORM_CALLBACK_PREFIX)) return undefined;

  const origin = request.headers.origin;
  if (origin !== undefined) {
    const normalized = originOf(origin);
    if (normalized === undefined || !allowedOrigins.has(normalized)) {
      return new ForbiddenException(
        'Cross-site request refused: this page may not call the API. Open the service at its PUBLIC_URL, or add the origin to CORS_ORIGINS',
      );
    }
  } else {
    const site = request.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin' && site !== 'none') {
      return new ForbiddenException('Cross-site request refused');
    }
  }

  const contentType = request.headers['content-type'];
  if (contentType !== undefined && mediaType(contentType) !== 'application/json') {
    return new UnsupportedMediaTypeException(
      'This route takes JSON only: send Content-Type: application/json',
    );
  }
  return undefined;
}

/** PUBLIC_URL's origin and each CORS origin, normalised; unparseable entries are dropped. */
export function allowedOriginsOf(publicUrl: string, corsOrigins: readonly string[]): Set<string> {
  const origins = new Set<string>();
  for (const value of [publicUrl, ...corsOrigins]) {
    const origin = originOf(value);
    if (origin) origins.add(origin);
  }
  return origins;
}
