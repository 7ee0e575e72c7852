import { type DynamicModule, Module } from '@nestjs/common';
import type { Logger } from 'pino';
import { type Clock, ClockModule } from './common/clock/clock';
import { LoggingModule } from './common/logging/logging.module';
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
import { WebhooksModule } from './modules/webhooks/webhooks.module';

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
        RateLimitModule,
        CryptoModule,
        JobsModule,
        InstagramClientModule,
        PictureFetcherModule,
        AuthModule,
        HealthModule,
        InstagramModule,
        WebhooksModule,
      ],
    };
  }
}
