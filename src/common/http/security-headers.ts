import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet, { type HelmetOptions } from 'helmet';

/** Swagger UI's page and assets; the only place inline scripts run. */
export const DOCS_PREFIX = '/docs';

export function isDocsPath(url: string): boolean {
  return url === DOCS_PREFIX || url.startsWith(`${DOCS_PREFIX}/`);
}

/**
 * The security headers of every reply. The accounts page and the API run no inline script, so
 * `script-src 'self'` there; Swagger UI (at /docs) needs inline script and gets its own policy.
 */
export function securityHeaders(isProduction: boolean, options: { docs: boolean }): HelmetOptions {
  return {
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: options.docs ? ["'self'", "'unsafe-inline'"] : ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:', 'https:', 'http:'],
        formAction: ["'self'", 'https:', 'http:'],
        // Local development is plain HTTP; upgrading would break the demo's emulator links.
        upgradeInsecureRequests: isProduction ? [] : null,
      },
    },
    hsts: isProduction,
    crossOriginResourcePolicy: { policy: 'same-site' },
  };
}

/**
 * The headers helmet writes for these options, computed once. Helmet's output depends on its
 * options alone (no nonces here), and @fastify/helmet built a new helmet middleware, parsed the
 * policy and wrote each header one by one on every request (7 % of the service's CPU on the
 * accounts list); the same headers from a frozen object cost one `reply.headers()` call.
 */
export function precomputedSecurityHeaders(
  options: HelmetOptions,
): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {};
  const res = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
  };
  helmet(options)({} as IncomingMessage, res as unknown as ServerResponse, () => undefined);
  return Object.freeze(headers);
}

/**
 * The same headers written straight onto a Node response, for replies made before any route or
 * hook runs (the router's own errors).
 */
export function headerWriter(
  isProduction: boolean,
): (req: IncomingMessage, res: ServerResponse) => void {
  const apply = helmet(securityHeaders(isProduction, { docs: false }));
  return (req, res) => apply(req, res, () => undefined);
}
