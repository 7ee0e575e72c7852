import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  applyInjection,
  bodyParam,
  queryParam,
  sendCodeExchangeError,
  type EmulatorContext,
} from './context';
import { consentPage, errorPage } from './html';
import { pictureUrl } from './pictures';
import { type EmulatorAccount, KNOWN_SCOPES } from './state';

interface AuthorizeRequest {
  clientId: string;
  redirectUri: string;
  scopes: string[];
  state?: string;
  /** `force_reauth=true`: show the account choice even when somebody is logged in. */
  forceReauth: boolean;
}

/**
 * Who is logged in to the emulated Instagram in this browser: the last account approved. Its
 * path keeps it to the dialog (cookies ignore ports, and in demo mode the service shares the host).
 */
export const LOGIN_COOKIE = 'emulator_ig_login';
const LOGIN_COOKIE_PATH = '/oauth/authorize';

/** The checks Instagram's dialog makes before showing anything; a string is the error. */
function validateAuthorize(
  ctx: EmulatorContext,
  read: (name: string) => string | undefined,
): AuthorizeRequest | string {
  const clientId = read('client_id');
  if (!clientId || clientId !== ctx.appId) return 'Invalid platform app';
  const redirectUri = read('redirect_uri');
  if (!redirectUri || !/^https?:\/\//.test(redirectUri) || !URL.canParse(redirectUri)) {
    return 'Invalid redirect_uri';
  }
  if (read('response_type') !== 'code') return 'Invalid response_type: must be code';
  const scopes = (read('scope') ?? '').split(/[\s,]+/).filter(Boolean);
  const unknown = scopes.filter((s) => !KNOWN_SCOPES.has(s));
  if (unknown.length > 0) return `Invalid Scopes: ${unknown.join(', ')}`;
  if (!scopes.includes('instagram_business_basic')) {
    return 'Invalid Scopes: the scope must include instagram_business_basic';
  }
  const state = read('state');
  return {
    clientId,
    redirectUri,
    scopes,
    ...(state !== undefined ? { state } : {}),
    forceReauth: read('force_reauth') === 'true',
  };
}

function denyRedirect(request: AuthorizeRequest): string {
  const url = new URL(request.redirectUri);
  url.searchParams.set('error', 'access_denied');
  url.searchParams.set('error_reason', 'user_denied');
  url.searchParams.set('error_description', 'The user denied your request');
  if (request.state !== undefined) url.searchParams.set('state', request.state);
  return url.toString();
}

function decide(
  ctx: EmulatorContext,
  reply: FastifyReply,
  auth: AuthorizeRequest,
  approve: boolean,
  accountRef: string | undefined,
): FastifyReply {
  if (!approve) return reply.redirect(denyRedirect(auth), 302);
  const account = accountRef ? ctx.state.findAccount(accountRef) : undefined;
  if (!account) return reply.code(400).type('text/html').send(errorPage('Unknown account'));
  const { redirectUrl } = ctx.state.authorize({
    clientId: auth.clientId,
    redirectUri: auth.redirectUri,
    scopes: auth.scopes,
    ...(auth.state !== undefined ? { state: auth.state } : {}),
    account: account.userId,
  });
  void reply.setCookie(LOGIN_COOKIE, account.userId, {
    path: LOGIN_COOKIE_PATH,
    httpOnly: true,
    sameSite: 'lax',
  });
  return reply.redirect(redirectUrl, 302);
}

/** The consent page's account list: only the logged-in one, unless a choice is asked for. */
function choices(
  ctx: EmulatorContext,
  request: FastifyRequest,
  auth: AuthorizeRequest,
): { accounts: EmulatorAccount[]; loggedIn?: EmulatorAccount } {
  const ref = request.cookies[LOGIN_COOKIE];
  const loggedIn = ref ? ctx.state.findAccount(ref) : undefined;
  if (!loggedIn) return { accounts: ctx.state.listAccounts() };
  if (!auth.forceReauth) return { accounts: [loggedIn], loggedIn };
  // Everyone, the logged-in account first and preselected.
  const others = ctx.state.listAccounts().filter((a) => a !== loggedIn);
  return { accounts: [loggedIn, ...others], loggedIn };
}

