import type { Clock } from '../../src/common/clock/clock';

/** The service's clock in a test: real time plus however far the test has moved it. */
export class TestClock implements Clock {
  private offsetMs = 0;

  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }

  advance(ms: number): Date {
    this.offsetMs += ms;
    return this.now();
  }
}
