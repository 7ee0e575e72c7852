import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import { parse as parseForm } from 'node:querystring';
import fastifyCookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { AppModule, type AppDependencies } from './app.module';
import { AllExceptionsFilter } from './common/filters/all-exceptions.filter';
import { registerAccessLog } from './common/logging/access-log';
import { PinoNestLogger } from './common/logging/nest-logger';
import { FastValidationPipe } from './common/pipes/validation.pipe';
import { renderErrorPage } from './common/filters/framework-errors';
import { allowedOriginsOf, crossSiteRefusal } from './common/http/cross-site';
import { frameworkErrorHandler } from './common/http/framework-errors';
import {
  containsNul,
  exceedsJsonDepth,
  JsonTooDeepException,
  MAX_JSON_DEPTH,
  NulCharacterException,
} from './common/http/request-limits';
import {
  isDocsPath,
  precomputedSecurityHeaders,
  securityHeaders,
} from './common/http/security-headers';
import { projectRoot } from './common/project-root';
import { SESSION_COOKIE } from './common/auth/session-token';
import { databaseErrorMapper } from './infrastructure/database/database-error.mapper';
import { AccountSyncErrorFilter } from './modules/instagram/filters/account-sync-error.filter';

export const BODY_LIMIT_BYTES = 1024 * 1024;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/**
 * Everything in dist/web/assets is named by Vite after its content hash (index-<hash>.js, and the
 * .br/.gz sent in its place): a name never changes content.
 */
const HASHED_ASSET = /[\\/]assets[\\/][^\\/]+$/;

/** A caller's X-Request-Id is kept when it is sane, so one id follows a request across services. */
function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
  (req as IncomingMessage & { id?: string }).id = id;
  return id;
}

export function buildOpenApiDocument(app: NestFastifyApplication) {
  const config = new DocumentBuilder()
    .setTitle('ssell API')
    .setDescription(
      'Instagram account management for social sellers: sign up, connect Instagram professional accounts, keep their profile, token and health true.',
    )
    .setVersion('0.1.0')
    .addBearerAuth()
    .addCookieAuth(SESSION_COOKIE)
    .build();
  return SwaggerModule.createDocument(app, config);
}

