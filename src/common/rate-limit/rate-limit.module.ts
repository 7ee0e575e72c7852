import { Global, Inject, Module, type OnModuleDestroy } from '@nestjs/common';
import Redis from 'ioredis';
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
} from 'rate-limiter-flexible';
import { APP_CONFIG } from '../../config/config.module';
import type { AppConfig } from '../../config/config';

/** The Redis connection rate-limit counters share, or `null` without REDIS_URL. */
export const RATE_LIMIT_REDIS = Symbol('RATE_LIMIT_REDIS');

export interface RateLimitRule {
  /** Namespaces the counters (`ssell:<keyPrefix>` in Redis). */
  keyPrefix: string;
  points: number;
  durationSeconds: number;
}

/**
 * A limiter whose counters live in Redis when there is one (shared by every API process), else in
 * this process's memory. While Redis is unreachable each process counts in memory on its own: a
 * looser limit, never a locked-out or failing request.
 */
export function createRateLimiter(redis: Redis | null, rule: RateLimitRule): RateLimiterAbstract {
  const memory = new RateLimiterMemory({
    keyPrefix: rule.keyPrefix,
    points: rule.points,
    duration: rule.durationSeconds,
  });
  if (!redis) return memory;
  return new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `ssell:${rule.keyPrefix}`,
    points: rule.points,
    duration: rule.durationSeconds,
    insuranceLimiter: memory,
  });
}

/** Owns the one Redis connection of the process's rate limiters and closes it at shutdown. */
@Global()
@Module({
  providers: [
    {
      provide: RATE_LIMIT_REDIS,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig): Redis | null => {
        if (!config.redisUrl) return null;
        const redis = new Redis(config.redisUrl, { enableOfflineQueue: false, lazyConnect: false });
        // Errors surface as rejected commands, which the insurance limiter absorbs.
        redis.on('error', () => undefined);
        return redis;
      },
    },
  ],
  exports: [RATE_LIMIT_REDIS],
})
export class RateLimitModule implements OnModuleDestroy {
  constructor(@Inject(RATE_LIMIT_REDIS) private readonly redis: Redis | null) {}

  async onModuleDestroy(): Promise<void> {
    if (this.redis) await this.redis.quit().catch(() => undefined);
  }
}
