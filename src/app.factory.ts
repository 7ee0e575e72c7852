import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import fastifyCookie from '@fastify/cookie';
import fastifyHelmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import { ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger as PinoNestLogger } from 'nestjs-pino';
import { AppModule, type AppDependencies } from './app.module';
import { AllExceptionsFilter } from './common/filters/all-exceptions.filter';
import { projectRoot } from './common/project-root';
import { SESSION_COOKIE } from './common/auth/session-token';
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
  const adapter = new FastifyAdapter({
    bodyLimit: BODY_LIMIT_BYTES,
    genReqId: requestId,
    trustProxy: deps.config.trustProxy,
    routerOptions: { ignoreTrailingSlash: true },
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(deps), adapter, {
    bufferLogs: true,
    abortOnError: false,
  });
  app.useLogger(app.get(PinoNestLogger));
  app.flushLogs();

  await app.register(fastifyCookie);
  await app.register(fastifyHelmet, {
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        // Swagger UI at /docs runs an inline bootstrap script and inline styles.
        scriptSrc: ["'self'", "'unsafe-inline'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:', 'https:', 'http:'],
        formAction: ["'self'", 'https:', 'http:'],
        // Local development is plain HTTP; upgrading would break the demo's emulator links.
        upgradeInsecureRequests: deps.config.isProduction ? [] : null,
      },
    },
    hsts: deps.config.isProduction,
    crossOriginResourcePolicy: { policy: 'same-site' },
  });
  const fastify = app.getHttpAdapter().getInstance();
  fastify.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
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

  if (deps.config.corsOrigins.length > 0) {
    app.enableCors({ origin: deps.config.corsOrigins, credentials: true });
  }
  app.useGlobalPipes(
    new ValidationPipe({
      whitelist: true,
      forbidNonWhitelisted: true,
      transform: true,
      stopAtFirstError: false,
      validationError: { target: false, value: false },
    }),
  );
  // One filter per error family. Nest asks the last registered first, so the catch-all comes
  // first and each family after it.
  app.useGlobalFilters(new AllExceptionsFilter(), new AccountSyncErrorFilter());

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

  SwaggerModule.setup('docs', app, buildOpenApiDocument(app), {
    jsonDocumentUrl: 'docs-json',
    yamlDocumentUrl: 'docs-yaml',
  });
  await app.init();
  return app;
}
