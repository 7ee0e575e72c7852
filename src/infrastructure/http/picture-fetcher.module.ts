import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG } from '../../config/config.module';
import type { AppConfig } from '../../config/config';
import { PictureFetcher } from './picture-fetcher';

@Global()
@Module({
  providers: [
    {
      provide: PictureFetcher,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => new PictureFetcher(config.pictures),
    },
  ],
  exports: [PictureFetcher],
})
export class PictureFetcherModule implements OnApplicationShutdown {
  constructor(@Inject(PictureFetcher) private readonly fetcher: PictureFetcher) {}

  async onApplicationShutdown(): Promise<void> {
    await this.fetcher.close();
  }
}
