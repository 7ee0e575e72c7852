import { Inject, Injectable } from '@nestjs/common';
import type Redis from 'ioredis';
import { type RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import { createRateLimiter, RATE_LIMIT_REDIS } from '../../../common/rate-limit/rate-limit.module';
import { APP_CONFIG } from '../../../config/config.module';
import type { AppConfig } from '../../../config/config';

/**
 * Requests to the public connect-link pages, per client IP (Redis when REDIS_URL is set). A token
 * has 256 bits, so this is not what stops guessing: it keeps one address from making the pages
 * look links up, or start consents, without bound.
 */
@Injectable()
export class ConnectPageRateLimiter {
  private readonly perIp: RateLimiterAbstract;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(RATE_LIMIT_REDIS) redis: Redis | null,
  ) {
    const { perIp, windowSeconds } = config.connectPages.rateLimit;
    this.perIp = createRateLimiter(redis, {
      keyPrefix: 'connect:ip',
      points: perIp,
      durationSeconds: windowSeconds,
    });
  }

  /** Counts one request of `ip`: `null` when allowed, else the seconds to wait. */
  async consume(ip: string): Promise<number | null> {
    try {
      await this.perIp.consume(ip);
      return null;
    } catch (error) {
      if (error instanceof RateLimiterRes) return error.msBeforeNext / 1000;
      throw error;
    }
  }
}
