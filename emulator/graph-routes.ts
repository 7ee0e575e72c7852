import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  applyInjection,
  queryParam,
  sendGraphError,
  tokenError,
  type EmulatorContext,
} from './context';
import { pictureUrl } from './pictures';
import {
  LONG_TOKEN_EXPIRES_IN_S,
  MIN_REFRESH_AGE_MS,
  type EmulatorAccount,
  type EmulatorToken,
} from './state';

/** Fields of an Instagram-Login IG user that graph.instagram.com serves. */
const USER_FIELDS = new Set([
  'id',
  'user_id',
  'username',
  'name',
  'account_type',
  'profile_picture_url',
  'followers_count',
  'follows_count',
  'media_count',
  'biography',
  'website',
  'has_profile_pic',
]);
const DEFAULT_FIELDS = ['id', 'username'];

/** `access_token` query parameter or `Authorization: Bearer|OAuth <token>`. */
function accessToken(request: FastifyRequest): string | undefined {
  const fromQuery = queryParam(request, 'access_token');
  if (fromQuery) return fromQuery;
  const match = /^(?:Bearer|OAuth)\s+(\S+)$/i.exec(request.headers.authorization ?? '');
  return match?.[1];
}

function isGraphPath(ctx: EmulatorContext, path: string): boolean {
  if (path === '/access_token' || path === '/refresh_access_token') return true;
  const version = path.split('/')[1] ?? '';
  return ctx.graphVersionPattern.test(version);
}

function unknownPath(reply: FastifyReply, path: string): FastifyReply {
  if (path.startsWith('/__')) return reply.code(404).send({ error: `No route ${path}` });
  return sendGraphError(reply, 400, {
    message: `Unknown path components: ${path}`,
    code: 2500,
  });
}

type Checked =
  { ok: true; token: EmulatorToken; account: EmulatorAccount } | { ok: false; reply: FastifyReply };

/** Token presence and validity, in Meta's order; on failure the error reply is already sent. */
function requireToken(
  ctx: EmulatorContext,
  reply: FastifyReply,
  token: string | undefined,
  missingMessage: string,
): Checked {
  if (!token) {
    return {
      ok: false,
      reply: sendGraphError(reply, 400, { message: missingMessage, code: 2500 }),
    };
  }
  const check = ctx.state.checkToken(token);
  if (!check.ok) return { ok: false, reply: tokenError(reply, check.subcode, check.message) };
  return { ok: true, token: check.token, account: check.account };
}

function proofProblem(ctx: EmulatorContext, request: FastifyRequest, token: string) {
  if (!ctx.state.settings.requireAppsecretProof) return undefined;
  const given = queryParam(request, 'appsecret_proof');
  if (!given) return 'API calls from the server require an appsecret_proof argument';
  const expected = createHmac('sha256', ctx.appSecret).update(token).digest('hex');
  const a = Buffer.from(expected);
  const b = Buffer.from(given.toLowerCase());
  return a.length === b.length && timingSafeEqual(a, b)
    ? undefined
    : 'Invalid appsecret_proof provided in the API argument';
}

function userNode(
  ctx: EmulatorContext,
  request: FastifyRequest,
  account: EmulatorAccount,
  fields: string[],
  id: string,
): Record<string, unknown> {
  const values: Record<string, unknown> = {
    user_id: account.userId,
    username: account.username,
    name: account.name,
    account_type: account.accountType,
    profile_picture_url: account.hasProfilePicture
      ? pictureUrl(ctx, ctx.origin(request), account)
      : undefined,
    followers_count: account.followersCount,
    follows_count: account.followsCount,
    media_count: account.mediaCount,
    biography: account.biography || undefined,
    website: account.website || undefined,
    has_profile_pic: account.hasProfilePicture,
  };
  const node: Record<string, unknown> = {};
  for (const field of fields) {
    if (field !== 'id' && values[field] !== undefined) node[field] = values[field];
  }
  // Graph always answers with the node's id, asked for or not.
  node.id = id;
  return node;
}

