import { Global, Module, type DynamicModule } from '@nestjs/common';

/**
 * The service's idea of "now" for decisions that span days (token lifetimes, refresh backoff,
 * expiry warnings). One injectable clock instead of `new Date()` scattered through them, so a test
 * can move the service's time across a 60-day token life the way it moves the emulator's.
 */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** Injection token of the one Clock (`@Inject(CLOCK)`). */
export const CLOCK = Symbol('CLOCK');

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
