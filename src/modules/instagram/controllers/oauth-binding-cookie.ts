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
export function setBindingCookie(reply: FastifyReply, binding: string, secure: boolean): void {
  void reply.setCookie(OAUTH_BINDING_COOKIE, binding, {
    httpOnly: true,
    sameSite: 'lax',
    secure,
    path: OAUTH_BINDING_COOKIE_PATH,
    maxAge: OAUTH_STATE_TTL_SECONDS,
  });
}
