import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { EmulatorContext } from './context';
import { INVALIDATION_SUBCODES, type TokenInvalidation } from './state';

const digits = z.string().regex(/^\d{5,30}$/, 'must be a decimal id string');
const count = z.number().int().nonnegative().safe();

const accountFields = {
  username: z
    .string()
    .regex(/^[A-Za-z0-9._]{1,30}$/, 'Instagram usernames: letters, digits, . and _'),
  name: z.string().max(64),
  accountType: z.string().min(1).max(32),
  biography: z.string().max(150),
  website: z.string().max(200),
  followersCount: count,
  followsCount: count,
  mediaCount: count,
  hasProfilePicture: z.boolean(),
  pictureKind: z.enum(['png', 'html', 'oversized']),
};

const createAccountSchema = z
  .object({
    ...accountFields,
    userId: digits.optional(),
    appScopedId: digits.optional(),
  })
  .partial({
    name: true,
    accountType: true,
    biography: true,
    website: true,
    followersCount: true,
    followsCount: true,
    mediaCount: true,
    hasProfilePicture: true,
    pictureKind: true,
  })
  .strict();

const pictureSchema = z
  .object({ kind: z.enum(['png', 'html', 'oversized']).default('png') })
  .strict();

const patchAccountSchema = z.object(accountFields).partial().strict();

const invalidateSchema = z
  .object({
    reason: z
      .enum(Object.keys(INVALIDATION_SUBCODES) as [TokenInvalidation, ...TokenInvalidation[]])
      .default('password_changed'),
  })
  .strict();

const mintTokenSchema = z
  .object({
    kind: z.enum(['short', 'long']).default('long'),
    scopes: z.array(z.string()).default(['instagram_business_basic']),
    /** Backdate the token, e.g. to make it refreshable at once. */
    ageMs: z.number().int().nonnegative().default(0),
  })
  .strict();

const authorizeSchema = z
  .object({
    account: z.string().min(1),
    redirectUri: z.string().url(),
    state: z.string().optional(),
    scope: z
      .union([z.string(), z.array(z.string())])
      .default('instagram_business_basic')
      .transform((v) => (Array.isArray(v) ? v : v.split(/[\s,]+/).filter(Boolean))),
    clientId: z.string().optional(),
  })
  .strict();

