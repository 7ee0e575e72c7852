import { Global, Module, type DynamicModule } from '@nestjs/common';
import type { Logger } from 'pino';

/** The process's root pino logger, for components that log outside a request (clients, jobs). */
export const ROOT_LOGGER = Symbol('ROOT_LOGGER');

@Global()
@Module({})
export class LoggingModule {
  static forRoot(logger: Logger): DynamicModule {
    return {
      module: LoggingModule,
      providers: [{ provide: ROOT_LOGGER, useValue: logger }],
      exports: [ROOT_LOGGER],
    };
  }
}
