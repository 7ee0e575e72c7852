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
 * The same headers written straight onto a Node response, for replies made before any route or
 * hook runs (the router's own errors).
 */
export function headerWriter(
  isProduction: boolean,
): (req: IncomingMessage, res: ServerResponse) => void {
  const apply = helmet(securityHeaders(isProduction, { docs: false }));
  return (req, res) => apply(req, res, () => undefined);
}
