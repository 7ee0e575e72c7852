import { type DynamicModule, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { Logger } from 'pino';
import { type Clock, ClockModule } from './common/clock/clock';
import { LoggingModule } from './common/logging/logging.module';
import { isQuietReply } from './common/logging/quiet-replies';
import { redactUrl } from './common/logging/redact';
import { RateLimitModule } from './common/rate-limit/rate-limit.module';
import { ConfigModule } from './config/config.module';
import type { AppConfig } from './config/config';
import type { DatabaseHandle } from './infrastructure/database/database';
import { DatabaseModule } from './infrastructure/database/database.module';
import { CryptoModule } from './infrastructure/crypto/crypto.module';
import { PictureFetcherModule } from './infrastructure/http/picture-fetcher.module';
import { InstagramClientModule } from './infrastructure/instagram/instagram-client.module';
import { JobsModule } from './infrastructure/jobs/jobs.module';
import { AuthModule } from './modules/auth/auth.module';
import { HealthModule } from './modules/health/health.module';
import { InstagramModule } from './modules/instagram/instagram.module';

export interface AppDependencies {
  config: AppConfig;
  database: DatabaseHandle;
  logger: Logger;
  /** Defaults to the system clock; tests pass one that follows the emulator's. */
  clock?: Clock;
}

@Module({})
export class AppModule {
  static forRoot(deps: AppDependencies): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(deps.config),
        LoggingModule.forRoot(deps.logger),
        ClockModule.forRoot(deps.clock),
        DatabaseModule.forRoot(deps.database),
        LoggerModule.forRoot({
          pinoHttp: {
            logger: deps.logger,
            // Fastify assigned the id (from X-Request-Id or a new UUID) before middleware runs.
            genReqId: (req) => (req as { id?: string }).id ?? '',
            customLogLevel: (_req, res, err) =>
              isQuietReply(res)
                ? 'silent'
                : err || res.statusCode >= 500
                  ? 'error'
                  : res.statusCode >= 400
                    ? 'warn'
                    : 'info',
            // For a 5xx pino-http invents an Error ("failed with status code 502") and logs its
            // stack, which points into pino-http. The error filter logs the real cause (with its
            // stack for a 500), so the access line keeps only the request and the status.
            customErrorObject: (_req, _res, _err, value: Record<string, unknown>) => {
              const { err: _invented, ...rest } = value;
              return rest;
            },
            autoLogging: { ignore: (req) => (req.url ?? '').startsWith('/health/') },
            serializers: {
              req: (req: { id?: unknown; method?: string; url?: string }) => ({
                id: req.id,
                method: req.method,
                url: req.url === undefined ? undefined : redactUrl(req.url),
              }),
              res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
            },
          },
        }),
        RateLimitModule,
        CryptoModule,
        JobsModule,
        InstagramClientModule,
        PictureFetcherModule,
        AuthModule,
        HealthModule,
        InstagramModule,
      ],
    };
  }
}