export async function createApp(deps: AppDependencies): Promise<NestFastifyApplication> {
  const { config } = deps;
  const envelope = frameworkErrorHandler(config.isProduction);
  const adapter = new FastifyAdapter({
    bodyLimit: BODY_LIMIT_BYTES,
    genReqId: requestId,
    trustProxy: config.trustProxy,
    routerOptions: { ignoreTrailingSlash: true },
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      if (!renderErrorPage(error.statusCode ?? 400, request, reply))
        envelope(error, request, reply);
    },
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(deps), adapter, {
    bufferLogs: true,
    abortOnError: false,
    // Our own parsers below, which bound nesting and refuse NUL characters before anything walks
    // the body.
    bodyParser: false,
  });
  app.useLogger(new PinoNestLogger(deps.logger));
  app.flushLogs();
  const fastify = app.getHttpAdapter().getInstance();
  registerAccessLog(fastify, deps.logger);
  registerBodyParsers(fastify);

  await app.register(fastifyCookie);
  // Swagger UI's routes get the policy with inline scripts, every other reply (404s and static
  // files included) the strict one: both header sets are computed once at start.
  const apiHeaders = precomputedSecurityHeaders(
    securityHeaders(config.isProduction, { docs: false }),
  );
  const docsHeaders = precomputedSecurityHeaders(
    securityHeaders(config.isProduction, { docs: true }),
  );
  fastify.addHook('onRoute', (route) => {
    if (isDocsPath(route.url)) route.config = { ...route.config, docsHeaders: true };
  });
  fastify.addHook('onRequest', (request, reply, done) => {
    const config = request.routeOptions.config as { docsHeaders?: boolean } | undefined;
    void reply.headers(config?.docsHeaders ? docsHeaders : apiHeaders);
    void reply.header('x-request-id', request.id);
    done();
  });
  const allowedOrigins = allowedOriginsOf(config.publicUrl, config.corsOrigins);
  fastify.addHook('onRequest', async (request) => {
    const refusal = crossSiteRefusal(request, allowedOrigins);
    if (refusal) throw refusal;
  });
  fastify.addHook('preValidation', async (request, reply) => {
    if (containsNul(request.query) || containsNul(request.params)) {
      // A public page's URL with a NUL in it is still a page a person opened: its refusal too.
      if (renderErrorPage(400, request, reply)) return reply;
      throw new NulCharacterException();
    }
  });
  // Graceful shutdown: close() waits for the requests in flight, but a keep-alive connection that
  // goes idle after its last response would hold it open until the client's timeout. Answers
  // sent once closing has begun say `Connection: close`, so the client lets go.
  let closing = false;
  fastify.addHook('preClose', async () => {
    closing = true;
  });
  fastify.addHook('onSend', async (_request, reply, payload) => {
    if (closing) void reply.header('connection', 'close');
    return payload;
  });

  if (config.corsOrigins.length > 0) {
    app.enableCors({ origin: config.corsOrigins, credentials: true });
  }
  app.useGlobalPipes(
    new FastValidationPipe({
      whitelist: true,
      forbidNonWhitelisted: true,
      transform: true,
      stopAtFirstError: false,
      validationError: { target: false, value: false },
    }),
  );
  // One filter per error family. Nest asks the last registered first, so the catch-all comes
  // first and each family after it.
  app.useGlobalFilters(
    new AllExceptionsFilter([databaseErrorMapper(deps.database.health)]),
    new AccountSyncErrorFilter(),
  );

  // The accounts page, built from web/ by `npm run build` into dist/web: static files on the API's
  // origin so the session cookie works. Vite names assets by content hash, so a browser may keep
  // them for a year; index.html and the favicon are revalidated on every load (ETag), which is how
  // a new build reaches people.
  await app.register(fastifyStatic, {
    root: join(projectRoot(), 'dist', 'web'),
    prefix: '/',
    decorateReply: false,
    wildcard: false,
    // The build writes .br and .gz beside each asset; they are sent as encodings, not as files.
    preCompressed: true,
    globIgnore: ['**/*.gz', '**/*.br'],
    setHeaders: (reply, path) => {
      void reply.header(
        'cache-control',
        HASHED_ASSET.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache',
      );
    },
  });

  if (config.docsEnabled) {
    SwaggerModule.setup('docs', app, buildOpenApiDocument(app), {
      jsonDocumentUrl: 'docs-json',
      yamlDocumentUrl: 'docs-yaml',
    });
  }
  await app.init();
  return app;
}

/**
 * JSON (every route) and urlencoded (Meta's callbacks). Nesting is bounded on the raw text, before
 * parsing; NUL characters are refused in any string, since PostgreSQL text cannot hold them (the
 * query would fail with 22021 or 08P01).
 */
function registerBodyParsers(fastify: FastifyInstance): void {
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  const options = { parseAs: 'string' as const, bodyLimit: BODY_LIMIT_BYTES };
  type Done = (error: Error | null, body?: unknown) => void;
  fastify.addContentTypeParser(
    'application/json',
    options,
    (request: FastifyRequest, body: string, done: Done) => {
      if (exceedsJsonDepth(body, MAX_JSON_DEPTH)) {
        done(new JsonTooDeepException(), undefined);
        return;
      }
      void parseJson(request, body, (error, value) => {
        if (error) done(error, undefined);
        else if (containsNul(value)) done(new NulCharacterException(), undefined);
        else done(null, value);
      });
    },
  );
  fastify.addContentTypeParser(
    'application/x-www-form-urlencoded',
    options,
    (_request: FastifyRequest, body: string, done: Done) => {
      const value = parseForm(body);
      if (containsNul(value)) done(new NulCharacterException(), undefined);
      else done(null, value);
    },
  );
}
