import { type BeforeApplicationShutdown, Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { ROOT_LOGGER } from '../../common/logging/logging.module';
import type { Db } from '../database/database';
import { isDatabaseUnavailable } from '../database/database-errors';
import { PG } from '../database/database.module';
import type { InstagramUsage } from './usage-headers';
import { loggableError } from '../../common/logging/loggable-error';

export interface UsageSnapshot {
  scope: string;
  callCount: number;
  regainAccessAt: Date | null;
  observedAt: Date;
}

type UsageRow = [
  scope: string,
  callCount: number,
  totalTime: number,
  totalCputime: number,
  regainAccessAt: Date | null,
  observedAt: Date,
];

/**
 * How long observations wait to be written. Every Graph response carries the figures; writing
 * each one (two upserts per call, all workers on the one `app` row) was the largest cost of a
 * sync sweep after Instagram itself. A second's delay changes nothing for a budget measured in
 * hours: the latest observation per scope is written, once a second, in one statement.
 */
export const USAGE_FLUSH_MS = 1000;

/**
 * Keeps Meta's last reported budget (usage headers) in PostgreSQL, so every worker process sees
 * the same figures and the scheduler can stay under the limit instead of discovering it.
 */
@Injectable()
export class ApiUsageRecorder implements BeforeApplicationShutdown {
  /** The latest observation per scope not yet written. */
  private readonly pending = new Map<string, UsageRow>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(
    @Inject(PG) private readonly db: Db,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
  ) {}

  /** Called for every Graph response; never throws and never delays the caller. */
  record(usage: InstagramUsage): void {
    const observedAt = usage.observedAt;
    if (usage.app) {
      this.keep([
        'app',
        usage.app.callCount,
        usage.app.totalTime,
        usage.app.totalCputime,
        null,
        observedAt,
      ]);
    }
    for (const entry of usage.businessUseCase ?? []) {
      const regain =
        entry.estimatedTimeToRegainAccessMinutes > 0
          ? new Date(observedAt.getTime() + entry.estimatedTimeToRegainAccessMinutes * 60_000)
          : null;
      this.keep([
        `buc:${entry.businessId}`,
        entry.callCount,
        entry.totalTime,
        entry.totalCputime,
        regain,
        observedAt,
      ]);
    }
  }

  /** Writes what is pending now (tests, shutdown). */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flushing;
    if (this.pending.size === 0) return;
    const rows = [...this.pending.values()];
    this.pending.clear();
    this.flushing = this.persist(rows)
      .catch((error: unknown) => {
        if (!isDatabaseUnavailable(error)) {
          this.logger.warn({ err: loggableError(error) }, 'could not record Instagram API usage');
          return;
        }
        // PostgreSQL is away: the pool's health reports the outage, once. The figures wait for
        // the next flush (unless newer ones replace them meanwhile).
        this.logger.debug({ err: loggableError(error) }, 'Instagram API usage not recorded yet');
        for (const row of rows) this.keep(row);
      })
      .finally(() => {
        this.flushing = undefined;
      });
    await this.flushing;
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.flush();
  }

  private keep(row: UsageRow): void {
    const previous = this.pending.get(row[0]);
    if (previous && previous[5].getTime() > row[5].getTime()) return;
    this.pending.set(row[0], row);
    this.timer ??= setTimeout(() => void this.flush(), USAGE_FLUSH_MS);
    this.timer.unref();
  }

  private async persist(rows: UsageRow[]): Promise<void> {
    await this.db.none(
      `INSERT INTO instagram_api_usage (scope, call_count, total_time, total_cputime, regain_access_at, observed_at)
       SELECT * FROM unnest($1::text[], $2::int[], $3::int[], $4::int[], $5::timestamptz[], $6::timestamptz[])
       ON CONFLICT (scope) DO UPDATE SET call_count = EXCLUDED.call_count,
         total_time = EXCLUDED.total_time, total_cputime = EXCLUDED.total_cputime,
         regain_access_at = EXCLUDED.regain_access_at, observed_at = EXCLUDED.observed_at
       WHERE instagram_api_usage.observed_at <= EXCLUDED.observed_at`,
      [0, 1, 2, 3, 4, 5].map((i) => rows.map((r) => r[i])),
    );
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
