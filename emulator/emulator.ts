import fastifyCookie from '@fastify/cookie';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { ZodError } from 'zod';
import { DEMO_APP_ID, DEMO_APP_SECRET } from '../src/config/demo-app';
import { EmulatorContext, fbtraceId, type EmulatorLogger } from './context';
import { registerControlRoutes } from './control-routes';
import { registerGraphRoutes } from './graph-routes';
import { parseMultipart } from './multipart';
import { registerOAuthRoutes } from './oauth-routes';
import { registerPictureRoutes } from './pictures';
import { EmulatorError, EmulatorState } from './state';

export type { EmulatorLogger } from './context';
export * from './state';

export interface EmulatorOptions {
  /** 0 picks a free port. Default 0. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default DEMO_APP_ID. */
  appId?: string;
  /** Default DEMO_APP_SECRET. */
  appSecret?: string;
  requireAppsecretProof?: boolean;
  /** Which `/vNN.N/` path segments count as Graph versions. Default: any `vN.0`. */
  graphVersionPattern?: RegExp;
  /** Seed the demo accounts. Default true. */
  seed?: boolean;
  /** Origin put into profile picture URLs. Default: the Host the request came to. */
  publicUrl?: string;
  /** The runtime environment (NODE_ENV): when given, it must be `development` or `test`. */
  env?: string;
  logger?: EmulatorLogger;
}

export interface RunningEmulator {
  /** e.g. http://127.0.0.1:40123, usable as the authorize, API and Graph host. */
  url: string;
  port: number;
  appId: string;
  appSecret: string;
  /** The state the control API manipulates; tests may use it directly. */
  state: EmulatorState;
  close(): Promise<void>;
}

/** Where the emulator may run. A list of allowed names, not one forbidden one: `prod`, `staging`
 *  or `Production` are just as much not a developer's machine. */
const EMULATOR_ENVIRONMENTS = ['development', 'test'];

/** Why the emulator must not run with this NODE_ENV, or undefined when it may. */
export function emulatorRefusal(nodeEnv: string | undefined): string | undefined {
  if (nodeEnv !== undefined && EMULATOR_ENVIRONMENTS.includes(nodeEnv)) return undefined;
  return `The Instagram emulator runs only with NODE_ENV=development or NODE_ENV=test, not ${
    nodeEnv === undefined ? 'with NODE_ENV unset' : `NODE_ENV=${nodeEnv}`
  }: it hands out tokens to anyone and would stand in for Meta.`;
}

export class EmulatorRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EmulatorRefusedError';
  }
}

function formFields(text: string): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(text));
}

function isControlPath(path: string): boolean {
  return path.startsWith('/__');
}

/** Meta's three hosts (www, api, graph) on one port, plus the /__control API. */
export function buildEmulatorApp(ctx: EmulatorContext, logger?: EmulatorLogger): FastifyInstance {
  const app = Fastify({ logger: false, forceCloseConnections: true, bodyLimit: 1024 * 1024 });
  // The consent page remembers who is logged in to "Instagram", as the real one does.
  void app.register(fastifyCookie);

  // Meta's code exchange takes urlencoded forms and (per its curl -F examples) multipart.
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_request, text, done) => done(null, formFields(String(text))),
  );
  app.addContentTypeParser('multipart/form-data', { parseAs: 'string' }, (request, text, done) => {
    const fields = parseMultipart(String(text), request.headers['content-type'] ?? '');
    if (fields) done(null, fields);
    else done(Object.assign(new Error('Malformed multipart body'), { statusCode: 400 }), undefined);
  });

  // The request log covers Meta's endpoints, not the control API or pictures.
  app.addHook('preHandler', async (request) => {
    const path = request.url.split('?')[0] ?? '';
    if (isControlPath(path)) return;
    const query = Object.fromEntries(
      Object.entries((request.query as Record<string, unknown> | undefined) ?? {}).map(([k, v]) => [
        k,
        String(Array.isArray(v) ? (v as unknown[])[0] : v),
      ]),
    );
    const body =
      typeof request.body === 'object' && request.body !== null
        ? (request.body as Record<string, string>)
        : undefined;
    const entry = ctx.state.logRequest({
      method: request.method,
      path,
      query,
      ...(body ? { body: { ...body } } : {}),
      ...(request.headers.authorization ? { authorization: request.headers.authorization } : {}),
    });
    ctx.requestInfo(request).entry = entry;
    ctx.state.recordAppCall();
  });
  app.addHook('onResponse', async (request, reply) => {
    const info = ctx.requestInfo(request);
    if (info.entry) info.entry.status = reply.statusCode;
    const path = request.url.split('?')[0] ?? '';
    if (!isControlPath(path)) {
      logger?.info(
        {
          method: request.method,
          path,
          status: reply.statusCode,
          ms: Math.round(reply.elapsedTime),
        },
        'emulator request',
      );
    }
  });

  app.setErrorHandler((error: FastifyError | Error, request, reply) => {
    if (error instanceof EmulatorError) {
      return reply.code(error.statusCode).send({ error: error.message });
    }
    if (error instanceof ZodError) {
      return reply.code(400).send({
        error: 'Invalid control request',
        issues: error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`),
      });
    }
    const status =
      'statusCode' in error && typeof error.statusCode === 'number' ? error.statusCode : 500;
    if (status < 500) return reply.code(status).send({ error: error.message });
    logger?.warn({ path: request.url.split('?')[0], err: error.message }, 'emulator failure');
    return reply.code(500).send({
      error: {
        message: 'An unknown error has occurred.',
        type: 'OAuthException',
        code: 1,
        fbtrace_id: fbtraceId(),
      },
    });
  });

  registerOAuthRoutes(app, ctx);
  registerGraphRoutes(app, ctx);
  registerPictureRoutes(app, ctx);
  registerControlRoutes(app, ctx);
  return app;
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  // In-process callers (tests, demo mode) may leave env out; a named environment must be allowed.
  const refusal = options.env === undefined ? undefined : emulatorRefusal(options.env);
  if (refusal) throw new EmulatorRefusedError(refusal);
  const appId = options.appId ?? DEMO_APP_ID;
  const appSecret = options.appSecret ?? DEMO_APP_SECRET;
  const state = new EmulatorState({
    seed: options.seed ?? true,
    settings: {
      codeExchangeShape: 'flat',
      meShape: 'flat',
      userIdAsNumber: false,
      requireAppsecretProof: options.requireAppsecretProof ?? false,
      unavailableFields: [],
      refreshExtends: true,
    },
  });
  const ctx = new EmulatorContext(
    state,
    appId,
    appSecret,
    options.graphVersionPattern ?? /^v\d+\.0$/,
    options.publicUrl,
  );
  const app = buildEmulatorApp(ctx, options.logger);
  const host = options.host ?? '127.0.0.1';
  await app.listen({ port: options.port ?? 0, host });
  const address = app.server.address();
  if (address === null || typeof address === 'string') {
    await app.close();
    throw new Error('The emulator did not get a TCP port');
  }
  const reachableHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const hostPart = reachableHost.includes(':') ? `[${reachableHost}]` : reachableHost;
  return {
    url: `http://${hostPart}:${address.port}`,
    port: address.port,
    appId,
    appSecret,
    state,
    close: async () => {
      ctx.wakeAll();
      await app.close();
    },
  };
}
