import { Inject, Injectable } from '@nestjs/common';
import type Redis from 'ioredis';
import { type RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import { TooManyRequestsException } from '../../common/errors/too-many-requests.exception';
import { createRateLimiter, RATE_LIMIT_REDIS } from '../../common/rate-limit/rate-limit.module';
import { APP_CONFIG } from '../../config/config.module';
import type { AppConfig } from '../../config/config';

/**
 * Login and register attempts, counted per client IP and per email. Counters live in Redis when
 * REDIS_URL is set (shared by every API process), else in this process's memory.
 */
@Injectable()
export class AuthRateLimiter {
  private readonly perIp: RateLimiterAbstract;
  private readonly perEmail: RateLimiterAbstract;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(RATE_LIMIT_REDIS) redis: Redis | null,
  ) {
    const { perIp, perEmail, windowSeconds } = config.auth.rateLimit;
    this.perIp = createRateLimiter(redis, {
      keyPrefix: 'auth:ip',
      points: perIp,
      durationSeconds: windowSeconds,
    });
    this.perEmail = createRateLimiter(redis, {
      keyPrefix: 'auth:email',
      points: perEmail,
      durationSeconds: windowSeconds,
    });
  }

  /** Counts one attempt; throws 429 with the wait when either budget is spent. */
  async consume(ip: string, email: string): Promise<void> {
    try {
      await this.perIp.consume(ip);
      await this.perEmail.consume(email.trim().toLowerCase());
    } catch (error) {
      if (error instanceof RateLimiterRes) {
        throw new TooManyRequestsException(
          'Too many attempts; try again later',
          error.msBeforeNext / 1000,
        );
      }
      throw error;
    }
  }

  /** A successful login clears the email's count, so a typo-prone owner is not locked out. */
  async reset(email: string): Promise<void> {
    await this.perEmail.delete(email.trim().toLowerCase());
  }
}