export function registerGraphRoutes(app: FastifyInstance, ctx: EmulatorContext): void {
  // Every Graph reply, error or not, carries the usage headers.
  app.addHook('onSend', async (request, reply, payload) => {
    const path = request.url.split('?')[0] ?? '';
    if (!isGraphPath(ctx, path)) return payload;
    if (reply.getHeader('x-app-usage') === undefined) {
      reply.header('x-app-usage', JSON.stringify(ctx.state.appUsage()));
    }
    const account = ctx.requestInfo(request).account;
    if (account && reply.getHeader('x-business-use-case-usage') === undefined) {
      const usage = ctx.state.accountUsage(account.userId);
      reply.header(
        'x-business-use-case-usage',
        JSON.stringify({
          [account.userId]: [{ type: 'instagram', ...usage, estimated_time_to_regain_access: 0 }],
        }),
      );
    }
    return payload;
  });

  // graph.instagram.com/access_token: short-lived → long-lived.
  app.get('/access_token', async (request, reply) => {
    const token = queryParam(request, 'access_token');
    ctx.actingFor(request, ctx.state.accountOfToken(token));
    if (await applyInjection(ctx, request, reply, ctx.requestInfo(request).account)) return reply;

    if (queryParam(request, 'grant_type') !== 'ig_exchange_token') {
      return sendGraphError(reply, 400, {
        message: '(#100) grant_type must be ig_exchange_token',
        code: 100,
      });
    }
    if (queryParam(request, 'client_secret') !== ctx.appSecret) {
      return sendGraphError(reply, 400, { message: 'Error validating client secret.', code: 100 });
    }
    const checked = requireToken(ctx, reply, token, '(#100) Missing parameter: access_token');
    if (!checked.ok) return checked.reply;
    if (checked.token.kind !== 'short') {
      return sendGraphError(reply, 400, {
        message: '(#100) Only a short-lived Instagram User access token can be exchanged',
        code: 100,
      });
    }
    const long = ctx.state.issueToken(checked.account, 'long', checked.token.scopes);
    return { access_token: long.token, token_type: 'bearer', expires_in: LONG_TOKEN_EXPIRES_IN_S };
  });

  // graph.instagram.com/refresh_access_token. The old token stays valid until its own expiry.
  app.get('/refresh_access_token', async (request, reply) => {
    const token = queryParam(request, 'access_token');
    ctx.actingFor(request, ctx.state.accountOfToken(token));
    if (await applyInjection(ctx, request, reply, ctx.requestInfo(request).account)) return reply;

    if (queryParam(request, 'grant_type') !== 'ig_refresh_token') {
      return sendGraphError(reply, 400, {
        message: '(#100) grant_type must be ig_refresh_token',
        code: 100,
      });
    }
    const checked = requireToken(ctx, reply, token, '(#100) Missing parameter: access_token');
    if (!checked.ok) return checked.reply;
    if (checked.token.kind !== 'long') {
      return sendGraphError(reply, 400, {
        message: 'Unsupported request - method type: get',
        type: 'IGApiException',
        code: 100,
      });
    }
    const age = ctx.state.now().getTime() - checked.token.issuedAt.getTime();
    if (age < MIN_REFRESH_AGE_MS) {
      return sendGraphError(reply, 400, {
        message: '(#100) The access token can be refreshed only when it is at least 24 hours old',
        type: 'IGApiException',
        code: 100,
      });
    }
    if (!ctx.state.settings.refreshExtends) {
      const left = checked.token.expiresAt.getTime() - ctx.state.now().getTime();
      return {
        access_token: checked.token.token,
        token_type: 'bearer',
        expires_in: Math.max(0, Math.floor(left / 1000)),
        permissions: checked.token.scopes.join(','),
      };
    }
    const fresh = ctx.state.issueToken(checked.account, 'long', checked.token.scopes);
    return {
      access_token: fresh.token,
      token_type: 'bearer',
      expires_in: LONG_TOKEN_EXPIRES_IN_S,
      permissions: fresh.scopes.join(','),
    };
  });

  // graph.instagram.com/vNN.0/me and /vNN.0/{ig-user-id}.
  const node = async (
    request: FastifyRequest<{ Params: { version: string; node?: string } }>,
    reply: FastifyReply,
  ) => {
    const { version } = request.params;
    const path = request.url.split('?')[0] ?? '';
    if (!ctx.graphVersionPattern.test(version)) return unknownPath(reply, path);
    const token = accessToken(request);
    ctx.actingFor(request, ctx.state.accountOfToken(token));
    if (await applyInjection(ctx, request, reply, ctx.requestInfo(request).account)) return reply;

    const checked = requireToken(
      ctx,
      reply,
      token,
      'An active access token must be used to query information about the current user.',
    );
    if (!checked.ok) return checked.reply;
    const problem = proofProblem(ctx, request, checked.token.token);
    if (problem) {
      return sendGraphError(reply, 400, {
        message: problem,
        type: 'GraphMethodException',
        code: 100,
      });
    }
    const { account } = checked;
    const requested = request.params.node;
    if (
      requested !== undefined &&
      requested !== account.userId &&
      requested !== account.appScopedId
    ) {
      return sendGraphError(reply, 400, {
        message: `Unsupported get request. Object with ID '${requested}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api`,
        type: 'GraphMethodException',
        code: 100,
        subcode: 33,
      });
    }
    const fieldsParam = queryParam(request, 'fields');
    const fields = fieldsParam
      ? fieldsParam
          .split(',')
          .map((f) => f.trim())
          .filter(Boolean)
      : DEFAULT_FIELDS;
    const unavailable = ctx.state.settings.unavailableFields;
    const unknown = fields.find((f) => !USER_FIELDS.has(f) || unavailable.includes(f));
    if (unknown !== undefined) {
      return sendGraphError(reply, 400, {
        message: `(#100) Tried accessing nonexisting field (${unknown}) on node type (User)`,
        code: 100,
      });
    }
    const result = userNode(ctx, request, account, fields, requested ?? account.appScopedId);
    return ctx.state.settings.meShape === 'wrapped' ? { data: [result] } : result;
  };
  app.get('/:version/me', node);
  app.get('/:version/:node', node);

  app.setNotFoundHandler(async (request, reply) => {
    return unknownPath(reply, request.url.split('?')[0] ?? '');
  });
}
