import { type DynamicModule, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { Logger } from 'pino';
import { type Clock, ClockModule } from './common/clock/clock';
import { LoggingModule } from './common/logging/logging.module';
import { redactUrl } from './common/logging/redact';
import { ConfigModule } from './config/config.module';
import type { AppConfig } from './config/config';
import type { DatabaseHandle } from './infrastructure/database/database';
import { DatabaseModule } from './infrastructure/database/database.module';
import { CryptoModule } from './infrastructure/crypto/crypto.module';
import { InstagramClientModule } from './infrastructure/instagram/instagram-client.module';
import { JobsModule } from './infrastructure/jobs/jobs.module';
import { AuthModule } from './modules/auth/auth.module';
import { HealthModule } from './modules/health/health.module';
import { InstagramModule } from './modules/instagram/instagram.module';

export interface AppDependencies {
  config: AppConfig;
  database: DatabaseHandle;
  logger: Logger;
  /** The system clock unless a test moves time. */
  clock?: Clock;
}

@Module({})
export class AppModule {
  static forRoot(deps: AppDependencies): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(deps.config),
        ClockModule.forRoot(deps.clock),
        LoggingModule.forRoot(deps.logger),
        DatabaseModule.forRoot(deps.database),
        LoggerModule.forRoot({
          pinoHttp: {
            logger: deps.logger,
            // Fastify assigned the id (from X-Request-Id or a new UUID) before middleware runs.
            genReqId: (req) => (req as { id?: string }).id ?? '',
            customLogLevel: (_req, res, err) =>
              err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
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
        CryptoModule,
        JobsModule,
        InstagramClientModule,
        AuthModule,
        HealthModule,
        InstagramModule,
      ],
    };
  }
}
