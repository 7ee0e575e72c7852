import type { FastifyReply, FastifyRequest } from 'fastify';

/** A public HTML route's page for a URL the router refused, given the status Fastify chose. */
export type ErrorPage = (status: number) => { status: number; html: string };

const pages = new Map<string, ErrorPage>();

/**
 * Paths under `prefix` are pages people open in a browser: a URL the router refuses there is
 * answered with `page` instead of JSON.
 */
export function registerErrorPage(prefix: string, page: ErrorPage): void {
  pages.set(prefix, page);
}

/**
 * Fastify answers a few malformed URLs itself, before any hook, route or Nest filter runs (a path
 * parameter longer than the router allows, broken percent-encoding), and the NUL check refuses
 * others before validation. Under a public route's prefix that answer is the page the route
 * registered, for `status`; elsewhere (false) the envelope is sent by
 * common/http/framework-errors.ts.
 */
export function renderErrorPage(
  status: number,
  request: FastifyRequest,
  reply: FastifyReply,
): boolean {
  for (const [prefix, page] of pages) {
    if (!request.url.startsWith(prefix)) continue;
    const rendered = page(status);
    // The refused URL may hold a secret (a link's token): not to be passed on as a referrer.
    void reply
      .status(rendered.status)
      .header('x-request-id', request.id)
      .header('cache-control', 'no-store')
      .header('referrer-policy', 'no-referrer')
      .type('text/html; charset=utf-8')
      .send(rendered.html);
    return true;
  }
  return false;
}
