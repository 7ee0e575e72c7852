import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { type ErrorBody, reasonPhrase } from './error-reply';

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
 * parameter longer than the router allows, broken percent-encoding), in a JSON shape of its own.
 * This gives them the service's envelope, or the page a public route registered.
 */
export function frameworkErrors(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  const status = error.statusCode ?? 400;
  void reply.header('x-request-id', request.id).header('cache-control', 'no-store');
  for (const [prefix, page] of pages) {
    if (!request.url.startsWith(prefix)) continue;
    const rendered = page(status);
    // The refused URL may hold a secret (a link's token): not to be passed on as a referrer.
    void reply
      .status(rendered.status)
      .header('referrer-policy', 'no-referrer')
      .type('text/html; charset=utf-8')
      .send(rendered.html);
    return;
  }
  const body: ErrorBody = {
    statusCode: status,
    error: reasonPhrase(status),
    message: status === 414 ? 'A part of the URL is too long' : 'The URL is malformed',
    requestId: request.id,
  };
  void reply.status(status).type('application/json; charset=utf-8').send(body);
}