export function registerOAuthRoutes(app: FastifyInstance, ctx: EmulatorContext): void {
  // www.instagram.com/oauth/authorize: the consent dialog.
  app.get('/oauth/authorize', async (request, reply) => {
    const auth = validateAuthorize(ctx, (name) => queryParam(request, name));
    if (typeof auth === 'string') return reply.code(400).type('text/html').send(errorPage(auth));
    // Test shortcuts: decide without the page.
    const approveAs = queryParam(request, '__approve');
    if (approveAs !== undefined) return decide(ctx, reply, auth, true, approveAs);
    if (queryParam(request, '__deny') !== undefined) return decide(ctx, reply, auth, false, '');

    const origin = ctx.origin(request);
    const hidden: Record<string, string> = {
      client_id: auth.clientId,
      redirect_uri: auth.redirectUri,
      response_type: 'code',
      scope: auth.scopes.join(','),
      ...(auth.state !== undefined ? { state: auth.state } : {}),
    };
    const { accounts, loggedIn } = choices(ctx, request, auth);
    let switchUrl: string | undefined;
    if (loggedIn && !auth.forceReauth) {
      const again = new URL(request.url, 'http://emulator.invalid');
      again.searchParams.set('force_reauth', 'true');
      switchUrl = `${again.pathname}${again.search}`;
    }
    return reply.type('text/html; charset=utf-8').send(
      consentPage({
        accounts: accounts.map((account) => ({
          account,
          pictureUrl: pictureUrl(ctx, origin, account),
        })),
        hidden,
        scopes: auth.scopes,
        ...(switchUrl !== undefined ? { switchUrl } : {}),
      }),
    );
  });

  // The consent form posts here.
  app.post('/oauth/authorize', async (request, reply) => {
    const auth = validateAuthorize(ctx, (name) => bodyParam(request, name));
    if (typeof auth === 'string') return reply.code(400).type('text/html').send(errorPage(auth));
    const approve = bodyParam(request, 'decision') === 'approve';
    return decide(ctx, reply, auth, approve, bodyParam(request, 'account'));
  });

  // api.instagram.com/oauth/access_token: code → short-lived token.
  app.post('/oauth/access_token', async (request: FastifyRequest, reply) => {
    const field = (name: string) => bodyParam(request, name);
    const code = field('code');
    const account = ctx.state.accountOfCode(code);
    ctx.actingFor(request, account);
    if (await applyInjection(ctx, request, reply, account)) return reply;

    if (field('client_id') !== ctx.appId)
      return sendCodeExchangeError(reply, 'Invalid platform app');
    if (field('client_secret') !== ctx.appSecret) {
      return sendCodeExchangeError(reply, 'Error validating client secret.');
    }
    if (field('grant_type') !== 'authorization_code') {
      return sendCodeExchangeError(reply, 'Invalid grant_type: must be authorization_code');
    }
    const redirectUri = field('redirect_uri');
    if (!redirectUri) return sendCodeExchangeError(reply, 'Missing redirect_uri');
    if (!code) return sendCodeExchangeError(reply, 'Missing code');

    const result = ctx.state.redeemCode(code, ctx.appId, redirectUri);
    if (!result.ok) return sendCodeExchangeError(reply, result.message);

    const { token } = result;
    const wrapped = ctx.state.settings.codeExchangeShape === 'wrapped';
    const payload = {
      access_token: token.token,
      user_id: result.account.appScopedId,
      permissions: wrapped ? token.scopes.join(',') : token.scopes,
    };
    let json = JSON.stringify(wrapped ? { data: [payload] } : payload);
    if (ctx.state.settings.userIdAsNumber) {
      json = json.replace(`"user_id":"${payload.user_id}"`, `"user_id":${payload.user_id}`);
    }
    return reply.type('application/json; charset=UTF-8').send(json);
  });
}
