import type { FastifyReply } from 'fastify';
import {
  OAUTH_BINDING_COOKIE,
  OAUTH_STATE_TTL_SECONDS,
} from '../services/instagram-connect.service';

/** The binding cookie goes only to the OAuth routes (the callback), never to the rest of the API. */
export const OAUTH_BINDING_COOKIE_PATH = '/instagram/oauth';

/**
 * Sets (again, when reused: its ten minutes restart with the newest state's) the cookie that binds
 * OAuth states to this browser. SameSite=Lax: it must come back on Instagram's top-level redirect.
 */
/**
 * In production the binding cookie is `__Host-ssell_oauth`: browsers accept a `__Host-` cookie
 * only when Secure, with Path=/ and no Domain, so no sibling subdomain (or a plain-HTTP page on
 * the same host) can plant a binding of its own. Development is plain HTTP, where Secure cookies
 * do not stick, so it keeps the plain name and the narrow path.
 */
export function oauthBindingCookie(isProduction: boolean): { name: string; path: string } {
  return isProduction
    ? { name: `__Host-${OAUTH_BINDING_COOKIE}`, path: '/' }
    : { name: OAUTH_BINDING_COOKIE, path: OAUTH_BINDING_COOKIE_PATH };
}

export function setBindingCookie(
  reply: FastifyReply,
  binding: string,
  isProduction: boolean,
): void {
  const cookie = oauthBindingCookie(isProduction);
  void reply.setCookie(cookie.name, binding, {
    httpOnly: true,
    sameSite: 'lax',
    secure: isProduction,
    path: cookie.path,
    maxAge: OAUTH_STATE_TTL_SECONDS,
  });
}
