import { Global, Module, type DynamicModule } from '@nestjs/common';

/**
 * What time it is for the code that stamps history (metric snapshots) and judges expiries
 * (picture links, tokens expiring soon). Injectable so that tests can make the service's time
 * follow the Instagram emulator's clock when they move it days ahead.
 */
export interface Clock {
  now(): Date;
}

export const CLOCK = Symbol('CLOCK');

export const systemClock: Clock = { now: () => new Date() };

@Global()
@Module({})
export class ClockModule {
  static forRoot(clock: Clock = systemClock): DynamicModule {
    return {
      module: ClockModule,
      providers: [{ provide: CLOCK, useValue: clock }],
      exports: [CLOCK],
    };
  }
}
