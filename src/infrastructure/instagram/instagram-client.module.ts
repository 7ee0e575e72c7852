import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import { CLOCK, type Clock } from '../../common/clock/clock';
import { ROOT_LOGGER } from '../../common/logging/logging.module';
import { APP_CONFIG } from '../../config/config.module';
import type { AppConfig } from '../../config/config';
import { ApiUsageRecorder } from './api-usage.recorder';
import { InstagramClient } from './instagram.client';

/** Injection token of the one InstagramClient (`@Inject(INSTAGRAM_CLIENT)`). */
export const INSTAGRAM_CLIENT = Symbol('INSTAGRAM_CLIENT');

@Global()
@Module({
  providers: [
    ApiUsageRecorder,
    {
      provide: INSTAGRAM_CLIENT,
      inject: [APP_CONFIG, ROOT_LOGGER, ApiUsageRecorder, CLOCK],
      useFactory: (config: AppConfig, logger: Logger, usage: ApiUsageRecorder, clock: Clock) =>
        new InstagramClient(
          // The client dates the tokens it obtains and refuses refreshes Meta would refuse: on
          // the service's clock, like every other decision about a token's life.
          { ...config.instagram, onUsage: (u) => usage.record(u), now: () => clock.now() },
          logger.child({ component: 'instagram-client' }),
        ),
    },
  ],
  exports: [INSTAGRAM_CLIENT, ApiUsageRecorder],
})
export class InstagramClientModule implements OnApplicationShutdown {
  constructor(@Inject(INSTAGRAM_CLIENT) private readonly client: InstagramClient) {}

  async onApplicationShutdown(): Promise<void> {
    await this.client.close();
  }
}
