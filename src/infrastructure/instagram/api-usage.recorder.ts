import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { ROOT_LOGGER } from '../../common/logging/logging.module';
import type { Db } from '../database/database';
import { PG } from '../database/database.module';
import type { InstagramUsage } from './usage-headers';
import { loggableError } from '../../common/logging/loggable-error';

export interface UsageSnapshot {
  scope: string;
  callCount: number;
  regainAccessAt: Date | null;
  observedAt: Date;
}

/**
 * Keeps Meta's last reported budget (usage headers) in PostgreSQL, so every worker process sees
 * the same figures and the scheduler can stay under the limit instead of discovering it.
 */
@Injectable()
export class ApiUsageRecorder {
  constructor(
    @Inject(PG) private readonly db: Db,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
  ) {}

  /** Called for every Graph response; never throws and never delays the caller. */
  record(usage: InstagramUsage): void {
    const rows: Array<[string, number, number, number, Date | null]> = [];
    if (usage.app) {
      rows.push(['app', usage.app.callCount, usage.app.totalTime, usage.app.totalCputime, null]);
    }
    for (const entry of usage.businessUseCase ?? []) {
      const regain =
        entry.estimatedTimeToRegainAccessMinutes > 0
          ? new Date(usage.observedAt.getTime() + entry.estimatedTimeToRegainAccessMinutes * 60_000)
          : null;
      rows.push([
        `buc:${entry.businessId}`,
        entry.callCount,
        entry.totalTime,
        entry.totalCputime,
        regain,
      ]);
    }
    if (rows.length === 0) return;
    void this.persist(rows, usage.observedAt).catch((error: unknown) =>
      this.logger.warn({ err: loggableError(error) }, 'could not record Instagram API usage'),
    );
  }

  private async persist(
    rows: Array<[string, number, number, number, Date | null]>,
    observedAt: Date,
  ): Promise<void> {
    for (const [scope, callCount, totalTime, totalCputime, regain] of rows) {
      await this.db.none(
        `INSERT INTO instagram_api_usage (scope, call_count, total_time, total_cputime, regain_access_at, observed_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (scope) DO UPDATE SET call_count = EXCLUDED.call_count,
           total_time = EXCLUDED.total_time, total_cputime = EXCLUDED.total_cputime,
           regain_access_at = EXCLUDED.regain_access_at, observed_at = EXCLUDED.observed_at
         WHERE instagram_api_usage.observed_at <= EXCLUDED.observed_at`,
        [scope, callCount, totalTime, totalCputime, regain, observedAt],
      );
    }
  }

  /** The highest app-level usage seen in the last hour, in percent (0 when unknown). */
  async appUsagePercent(): Promise<number> {
    const row = await this.db.oneOrNone<{ call_count: number }>(
      `SELECT call_count FROM instagram_api_usage
       WHERE scope = 'app' AND observed_at > NOW() - interval '1 hour'`,
    );
    return row?.call_count ?? 0;
  }

  async snapshot(): Promise<UsageSnapshot[]> {
    const rows = await this.db.manyOrNone<{
      scope: string;
      call_count: number;
      regain_access_at: Date | null;
      observed_at: Date;
    }>(
      'SELECT scope, call_count, regain_access_at, observed_at FROM instagram_api_usage ORDER BY scope',
    );
    return rows.map((r) => ({
      scope: r.scope,
      callCount: r.call_count,
      regainAccessAt: r.regain_access_at,
      observedAt: r.observed_at,
    }));
  }
}
