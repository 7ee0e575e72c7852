import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import Redis from 'ioredis';
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
} from 'rate-limiter-flexible';
import { TooManyRequestsException } from '../../common/errors/too-many-requests.exception';
import { APP_CONFIG } from '../../config/config.module';
import type { AppConfig } from '../../config/config';

/**
 * Login and register attempts, counted per client IP and per email. Counters live in Redis when
 * REDIS_URL is set (shared by every API process), else in this process's memory.
 */
@Injectable()
export class AuthRateLimiter implements OnModuleDestroy {
  private readonly perIp: RateLimiterAbstract;
  private readonly perEmail: RateLimiterAbstract;
  private readonly redis: Redis | undefined;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    const { perIp, perEmail, windowSeconds } = config.auth.rateLimit;
    if (config.redisUrl) {
      this.redis = new Redis(config.redisUrl, { enableOfflineQueue: false, lazyConnect: false });
      this.redis.on('error', () => undefined);
      const insurance = (points: number) =>
        new RateLimiterMemory({ points, duration: windowSeconds });
      this.perIp = new RateLimiterRedis({
        storeClient: this.redis,
        keyPrefix: 'ssell:auth:ip',
        points: perIp,
        duration: windowSeconds,
        insuranceLimiter: insurance(perIp),
      });
      this.perEmail = new RateLimiterRedis({
        storeClient: this.redis,
        keyPrefix: 'ssell:auth:email',
        points: perEmail,
        duration: windowSeconds,
        insuranceLimiter: insurance(perEmail),
      });
    } else {
      this.perIp = new RateLimiterMemory({
        keyPrefix: 'ip',
        points: perIp,
        duration: windowSeconds,
      });
      this.perEmail = new RateLimiterMemory({
        keyPrefix: 'email',
        points: perEmail,
        duration: windowSeconds,
      });
    }
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

  async onModuleDestroy(): Promise<void> {
    if (this.redis) await this.redis.quit().catch(() => undefined);
  }
}