const injectSchema = z
  .object({
    kind: z.enum([
      'rate_limit_app',
      'rate_limit_account',
      'transient',
      'server_error_html',
      'hang',
      'drop',
      'error',
    ]),
    count: z.number().int().min(1).max(10_000).optional(),
    account: z.string().min(1).optional(),
    path: z.string().startsWith('/').max(200).optional(),
    delayMs: z.number().int().min(0).max(600_000).optional(),
    regainMinutes: z.number().int().min(0).max(10_000).optional(),
    status: z.number().int().min(200).max(599).optional(),
    error: z
      .object({
        code: z.number().int(),
        subcode: z.number().int().optional(),
        message: z.string().optional(),
        type: z.string().optional(),
        isTransient: z.boolean().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const clockSchema = z
  .object({
    advanceMs: z.number().int().optional(),
    advanceSeconds: z.number().optional(),
    advanceHours: z.number().optional(),
  })
  .strict();

const settingsSchema = z
  .object({
    codeExchangeShape: z.enum(['flat', 'wrapped']),
    meShape: z.enum(['flat', 'wrapped']),
    userIdAsNumber: z.boolean(),
    requireAppsecretProof: z.boolean(),
    unavailableFields: z.array(z.string()),
    refreshExtends: z.boolean(),
  })
  .partial()
  .strict();

/** JSON control API for tests and demos. Lives on the emulator's port under /__control. */
export function registerControlRoutes(app: FastifyInstance, ctx: EmulatorContext): void {
  const { state } = ctx;
  const body = (value: unknown) => value ?? {};

  app.get('/__control/state', async () => ({
    now: state.now().toISOString(),
    settings: state.settings,
    accounts: state.listAccounts(),
    injections: state.listInjections(),
    tokenCount: state.tokens.size,
  }));

  app.get('/__control/accounts', async () => ({ accounts: state.listAccounts() }));
  app.post('/__control/accounts', async (request, reply) => {
    const input = createAccountSchema.parse(body(request.body));
    return reply.code(201).send({ account: state.createAccount(input) });
  });
  app.get<{ Params: { ref: string } }>('/__control/accounts/:ref', async (request) => ({
    account: state.getAccount(request.params.ref),
  }));
  app.patch<{ Params: { ref: string } }>('/__control/accounts/:ref', async (request) => ({
    account: state.updateAccount(request.params.ref, patchAccountSchema.parse(body(request.body))),
  }));
  app.post<{ Params: { ref: string } }>('/__control/accounts/:ref/picture', async (request) => {
    const { kind } = pictureSchema.parse(body(request.body));
    return { account: state.changePicture(request.params.ref, kind) };
  });
  app.post<{ Params: { ref: string } }>(
    '/__control/accounts/:ref/invalidate-tokens',
    async (request) => {
      const { reason } = invalidateSchema.parse(body(request.body));
      return {
        invalidated: state.invalidateTokens(request.params.ref, reason),
        subcode: INVALIDATION_SUBCODES[reason],
      };
    },
  );
  app.post<{ Params: { ref: string } }>(
    '/__control/accounts/:ref/tokens',
    async (request, reply) => {
      const input = mintTokenSchema.parse(body(request.body));
      const token = state.issueToken(
        state.getAccount(request.params.ref),
        input.kind,
        input.scopes,
      );
      token.issuedAt = new Date(token.issuedAt.getTime() - input.ageMs);
      token.expiresAt = new Date(token.expiresAt.getTime() - input.ageMs);
      return reply.code(201).send({
        accessToken: token.token,
        kind: token.kind,
        issuedAt: token.issuedAt.toISOString(),
        expiresAt: token.expiresAt.toISOString(),
      });
    },
  );

  app.post('/__control/authorize', async (request) => {
    const input = authorizeSchema.parse(body(request.body));
    return state.authorize({
      account: input.account,
      clientId: input.clientId ?? ctx.appId,
      redirectUri: input.redirectUri,
      scopes: input.scope,
      ...(input.state !== undefined ? { state: input.state } : {}),
    });
  });

  app.post('/__control/inject', async (request, reply) => {
    const injection = state.inject(injectSchema.parse(body(request.body)));
    return reply.code(201).send({ injection });
  });
  app.get('/__control/injections', async () => ({ injections: state.listInjections() }));
  app.delete('/__control/injections', async (_request, reply) => {
    state.clearInjections();
    return reply.code(204).send();
  });

  app.get('/__control/clock', async () => ({ now: state.now().toISOString() }));
  app.post('/__control/clock', async (request) => {
    const input = clockSchema.parse(body(request.body));
    const ms =
      (input.advanceMs ?? 0) +
      (input.advanceSeconds ?? 0) * 1000 +
      (input.advanceHours ?? 0) * 3_600_000;
    return { now: state.advanceClock(Math.round(ms)).toISOString() };
  });

  app.get('/__control/settings', async () => ({ settings: state.settings }));
  app.patch('/__control/settings', async (request) => ({
    settings: state.updateSettings(settingsSchema.parse(body(request.body))),
  }));

  app.get('/__control/requests', async (request) => {
    const path = (request.query as { path?: unknown }).path;
    return { requests: state.requests(typeof path === 'string' ? { path } : {}) };
  });
  app.get('/__control/requests/totals', async () => ({ totals: state.requestTotals() }));
  app.delete('/__control/requests', async (_request, reply) => {
    state.clearRequests();
    return reply.code(204).send();
  });

  app.post('/__control/reset', async (_request, reply) => {
    state.reset();
    return reply.code(204).send();
  });
}
