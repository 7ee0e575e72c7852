import { BadRequestException, Inject, Injectable } from '@nestjs/common';
import { CLOCK, type Clock } from '../../../common/clock/clock';
import {
  ACCOUNT_METRICS_REPOSITORY,
  type IAccountMetricsRepository,
  type MetricCounts,
  type MetricInterval,
  type MetricPoint,
} from '../../../domain/repositories/account-metrics.repository.interface';
import {
  CLIENT_ACCOUNT_REPOSITORY,
  type IClientAccountRepository,
} from '../../../domain/repositories/client-account.repository.interface';
import { loadAccount } from './account-access';

const DAY_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_METRIC_DAYS = 30;
export const MAX_METRIC_DAYS = 366;

export interface MetricHistoryQuery {
  from?: string | undefined;
  to?: string | undefined;
  interval?: MetricInterval | undefined;
}

export interface MetricHistory {
  accountId: string;
  interval: MetricInterval;
  points: MetricPoint[];
  /** Last point minus first; null where either is unknown or there is no point. */
  change: MetricCounts;
}

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** `YYYY-MM-DD` is that UTC day (its start, or for an end its next midnight); a date-time is itself. */
function parseBound(raw: string, name: 'from' | 'to', end: boolean): Date {
  const date = DATE_ONLY.exec(raw);
  if (date) {
    const [year, month, day] = [Number(date[1]), Number(date[2]), Number(date[3])];
    const start = new Date(Date.UTC(year, month - 1, day));
    // Date.UTC rolls 2025-02-30 over into March: a date that does not exist is refused.
    if (start.getUTCFullYear() !== year || start.getUTCMonth() !== month - 1) {
      throw new BadRequestException(`${name} is not a calendar date`);
    }
    return end ? new Date(start.getTime() + DAY_MS) : start;
  }
  const instant = Date.parse(raw);
  if (Number.isNaN(instant)) throw new BadRequestException(`${name} is not a valid date`);
  // An end date-time is inclusive; the query's upper bound is exclusive.
  return new Date(end ? instant + 1 : instant);
}

function startOfUtcDay(date: Date): number {
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate());
}

const difference = (last: number | null, first: number | null) =>
  last === null || first === null ? null : last - first;

/**
 * Follower, following and media counts over time, from the snapshot every successful sync
 * records: one point per UTC day or ISO week (the last snapshot in it).
 */
@Injectable()
export class AccountMetricsService {
  constructor(
    @Inject(CLIENT_ACCOUNT_REPOSITORY) private readonly accounts: IClientAccountRepository,
    @Inject(ACCOUNT_METRICS_REPOSITORY) private readonly metrics: IAccountMetricsRepository,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async history(
    accountId: string,
    userId: string,
    query: MetricHistoryQuery = {},
  ): Promise<MetricHistory> {
    const interval = query.interval ?? 'day';
    const { from, to } = this.range(query);
    await loadAccount(this.accounts, accountId, userId);
    const points = await this.metrics.points(accountId, from, to, interval);
    const first = points[0];
    const last = points[points.length - 1];
    return {
      accountId,
      interval,
      points,
      change: {
        followerCount: first && last ? difference(last.followerCount, first.followerCount) : null,
        followingCount:
          first && last ? difference(last.followingCount, first.followingCount) : null,
        mediaCount: first && last ? difference(last.mediaCount, first.mediaCount) : null,
      },
    };
  }

  /**
   * [from, to) in instants. Default: the 30 UTC days ending with today (or with `to`'s day).
   * At most 366 days; `from` must come before `to`.
   */
  range(query: MetricHistoryQuery): { from: Date; to: Date } {
    const to = query.to
      ? parseBound(query.to, 'to', true)
      : new Date(this.clock.now().getTime() + 1);
    const from = query.from
      ? parseBound(query.from, 'from', false)
      : new Date(startOfUtcDay(new Date(to.getTime() - 1)) - (DEFAULT_METRIC_DAYS - 1) * DAY_MS);
    if (from.getTime() >= to.getTime()) {
      throw new BadRequestException('from must be before to');
    }
    if (to.getTime() - from.getTime() > MAX_METRIC_DAYS * DAY_MS + 1) {
      throw new BadRequestException(`from and to may be at most ${MAX_METRIC_DAYS} days apart`);
    }
    return { from, to };
  }
}
